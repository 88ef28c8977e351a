"""Import a FHIR R4 Bundle (glutemed's own export, or data from other systems).

What is read
------------
* ``Patient``: pseudonymous id (glutemed identifier, else the resource id), gender, birth year or
  date. Names, addresses and other identifiers are ignored.
* ``Encounter``: one visit each; glutemed's ``case-context`` extension restores the case fields.
* ``Observation`` whose code is in a glutemed code system: findings (``finding``), patient
  factors (``case-factor``), scores (``instrument``), movement measures (``movement-measure``).
  From other systems, the codes that map: **LOINC 72514-3** (pain 0-10 NRS) -> an ``nprs``
  score. Every other code is skipped with a warning naming its path.
* ``QuestionnaireResponse`` of a glutemed Questionnaire -> item answers of the score.
* ``Procedure`` with a glutemed ``treatment`` code -> treatments tried.
* ``DiagnosticReport`` with the glutemed report code -> report text, assessment and plan (from its
  attachments), so a glutemed export round-trips exactly.
* Resources glutemed derives (Condition, RiskAssessment, ServiceRequest, CarePlan, Provenance,
  Device, Questionnaire) are not read back: they are regenerated from the data.

Observations without an Encounter form one visit dated by their latest effective date.
Malformed JSON or FHIR raises :class:`~glutemed.fhir.FhirInputError` listing every problem with
its JSON path; data that is valid FHIR but cannot be used gives a warning and is skipped.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from glutemed._checks import short_repr
from glutemed._safeio import Limits
from glutemed._safeio import parse_json as bounded_json
from glutemed.errors import CaseValidationError, DataFileError, Problem
from glutemed.fhir._codes import (
    CS,
    EXT,
    ICD10,
    ICD10CM,
    LOINC,
    LOINC_BY_INSTRUMENT,
    SID,
    TERMINOLOGY,
    UCUM_BY_UNIT,
)
from glutemed.fhir._errors import FhirInputError
from glutemed.fhir._export import CASE_FACTORS, FACTOR_DEFAULTS
from glutemed.fhir._record import (
    AdherenceSummary,
    ImportResult,
    MovementRecord,
    PatientRecord,
    ScoreRecord,
    Visit,
)
from glutemed.fhir._resources import fhir_problems, known_resource_type
from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.reasoning import case_from_dict, validate_case

__all__ = [
    "ReadResult",
    "SourceItem",
    "import_bundle",
    "parse_json",
    "read_resources",
    "validate_bundle",
]

_OK_STATUS = {"final", "amended", "corrected", "preliminary"}
_DERIVED = {
    "Condition",
    "RiskAssessment",
    "ServiceRequest",
    "CarePlan",
    "Provenance",
    "Device",
    "Questionnaire",
    "OperationOutcome",
}
_LOINC_TO_INSTRUMENT = {code: inst for inst, (code, _) in LOINC_BY_INSTRUMENT.items()}
_UCUM_TO_UNIT = {ucum: unit for unit, (ucum, _) in UCUM_BY_UNIT.items()}
_RESPONSES = {"none", "partial", "good", "worse", "unknown"}
_DEFAULT_VISIT = "__no_encounter__"


@dataclass(frozen=True)
class SourceItem:
    """One resource to read, with its JSON path and (in a Bundle) its fullUrl."""

    path: str
    resource: Mapping[str, Any]
    full_url: str | None = None


@dataclass(frozen=True)
class ReadResult:
    """:func:`read_resources`' result: the import plus what the CDS service also needs."""

    record: PatientRecord
    warnings: list[Problem]
    patient_ehr_id: str | None
    known_conditions: list[str]
    glutemed_id: str | None = None


#: Bounds of a FHIR document read from text: the HTTP layer bounds request bodies further.
FHIR_LIMITS = Limits(max_bytes=256 * 1024 * 1024, max_depth=64)


def parse_json(data: str | bytes | Mapping[str, Any] | Any, where: str) -> Any:
    """Parse JSON text (or pass a mapping through); raise FhirInputError on a syntax error.

    The text must be UTF-8 and nest at most ``FHIR_LIMITS.max_depth`` levels (FHIR resources
    nest about a dozen).
    """
    if not isinstance(data, str | bytes | bytearray):
        return data
    try:
        return bounded_json(data, where=where, limits=FHIR_LIMITS)
    except DataFileError as exc:
        raise FhirInputError(f"{where} is not valid JSON", exc.problems) from None


