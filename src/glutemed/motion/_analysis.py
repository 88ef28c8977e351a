"""Entry points: analyse a trial, a file or a folder and return a :class:`MotionResult`."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np

from glutemed._checks import check_option, check_range
from glutemed.errors import GlutemedError, MotionDataError, Problem
from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.motion._events import (
    Phase,
    detect_gait_events,
    segment_single_leg_squats,
    segment_single_leg_stance,
    stance_phases,
    walking_direction,
)
from glutemed.motion._interpret import TrendelenburgCall, classify_trendelenburg
from glutemed.motion._kinematics import (
    add_hip_joint_centres,
    hip_adduction_deg,
    knee_centre,
    knee_fppa_deg,
    lateral_trunk_lean_deg,
    pelvic_obliquity_deg,
    side_up,
    trunk_vector,
)
from glutemed.motion._landmarks import landmark_words
from glutemed.motion._processing import Gap, fill_gaps, lowpass
from glutemed.motion._readers import read_trial
from glutemed.motion._settings import MEASURE_IDS, TASKS, MotionSettings, Task, settings_from_kb
from glutemed.motion._trial import FloatArray, GaitEvent, Side, Trial

__all__ = [
    "BatchItem",
    "MotionResult",
    "QualityFlag",
    "analyse_file",
    "analyse_folder",
    "analyse_trial",
    "list_motion_files",
]

_SIDES: tuple[Side, Side] = ("left", "right")
_FINDING_FOR_TASK = {
    "walk": "trendelenburg_gait",
    "single_leg_stance": "trendelenburg_sign",
    "single_leg_squat": "single_leg_squat",
}
_UNITS = {
    "contralateral_pelvic_drop_deg": "deg",
    "hip_adduction_deg": "deg",
    "lateral_trunk_lean_deg": "deg",
    "knee_frontal_plane_projection_angle_deg": "deg",
    "step_width_m": "m",
    "cadence_steps_per_min": "steps_per_min",
}
_MOTION_SUFFIXES = (".c3d", ".trc", ".csv", ".json")
EventsSource = Literal["auto", "file", "detect"]


@dataclass(frozen=True)
class QualityFlag:
    """A data-quality warning attached to a result.

    ``code`` is one of: ``few_strides``, ``missing_data``, ``low_frame_rate``,
    ``frame_rate_below_recommended``,
    ``camera_not_frontal``, ``camera_view_unchecked``, ``normalised_coordinates``,
    ``knee_centre_approximated``, ``trunk_landmarks_missing``, ``no_phases``,
    ``filter_skipped``, ``events_incomplete``, ``compensation_unchecked``, and the reader's
    notes (:attr:`Trial.notes`): ``non_finite_values``, ``c3d_header_mismatch``,
    ``sides_relabelled``, ``sides_collapsed``, ``facing_uncertain``, ``c3d_header_rate``,
    ``c3d_parameter_repaired``, ``units_assumed``, ``vertical_axis_detected``,
    ``vertical_axis_assumed``, ``duplicate_labels``,
    ``keypoint_model_detected``, ``keypoints_implausible`` (blocks interpretation).
    """

    code: str
    message: str
    side: Side | None = None
    blocks_interpretation: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.side is not None:
            out["side"] = self.side
        out["blocks_interpretation"] = self.blocks_interpretation
        return out


@dataclass(frozen=True)
class MotionResult:
    """The result of analysing one motion trial.

    Use :meth:`to_dict` for JSON and :meth:`to_row` for a batch table. The arrays
    ``time_s`` and ``obliquity_deg`` (left side up positive) are kept for plotting.
    """

    task: Task
    source: str
    sampling_rate_hz: float
    n_frames: int
    units: str
    frame: str
    dimensions: int
    events: tuple[GaitEvent, ...]
    events_source: str
    phases: tuple[Phase, ...]
    phase_values: tuple[dict[str, float], ...]
    per_side: dict[str, dict[str, Any]]
    trendelenburg: dict[str, TrendelenburgCall]
    quality: tuple[QualityFlag, ...]
    findings: dict[str, str]
    processing: dict[str, Any]
    gaps: tuple[Gap, ...]
    versions: dict[str, str]
    time_s: FloatArray = field(repr=False)
    obliquity_deg: FloatArray = field(repr=False)
    plots: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        """Trial duration in seconds."""
        return self.n_frames / self.sampling_rate_hz

    def measures(self) -> dict[str, Any]:
        """Measured values keyed by movement-measure id (movement.yaml)."""
        out: dict[str, Any] = {}
        obl = self.obliquity_deg[np.isfinite(self.obliquity_deg)]
        out["pelvic_obliquity_deg"] = {
            "unit": "deg",
            "sign_convention": "positive when the left side of the pelvis is higher",
            "mean": _r(float(obl.mean())) if obl.size else None,
            "sd": _r(float(obl.std(ddof=1))) if obl.size > 1 else None,
            "min": _r(float(obl.min())) if obl.size else None,
            "max": _r(float(obl.max())) if obl.size else None,
            "n_frames": int(obl.size),
        }
        for mid in MEASURE_IDS:
            if mid == "pelvic_obliquity_deg":
                continue
            entry: dict[str, Any] = {"unit": _UNITS[mid]}
            for side in _SIDES:
                entry[side] = self.per_side[side].get(mid)
            out[mid] = entry
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dictionary."""
        return {
            "task": self.task,
            "source": self.source,
            "sampling_rate_hz": self.sampling_rate_hz,
            "n_frames": self.n_frames,
            "duration_s": round(self.duration_s, 4),
            "data": {"dimensions": self.dimensions, "units": self.units, "frame": self.frame},
            "processing": self.processing,
            "events_source": self.events_source,
            "events": [e.as_dict() for e in self.events],
            "phases": [
                p.as_dict() | {k: _r(v) for k, v in vals.items()}
                for p, vals in zip(self.phases, self.phase_values, strict=True)
            ],
            "per_side": self.per_side,
            "quality": [q.as_dict() for q in self.quality],
            "findings": dict(self.findings),
            "measures": self.measures(),
            "gaps": [g.as_dict() for g in self.gaps],
            "plots": list(self.plots),
            "versions": dict(self.versions),
        }

    def to_row(self) -> dict[str, Any]:
        """One flat row for a batch table (file, task, per-side means, calls, flags)."""
        row: dict[str, Any] = {"source": self.source, "task": self.task,
                               "sampling_rate_hz": self.sampling_rate_hz,
                               "duration_s": round(self.duration_s, 3)}
        for side in _SIDES:
            ps = self.per_side[side]
            row[f"{side}_n"] = ps["n_strides"]
            for mid in ("contralateral_pelvic_drop_deg", "hip_adduction_deg",
                        "lateral_trunk_lean_deg"):
                m = ps.get(mid) or {}
                row[f"{side}_{mid}_mean"] = m.get("mean")
                row[f"{side}_{mid}_sd"] = m.get("sd")
            row[f"{side}_trendelenburg"] = ps["trendelenburg"]["call"]
        row["finding"] = next(iter(self.findings.items()), ("", ""))[1] or "indeterminate"
        row["quality"] = ";".join(sorted({q.code for q in self.quality}))
        return row


