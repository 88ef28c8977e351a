"""Clinical case input: the structure a clinician fills in, and its validation.

A case is a YAML or JSON document (or the same structure in Python)::

    patient: {age_years: 54, sex: female}
    setting: primary_care            # see SETTINGS (primary_care, physiotherapy, spine, ...)
    side: left
    findings:                        # history and examination finding ids
      palpation_greater_trochanter_tenderness: positive
      resisted_hip_abduction_pain: positive
      single_leg_stance_30s: not_done
    imaging:                         # imaging, laboratory and procedure finding ids
      mri_tear_thickness: partial    # ordinal findings take one of their levels
    treatments_tried:
      - {id: corticosteroid_injection, start_date: 2026-05-01, response: none}
    pretest:                         # optional clinician's pre-test estimates
      lumbar_radiculopathy: 0.2

Validation reports every problem at once: unknown ids (with the closest known ids), values that a
finding cannot take, and contradictions between findings.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from glutemed._checks import closest, short_repr
from glutemed.errors import CaseValidationError, DataFileError, Problem
from glutemed.knowledge import KnowledgeBase

__all__ = [
    "BINARY_VALUES",
    "HISTORY_ONLY_TREATMENTS",
    "SETTINGS",
    "Case",
    "OutcomeRecord",
    "Patient",
    "PatientFactors",
    "TreatmentTried",
    "case_from_dict",
    "load_case",
    "validate_case",
]

BINARY_VALUES = ("positive", "negative", "not_done")

#: Treatments a case may record as already tried that the care plan itself never offers
#: (history only): their ids and names.
HISTORY_ONLY_TREATMENTS: dict[str, str] = {
    "epidural_steroid_injection": "Epidural or nerve-root steroid injection",
    "conservative_care_unspecified": "Conservative care (type not recorded)",
}

#: Care settings with their own priors (knowledge/data/network.yaml).
Setting = Literal[
    "community",
    "primary_care",
    "physiotherapy",
    "sports_medicine",
    "orthopaedic",
    "specialist",
    "spine",
    "emergency_department",
]
SETTINGS: tuple[str, ...] = Setting.__args__  # type: ignore[attr-defined]
_CASE_SECTIONS = {
    "findings": ("history", "examination", "movement_measure"),
    "imaging": ("imaging", "laboratory", "procedure"),
}

#: Pairs of findings that cannot both hold. Logic, not evidence: a tendon cannot be retracted, or
#: its facet bald, if the same report says there is no tear; a complete pain map names the sites.
_CONTRADICTIONS: tuple[tuple[tuple[str, str], tuple[str, str], str], ...] = (
    (
        ("mri_tear_thickness", "none"),
        ("mri_tendon_retraction", "positive"),
        "a retracted tendon implies a full-thickness tear",
    ),
    (
        ("mri_tear_thickness", "none"),
        ("mri_bald_facet", "positive"),
        "a bald (bare) facet implies a full-thickness tear",
    ),
    (
        ("mri_tear_thickness", "partial"),
        ("mri_tendon_retraction", "positive"),
        "a retracted tendon implies a full-thickness tear",
    ),
    (
        ("mri_tear_thickness", "partial"),
        ("mri_bald_facet", "positive"),
        "a bald (bare) facet implies a full-thickness tear",
    ),
    (
        ("mri_tear_thickness", "none"),
        ("us_tear", "positive"),
        "MRI reports no tear but ultrasound reports one; record which report is current",
    ),
    (
        ("hip_pain_site_unspecified", "positive"),
        ("pain_map_complete", "positive"),
        "a complete pain map names the sites: record lateral hip, groin or buttock pain instead",
    ),
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Patient(_Model):
    """Demographics the engine uses (no identifiers)."""

    age_years: float | None = Field(default=None, ge=0, le=120)
    sex: Literal["female", "male", "other", "unknown"] = "unknown"


class TreatmentTried(_Model):
    """A treatment the patient has had, with its response."""

    id: str
    start_date: dt.date | None = None
    weeks: float | None = Field(default=None, ge=0, le=520)
    dose: str = ""
    response: Literal["none", "partial", "good", "worse", "unknown"] = "unknown"


class OutcomeRecord(_Model):
    """One outcome measurement: a questionnaire's answers or its total, on a date."""

    instrument: str
    date: dt.date
    total: float | None = None
    answers: dict[str, Any] | None = None


