"""Processing and interpretation settings, read from the knowledge base (movement.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from glutemed.errors import KnowledgeBaseError, Problem
from glutemed.knowledge import KnowledgeBase, load_kb

__all__ = ["MEASURE_IDS", "TASKS", "MotionSettings", "Task", "settings_from_kb"]

Task = Literal["walk", "single_leg_stance", "single_leg_squat"]
TASKS: tuple[Task, ...] = ("walk", "single_leg_stance", "single_leg_squat")

#: Movement-measure ids (movement.yaml) glutemed.motion reports.
MEASURE_IDS: tuple[str, ...] = (
    "pelvic_obliquity_deg",
    "contralateral_pelvic_drop_deg",
    "hip_adduction_deg",
    "lateral_trunk_lean_deg",
    "step_width_m",
    "cadence_steps_per_min",
    "knee_frontal_plane_projection_angle_deg",
)


@dataclass(frozen=True)
class MotionSettings:
    """Every number glutemed.motion uses for processing and interpretation, from the KB.

    Attributes mirror the ``motion_*`` parameters and the ``contralateral_pelvic_drop_deg``
    measure of ``movement.yaml``; ``sources`` maps each attribute to its source id.
    """

    cutoff_hz: dict[str, float]
    filter_order: int
    max_gap_s: float
    min_strides: int
    min_frame_rate_hz: float
    recommended_frame_rate_hz: float
    half_rate_obliquity_change_deg: float
    keypoint_min_confidence: float
    trendelenburg_reference_deg: float
    cpd_sdd_deg: float
    cpd_mdc_deg: float
    min_frontal_hip_width_ratio: float
    sources: dict[str, str]


def _param(kb: KnowledgeBase, pid: str, problems: list[Problem]) -> float:
    p = kb.parameters.get(pid)
    if p is None:
        problems.append(Problem(f"movement.yaml parameters.{pid}", "a parameter", "none"))
        return float("nan")
    return float(p.value)


def _int(value: float) -> int:
    return int(value) if value == value else 0  # NaN (missing) -> 0, already reported


def settings_from_kb(kb: KnowledgeBase | None = None) -> MotionSettings:
    """Build :class:`MotionSettings` from the knowledge base.

    Raises
    ------
    KnowledgeBaseError
        Listing every parameter or measure value that is missing.
    """
    kb = kb or load_kb()
    problems: list[Problem] = []
    cutoff: dict[str, float] = {
        task: _param(kb, f"motion_lowpass_cutoff_{task}_hz", problems) for task in TASKS
    }
    cpd = kb.movement_measures.get("contralateral_pelvic_drop_deg")
    sdd = mdc = float("nan")
    sources: dict[str, str] = {}
    if cpd is None:
        problems.append(Problem("movement.yaml measures.contralateral_pelvic_drop_deg",
                                "a movement measure", "none"))
    else:
        if cpd.smallest_detectable_difference is None:
            problems.append(Problem("movement.yaml contralateral_pelvic_drop_deg",
                                    "a smallest_detectable_difference", "none"))
        else:
            sdd = cpd.smallest_detectable_difference.value
            sources["cpd_sdd_deg"] = cpd.smallest_detectable_difference.source.id
        if cpd.minimal_detectable_change is None:
            problems.append(Problem("movement.yaml contralateral_pelvic_drop_deg",
                                    "a minimal_detectable_change", "none"))
        else:
            mdc = cpd.minimal_detectable_change.value
            sources["cpd_mdc_deg"] = cpd.minimal_detectable_change.source.id
    settings = MotionSettings(
        cutoff_hz=cutoff,
        filter_order=_int(_param(kb, "motion_butterworth_order", problems)),
        max_gap_s=_param(kb, "motion_max_gap_fill_s", problems),
        min_strides=_int(_param(kb, "motion_min_strides", problems)),
        min_frame_rate_hz=_param(kb, "motion_min_frame_rate_hz", problems),
        recommended_frame_rate_hz=_param(kb, "motion_recommended_frame_rate_hz", problems),
        half_rate_obliquity_change_deg=_param(kb, "motion_half_rate_obliquity_change_deg",
                                              problems),
        keypoint_min_confidence=_param(kb, "motion_keypoint_min_confidence", problems),
        trendelenburg_reference_deg=_param(kb, "motion_trendelenburg_reference_drop_deg",
                                           problems),
        cpd_sdd_deg=sdd,
        cpd_mdc_deg=mdc,
        min_frontal_hip_width_ratio=_param(kb, "motion_min_frontal_hip_width_ratio", problems),
        sources=sources | {
            pid: p.source.id for pid, p in kb.parameters.items() if pid.startswith("motion_")
        },
    )
    if problems:
        raise KnowledgeBaseError("movement.yaml lacks values glutemed.motion needs", problems)
    return settings