def _r(x: float | None, nd: int = 3) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def _normalise_task(task: str) -> Task:
    value = task.replace("-", "_").strip().lower() if isinstance(task, str) else task
    aliases = {"walking": "walk", "gait": "walk", "sls": "single_leg_stance",
               "squat": "single_leg_squat"}
    value = aliases.get(value, value)
    checked = check_option("task", value, TASKS)
    return next(t for t in TASKS if t == checked)


# --------------------------------------------------------------------------- summaries


def _summary(values: list[float]) -> dict[str, Any] | None:
    arr = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return None
    return {
        "mean": _r(float(arr.mean())),
        "sd": _r(float(arr.std(ddof=1))) if arr.size > 1 else None,
        "n": int(arr.size),
    }


def _window_stat(x: FloatArray | None, window: tuple[int, int], stat: str) -> float:
    if x is None:
        return float("nan")
    seg = x[window[0] : window[1]]
    ok = seg[np.isfinite(seg)]
    if ok.size == 0 or ok.size < 0.5 * seg.size:
        return float("nan")
    return float(ok.max() if stat == "max" else ok.mean())


# Camera view. A sideways tilt filmed at an angle a from the front or back reads about
# 1 / cos(a) times too large, and pelvic rotation mixes in. glutemed's assumption: views up to
# 30 deg are accepted (the tilt reads at most 15 % too large, under 1.5 deg at a 10 deg drop and
# so below the 2.7-2.8 deg smallest detectable difference of 2D contralateral pelvic drop,
# ls_dingenen_2018); beyond that frontal-plane angles are not interpreted.
_MAX_FRONTAL_VIEW_DEG = 30.0
# The view is estimated in one of two ways, both from the geometry of a pinhole camera:
# 1. Walking (any movement of at least half a trunk length across the floor): the person's
#    path relative to the camera's line of sight. With the trunk (mid-hip to mid-shoulder) as
#    a ruler of fixed length L, a person at depth Z appears S = f L / Z pixels long, so Z / L =
#    f / S, and the sideways position is X / L = (u - u0) / S (u the mid-hip's column, u0 the
#    picture's centre). The path's angle to the line of sight is atan(|dX| / |dZ|) of straight
#    lines fitted between turns (where the depth, smoothed over one second, turns back), so
#    that walking towards the camera and back counts as one line.
#    glutemed's assumption for the unknown focal length f: 0.8 times the picture's long side
#    (a phone's main camera, about 26 mm equivalent, films some 60-70 deg across the long
#    side); an error of a quarter in f changes an estimated 30 deg by about 7 deg.
# 2. Standing tasks: the nose sits in front of the shoulder line, so it appears beside the
#    shoulders' midpoint by (nose depth / shoulder width) x tan(view angle) shoulder widths.
#    glutemed's assumption (not a published value, chosen on OpenPose keypoints of Pose2Sim's
#    calibrated demo views, so not independent of them): nose depth / shoulder width = 0.65.
#    The head can turn on the trunk and a back view hides the nose, so this estimate is the
#    weaker one and is used only when the person does not walk.
_FOCAL_PER_LONG_SIDE = 0.8
_PATH_WINDOW_S = 1.0
_MIN_PATH_TRUNKS = 0.5
_NOSE_DEPTH_RATIO = 0.65