class PatientFactors(_Model):
    """Patient factors that change treatment options."""

    diabetes: bool = False
    anticoagulation: bool = False
    pregnancy: bool = False
    immunosuppression: bool = False
    prefers_no_injection: bool = False
    prefers_no_surgery: bool = False
    fit_for_surgery: bool = True


#: The side of the symptoms.
Side = Literal["left", "right", "bilateral", "unknown"]
SIDES: tuple[str, ...] = get_args(Side)


class Case(_Model):
    """One patient's findings at one assessment."""

    patient: Patient = Field(default_factory=Patient)
    setting: Setting = "primary_care"
    side: Side = "unknown"
    findings: dict[str, str] = Field(default_factory=dict)
    imaging: dict[str, str] = Field(default_factory=dict)
    treatments_tried: list[TreatmentTried] = Field(default_factory=list)
    pretest: dict[str, float] = Field(default_factory=dict)
    outcomes: list[OutcomeRecord] = Field(default_factory=list)
    factors: PatientFactors = Field(default_factory=PatientFactors)
    assessment_date: dt.date | None = None
    mri_available: bool = True
    mri_contraindicated: bool = False
    label: str = Field(default="", description="A free label for examples; not an identifier.")

    def observed(self) -> dict[str, str]:
        """Return history, examination and imaging values in one mapping."""
        merged = dict(self.findings)
        merged.update(self.imaging)
        return merged

    def observed_with_side(self) -> dict[str, str]:
        """:meth:`observed` with :data:`SIDE_FINDING` filled in from ``side`` when not recorded.

        A recorded value of the finding (``not_done`` included) is kept as it is.
        """
        merged = self.observed()
        derived = side_value(self.side)
        if derived is not None and SIDE_FINDING not in merged:
            merged[SIDE_FINDING] = derived
        return merged


#: The finding that the case's side stands for: symptoms on both sides.
SIDE_FINDING = "bilateral_symptoms"


def side_value(side: str) -> str | None:
    """The value of :data:`SIDE_FINDING` that a side implies: present when bilateral, absent
    when left or right, nothing when unknown."""
    if side == "bilateral":
        return "positive"
    if side in ("left", "right"):
        return "negative"
    return None


def load_case(path: str | Path) -> Case:
    """Read a case from a YAML or JSON file.

    Raises
    ------
    DataFileError
        If the file cannot be read or parsed, or does not have the case structure.
    """
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise DataFileError(
            f"cannot read case file {path.name}",
            [Problem(path.name, "a readable YAML or JSON file", type(exc).__name__)],
        ) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}" if mark is not None else path.name
        raise DataFileError(
            f"cannot parse case file {path.name}",
            [Problem(where, "valid YAML or JSON", short_repr(str(exc).splitlines()[0]))],
        ) from None
    return case_from_dict(data, where=path.name)


def case_from_dict(data: Any, *, where: str = "case") -> Case:
    """Build a :class:`Case` from a mapping, reporting every structural problem at once."""
    if not isinstance(data, dict):
        raise CaseValidationError(
            f"{where} is not a case",
            [Problem(where, "a mapping with patient, setting, findings, ...", short_repr(data))],
        )
    for key in ("findings", "imaging"):
        if isinstance(data.get(key), dict):
            data = {**data, key: {k: _normalise_value(v) for k, v in data[key].items()}}
    try:
        return Case.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                f"{where} " + ".".join(str(p) for p in e["loc"]),
                e["msg"].lower(),
                "nothing" if e["type"] == "missing" else short_repr(e.get("input")),
            )
            for e in exc.errors()
        ]
        raise CaseValidationError(f"{where} does not have the case structure", problems) from None


