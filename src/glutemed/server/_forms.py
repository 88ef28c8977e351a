"""Visit forms generated from the knowledge base, and their parsing into a case.

The history, examination and imaging sections list only the *relevant* findings: those the
diagnosis engine counts (an accuracy row used in the model or a published cluster), the
red-flag triggers and context factors, the findings the imaging rules read, and every imaging
finding (imaging grades severity). Each examination test carries the knowledge base's "how to
perform" and "positive if" text. Nothing clinical is written here: names, descriptions and
levels come from ``kb.findings``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from glutemed._checks import short_repr
from glutemed.errors import InputValueError, Problem
from glutemed.knowledge import KnowledgeBase

__all__ = [
    "CASE_FACTORS",
    "FieldDef",
    "Section",
    "case_from_form",
    "form_sections",
    "form_values_from_case",
]

#: Findings the imaging-advice rules of glutemed.reasoning read (module doc of _advice.py).
_RULE_FINDINGS = frozenset(
    {
        "abductor_weakness",
        "trendelenburg_sign",
        "trendelenburg_gait",
        "hip_lag_sign",
        "resisted_hip_abduction_pain",
        "single_leg_stance_30s",
        "lateral_hip_pain",
        "palpation_greater_trochanter_tenderness",
    }
)
#: Derived from the patient's age, never asked.
_DERIVED = frozenset({"age_60_or_over"})

#: Patient factors of the case model (labels for the form).
CASE_FACTORS: dict[str, str] = {
    "diabetes": "Diabetes",
    "anticoagulation": "Anticoagulation",
    "pregnancy": "Pregnancy",
    "immunosuppression": "Immunosuppression",
    "prefers_no_injection": "Prefers no injection",
    "prefers_no_surgery": "Prefers no surgery",
    "fit_for_surgery": "Fit for surgery",
}
_SETTINGS = ("community", "primary_care", "specialist")
_SIDES = ("left", "right", "bilateral", "unknown")
_MODALITY_TITLES = {
    "xray": "Imaging: radiograph",
    "ultrasound": "Imaging: ultrasound",
    "mri": "Imaging: MRI",
}


@dataclass(frozen=True)
class FieldDef:
    """One finding on the form."""

    id: str
    name: str
    kind: str
    description: str
    how_to_perform: str = ""
    positive_if: str = ""
    value_type: str = "binary"
    levels: tuple[str, ...] = ()
    red_flag: bool = False
    informs: tuple[str, ...] = ()

    @property
    def choices(self) -> tuple[str, ...]:
        """Values a clinician can pick (``not_done`` first = not recorded)."""
        if self.value_type == "ordinal":
            return ("not_done", *self.levels)
        return ("not_done", "positive", "negative")


@dataclass(frozen=True)
class Section:
    """A group of findings on the form."""

    id: str
    title: str
    help: str
    fields: tuple[FieldDef, ...] = field(default_factory=tuple)


def _relevant(kb: KnowledgeBase) -> tuple[set[str], set[str]]:
    ranked = {c.id for c in kb.conditions.values() if c.in_differential}
    relevant: set[str] = set(_RULE_FINDINGS)
    for f in kb.findings.values():
        if any(a.use_in_model and a.target in ranked for a in f.accuracy):
            relevant.add(f.id)
        if f.kind == "imaging":
            relevant.add(f.id)
    for cl in kb.clusters.values():
        relevant.update(cl.findings)
    flags: set[str] = set()
    for rf in kb.red_flags.values():
        flags.update(rf.triggers)
        relevant.update(rf.context_factors)
    relevant.update(flags)
    return relevant - _DERIVED, flags


def form_sections(kb: KnowledgeBase) -> list[Section]:
    """Return the visit form's sections (red-flag screen, history, examination, imaging)."""
    relevant, flag_ids = _relevant(kb)
    names = {c.id: c.name for c in kb.conditions.values()}
    buckets: dict[str, list[FieldDef]] = {}
    for f in kb.findings.values():
        if f.id not in relevant or f.kind == "movement_measure":
            continue
        informs = tuple(
            sorted({names.get(a.target, a.target) for a in f.accuracy if a.use_in_model})
        )
        fd = FieldDef(
            id=f.id,
            name=f.name,
            kind=f.kind,
            description=f.description,
            how_to_perform=f.how_to_perform,
            positive_if=f.positive_if,
            value_type=f.value_type,
            levels=tuple(f.levels),
            red_flag=f.id in flag_ids,
            informs=informs,
        )
        if f.kind == "history":
            key = "red_flags" if f.id in flag_ids else "history"
        elif f.kind == "imaging":
            key = f"imaging_{f.modality}"
        else:
            key = "examination"
        buckets.setdefault(key, []).append(fd)
    out: list[Section] = []
    meta = [
        (
            "red_flags",
            "Red-flag screen",
            "Ask these first. Any positive answer withholds the "
            "differential and shows the urgent action.",
        ),
        (
            "history",
            "History",
            "Record what the patient reports; leave 'not recorded' if not asked.",
        ),
        (
            "examination",
            "Examination",
            "Only tests that change a probability or the imaging "
            "advice are listed. Open a test to see how to perform it.",
        ),
        ("imaging_xray", _MODALITY_TITLES["xray"], "Only if already available."),
        ("imaging_ultrasound", _MODALITY_TITLES["ultrasound"], "Only if already available."),
        ("imaging_mri", _MODALITY_TITLES["mri"], "Only if already available."),
    ]
    for key, title, help_text in meta:
        if buckets.get(key):
            out.append(Section(key, title, help_text, tuple(buckets[key])))
    return out