def _walking_view_deg(trial: Trial) -> tuple[float, float] | None:
    """The walking path's angle to the camera's line of sight, and the path length in trunk
    lengths; None without image size, trunk or enough movement."""
    if trial.image_size_px is None or not trial.has("left_shoulder", "right_shoulder"):
        return None
    mid_hip = (trial.get("left_hip") + trial.get("right_hip")) / 2.0
    mid_sh = (trial.get("left_shoulder") + trial.get("right_shoulder")) / 2.0
    size = np.hypot(mid_sh[:, 0] - mid_hip[:, 0], mid_sh[:, 2] - mid_hip[:, 2])
    w, h = trial.image_size_px
    ok = np.isfinite(size) & (size > 0) & np.isfinite(mid_hip[:, 0])
    window = max(3, round(_PATH_WINDOW_S * trial.sampling_rate_hz))
    if ok.sum() < window:
        return None
    idx = np.flatnonzero(ok)
    x = (mid_hip[idx, 0] - w / 2.0) / size[idx]
    z = _FOCAL_PER_LONG_SIDE * max(w, h) / size[idx]
    t = idx / trial.sampling_rate_hz
    # split the walk where it turns (towards the camera, then away), one straight line each
    smooth = np.convolve(z, np.ones(window) / window, mode="same")
    turns = [0]
    direction = np.sign(np.gradient(smooth))
    for k in range(window, idx.size - window):
        if direction[k] != direction[k - 1] and k - turns[-1] >= window:
            turns.append(k)
    turns.append(idx.size)
    dx = dz = 0.0
    for a, b in pairwise(turns):
        if b - a < 3:
            continue
        span = float(t[b - 1] - t[a])
        dx += abs(float(np.polyfit(t[a:b], x[a:b], 1)[0])) * span
        dz += abs(float(np.polyfit(t[a:b], z[a:b], 1)[0])) * span
    path = math.hypot(dx, dz)
    if path < _MIN_PATH_TRUNKS:
        return None
    return math.degrees(math.atan2(dx, dz)), path


def _nose_view_deg(trial: Trial) -> tuple[float, float] | None:
    """The view angle from the nose's offset beside the shoulders, and that offset in shoulder
    widths; None without nose and shoulders."""
    if not trial.has("nose", "left_shoulder", "right_shoulder"):
        return None
    lsx, rsx = trial.get("left_shoulder")[:, 0], trial.get("right_shoulder")[:, 0]
    signed = lsx - rsx
    width = np.abs(signed)
    offset = trial.get("nose")[:, 0] - (lsx + rsx) / 2.0
    ok = np.isfinite(offset) & np.isfinite(width) & (width > 0)
    if ok.sum() < 5:
        return None
    ok &= np.sign(signed) == np.sign(np.median(np.sign(signed[ok])))  # the person turned
    if ok.sum() < 5:
        return None
    ratio = abs(float(np.median(offset[ok] / width[ok])))
    return float(np.degrees(np.arctan(ratio / _NOSE_DEPTH_RATIO))), ratio


