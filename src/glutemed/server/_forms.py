"""Visit forms generated from the knowledge base, and their parsing into a case.

Every finding of the knowledge base can be entered. The form's sections follow the order a
clinician works in (red-flag screen, history, symptoms, examination by position, clinical rules,
imaging by modality, bloods) and come from ``form_layout.yaml``: rules place each finding by its
kind, modality, red-flag role and the position its "how to perform" text states, and a finding no
rule places goes to "Other findings", so findings added to the knowledge base always appear.
Each test carries the knowledge base's "how to perform" and "positive if" text. Nothing clinical
is written here: names, descriptions and levels come from ``kb.findings``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from glutemed._checks import short_repr
from glutemed.errors import DataFileError, InputValueError, Problem
from glutemed.knowledge import KnowledgeBase

__all__ = [
    "CASE_FACTORS",
    "LAYOUT_FILE",
    "FieldDef",
    "Layout",
    "Section",
    "case_from_form",
    "form_sections",
    "form_values_from_case",
    "load_layout",
    "section_summaries",
]

#: The form's layout (sections and the rules that place findings), next to this module.
LAYOUT_FILE = Path(__file__).with_name("form_layout.yaml")
_RULE_KEYS = frozenset({"section", "ids", "kind", "modality", "red_flag", "starts", "mentions"})

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


@dataclass(frozen=True)
class Layout:
    """The visit form's sections (display order) and the rules that place each finding."""

    sections: tuple[tuple[str, str, str], ...]
    rules: tuple[Mapping[str, Any], ...]
    derived: frozenset[str]
    never_asked_kinds: frozenset[str]

    def order(self, section: str) -> tuple[str, ...]:
        """The finding ids a section's ``ids`` rules list, in their order (shown first)."""
        out: list[str] = []
        for rule in self.rules:
            if rule["section"] == section:
                out.extend(x for x in rule.get("ids", ()) if x not in out)
        return tuple(out)

    def section_of(self, finding: Any, red_flag: bool) -> str:
        """The id of the section a finding goes to (the last section when no rule matches)."""
        how = str(getattr(finding, "how_to_perform", "") or "").strip().lower()
        first = re.split(r"(?<=[.;])\s", how, maxsplit=1)[0]
        words = set(re.findall(r"[a-z][a-z-]*", first))
        for rule in self.rules:
            if "ids" in rule and getattr(finding, "id", None) not in rule["ids"]:
                continue
            if "kind" in rule and finding.kind not in rule["kind"]:
                continue
            if "modality" in rule and getattr(finding, "modality", None) not in rule["modality"]:
                continue
            if "red_flag" in rule and bool(rule["red_flag"]) != red_flag:
                continue
            if "starts" in rule and not any(how.startswith(w) for w in rule["starts"]):
                continue
            if "mentions" in rule and not words.intersection(rule["mentions"]):
                continue
            return str(rule["section"])
        return self.sections[-1][0]


@functools.cache
def load_layout(path: Path = LAYOUT_FILE) -> Layout:
    """Read and check the form layout file.

    Raises
    ------
    DataFileError
        Naming the entry at fault (an unknown key, a rule for a section that does not exist).
    """
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    problems: list[Problem] = []
    sections = []
    for i, sec in enumerate(data.get("sections") or []):
        if not isinstance(sec, dict) or not {"id", "title"} <= set(sec):
            problems.append(
                Problem(f"{path.name}: sections[{i}]", "id, title and help", "an incomplete entry")
            )
            continue
        sections.append((str(sec["id"]), str(sec["title"]), str(sec.get("help") or "")))
    ids = {s[0] for s in sections}
    rules = []
    for i, rule in enumerate(data.get("rules") or []):
        where = f"{path.name}: rules[{i}]"
        if not isinstance(rule, dict):
            problems.append(Problem(where, "a mapping", type(rule).__name__))
            continue
        if extra := set(rule) - _RULE_KEYS:
            problems.append(
                Problem(where, "keys " + ", ".join(sorted(_RULE_KEYS)), ", ".join(sorted(extra)))
            )
        if rule.get("section") not in ids:
            problems.append(
                Problem(where, "a section listed under sections", short_repr(rule.get("section")))
            )
        rules.append(
            {
                k: (v if k in ("section", "red_flag") else [str(x).lower() for x in v])
                for k, v in rule.items()
            }
        )
    if not sections:
        problems.append(Problem(f"{path.name}: sections", "at least one section", "none"))
    if problems:
        raise DataFileError(f"the visit form layout {path.name} is not valid", problems)
    return Layout(
        sections=tuple(sections),
        rules=tuple(rules),
        derived=frozenset(str(x) for x in data.get("derived") or []),
        never_asked_kinds=frozenset(str(x) for x in data.get("never_asked_kinds") or []),
    )


def form_sections(kb: KnowledgeBase, layout: Layout | None = None) -> list[Section]:
    """Return the visit form's sections with every finding of the knowledge base.

    Each finding goes to the section of the first layout rule it matches (by kind, modality,
    red-flag role and the position its "how to perform" text states), or to "Other findings";
    only derived findings (computed from the age) and kinds never asked (movement measures) are
    left out. Empty sections are dropped.
    """
    layout = layout or load_layout()
    names = {c.id: c.name for c in kb.conditions.values()}
    flag_ids: set[str] = set()
    for rf in kb.red_flags.values():
        flag_ids.update(rf.triggers)
    buckets: dict[str, list[FieldDef]] = {}
    for f in kb.findings.values():
        if f.id in layout.derived or f.kind in layout.never_asked_kinds:
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
        buckets.setdefault(layout.section_of(f, fd.red_flag), []).append(fd)
    out = []
    for key, title, help_text in layout.sections:
        fields = buckets.get(key)
        if not fields:
            continue
        listed = layout.order(key)
        if listed:  # the listed findings first, in the layout's order; the others after
            rank = {fid: i for i, fid in enumerate(listed)}
            fields = sorted(fields, key=lambda f: rank.get(f.id, len(rank)))
        out.append(Section(key, title, help_text, tuple(fields)))
    return out


def section_summaries(
    sections: list[Section], values: Mapping[str, Any], error_fields: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """What each (collapsed) section shows on its summary line, as the page's script updates it.

    ``{section id: {"text", "entered", "has_error"}}``: e.g. "2 positive · 1 negative" or
    "nothing recorded"; ``has_error`` opens the section when one of its fields has a problem.
    """
    errors = set(error_fields)
    out: dict[str, dict[str, Any]] = {}
    for s in sections:
        counts = {"positive": 0, "negative": 0}
        graded: list[str] = []
        has_error = False
        for f in s.fields:
            name = ("i_" if f.kind == "imaging" else "f_") + f.id
            has_error = has_error or name in errors
            value = str(values.get(name) or "not_done")
            if value in counts:
                counts[value] += 1
            elif value != "not_done":
                graded.append(f"{f.name}: {value.replace('_', ' ')}")
        parts = [f"{n} {k}" for k, n in counts.items() if n] + graded
        out[s.id] = {
            "text": " · ".join(parts) if parts else "nothing recorded",
            "entered": bool(parts),
            "has_error": has_error,
        }
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
    visit_date = dt.date.today()
    if not raw_date:  # never silently today: the clinician enters the date of the visit
        problems.append(Problem("visit_date", "the date of the visit", "nothing"))
    else:
        try:
            visit_date = dt.date.fromisoformat(raw_date)
        except ValueError:
            problems.append(
                Problem("visit_date", "a date such as 2026-11-03", short_repr(raw_date))
            )
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