def _choice(name: str, value: Any, allowed: tuple[str, ...], problems: list[Problem]) -> str:
    text = str(value or "").strip()
    if text not in allowed:
        problems.append(Problem(name, "one of " + ", ".join(allowed), short_repr(text)))
        return allowed[0]
    return text


def case_from_form(
    kb: KnowledgeBase,
    form: Mapping[str, Any],
    *,
    patient: Mapping[str, Any],
) -> tuple[dict[str, Any], dt.date, str]:
    """Turn a submitted visit form into a case dictionary.

    Form fields: ``visit_date``, ``setting``, ``side``, ``f_<finding id>`` (history and
    examination), ``i_<finding id>`` (imaging), ``factor_<name>`` checkboxes,
    ``mri_available``, ``mri_contraindicated``, ``pretest_<condition id>`` (percent, optional),
    ``age_years`` (only when the patient has no birth date), ``note``.

    Returns
    -------
    case, visit_date, note
        The case (without treatments and outcomes, which the caller adds from the records).

    Raises
    ------
    InputValueError
        Naming every field at fault (``field`` = the form field name).
    """
    problems: list[Problem] = []
    raw_date = str(form.get("visit_date") or "").strip()
    try:
        visit_date = dt.date.fromisoformat(raw_date) if raw_date else dt.date.today()
    except ValueError:
        problems.append(Problem("visit_date", "a date YYYY-MM-DD", short_repr(raw_date)))
        visit_date = dt.date.today()
    setting = _choice("setting", form.get("setting") or "primary_care", _SETTINGS, problems)
    side = _choice("side", form.get("side") or "unknown", _SIDES, problems)
    findings: dict[str, str] = {}
    imaging: dict[str, str] = {}
    for key, value in form.items():
        if key.startswith(("f_", "i_")):
            fid = key[2:]
            finding = kb.findings.get(fid)
            if finding is None:
                problems.append(Problem(key, "a finding of the knowledge base", short_repr(fid)))
                continue
            allowed = (
                ("not_done", *finding.levels)
                if finding.value_type == "ordinal"
                else ("not_done", "positive", "negative")
            )
            val = _choice(key, value, allowed, problems)
            if val == "not_done":
                continue
            (imaging if finding.kind == "imaging" else findings)[fid] = val
    factors = {name: bool(form.get(f"factor_{name}")) for name in CASE_FACTORS}
    pretest: dict[str, float] = {}
    for key, value in form.items():
        if key.startswith("pretest_") and str(value).strip():
            cid = key[len("pretest_") :]
            try:
                pct = float(str(value).strip().rstrip("%"))
            except ValueError:
                problems.append(Problem(key, "a percentage between 0 and 100", short_repr(value)))
                continue
            if cid not in kb.conditions:
                problems.append(Problem(key, "a condition of the knowledge base", short_repr(cid)))
            elif not 0 < pct < 100:
                problems.append(
                    Problem(key, "a percentage strictly between 0 and 100", short_repr(value))
                )
            else:
                pretest[cid] = pct / 100.0
    age = patient.get("age_years")
    if age is None and str(form.get("age_years") or "").strip():
        try:
            age = float(str(form.get("age_years")))
        except ValueError:
            problems.append(
                Problem("age_years", "an age in years", short_repr(form.get("age_years")))
            )
        else:
            if not 0 <= age <= 120:
                problems.append(Problem("age_years", "an age between 0 and 120", short_repr(age)))
                age = None
    note = str(form.get("note") or "").strip()
    if problems:
        raise InputValueError(f"the visit form has {len(problems)} problem(s)", problems)
    case: dict[str, Any] = {
        "patient": {"age_years": age, "sex": patient.get("sex") or "unknown"},
        "setting": setting,
        "side": side,
        "findings": findings,
        "imaging": imaging,
        "factors": factors,
        "assessment_date": visit_date.isoformat(),
        "mri_available": bool(form.get("mri_available")),
        "mri_contraindicated": bool(form.get("mri_contraindicated")),
        "pretest": pretest,
    }
    return case, visit_date, note


def form_values_from_case(case: Mapping[str, Any]) -> dict[str, Any]:
    """Return form field values that reproduce a stored case (for the edit form)."""
    values: dict[str, Any] = {
        "setting": case.get("setting", "primary_care"),
        "side": case.get("side", "unknown"),
        "mri_available": case.get("mri_available", True),
        "mri_contraindicated": case.get("mri_contraindicated", False),
    }
    for fid, v in (case.get("findings") or {}).items():
        values[f"f_{fid}"] = v
    for fid, v in (case.get("imaging") or {}).items():
        values[f"i_{fid}"] = v
    for name, v in (case.get("factors") or {}).items():
        values[f"factor_{name}"] = bool(v)
    for cid, p in (case.get("pretest") or {}).items():
        values[f"pretest_{cid}"] = round(float(p) * 100, 1)
    age = (case.get("patient") or {}).get("age_years")
    if age is not None:
        values["age_years"] = age
    return values