def _camera_view_check(trial: Trial) -> list[QualityFlag]:
    """Estimate how far from the front or back the camera films and flag oblique views with
    how much they distort frontal-plane angles."""
    walking = _walking_view_deg(trial)
    nose = None if walking else _nose_view_deg(trial)
    if walking is None and nose is None:
        return [QualityFlag(
            "camera_view_unchecked",
            "the body landmarks do not show whether the camera films the front or back: "
            "check on the video that it does")]
    if walking is not None:
        angle_deg = walking[0]
        how = (f"the person walks at about {angle_deg:.0f}° to the camera's line of sight, "
               "judged from how they move across and into the picture")
    else:
        angle_deg = nose[0] if nose else 0.0
        how = (f"the nose sits {nose[1] if nose else 0.0:.2f} shoulder widths beside the "
               "middle of the shoulders")
    if angle_deg <= _MAX_FRONTAL_VIEW_DEG:
        return []
    factor = 1.0 / np.cos(np.radians(angle_deg))
    return [QualityFlag(
        "camera_not_frontal",
        f"the camera appears to film about {angle_deg:.0f}° from the front or back ({how}); at "
        f"that angle a sideways tilt reads about {factor:.1f} times too large and pelvic "
        "rotation mixes in, so frontal-plane angles are not valid: film from the front or "
        "back", blocks_interpretation=True)]


#: Reader notes that make frontal-plane measures meaningless (the body parts may be misnamed).
_BLOCKING_NOTES = frozenset({"keypoints_implausible"})


def _frontal_check(trial: Trial, settings: MotionSettings) -> list[QualityFlag]:
    """A side view: the hips (nearly) on top of each other in the picture."""
    lh, rh = trial.get("left_hip"), trial.get("right_hip")
    trunk = trunk_vector(trial)
    if trunk is None or not (np.isfinite(lh).any() and np.isfinite(rh).any()):
        return []
    dx = lh[:, 0] - rh[:, 0]
    length = np.hypot(trunk[:, 0], trunk[:, 2])
    both = np.isfinite(dx) & np.isfinite(length) & (length > 0)
    if both.any():
        ratio = float(np.median(np.abs(dx[both]) / length[both]))
        if ratio < settings.min_frontal_hip_width_ratio:
            return [QualityFlag(
                "camera_not_frontal",
                f"the hips appear {ratio:.2f} trunk lengths apart (expected at least "
                f"{settings.min_frontal_hip_width_ratio:g} in a front or back view); frontal-"
                "plane angles from an oblique or side view are not valid",
                blocks_interpretation=True)]
    return []


# --------------------------------------------------------------------------- analysis