def validate_bundle(data: Any, where: str = "Bundle") -> None:
    """Check that ``data`` is a valid FHIR R4 Bundle; raise FhirInputError with every problem."""
    if not isinstance(data, Mapping):
        raise FhirInputError(
            f"{where} is not a FHIR Bundle",
            [
                Problem(
                    where,
                    "a JSON object with resourceType 'Bundle'",
                    short_repr(type(data).__name__),
                )
            ],
        )
    if data.get("resourceType") != "Bundle":
        raise FhirInputError(
            f"{where} is not a FHIR Bundle",
            [Problem(f"{where}.resourceType", "'Bundle'", short_repr(data.get("resourceType")))],
        )
    problems: list[Problem] = []
    entries = data.get("entry", [])
    if not isinstance(entries, list):
        problems.append(Problem(f"{where}.entry", "an array of entries", short_repr(entries)))
        entries = []
    for i, entry in enumerate(entries):
        loc = f"{where}.entry[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(Problem(loc, "an object", short_repr(entry)))
            continue
        res = entry.get("resource")
        if res is None:
            continue
        if not isinstance(res, Mapping):
            problems.append(Problem(f"{loc}.resource", "a FHIR resource object", short_repr(res)))
        elif not known_resource_type(res.get("resourceType")):
            problems.append(
                Problem(
                    f"{loc}.resource.resourceType",
                    "a FHIR R4 resource type",
                    short_repr(res.get("resourceType")),
                )
            )
    if not problems:
        try:
            Bundle.model_validate(dict(data))
        except ValidationError as exc:
            problems.extend(fhir_problems(exc, where))
        except (KeyError, ValueError, TypeError) as exc:  # fhir.resources lookup errors
            problems.append(Problem(where, "a valid FHIR R4 Bundle", short_repr(str(exc))))
    if problems:
        raise FhirInputError(
            f"{where} is not a valid FHIR R4 Bundle ({len(problems)} problem(s))", problems
        )


def import_bundle(
    bundle_json: str | bytes | Mapping[str, Any],
    *,
    kb: KnowledgeBase | None = None,
) -> ImportResult:
    """Read a FHIR R4 Bundle into a :class:`~glutemed.fhir.PatientRecord`.

    Parameters
    ----------
    bundle_json
        The Bundle as JSON text, bytes or an already parsed mapping (any Bundle type).
    kb
        The knowledge base (default: the bundled one).

    Returns
    -------
    ImportResult
        The record and the warnings (skipped resources and elements, each with its JSON path).

    Raises
    ------
    FhirInputError
        Malformed JSON, not a Bundle, invalid FHIR (paths like ``Bundle.entry[2].resource.status``),
        no Patient or more than one, or a case that contradicts itself.
    """
    kb = kb or load_kb()
    data = parse_json(bundle_json, "Bundle")
    validate_bundle(data)
    items = [
        SourceItem(f"Bundle.entry[{i}].resource", e["resource"], e.get("fullUrl"))
        for i, e in enumerate(data.get("entry", []))
        if isinstance(e.get("resource"), Mapping)
    ]
    result = read_resources(items, kb, where="Bundle")
    warnings = list(result.warnings)
    total = data.get("total")
    if isinstance(total, int) and not isinstance(total, bool) and total > len(items):
        warnings.append(
            Problem(
                "Bundle.total",
                f"as many entries as the total ({total})",
                f"{len(items)} entries",
                "the Bundle may be cut off or paged; import the missing entries too",
            )
        )
    return ImportResult(result.record, warnings)


# --------------------------------------------------------------------------- reading


#: Values a movement measure can take whatever the patient, by its unit: an angle is within a
#: half turn, a distance, duration, rate or count is not negative. Geometric and physical bounds,
#: not clinical ones (clinical plausibility ranges belong in the knowledge base).
_PHYSICAL_RANGE: dict[str, tuple[float, float]] = {
    "deg": (-180.0, 180.0),
    "m": (0.0, math.inf),
    "s": (0.0, math.inf),
    "steps_per_min": (0.0, math.inf),
    "count": (0.0, math.inf),
}

#: Plausible dates of visits, observations and treatments: not before this year, not after
#: tomorrow (time zones). An administrative bound, not a clinical number.
EARLIEST_RECORD_YEAR = 1900
#: Oldest plausible age at import, in years (assumption: the oldest documented person lived
#: 122 years; a wider bound, so only impossible birth dates are refused).
MAX_AGE_YEARS = 130


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, Mapping)]


def _code_in(concept: Any, system: str) -> str | None:
    for c in _codings(concept):
        if c.get("system") == system and isinstance(c.get("code"), str):
            return str(c["code"])
    return None


def _codes_text(concept: Any) -> str:
    codes = [f"{c.get('system', '?')}|{c.get('code', '?')}" for c in _codings(concept)]
    return ", ".join(codes) or "no coding"