def _normalise_value(value: Any) -> Any:
    if value is True:
        return "positive"
    if value is False:
        return "negative"
    if value is None:
        return "not_done"
    if isinstance(value, int | float):
        return str(value)
    return value


def validate_case(case: Case, kb: KnowledgeBase, *, where: str = "case") -> None:
    """Check a case against the knowledge base; raise once with every problem.

    Raises
    ------
    CaseValidationError
        Unknown ids (with the closest known ids), impossible values, contradictions.
    """
    problems: list[Problem] = []
    for section in ("findings", "imaging"):
        values: dict[str, str] = getattr(case, section)
        for fid, value in values.items():
            loc = f"{where} {section}.{fid}"
            finding = kb.findings.get(fid)
            if finding is None:
                near = closest(fid, kb.findings)
                problems.append(
                    Problem(
                        loc,
                        "a finding id from the knowledge base",
                        short_repr(fid),
                        f"did you mean {', '.join(near)}?"
                        if near
                        else "see `glutemed kb list findings`",
                    )
                )
                continue
            if finding.kind not in _CASE_SECTIONS[section]:
                other = "imaging" if section == "findings" else "findings"
                problems.append(
                    Problem(
                        loc,
                        f"{' or '.join(_CASE_SECTIONS[section])} findings under {section}",
                        f"a {finding.kind} finding",
                        f"move it to {other}",
                    )
                )
            allowed = (
                (*finding.levels, "not_done") if finding.value_type == "ordinal" else BINARY_VALUES
            )
            if value not in allowed:
                problems.append(Problem(loc, "one of " + ", ".join(allowed), short_repr(value)))
    for cid, p in case.pretest.items():
        loc = f"{where} pretest.{cid}"
        if cid not in kb.conditions:
            near = closest(cid, kb.conditions)
            problems.append(
                Problem(
                    loc,
                    "a condition id",
                    short_repr(cid),
                    f"did you mean {', '.join(near)}?" if near else "",
                )
            )
        elif not 0.0 < p < 1.0:
            problems.append(Problem(loc, "a probability strictly between 0 and 1", short_repr(p)))
    for i, rec in enumerate(case.outcomes):
        if rec.instrument not in kb.instruments:
            near = closest(rec.instrument, kb.instruments)
            problems.append(
                Problem(
                    f"{where} outcomes[{i}].instrument",
                    "an instrument id",
                    short_repr(rec.instrument),
                    f"did you mean {', '.join(near)}?" if near else "",
                )
            )
        if rec.total is None and rec.answers is None:
            problems.append(Problem(f"{where} outcomes[{i}]", "a total or the answers", "neither"))
    for i, tried in enumerate(case.treatments_tried):
        if tried.id not in kb.treatments and tried.id not in HISTORY_ONLY_TREATMENTS:
            near = closest(tried.id, [*kb.treatments, *HISTORY_ONLY_TREATMENTS])
            problems.append(
                Problem(
                    f"{where} treatments_tried[{i}].id",
                    "a treatment id",
                    short_repr(tried.id),
                    f"did you mean {', '.join(near)}?" if near else "",
                )
            )
    observed = case.observed()
    for (fa, va), (fb, vb), why in _CONTRADICTIONS:
        if observed.get(fa) == va and observed.get(fb) == vb:
            section = "findings" if fb in case.findings else "imaging"
            problems.append(
                Problem(
                    f"{where} {section}.{fb}",
                    f"a value consistent with {fa}: {va}",
                    short_repr(vb),
                    why,
                )
            )
    if problems:
        raise CaseValidationError(f"{where} has {len(problems)} problem(s)", problems)