def analyse_trial(
    trial: Trial,
    task: str = "walk",
    *,
    kb: KnowledgeBase | None = None,
    cutoff_hz: float | None = None,
    max_gap_s: float | None = None,
    events: EventsSource = "auto",
    event_method: Literal["zeni", "zeni_refined"] = "zeni_refined",
    knee_width_m: float | None = None,
    leg_length_m: float | None = None,
    progression: Literal["lab_axis", "walking_direction"] = "lab_axis",
    plot: str | Path | None = None,
) -> MotionResult:
    """Process a trial and measure it.

    Steps: keypoints below the minimum confidence are dropped (2D), gaps up to
    ``max_gap_s`` are filled, the trajectories are low-pass filtered (zero-lag Butterworth,
    task cut-off from the knowledge base), hip joint centres are estimated (3D markers), the
    trial is segmented (walking: gait events and stance phases; single-leg stance: bouts;
    single-leg squat: squat cycles), the measures are taken per phase, summarised per side,
    quality-checked and interpreted.

    Parameters
    ----------
    trial
        A trial from one of the readers.
    task
        ``"walk"``, ``"single_leg_stance"`` or ``"single_leg_squat"`` (hyphens accepted).
    kb
        Knowledge base; default the bundled one.
    cutoff_hz, max_gap_s
        Override the knowledge-base defaults.
    events
        Walking only: ``"auto"`` uses events stored in the file when there are foot strikes
        and foot offs for both sides, else detects them; ``"file"`` or ``"detect"`` force one.
    event_method
        ``"zeni_refined"`` (default) or ``"zeni"``; see :func:`detect_gait_events`.
    knee_width_m
        Knee width (3D markers without medial knee markers) to locate the knee centre.
    leg_length_m
        Leg length for the hip joint centre regression (default: estimated).
    progression
        3D walking: the forward axis of the frame the pelvis angles are expressed in.
        ``"lab_axis"`` (default) snaps the estimated walking direction to the nearest horizontal
        laboratory axis, as Plug-in Gait does; ``"walking_direction"`` uses it as estimated.
    plot
        Write obliquity plots (PNG and SVG) to this path.

    Returns
    -------
    MotionResult

    Raises
    ------
    MotionDataError
        If the pelvis (or, for single-leg tasks, the feet) cannot be located.
    """
    task_name = _normalise_task(task)
    check_option("events", events, ("auto", "file", "detect"))
    kb = kb or load_kb()
    st = settings_from_kb(kb)
    cutoff = st.cutoff_hz[task_name] if cutoff_hz is None else check_range(
        "cutoff_hz", cutoff_hz, 0.0, None, unit="Hz")
    gap_s = st.max_gap_s if max_gap_s is None else check_range(
        "max_gap_s", max_gap_s, 0.0, None, unit="s")
    flags: list[QualityFlag] = [
        QualityFlag(code, message, blocks_interpretation=code in _BLOCKING_NOTES)
        for code, message in trial.notes
    ]

    if trial.is_2d and trial.confidence and st.keypoint_min_confidence > 0:
        cleaned = {}
        for name, arr in trial.landmarks.items():
            conf = trial.confidence.get(name)
            if conf is not None:
                arr = arr.copy()
                arr[conf < st.keypoint_min_confidence] = np.nan
            cleaned[name] = arr
        trial = trial.replace(landmarks=cleaned)

    filled, gaps = fill_gaps(trial, gap_s)
    nyquist = trial.sampling_rate_hz / 2.0
    if cutoff >= nyquist:
        flags.append(QualityFlag(
            "filter_skipped",
            f"the {cutoff:g} Hz cut-off is not below the Nyquist frequency {nyquist:g} Hz; "
            "data left unfiltered"))
    proc = lowpass(filled, cutoff, order=st.filter_order)
    proc, leg_used = add_hip_joint_centres(proc, leg_length_m=leg_length_m)

    forward: FloatArray | None = None  # forward axis of the frame angles are expressed in
    walk_dir: FloatArray | None = None  # estimated walking direction (events, step width)
    obliquity = pelvic_obliquity_deg(proc) if proc.is_2d else None
    if not proc.is_2d:
        check_option("progression", progression, ("lab_axis", "walking_direction"))
        walk_dir = walking_direction(proc) if task_name == "walk" else _facing_direction(proc)
        forward = _snap_to_lab_axis(walk_dir) if progression == "lab_axis" else walk_dir
        obliquity = pelvic_obliquity_deg(proc, forward)
    assert obliquity is not None

    # ---------------------------------------------------------------- segmentation
    events_used: list[GaitEvent]
    events_source = "detected"
    if task_name == "walk":
        file_ok = {(e.side, e.kind) for e in trial.events} >= {
            (s, k) for s in _SIDES for k in ("foot_strike", "foot_off")}
        if events == "file" or (events == "auto" and file_ok):
            if not trial.events:
                raise MotionDataError(
                    f"{trial.source}: no gait events in the file",
                    [Problem(trial.source, "foot strikes and foot offs (e.g. a C3D EVENT group)",
                             "none", "use events='detect'")])
            events_used = list(trial.events)
            events_source = "file"
        else:
            events_used = detect_gait_events(proc, method=event_method, forward=walk_dir)
        phases = stance_phases(proc, events_used)
    elif task_name == "single_leg_stance":
        phases, events_used = segment_single_leg_stance(proc)
    else:
        phases, events_used = segment_single_leg_squats(proc)

    # ---------------------------------------------------------------- per-frame measures
    series: dict[str, dict[str, FloatArray | None]] = {}
    for side in _SIDES:
        series[side] = {
            "contralateral_pelvic_drop_deg": side_up(obliquity, side),
            "hip_adduction_deg": hip_adduction_deg(proc, side, forward, knee_width_m),
            "lateral_trunk_lean_deg": lateral_trunk_lean_deg(proc, side, forward),
            "knee_frontal_plane_projection_angle_deg": knee_fppa_deg(
                proc, side, forward, knee_width_m),
        }
    stat = "mean" if task_name == "single_leg_stance" else "max"
    phase_values: list[dict[str, float]] = []
    collected: dict[str, dict[str, list[float]]] = {
        s: {m: [] for m in _UNITS} for s in _SIDES}
    for ph in phases:
        vals = {m: _window_stat(x, ph.window, stat) for m, x in series[ph.side].items()}
        phase_values.append(vals)
        for m, v in vals.items():
            collected[ph.side][m].append(v)
    if task_name == "walk":
        _steps(proc, events_used, walk_dir, collected)

    # ---------------------------------------------------------------- quality
    rate = trial.sampling_rate_hz
    if rate < st.min_frame_rate_hz:
        flags.append(QualityFlag(
            "low_frame_rate",
            f"recorded at {rate:g} frames per second, below the minimum of "
            f"{st.min_frame_rate_hz:g}: gait events are timed only to within "
            f"{1000.0 / rate:.0f} ms and movement up to the {cutoff:g} Hz filter limit is "
            "sampled with less margin than glutemed assumes; film at "
            f"{st.recommended_frame_rate_hz:g} frames per second if the camera offers it"))
    elif rate < st.recommended_frame_rate_hz and proc.is_2d:  # the advice is for video
        flags.append(QualityFlag(
            "frame_rate_below_recommended",
            f"filmed at {rate:g} frames per second ({st.recommended_frame_rate_hz:g} is "
            f"recommended): gait events are timed to within one frame ({1000.0 / rate:.0f} ms), "
            f"and pelvic angles may differ by about {st.half_rate_obliquity_change_deg:g}° from "
            f"a {st.recommended_frame_rate_hz:g} frames per second recording (glutemed's check "
            "on demonstration videos, not a published value)"))
    if proc.is_2d:
        flags += _frontal_check(proc, st)
        flags += _camera_view_check(trial)  # unfiltered: medians and line fits
        if proc.units == "normalised":
            flags.append(QualityFlag(
                "normalised_coordinates",
                "image-normalised keypoints without the image size: angles are distorted by "
                "the aspect ratio (pass image_size_px)", blocks_interpretation=True))
    else:
        for side in _SIDES:
            if proc.has(f"{side}_knee") and not knee_centre(proc, side, knee_width_m)[1]:
                flags.append(QualityFlag(
                    "knee_centre_approximated",
                    "no medial knee marker or knee width: the lateral knee marker stands in "
                    "for the knee centre, which biases absolute hip adduction and FPPA "
                    "(changes between strides and visits are unaffected)", side=side))
    if trunk_vector(proc) is None:
        flags.append(QualityFlag(
            "trunk_landmarks_missing",
            "no shoulder, C7 or neck landmarks: lateral trunk lean not measured"))
    unfilled = sorted({g.landmark for g in gaps if not g.filled})
    if unfilled:
        flags.append(QualityFlag(
            "missing_data",
            "some body points are missing for longer than can be bridged, or at the start or "
            "end of the recording: " + ", ".join(landmark_words(n) for n in unfilled)))
    if not phases:
        what = {"walk": "stance phases (no foot strike / foot off pairs)",
                "single_leg_stance": "single-leg-stance bouts (no lifted foot)",
                "single_leg_squat": "single-leg squats"}[task_name]
        flags.append(QualityFlag("no_phases", f"no {what} were found",
                                 blocks_interpretation=True))
    if task_name == "walk" and events_source == "detected":
        kinds = {(e.side, e.kind) for e in events_used}
        missing = [f"{s} {k.replace('_', ' ')}" for s in _SIDES
                   for k in ("foot_strike", "foot_off") if (s, k) not in kinds]
        if missing:
            flags.append(QualityFlag("events_incomplete",
                                     "no events detected for: " + ", ".join(missing)))

    # ---------------------------------------------------------------- per side, interpretation
    per_side: dict[str, dict[str, Any]] = {}
    calls: dict[str, TrendelenburgCall] = {}
    blocking = [q.message for q in flags if q.blocks_interpretation]
    for side in _SIDES:
        n = sum(1 for ph in phases if ph.side == side)
        entry: dict[str, Any] = {"n_strides": n}
        for m in _UNITS:
            entry[m] = _summary(collected[side][m])
        side_block = list(blocking)
        if task_name == "walk" and n < st.min_strides:
            flags.append(QualityFlag(
                "few_strides",
                f"{n} stance phases measured; at least {st.min_strides} are needed for a "
                "stable mean", side=side, blocks_interpretation=True))
            side_block.append(
                f"only {n} stride{'' if n == 1 else 's'} (at least {st.min_strides} needed)"
                if n
                else f"no complete stride on this side (at least {st.min_strides} needed)"
            )
        cpd = entry["contralateral_pelvic_drop_deg"] or {}
        mean = cpd.get("mean")
        sd = cpd.get("sd")
        call = classify_trendelenburg(
            float("nan") if mean is None else float(mean),
            float("nan") if sd is None else float(sd),
            int(cpd.get("n", 0)),
            task=task_name,
            settings=st,
            blocked_by="; ".join(side_block),
        )
        calls[side] = call
        entry["trendelenburg"] = call.as_dict()
        per_side[side] = entry

    findings: dict[str, str] = {}
    measured = [calls[s] for s in _SIDES if per_side[s]["n_strides"] > 0]
    if measured:
        if any(c.call == "positive" for c in measured):
            findings[_FINDING_FOR_TASK[task_name]] = "positive"
        elif all(c.call == "negative" for c in measured):
            if task_name != "single_leg_squat" and trunk_vector(proc) is None:
                # a level pelvis with a trunk lean over the stance leg is a (compensated)
                # positive sign; without trunk landmarks it cannot be excluded
                flags.append(QualityFlag(
                    "compensation_unchecked",
                    "the pelvic drop is below the reference, but without trunk landmarks a "
                    "compensatory trunk lean over the stance leg cannot be excluded: no "
                    "negative finding is emitted", blocks_interpretation=True))
            else:
                findings[_FINDING_FOR_TASK[task_name]] = "negative"

    processing = {
        "lowpass_cutoff_hz": cutoff,
        "filter_order": st.filter_order,
        "max_gap_fill_s": gap_s,
        "event_timing_resolution_s": _r(1.0 / trial.sampling_rate_hz, 4),
        "keypoint_min_confidence": st.keypoint_min_confidence if proc.is_2d else None,
        "event_method": event_method if (task_name == "walk" and events_source == "detected")
        else None,
        "leg_length_m": _r(leg_used) if leg_used is not None else None,
        "knee_width_m": knee_width_m,
        "progression_axis": [_r(float(v)) for v in forward[:2]] if forward is not None
        else None,
        "walking_direction": [_r(float(v)) for v in walk_dir[:2]] if walk_dir is not None
        else None,
        "frame_convention": proc.frame_description(),
    }
    result = MotionResult(
        task=task_name,
        source=trial.source,
        sampling_rate_hz=float(trial.sampling_rate_hz),
        n_frames=trial.n_frames,
        units=trial.units,
        frame=trial.frame,
        dimensions=2 if trial.is_2d else 3,
        events=tuple(events_used),
        events_source=events_source,
        phases=tuple(phases),
        phase_values=tuple(phase_values),
        per_side=per_side,
        trendelenburg=calls,
        quality=tuple(_dedupe(flags)),
        findings=findings,
        processing=processing,
        gaps=tuple(gaps),
        versions=kb.versions(),
        time_s=proc.time_s,
        obliquity_deg=np.asarray(obliquity, dtype=float),
    )
    if plot is not None:
        from glutemed.motion._plots import plot_obliquity

        paths = plot_obliquity(result, plot)
        result = replace(result, plots=tuple(str(p) for p in paths))
    return result