def _ext(resource: Mapping[str, Any], url: str) -> Mapping[str, Any] | None:
    for ext in resource.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == url:
            return ext
    return None


@dataclass
class _VisitAcc:
    key: str
    id: str
    date: dt.date | None = None
    order: int = 0
    context: dict[str, Any] = field(default_factory=dict)
    findings: dict[str, str] = field(default_factory=dict)
    imaging: dict[str, str] = field(default_factory=dict)
    finding_dates: dict[str, dt.date | None] = field(default_factory=dict)
    sides: list[str] = field(default_factory=list)
    factors: dict[str, bool] = field(default_factory=dict)
    treatments: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[tuple[str, dt.date], dict[str, Any]] = field(default_factory=dict)
    movements: list[MovementRecord] = field(default_factory=list)
    adherence: list[AdherenceSummary] = field(default_factory=list)
    assessment: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    report_text: str | None = None
    seen_dates: list[dt.date] = field(default_factory=list)


class _Reader:
    def __init__(self, items: Sequence[SourceItem], kb: KnowledgeBase, where: str) -> None:
        self.items = list(items)
        self.kb = kb
        self.where = where
        self.warnings: list[Problem] = []
        self.index: dict[str, int] = {}
        self.visits: dict[str, _VisitAcc] = {}
        self.patient_keys: set[str] = set()
        self.known_conditions: list[str] = []
        for n, item in enumerate(self.items):
            res = item.resource
            if item.full_url:
                self.index[item.full_url] = n
            rtype, rid = res.get("resourceType"), res.get("id")
            if isinstance(rid, str):
                self.index[f"{rtype}/{rid}"] = n
                self.index.setdefault(f"urn:uuid:{rid}", n)
                if item.full_url and "/" in item.full_url and not item.full_url.startswith("urn:"):
                    self.index.setdefault(item.full_url.rsplit("/", 2)[-2] + f"/{rid}", n)

    def warn(self, path: str, expected: str, found: str, hint: str = "skipped") -> None:
        self.warnings.append(Problem(path, expected, found, hint))

    def date(self, value: Any, path: str) -> dt.date | None:
        """Read a FHIR date; an implausible one (before 1900, after tomorrow) is a warning."""
        when = _date(value)
        if when is None:
            return None
        latest = dt.date.today() + dt.timedelta(days=1)
        if when.year < EARLIEST_RECORD_YEAR or when > latest:
            self.warn(
                path,
                f"a date between {EARLIEST_RECORD_YEAR}-01-01 and today",
                short_repr(value),
                "ignored (treated as missing)",
            )
            return None
        return when

    def resolve(self, reference: Any) -> int | None:
        if not isinstance(reference, Mapping):
            return None
        text = reference.get("reference")
        if not isinstance(text, str):
            return None
        if text in self.index:
            return self.index[text]
        tail = "/".join(text.rstrip("/").split("/")[-2:])
        return self.index.get(tail)

    # -------------------------------------------------------------- patient
    def patient(self) -> tuple[dict[str, Any], str | None, str | None]:
        found = [
            n for n, it in enumerate(self.items) if it.resource.get("resourceType") == "Patient"
        ]
        if not found:
            raise FhirInputError(
                f"{self.where} has no Patient",
                [Problem(self.where, "exactly one Patient resource", "none")],
            )
        if len(found) > 1:
            raise FhirInputError(
                f"{self.where} has {len(found)} Patients",
                [
                    Problem(self.items[n].path, "exactly one Patient resource", "another Patient")
                    for n in found[1:]
                ],
            )
        n = found[0]
        item = self.items[n]
        res = item.resource
        self.patient_keys = {k for k, v in self.index.items() if v == n}
        ehr_id = res.get("id") if isinstance(res.get("id"), str) else None
        pid = None
        for ident in res.get("identifier") or []:
            if isinstance(ident, Mapping) and ident.get("system") == SID.patient:
                pid = ident.get("value")
        info: dict[str, Any] = {"id": pid or ehr_id or "imported"}
        gender = res.get("gender")
        info["sex"] = gender if gender in ("female", "male", "other", "unknown") else "unknown"
        if gender is not None and info["sex"] != gender:
            self.warn(
                f"{item.path}.gender",
                "female, male, other or unknown (FHIR administrative gender)",
                short_repr(gender),
                "stored as unknown",
            )
        birth = res.get("birthDate")
        if isinstance(birth, str) and len(birth) >= 4 and birth[:4].isdigit():
            today = dt.date.today()
            full = _date(birth)
            year = full.year if full is not None else int(birth[:4])
            if not today.year - MAX_AGE_YEARS <= year <= today.year or (full and full > today):
                self.warn(
                    f"{item.path}.birthDate",
                    f"a birth date in the last {MAX_AGE_YEARS} years",
                    short_repr(birth),
                    "ignored (age unknown)",
                )
            elif full is not None:
                info["birth_date"] = full
            else:
                info["birth_year"] = year
        return info, ehr_id, pid if isinstance(pid, str) else None

    def for_patient(self, item: SourceItem, key: str = "subject") -> bool:
        subject = item.resource.get(key)
        if subject is None:
            return True
        target = self.resolve(subject)
        if target is not None and self.items[target].resource.get("resourceType") == "Patient":
            return True
        text = subject.get("reference") if isinstance(subject, Mapping) else None
        if isinstance(text, str) and any(text.endswith(k) for k in self.patient_keys):
            return True
        self.warn(
            f"{item.path}.{key}",
            "a reference to the Bundle's Patient",
            "a reference to another patient" if text else "no reference",
        )
        return False

    # -------------------------------------------------------------- visits
    def visit_for(self, item: SourceItem) -> _VisitAcc:
        enc = item.resource.get("encounter")
        n = self.resolve(enc)
        if n is not None and self.items[n].resource.get("resourceType") == "Encounter":
            return self.encounter(n)
        text = enc.get("reference") if isinstance(enc, Mapping) else None
        key = text if isinstance(text, str) else _DEFAULT_VISIT
        if key not in self.visits and key != _DEFAULT_VISIT:
            self.warn(
                f"{item.path}.encounter",
                "a reference to an Encounter in the Bundle",
                short_repr(text),
                "the Bundle may be cut off; these data form a visit without its encounter",
            )
        if key not in self.visits:
            vid = (
                key.rsplit("/", 1)[-1].removeprefix("urn:uuid:")
                if key != _DEFAULT_VISIT
                else "imported"
            )
            self.visits[key] = _VisitAcc(key=key, id=vid, order=len(self.visits))
        return self.visits[key]

    def encounter(self, n: int) -> _VisitAcc:
        key = f"#{n}"
        if key in self.visits:
            return self.visits[key]
        item = self.items[n]
        res = item.resource
        vid = res.get("id") if isinstance(res.get("id"), str) else f"encounter-{n}"
        for ident in res.get("identifier") or []:
            if (
                isinstance(ident, Mapping)
                and ident.get("system") == SID.visit
                and ident.get("value")
            ):
                vid = ident["value"]
        period: Mapping[str, Any] = res["period"] if isinstance(res.get("period"), Mapping) else {}
        acc = _VisitAcc(
            key=key,
            id=str(vid),
            date=self.date(period.get("start"), f"{item.path}.period.start"),
            order=len(self.visits),
        )
        ctx = _ext(res, EXT.case_context)
        if ctx is not None:
            acc.context = self.context(ctx, f"{item.path}.extension")
        self.visits[key] = acc
        return acc

    def context(self, ext: Mapping[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {"pretest": {}}
        for sub in ext.get("extension") or []:
            url = sub.get("url")
            if url in ("setting", "side"):
                out[url] = sub.get("valueCode")
            elif url == "label":
                out["label"] = sub.get("valueString")
            elif url == "assessmentDate":
                out["assessment_date"] = sub.get("valueDate")
            elif url == "ageYears":
                out["age_years"] = sub.get("valueDecimal")
            elif url == "pretest":
                parts = {s.get("url"): s for s in sub.get("extension") or []}
                cid = parts.get("condition", {}).get("valueCode")
                p = parts.get("probability", {}).get("valueDecimal")
                if isinstance(cid, str) and isinstance(p, int | float):
                    out["pretest"][cid] = float(p)
                else:
                    self.warn(
                        f"{path}.pretest", "a condition code and a probability", short_repr(sub)
                    )
        return out

    # -------------------------------------------------------------- resources
    def read(self) -> None:
        for n, item in enumerate(self.items):
            rtype = item.resource.get("resourceType")
            if rtype == "Encounter" and self.for_patient(item):
                self.encounter(n)
        for n, item in enumerate(self.items):
            rtype = item.resource.get("resourceType")
            if rtype in ("Patient", "Encounter", "Bundle"):
                continue
            if rtype == "Condition":
                self.condition(item)
                continue
            if rtype in _DERIVED:
                continue
            handler = {
                "Observation": self.observation,
                "QuestionnaireResponse": self.questionnaire_response,
                "Procedure": self.procedure,
                "DiagnosticReport": self.diagnostic_report,
            }.get(str(rtype))
            if handler is None:
                self.warn(
                    f"{item.path}.resourceType", "a resource type glutemed reads", short_repr(rtype)
                )
                continue
            if not self.for_patient(item):
                continue
            handler(n, item)

    def condition(self, item: SourceItem) -> None:
        res = item.resource
        ver = _code_in(
            res.get("verificationStatus"),
            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        )
        clinical = _code_in(
            res.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical"
        )
        if ver in ("refuted", "entered-in-error") or clinical in (
            "inactive",
            "resolved",
            "remission",
        ):
            return
        for c in _codings(res.get("code")):
            system, code = c.get("system"), c.get("code")
            for cond in self.kb.conditions.values():
                hit = system == CS.condition and code == cond.id
                hit = hit or any(
                    t.verified
                    and TERMINOLOGY.get(t.system) == system
                    and t.code == code
                    and system in (ICD10, ICD10CM)
                    for t in cond.codes
                )
                if hit and cond.id not in self.known_conditions:
                    self.known_conditions.append(cond.id)

    def _status_ok(self, item: SourceItem) -> bool:
        status = item.resource.get("status")
        if status in _OK_STATUS:
            return True
        self.warn(
            f"{item.path}.status", "final, amended, corrected or preliminary", short_repr(status)
        )
        return False

    def _when(self, res: Mapping[str, Any], path: str) -> dt.date | None:
        when = self.date(res.get("effectiveDateTime"), f"{path}.effectiveDateTime")
        if when is None and isinstance(res.get("effectivePeriod"), Mapping):
            when = self.date(res["effectivePeriod"].get("start"), f"{path}.effectivePeriod.start")
        if when is None:
            when = self.date(res.get("effectiveInstant"), f"{path}.effectiveInstant")
        if when is None:
            when = self.date(res.get("issued"), f"{path}.issued")
        return when

    def observation(self, n: int, item: SourceItem) -> None:
        res = item.resource
        code = res.get("code")
        fid = _code_in(code, CS.finding)
        factor = _code_in(code, CS.case_factor)
        measure = _code_in(code, CS.movement_measure)
        inst = _code_in(code, CS.instrument)
        if _code_in(code, CS.exercise_adherence) == "sessions-done-pct":
            if self._status_ok(item):
                self.adherence(item, self.visit_for(item))
            return
        loinc = _code_in(code, LOINC)
        if inst is None and loinc in _LOINC_TO_INSTRUMENT:
            inst = _LOINC_TO_INSTRUMENT[loinc]
        if not any((fid, factor, measure, inst)):
            self.warn(
                f"{item.path}.code",
                "a code glutemed maps (glutemed code systems, LOINC 72514-3)",
                short_repr(_codes_text(code)),
            )
            return
        if not self._status_ok(item):
            return
        visit = self.visit_for(item)
        when = self._when(res, item.path)
        if when:
            visit.seen_dates.append(when)
        if fid is not None:
            self.finding(item, visit, fid, when)
        elif factor is not None:
            self.factor(item, visit, factor)
        elif measure is not None:
            self.movement(item, visit, measure, when)
        elif inst is not None:
            self.score(n, item, visit, inst, when)

    def finding(self, item: SourceItem, visit: _VisitAcc, fid: str, when: dt.date | None) -> None:
        res = item.resource
        finding = self.kb.findings.get(fid)
        if finding is None:
            self.warn(f"{item.path}.code", "a finding id of this knowledge base", short_repr(fid))
            return
        value: str | None = None
        absent = res.get("dataAbsentReason")
        if absent is not None:
            if (
                _code_in(absent, "http://terminology.hl7.org/CodeSystem/data-absent-reason")
                == "not-performed"
            ):
                value = "not_done"
            else:
                self.warn(
                    f"{item.path}.dataAbsentReason",
                    "not-performed",
                    short_repr(_codes_text(absent)),
                )
                return
        elif isinstance(res.get("valueBoolean"), bool):
            value = "positive" if res["valueBoolean"] else "negative"
        elif isinstance(res.get("valueCodeableConcept"), Mapping):
            value = _code_in(res["valueCodeableConcept"], CS.finding_level)
        elif isinstance(res.get("valueString"), str):
            value = res["valueString"].strip().lower()
        allowed = (
            (*finding.levels, "not_done")
            if finding.value_type == "ordinal"
            else ("positive", "negative", "not_done")
        )
        if value not in allowed:
            self.warn(f"{item.path}.value[x]", "one of " + ", ".join(allowed), short_repr(value))
            return
        target = visit.imaging if finding.kind == "imaging" else visit.findings
        if fid in target:
            prev = visit.finding_dates.get(fid)
            self.warn(
                f"{item.path}",
                f"one value of {fid} per visit",
                "a second value",
                "the most recent one is kept",
            )
            if prev is not None and when is not None and when < prev:
                return
        target[fid] = str(value)
        visit.finding_dates[fid] = when
        side = _code_in(res.get("bodySite"), CS.laterality)
        if side:
            visit.sides.append(side)

    def factor(self, item: SourceItem, visit: _VisitAcc, name: str) -> None:
        value = item.resource.get("valueBoolean")
        if name not in CASE_FACTORS or not isinstance(value, bool):
            self.warn(
                f"{item.path}",
                "a known case factor with valueBoolean",
                short_repr(f"{name}={value!r}"),
            )
            return
        visit.factors[name] = value

    def _quantity(self, item: SourceItem) -> float | None:
        res = item.resource
        q = res.get("valueQuantity")
        if isinstance(q, Mapping) and isinstance(q.get("value"), int | float):
            return float(q["value"])
        if isinstance(res.get("valueInteger"), int):
            return float(res["valueInteger"])
        self.warn(f"{item.path}.value[x]", "valueQuantity or valueInteger", "another value type")
        return None

    def score(
        self, n: int, item: SourceItem, visit: _VisitAcc, inst_id: str, when: dt.date | None
    ) -> None:
        inst = self.kb.instruments.get(inst_id)
        if inst is None:
            self.warn(
                f"{item.path}.code", "an instrument of this knowledge base", short_repr(inst_id)
            )
            return
        value = self._quantity(item)
        if value is None:
            return
        lo, hi = inst.range
        if not lo <= value <= hi:
            self.warn(
                f"{item.path}.valueQuantity.value",
                f"a {inst_id} score in [{lo:g}, {hi:g}]",
                short_repr(value),
            )
            return
        if when is None:
            when = visit.date
        if when is None:
            self.warn(f"{item.path}.effectiveDateTime", "a date", "nothing")
            return
        entry = visit.scores.setdefault((inst_id, when), {"instrument": inst_id, "date": when})
        entry["total"] = value
        subscales = {}
        for comp in item.resource.get("component") or []:
            code = _code_in(comp.get("code"), CS.instrument_subscale)
            q = comp.get("valueQuantity") or {}
            if code and code.startswith(f"{inst_id}.") and isinstance(q.get("value"), int | float):
                subscales[code.split(".", 1)[1]] = float(q["value"])
        if subscales:
            entry["subscales"] = subscales

    def adherence(self, item: SourceItem, visit: _VisitAcc) -> None:
        """Exercise adherence: the components back into an :class:`AdherenceSummary`."""
        values: dict[str, Any] = {}
        names = {
            "programme": "programme",
            "stage": "stage",
            "programme-week": "programme_week",
            "sessions-done": "sessions_done",
            "sessions-prescribed": "sessions_prescribed",
            "pain-during": "pain_during_max",
            "pain-after": "pain_after_max",
            "suggestion": "suggestion",
            "decision": "decision",
        }
        systems = {
            "programme": CS.exercise_programme,
            "stage": CS.programme_stage,
            "suggestion": CS.progression,
            "decision": CS.progression,
        }
        for j, comp in enumerate(item.resource.get("component") or []):
            if not isinstance(comp, Mapping):
                continue
            code = _code_in(comp.get("code"), CS.exercise_adherence)
            if code not in names:
                self.warn(
                    f"{item.path}.component[{j}].code",
                    "an exercise-adherence component",
                    short_repr(_codes_text(comp.get("code"))),
                )
                continue
            if code in systems:
                values[names[code]] = _code_in(comp.get("valueCodeableConcept"), systems[code])
            else:
                values[names[code]] = comp.get("valueInteger")
        try:
            visit.adherence.append(AdherenceSummary.model_validate(values))
        except ValidationError as exc:
            for e in exc.errors():
                self.warn(
                    f"{item.path}.component",
                    f"{'.'.join(str(x) for x in e['loc'])}: {e['msg'].lower()}",
                    short_repr(e.get("input")),
                )

    def movement(self, item: SourceItem, visit: _VisitAcc, mid: str, when: dt.date | None) -> None:
        res = item.resource
        measure = self.kb.movement_measures.get(mid)
        if measure is None:
            self.warn(
                f"{item.path}.code", "a movement measure of this knowledge base", short_repr(mid)
            )
            return
        q = res.get("valueQuantity")
        if not isinstance(q, Mapping) or not isinstance(q.get("value"), int | float):
            self.warn(f"{item.path}.valueQuantity", "a quantity", short_repr(q))
            return
        unit = _UCUM_TO_UNIT.get(str(q.get("code")))
        if unit != measure.unit:
            self.warn(
                f"{item.path}.valueQuantity.code",
                f"the UCUM code of {measure.unit!r}",
                short_repr(q.get("code")),
            )
            return
        value = float(q["value"])
        low, high = _PHYSICAL_RANGE.get(unit or "", (-math.inf, math.inf))
        if not low <= value <= high:
            self.warn(
                f"{item.path}.valueQuantity.value",
                f"a value in [{low:g}, {high:g}] {unit}",
                short_repr(q["value"]),
            )
            return
        task = _code_in(res.get("method"), CS.movement_task)
        if task not in measure.tasks:
            self.warn(
                f"{item.path}.method",
                "one of " + ", ".join(measure.tasks),
                short_repr(task),
                f"assumed {measure.tasks[0]}",
            )
            task = measure.tasks[0]
        fields: dict[str, Any] = {
            "measure": mid,
            "value": float(q["value"]),
            "unit": unit,
            "task": task,
            "date": when,
        }
        for comp in res.get("component") or []:
            ccode = _code_in(comp.get("code"), CS.movement_component)
            if ccode == "side":
                fields["side"] = (
                    _code_in(comp.get("valueCodeableConcept"), CS.laterality) or "unknown"
                )
            elif ccode == "n_strides" and isinstance(comp.get("valueInteger"), int):
                fields["n_strides"] = comp["valueInteger"]
            elif ccode == "sd" and isinstance(
                (comp.get("valueQuantity") or {}).get("value"), int | float
            ):
                fields["sd"] = float(comp["valueQuantity"]["value"])
        notes = [n.get("text") for n in res.get("note") or [] if isinstance(n, Mapping)]
        if notes and isinstance(notes[0], str):
            fields["method"] = notes[0]
        try:
            visit.movements.append(MovementRecord.model_validate(fields))
        except ValidationError as exc:
            self.warn(item.path, "a usable movement measure", short_repr(exc.errors()[0]["msg"]))

    def questionnaire_response(self, n: int, item: SourceItem) -> None:
        res = item.resource
        canon = res.get("questionnaire")
        prefix = "https://glutemed.org/fhir/Questionnaire/"
        if not isinstance(canon, str) or not canon.startswith(prefix):
            self.warn(f"{item.path}.questionnaire", "a glutemed Questionnaire", short_repr(canon))
            return
        inst_id = canon[len(prefix) :].split("|", 1)[0]
        inst = self.kb.instruments.get(inst_id)
        if inst is None:
            self.warn(
                f"{item.path}.questionnaire",
                "an instrument of this knowledge base",
                short_repr(inst_id),
            )
            return
        if res.get("status") not in ("completed", "amended"):
            self.warn(f"{item.path}.status", "completed or amended", short_repr(res.get("status")))
            return
        visit = self.visit_for(item)
        when = self.date(res.get("authored"), f"{item.path}.authored") or visit.date
        if when is None:
            self.warn(f"{item.path}.authored", "a date", "nothing")
            return
        items = {i.id for i in inst.items}
        answers: dict[str, Any] = {}
        for k, it in enumerate(res.get("item") or []):
            link = it.get("linkId")
            ans = (it.get("answer") or [None])[0]
            if link not in items or not isinstance(ans, Mapping):
                self.warn(
                    f"{item.path}.item[{k}]", f"an answered item of {inst_id}", short_repr(link)
                )
                continue
            for key in ("valueBoolean", "valueInteger", "valueDecimal", "valueString"):
                if key in ans:
                    answers[str(link)] = ans[key]
                    break
        visit.seen_dates.append(when)
        entry = visit.scores.setdefault((inst_id, when), {"instrument": inst_id, "date": when})
        entry["answers"] = answers

    def procedure(self, n: int, item: SourceItem) -> None:
        res = item.resource
        tid = _code_in(res.get("code"), CS.treatment)
        if tid is None or tid not in self.kb.treatments:
            self.warn(
                f"{item.path}.code",
                "a glutemed treatment code",
                short_repr(_codes_text(res.get("code"))),
            )
            return
        visit = self.visit_for(item)
        tried: dict[str, Any] = {"id": tid}
        start = self.date(res.get("performedDateTime"), f"{item.path}.performedDateTime")
        if start is None and isinstance(res.get("performedPeriod"), Mapping):
            start = self.date(
                res["performedPeriod"].get("start"), f"{item.path}.performedPeriod.start"
            )
        if start is not None:
            tried["start_date"] = start
        weeks = _ext(res, EXT.treatment_weeks)
        if weeks is not None and isinstance(weeks.get("valueDecimal"), int | float):
            tried["weeks"] = weeks["valueDecimal"]
        dose = _ext(res, EXT.treatment_dose)
        if dose is not None and isinstance(dose.get("valueString"), str):
            tried["dose"] = dose["valueString"]
        response = _code_in(res.get("outcome"), CS.treatment_response)
        tried["response"] = response if response in _RESPONSES else "unknown"
        visit.treatments.append(tried)

    def diagnostic_report(self, n: int, item: SourceItem) -> None:
        res = item.resource
        if _code_in(res.get("code"), CS.report) != "lateral-hip-assessment":
            self.warn(
                f"{item.path}.code",
                "the glutemed report code",
                short_repr(_codes_text(res.get("code"))),
            )
            return
        visit = self.visit_for(item)
        for k, form in enumerate(res.get("presentedForm") or []):
            title = form.get("title")
            try:
                text = base64.b64decode(str(form.get("data", "")), validate=True).decode("utf-8")
                if title == "report":
                    visit.report_text = text
                elif title == "glutemed-assessment":
                    visit.assessment = json.loads(text)
                elif title == "glutemed-plan":
                    visit.plan = json.loads(text)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                self.warn(
                    f"{item.path}.presentedForm[{k}].data",
                    "base64 of UTF-8 text or JSON",
                    "undecodable data",
                )

    # -------------------------------------------------------------- building
    def build(self, patient: dict[str, Any]) -> PatientRecord:
        visits = []
        for acc in self.visits.values():
            visits.append(self.build_visit(acc, patient))
        visits.sort(key=lambda v: (v.date, v.id))
        return PatientRecord(visits=visits, **patient)

    def build_visit(self, acc: _VisitAcc, patient: Mapping[str, Any]) -> Visit:
        date = acc.date or (max(acc.seen_dates) if acc.seen_dates else None)
        if date is None:
            date = dt.date.today()
            self.warn(self.where, f"a date for visit {acc.id}", "none", "dated today")
        ctx = acc.context
        side = ctx.get("side")
        if side is None:
            sides = set(acc.sides)
            side = sides.pop() if len(sides) == 1 else "unknown"
        age = ctx.get("age_years")
        if age is None:
            age = _age(patient, date)
        scores = []
        for key in sorted(acc.scores, key=lambda k: (k[1], k[0])):
            raw = acc.scores[key]
            if "total" not in raw and "answers" not in raw:
                continue
            scores.append(ScoreRecord.model_validate(raw))
        factors = {k: v for k, v in acc.factors.items() if k in FACTOR_DEFAULTS}
        case_data: dict[str, Any] = {
            "patient": {"age_years": age, "sex": patient.get("sex", "unknown")},
            "setting": ctx.get("setting") or "primary_care",
            "side": side,
            "findings": acc.findings,
            "imaging": acc.imaging,
            "treatments_tried": acc.treatments,
            "pretest": ctx.get("pretest") or {},
            "outcomes": [
                {"instrument": s.instrument, "date": s.date, "total": s.total, "answers": s.answers}
                for s in scores
            ],
            "factors": {
                k: v
                for k, v in factors.items()
                if k not in ("mri_available", "mri_contraindicated")
            },
            "mri_available": factors.get("mri_available", True),
            "mri_contraindicated": factors.get("mri_contraindicated", False),
        }
        if ctx.get("label"):
            case_data["label"] = ctx["label"]
        if ctx.get("assessment_date"):
            case_data["assessment_date"] = ctx["assessment_date"]
        where = f"{self.where} visit {acc.id}"
        try:
            case = case_from_dict(case_data, where=where)
            validate_case(case, self.kb, where=where)
        except CaseValidationError as exc:
            raise FhirInputError(
                f"{where}: the data do not form a valid case", exc.problems
            ) from None
        return Visit(
            id=acc.id,
            date=date,
            case=case,
            assessment=acc.assessment,
            plan=acc.plan,
            scores=scores,
            movements=acc.movements,
            adherence=acc.adherence,
            report_text=acc.report_text,
        )


def _age(patient: Mapping[str, Any], on: dt.date) -> float | None:
    birth = patient.get("birth_date")
    if isinstance(birth, dt.date):
        years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
        return float(years) if 0 <= years <= 120 else None
    year = patient.get("birth_year")
    if isinstance(year, int) and 0 <= on.year - year <= 120:
        return float(on.year - year)
    return None


def read_resources(
    items: Sequence[SourceItem], kb: KnowledgeBase, *, where: str = "Bundle"
) -> ReadResult:
    """Read already validated FHIR resources (a Bundle's entries or CDS Hooks prefetch)."""
    reader = _Reader(items, kb, where)
    patient, ehr_id, gid = reader.patient()
    reader.read()
    record = reader.build(patient)
    return ReadResult(record, reader.warnings, ehr_id, reader.known_conditions, gid)