def _dedupe(flags: list[QualityFlag]) -> list[QualityFlag]:
    seen: set[tuple[str, str | None, str]] = set()
    out = []
    for f in flags:
        key = (f.code, f.side, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _snap_to_lab_axis(forward: FloatArray) -> FloatArray:
    """The horizontal laboratory axis (+x, -x, +y or -y) closest to ``forward``."""
    axis = int(np.argmax(np.abs(forward[:2])))
    out = np.zeros(3)
    out[axis] = 1.0 if forward[axis] >= 0 else -1.0
    return out


def _facing_direction(trial: Trial) -> FloatArray:
    """Horizontal direction the subject faces (3D static tasks): pelvis x axis, else feet."""
    from glutemed.motion._kinematics import pelvis_frame

    if trial.has("left_asis", "right_asis") and (
        trial.has("sacrum") or trial.has("left_psis", "right_psis")
    ):
        x = pelvis_frame(trial).x
        mean = np.nanmean(x, axis=0)
        if np.all(np.isfinite(mean)) and np.hypot(mean[0], mean[1]) > 0:
            return np.asarray(np.array([mean[0], mean[1], 0.0]) / np.hypot(mean[0], mean[1]))
    for a, b in (("left_hip_joint", "right_hip_joint"), ("left_hip", "right_hip")):
        if trial.has(a, b):
            lat = np.nanmean(trial.get(a) - trial.get(b), axis=0)
            fwd = np.cross(lat, [0.0, 0.0, 1.0])
            if np.hypot(fwd[0], fwd[1]) > 0:
                return np.asarray(np.array([fwd[0], fwd[1], 0.0]) / np.hypot(fwd[0], fwd[1]))
    return np.array([1.0, 0.0, 0.0])


def _steps(
    trial: Trial,
    events: list[GaitEvent],
    forward: FloatArray | None,
    collected: dict[str, dict[str, list[float]]],
) -> None:
    """Step width (3D) and cadence, attributed to the side of the striking foot."""
    strikes = sorted((e for e in events if e.kind == "foot_strike"), key=lambda e: e.time_s)
    left_axis = None
    if forward is not None and not trial.is_2d:
        left_axis = np.cross([0.0, 0.0, 1.0], [forward[0], forward[1], 0.0])
        left_axis = left_axis / np.linalg.norm(left_axis)
    rate = trial.sampling_rate_hz
    heels = {side: _heel(trial, side) for side in _SIDES}
    for prev, cur in pairwise(strikes):
        if prev.side == cur.side:
            continue
        dt = cur.time_s - prev.time_s
        if dt > 0:
            collected[cur.side]["cadence_steps_per_min"].append(60.0 / dt)
        if left_axis is None:
            continue
        i = round((cur.time_s - trial.start_time_s) * rate)
        j = round((prev.time_s - trial.start_time_s) * rate)
        if not (0 <= i < trial.n_frames and 0 <= j < trial.n_frames):
            continue
        width = abs(float((heels[cur.side][i] - heels[prev.side][j]) @ left_axis))
        if math.isfinite(width):
            collected[cur.side]["step_width_m"].append(width)


def _heel(trial: Trial, side: Side) -> FloatArray:
    for name in (f"{side}_heel", f"{side}_ankle"):
        if trial.has(name):
            return trial.get(name)
    return np.full((trial.n_frames, 3), np.nan)


# --------------------------------------------------------------------------- files


def analyse_file(
    path: str | Path,
    task: str = "walk",
    *,
    plot: str | Path | None = None,
    sampling_rate_hz: float | None = None,
    image_size_px: tuple[int, int] | None = None,
    keypoint_model: str | None = None,
    vertical_axis: str | None = None,
    kb: KnowledgeBase | None = None,
    **options: Any,
) -> MotionResult:
    """Read a motion file (or OpenPose folder) and analyse it: the CLI's entry point.

    Parameters
    ----------
    path
        A ``.c3d``, ``.trc``, ``.csv`` or ``.json`` file, or an OpenPose JSON folder.
    task
        ``"walk"``, ``"single_leg_stance"`` or ``"single_leg_squat"`` (hyphens accepted).
    plot
        Write pelvic-obliquity plots to this path (PNG and SVG side by side).
    sampling_rate_hz, image_size_px, keypoint_model, vertical_axis
        Passed to :func:`read_trial` (keypoint files carry no frame rate).
    kb
        Knowledge base; default the bundled one.
    **options
        Passed to :func:`analyse_trial` (``cutoff_hz``, ``max_gap_s``, ``events``,
        ``event_method``, ``knee_width_m``, ``leg_length_m``).

    Returns
    -------
    MotionResult
        ``result.to_dict()`` is the CLI's JSON.

    Examples
    --------
    >>> result = analyse_file("gait.c3d", task="walk")          # doctest: +SKIP
    >>> result.to_dict()["per_side"]["left"]["n_strides"]        # doctest: +SKIP
    3
    """
    trial = read_trial(path, sampling_rate_hz=sampling_rate_hz, image_size_px=image_size_px,
                       keypoint_model=keypoint_model, vertical_axis=vertical_axis)
    return analyse_trial(trial, task, kb=kb, plot=plot, **options)


def list_motion_files(folder: str | Path) -> list[Path]:
    """List the motion files of a folder: ``.c3d``, ``.trc``, ``.csv``, ``.json`` files and
    sub-folders holding OpenPose ``*.json`` frames, sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise MotionDataError(
            f"{root.name}: not a folder",
            [Problem(str(root.name), "a folder of motion files", "no such folder")])
    out: list[Path] = []
    for p in sorted(root.iterdir()):
        if (p.is_file() and p.suffix.lower() in _MOTION_SUFFIXES) or (
            p.is_dir() and any(p.glob("*.json"))
        ):
            out.append(p)
    return out


@dataclass(frozen=True)
class BatchItem:
    """One file of a batch: its result, or the error that stopped it."""

    path: Path
    result: MotionResult | None
    error: GlutemedError | None

    def to_row(self) -> dict[str, Any]:
        """A table row (the error message in ``error`` when the file failed)."""
        if self.result is not None:
            return {"file": self.path.name, **self.result.to_row(), "error": ""}
        return {"file": self.path.name, "error": str(self.error).splitlines()[0]}


def analyse_folder(
    folder: str | Path,
    task: str = "walk",
    **kwargs: Any,
) -> Iterator[BatchItem]:
    """Analyse every motion file of a folder, one :class:`BatchItem` at a time.

    A file that fails with a :class:`~glutemed.errors.GlutemedError` yields an item with the
    error instead of stopping the batch. Use :func:`list_motion_files` for the count (progress bar).
    Keyword arguments go to :func:`analyse_file`; a ``plot`` folder gets one plot per file.
    """
    plot_dir = kwargs.pop("plot", None)
    kb = kwargs.pop("kb", None) or load_kb()
    for path in list_motion_files(folder):
        plot = Path(plot_dir) / f"{path.stem}_obliquity.png" if plot_dir else None
        try:
            res = analyse_file(path, task, plot=plot, kb=kb, **kwargs)
        except GlutemedError as exc:
            yield BatchItem(path, None, exc)
        else:
            yield BatchItem(path, res, None)
