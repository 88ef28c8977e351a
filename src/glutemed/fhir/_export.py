"""Export a :class:`~glutemed.fhir.PatientRecord` as a FHIR R4 Bundle.

Mapping (one Bundle of type ``collection``; every resource is built through the
``fhir.resources.R4B`` models and carries the glutemed ``versions`` extension)
-------------------------------------------------------------------------------------------
==================  ============================================================================
Patient             pseudonymous: identifier (``https://glutemed.org/fhir/sid/patient``), gender,
                    birthDate (year or full date). No names.
Encounter           one per visit (class AMB); the ``case-context`` extension keeps the case
                    fields that have no FHIR home (setting, side, label, assessment date, age,
                    the clinician's pre-test estimates).
Observation         history finding (local category ``history``), examination finding (category
                    ``exam``), imaging finding (``imaging``): code = glutemed ``finding`` system,
                    value = valueBoolean (positive/negative), valueCodeableConcept (ordinal
                    level) or dataAbsentReason ``not-performed`` (not done).
                    Patient factors (diabetes, preferences, MRI availability...): category
                    ``social-history``, glutemed ``case-factor`` system, only values that differ
                    from the defaults.
                    Scores: category ``survey``, LOINC 72514-3 for the NPRS plus the glutemed
                    ``instrument`` code, valueQuantity ``{score}``, subscales as components.
                    Movement measures: category ``exam``, valueQuantity in UCUM (``deg``, ``m``),
                    method = task, components side / stride count / SD, device = glutemed.
Procedure           treatments tried (glutemed ``treatment`` code, response as outcome, weeks and
                    dose as extensions).
Questionnaire,      for scores with item answers; item text only where the knowledge base allows
QuestionnaireResp.  it (``item_text_allowed``), otherwise glutemed's own short label.
Condition           from the assessment: the top-ranked condition ``provisional``, the other
                    ranked ones ``differential`` (red flag: the suspected conditions,
                    ``differential``); verified ICD-10 / ICD-10-CM codes of the knowledge base,
                    laterality from the case side; category encounter-diagnosis.
RiskAssessment      one prediction per condition: probabilityDecimal = the posterior, the 95 %
                    interval in the ``probability-interval`` extension (valueRange); unranked
                    conditions carry the ``combined-likelihood-ratio`` extension instead.
ServiceRequest      imaging advice with modality mri / ultrasound / xray: status draft, intent
                    proposal, reasonReference -> Condition.
CarePlan            the care plan (status draft, intent proposal), one activity per
                    recommendation.
DiagnosticReport    the report: conclusion = the report text (or a generated summary); the report,
                    the assessment JSON and the plan JSON as presentedForm attachments (so an
                    import restores them exactly).
Provenance          targets the generated resources; agent = the glutemed Device (engine and
                    knowledge-base versions), entity = the knowledge base's manifest hash.
==================  ============================================================================

Resource ids are deterministic (UUID v5 of the record id, visit id and role), so exporting the same
record twice gives the same Bundle when ``generated_at`` is the same.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from glutemed._checks import short_repr
from glutemed.errors import CaseValidationError, InputValueError, Problem
from glutemed.fhir._codes import (
    CS,
    EXT,
    LOINC,
    LOINC_BY_INSTRUMENT,
    SID,
    TERMINOLOGY,
    UCUM,
    UCUM_BY_UNIT,
    coding,
    concept,
    hl7,
)
from glutemed.fhir._record import PatientRecord, ScoreRecord, Visit
from glutemed.fhir._resources import ref, uid, validated, versions_extension
from glutemed.knowledge import Condition, Instrument, KnowledgeBase, load_kb
from glutemed.reasoning import OutcomeRecord, PatientFactors, percent, validate_case

__all__ = [
    "CASE_FACTORS",
    "FACTOR_DEFAULTS",
    "export_bundle",
    "icd_codings",
    "merged_scores",
    "questionnaire_resource",
]

#: Case-factor codes -> display (``PatientFactors`` fields plus the two MRI flags of the case).
CASE_FACTORS: dict[str, str] = {
    "diabetes": "Diabetes",
    "anticoagulation": "Anticoagulation",
    "pregnancy": "Pregnancy",
    "immunosuppression": "Immunosuppression",
    "prefers_no_injection": "Prefers no injection",
    "prefers_no_surgery": "Prefers no surgery",
    "fit_for_surgery": "Fit for surgery",
    "mri_available": "MRI available",
    "mri_contraindicated": "MRI contraindicated",
}
FACTOR_DEFAULTS: dict[str, bool] = {
    **{name: bool(f.default) for name, f in PatientFactors.model_fields.items()},
    "mri_available": True,
    "mri_contraindicated": False,
}

_MODALITY_DISPLAY = {"mri": "MRI", "ultrasound": "Ultrasound", "xray": "Radiograph (X-ray)"}
_PRIORITY = {"routine": "routine", "urgent": "urgent", "emergency_same_day": "stat", "soon": "asap"}
_VER_DISPLAY = {"provisional": "Provisional", "differential": "Differential"}
_CATEGORY = {
    "examination": coding(hl7("observation-category"), "exam", "Exam"),
    "imaging": coding(hl7("observation-category"), "imaging", "Imaging"),
    "history": coding(CS.observation_category, "history", "History"),
    "movement_measure": coding(hl7("observation-category"), "exam", "Exam"),
}


def _side_concept(side: str) -> dict[str, Any] | None:
    if side not in ("left", "right", "bilateral"):
        return None
    return concept(coding(CS.laterality, side, f"{side} hip"), text=f"{side} hip")


def _laterality(display: str) -> str | None:
    text = display.lower()
    for side in ("right", "left", "unspecified"):
        if side in text:
            return side
    return None


def icd_codings(condition: Condition, side: str) -> list[dict[str, Any]]:
    """Return the verified ICD-10 / ICD-10-CM codings of a condition for the case's side.

    Codes without laterality are always included; a laterality-specific ICD-10-CM code is chosen
    when the side is left or right, the "unspecified" one otherwise. Unverified codes are never
    emitted.
    """
    out = []
    for code in condition.codes:
        if not code.verified or code.system not in ("ICD-10", "ICD-10-CM"):
            continue
        lat = _laterality(code.display)
        wanted = side if side in ("left", "right") else "unspecified"
        if lat is None or lat == wanted:
            out.append(coding(TERMINOLOGY[code.system], code.code, code.display))
    return out


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


#: Conditions below this probability are left out of the exported Condition resources (they are
#: all in the RiskAssessment); the leading condition is always exported.
_CONDITION_MIN_PROBABILITY = 0.1


def _canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _pct(p: float) -> str:
    return percent(p, space=True)


def assessment_summary(assessment: Mapping[str, Any]) -> str:
    """Return a one-paragraph plain-text summary of an assessment dict."""
    flags = assessment.get("red_flags") or []
    prefix = ""
    if flags:
        names = "; ".join(f"{f.get('name')} ({f.get('action')})" for f in flags)
        prefix = f"Must-not-miss: {names}. "
    parts = []
    ranked = assessment.get("differential") or assessment.get("conditions") or []
    for cond in ranked[:3]:
        prob = cond.get("probability")
        if prob is None:
            continue
        text = f"{cond.get('label') or cond.get('name')} {_pct(prob)}"
        interval = cond.get("interval")
        if interval:
            text += f" (95 % interval {_pct(interval[0])} to {_pct(interval[1])})"
        parts.append(text)
    imaging = assessment.get("imaging") or {}
    out = prefix + ("Most likely: " + "; ".join(parts) + "." if parts else "No ranked condition.")
    if imaging.get("recommendation"):
        out += f" Imaging: {imaging['recommendation']}."
    return out


def merged_scores(visit: Visit) -> list[ScoreRecord]:
    """Return the visit's scores merged with ``case.outcomes`` by (instrument, date), sorted."""
    merged: dict[tuple[str, dt.date], ScoreRecord] = {}
    for rec in visit.case.outcomes:
        merged[(rec.instrument, rec.date)] = ScoreRecord(
            instrument=rec.instrument, date=rec.date, total=rec.total, answers=rec.answers
        )
    for score in visit.scores:
        merged[(score.instrument, score.date)] = score
    return [merged[k] for k in sorted(merged, key=lambda k: (k[1], k[0]))]


def _score_problems(
    kb: KnowledgeBase, score: ScoreRecord | OutcomeRecord, loc: str
) -> list[Problem]:
    inst = kb.instruments.get(score.instrument)
    if inst is None:
        return [
            Problem(
                f"{loc}.instrument",
                "an instrument id of the knowledge base",
                short_repr(score.instrument),
            )
        ]
    problems = []
    if score.total is None and not score.answers:
        problems.append(Problem(loc, "a total or item answers", "neither"))
    lo, hi = inst.range
    if score.total is not None and not lo <= score.total <= hi:
        problems.append(
            Problem(f"{loc}.total", f"a score in [{lo:g}, {hi:g}]", short_repr(score.total))
        )
    items = {item.id for item in inst.items}
    for key in score.answers or {}:
        if key not in items:
            problems.append(
                Problem(
                    f"{loc}.answers.{key}",
                    f"an item id of {score.instrument} ({', '.join(sorted(items)) or 'none'})",
                    short_repr(key),
                )
            )
    return problems


def _check_record(record: PatientRecord, kb: KnowledgeBase) -> None:
    problems: list[Problem] = []
    for i, visit in enumerate(record.visits):
        where = f"visits[{i}]"
        try:
            validate_case(visit.case, kb, where=f"{where}.case")
        except CaseValidationError as exc:
            problems.extend(exc.problems)
        for j, score in enumerate(visit.scores):
            problems.extend(_score_problems(kb, score, f"{where}.scores[{j}]"))
        for j, rec in enumerate(visit.case.outcomes):
            problems.extend(
                p
                for p in _score_problems(kb, rec, f"{where}.case.outcomes[{j}]")
                if rec.instrument in kb.instruments  # unknown ids: validate_case says so
            )
        for j, move in enumerate(visit.movements):
            loc = f"{where}.movements[{j}]"
            measure = kb.movement_measures.get(move.measure)
            if measure is None:
                problems.append(
                    Problem(
                        f"{loc}.measure",
                        "a movement-measure id of the knowledge base",
                        short_repr(move.measure),
                    )
                )
            elif measure.unit != move.unit:
                problems.append(
                    Problem(
                        f"{loc}.unit",
                        f"{measure.unit!r} (the measure's unit)",
                        short_repr(move.unit),
                    )
                )
    ids = [v.id for v in record.visits]
    for vid in sorted({v for v in ids if ids.count(v) > 1}):
        problems.append(Problem("visits", "unique visit ids", f"{vid!r} more than once"))
    if problems:
        raise InputValueError(
            f"patient record cannot be exported ({len(problems)} problem(s))", problems
        )


class _Exporter:
    def __init__(self, record: PatientRecord, kb: KnowledgeBase, generated_at: dt.datetime) -> None:
        self.record = record
        self.kb = kb
        self.generated_at = generated_at
        self.versions = kb.versions()
        self.entries: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        self.patient_id = uid(record.id, "Patient")

    # ------------------------------------------------------------------ plumbing
    def add(self, resource: dict[str, Any], versions: Mapping[str, Any] | None = None) -> str:
        rid = str(resource["id"])
        if rid in self.seen:
            return rid
        self.seen.add(rid)
        if resource["resourceType"] != "Bundle":
            ext = resource.setdefault("extension", [])
            ext.insert(0, versions_extension(versions or self.versions))
        self.entries.append({"fullUrl": f"urn:uuid:{rid}", "resource": validated(resource)})
        return rid

    def device(self, versions: Mapping[str, Any]) -> str:
        did = uid(
            "Device", versions.get("engine"), versions.get("kb"), versions.get("kb_manifest_sha256")
        )
        if did not in self.seen:
            self.add(
                {
                    "resourceType": "Device",
                    "id": did,
                    "status": "active",
                    "manufacturer": "glutemed contributors",
                    "deviceName": [{"name": "glutemed", "type": "user-friendly-name"}],
                    "version": [
                        {"type": concept(text="engine"), "value": str(versions.get("engine"))},
                        {"type": concept(text="knowledge base"), "value": str(versions.get("kb"))},
                    ],
                    "note": [
                        {
                            "text": "glutemed decision-support engine; knowledge-base manifest "
                            f"SHA-256 {versions.get('kb_manifest_sha256')}"
                        }
                    ],
                },
                versions,
            )
        return did

    # ------------------------------------------------------------------ resources
    def patient(self) -> None:
        rec = self.record
        res: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.patient_id,
            "identifier": [{"system": SID.patient, "value": rec.id}],
            "gender": rec.sex,
        }
        if rec.birth_date is not None:
            res["birthDate"] = rec.birth_date.isoformat()
        elif rec.birth_year is not None:
            res["birthDate"] = f"{rec.birth_year:04d}"
        self.add(res)

    def encounter(self, visit: Visit) -> str:
        case = visit.case
        subs: list[dict[str, Any]] = [
            {"url": "setting", "valueCode": case.setting},
            {"url": "side", "valueCode": case.side},
        ]
        if case.label:
            subs.append({"url": "label", "valueString": case.label})
        if case.assessment_date is not None:
            subs.append({"url": "assessmentDate", "valueDate": case.assessment_date.isoformat()})
        if case.patient.age_years is not None:
            subs.append({"url": "ageYears", "valueDecimal": case.patient.age_years})
        for cid, p in case.pretest.items():
            subs.append(
                {
                    "url": "pretest",
                    "extension": [
                        {"url": "condition", "valueCode": cid},
                        {"url": "probability", "valueDecimal": p},
                    ],
                }
            )
        eid = uid(self.record.id, visit.id, "Encounter")
        return self.add(
            {
                "resourceType": "Encounter",
                "id": eid,
                "extension": [{"url": EXT.case_context, "extension": subs}],
                "identifier": [{"system": SID.visit, "value": visit.id}],
                "status": "finished",
                "class": coding(hl7("v3-ActCode"), "AMB", "ambulatory"),
                "subject": ref(self.patient_id),
                "period": {"start": visit.date.isoformat()},
            }
        )

    def _obs(self, visit: Visit, eid: str, key: str, **fields: Any) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": uid(self.record.id, visit.id, "Observation", key),
            "status": "final",
            **{k: v for k, v in fields.items() if k in ("category", "code")},
            "subject": ref(self.patient_id),
            "encounter": ref(eid),
            **{k: v for k, v in fields.items() if k not in ("category", "code")},
        }

    def findings(self, visit: Visit, eid: str) -> list[str]:
        case = visit.case
        when = (case.assessment_date or visit.date).isoformat()
        out = []
        for fid, value in case.observed().items():
            finding = self.kb.findings[fid]
            fields: dict[str, Any] = {
                "category": [concept(_CATEGORY[finding.kind])],
                "code": concept(coding(CS.finding, fid, finding.name), text=finding.name),
                "effectiveDateTime": when,
            }
            if value == "not_done":
                fields["dataAbsentReason"] = concept(
                    coding(hl7("data-absent-reason"), "not-performed", "Not Performed")
                )
            elif finding.value_type == "ordinal":
                fields["valueCodeableConcept"] = concept(
                    coding(CS.finding_level, value, value.replace("_", " ")), text=value
                )
            else:
                fields["valueBoolean"] = value == "positive"
            site = _side_concept(case.side) if finding.kind in ("examination", "imaging") else None
            if site:
                fields["bodySite"] = site
            out.append(self.add(self._obs(visit, eid, f"finding/{fid}", **fields)))
        return out

    def factors(self, visit: Visit, eid: str) -> None:
        case = visit.case
        values = {
            **case.factors.model_dump(),
            "mri_available": case.mri_available,
            "mri_contraindicated": case.mri_contraindicated,
        }
        for name, display in CASE_FACTORS.items():
            if values[name] == FACTOR_DEFAULTS[name]:
                continue
            self.add(
                self._obs(
                    visit,
                    eid,
                    f"factor/{name}",
                    category=[
                        concept(
                            coding(hl7("observation-category"), "social-history", "Social History")
                        )
                    ],
                    code=concept(coding(CS.case_factor, name, display), text=display),
                    effectiveDateTime=(case.assessment_date or visit.date).isoformat(),
                    valueBoolean=bool(values[name]),
                )
            )

    def treatments(self, visit: Visit, eid: str) -> None:
        for i, tried in enumerate(visit.case.treatments_tried):
            name = self.kb.treatments[tried.id].name
            ext: list[dict[str, Any]] = []
            if tried.weeks is not None:
                ext.append({"url": EXT.treatment_weeks, "valueDecimal": tried.weeks})
            if tried.dose:
                ext.append({"url": EXT.treatment_dose, "valueString": tried.dose})
            res: dict[str, Any] = {
                "resourceType": "Procedure",
                "id": uid(self.record.id, visit.id, "Procedure", i, tried.id),
                "extension": ext,
                "status": "unknown",
                "code": concept(coding(CS.treatment, tried.id, name), text=name),
                "subject": ref(self.patient_id),
                "encounter": ref(eid),
                "outcome": concept(coding(CS.treatment_response, tried.response, tried.response)),
            }
            if tried.start_date is not None:
                res["performedDateTime"] = tried.start_date.isoformat()
            self.add(res)

    def scores(self, visit: Visit, eid: str) -> None:
        for score in merged_scores(visit):
            inst = self.kb.instruments[score.instrument]
            key = f"{score.instrument}/{score.date.isoformat()}"
            qr_id = None
            if score.answers:
                self.add(questionnaire_resource(inst, self.kb.version))
                q_url = f"https://glutemed.org/fhir/Questionnaire/{inst.id}|{self.kb.version}"
                qr_id = self.add(
                    {
                        "resourceType": "QuestionnaireResponse",
                        "id": uid(self.record.id, visit.id, "QuestionnaireResponse", key),
                        "questionnaire": q_url,
                        "status": "completed",
                        "subject": ref(self.patient_id),
                        "encounter": ref(eid),
                        "authored": score.date.isoformat(),
                        "item": [
                            {"linkId": k, "answer": [_answer(v)]} for k, v in score.answers.items()
                        ],
                    }
                )
            if score.total is None:
                continue
            codings = []
            if inst.id in LOINC_BY_INSTRUMENT:
                code, display = LOINC_BY_INSTRUMENT[inst.id]
                codings.append(coding(LOINC, code, display))
            codings.append(coding(CS.instrument, inst.id, inst.name))
            fields: dict[str, Any] = {
                "category": [concept(coding(hl7("observation-category"), "survey", "Survey"))],
                "code": concept(*codings, text=inst.name),
                "effectiveDateTime": score.date.isoformat(),
                "valueQuantity": _score_quantity(score.total),
            }
            if qr_id:
                fields["derivedFrom"] = [ref(qr_id)]
            if score.subscales:
                fields["component"] = [
                    {
                        "code": concept(coding(CS.instrument_subscale, f"{inst.id}.{name}", name)),
                        "valueQuantity": _score_quantity(value),
                    }
                    for name, value in score.subscales.items()
                ]
            self.add(self._obs(visit, eid, f"score/{key}", **fields))

    def adherence(self, visit: Visit, eid: str) -> None:
        """Exercise adherence: % of sessions done (UCUM ``%``), the rest as components."""
        for i, a in enumerate(visit.adherence):
            prog = self.kb.programmes.get(a.programme)
            stage = next((st for st in prog.stages if st.id == a.stage), None) if prog else None

            def part(code: str, display: str, **value: Any) -> dict[str, Any]:
                return {"code": concept(coding(CS.exercise_adherence, code, display)), **value}

            components = [
                part(
                    "programme",
                    "Exercise programme",
                    valueCodeableConcept=concept(
                        coding(CS.exercise_programme, a.programme, prog.name if prog else None)
                    ),
                ),
                part(
                    "stage",
                    "Programme stage",
                    valueCodeableConcept=concept(
                        coding(CS.programme_stage, a.stage, stage.name if stage else None)
                    ),
                ),
            ]
            for code, display, number in (
                ("programme-week", "Week of the programme", a.programme_week),
                ("sessions-done", "Exercise sessions done", a.sessions_done),
                ("sessions-prescribed", "Exercise sessions prescribed", a.sessions_prescribed),
                ("pain-during", "Highest pain during exercise (0-10)", a.pain_during_max),
                ("pain-after", "Highest pain after exercise (0-10)", a.pain_after_max),
            ):
                if number is not None:
                    components.append(part(code, display, valueInteger=number))
            for code, display, action in (
                ("suggestion", "Suggested next level", a.suggestion),
                ("decision", "Clinician's decision", a.decision),
            ):
                if action is not None:
                    components.append(
                        part(
                            code,
                            display,
                            valueCodeableConcept=concept(coding(CS.progression, action, action)),
                        )
                    )
            fields: dict[str, Any] = {
                "category": [concept(coding(hl7("observation-category"), "therapy", "Therapy"))],
                "code": concept(
                    coding(
                        CS.exercise_adherence,
                        "sessions-done-pct",
                        "Exercise sessions done, % of prescribed",
                    ),
                    text="Exercise adherence (sessions done of sessions prescribed)",
                ),
                "effectiveDateTime": visit.date.isoformat(),
            }
            if a.sessions_done is not None and a.sessions_prescribed:
                pct = round(100.0 * a.sessions_done / a.sessions_prescribed, 1)
                fields["valueQuantity"] = {"value": pct, "unit": "%", "system": UCUM, "code": "%"}
            else:
                fields["dataAbsentReason"] = concept(
                    coding(hl7("data-absent-reason"), "unknown", "Unknown")
                )
            fields["component"] = components
            self.add(self._obs(visit, eid, f"adherence/{i}", **fields))

    def movements(self, visit: Visit, eid: str) -> None:
        device = self.device(self.versions)
        for i, move in enumerate(visit.movements):
            measure = self.kb.movement_measures[move.measure]
            ucum, unit = UCUM_BY_UNIT[move.unit]
            quantity = {"value": move.value, "unit": unit, "system": UCUM, "code": ucum}
            comps: list[dict[str, Any]] = []
            side = _side_concept(move.side)
            if side:
                comps.append(
                    {
                        "code": concept(coding(CS.movement_component, "side", "Side")),
                        "valueCodeableConcept": side,
                    }
                )
            if move.n_strides is not None:
                comps.append(
                    {
                        "code": concept(
                            coding(CS.movement_component, "n_strides", "Strides averaged")
                        ),
                        "valueInteger": move.n_strides,
                    }
                )
            if move.sd is not None:
                comps.append(
                    {
                        "code": concept(
                            coding(CS.movement_component, "sd", "Standard deviation across strides")
                        ),
                        "valueQuantity": {**quantity, "value": move.sd},
                    }
                )
            fields: dict[str, Any] = {
                "category": [concept(coding(hl7("observation-category"), "exam", "Exam"))],
                "code": concept(
                    coding(CS.movement_measure, measure.id, measure.name), text=measure.name
                ),
                "effectiveDateTime": (move.date or visit.date).isoformat(),
                "valueQuantity": quantity,
                "method": concept(coding(CS.movement_task, move.task, move.task.replace("_", " "))),
                "device": ref(device),
                "component": comps,
            }
            if move.method:
                fields["note"] = [{"text": move.method}]
            self.add(self._obs(visit, eid, f"movement/{i}/{move.measure}", **fields))

    # ------------------------------------------------------------------ derived
    def derived(self, visit: Visit, eid: str, finding_obs: list[str]) -> None:
        assessment = visit.assessment
        plan = visit.plan
        if assessment is None and plan is None and not visit.report_text:
            return
        versions = (assessment or {}).get("versions") or self.versions
        device = self.device(versions)
        targets: list[str] = []
        conditions: dict[str, str] = {}
        provisional: list[str] = []
        if assessment is not None:
            conditions, provisional = self.conditions(visit, eid, assessment, versions, finding_obs)
            targets += list(conditions.values())
            targets.append(self.risk(visit, eid, assessment, versions, finding_obs))
            sr = self.service_request(
                visit, eid, assessment, versions, device, conditions, provisional
            )
            if sr:
                targets.append(sr)
        if plan is not None:
            targets.append(self.care_plan(visit, eid, plan, provisional))
        targets.append(self.report(visit, eid, assessment, plan, versions, finding_obs))
        self.add(
            {
                "resourceType": "Provenance",
                "id": uid(self.record.id, visit.id, "Provenance"),
                "target": [ref(t) for t in targets],
                "recorded": self.generated_at.isoformat(),
                "agent": [
                    {
                        "type": concept(
                            coding(hl7("provenance-participant-type"), "author", "Author")
                        ),
                        "who": ref(device, "glutemed"),
                    }
                ],
                "entity": [
                    {
                        "role": "source",
                        "what": {
                            "identifier": {
                                "system": SID.kb_manifest,
                                "value": str(versions.get("kb_manifest_sha256")),
                            },
                            "display": f"glutemed knowledge base {versions.get('kb')}",
                        },
                    }
                ],
            },
            versions,
        )

    def conditions(
        self,
        visit: Visit,
        eid: str,
        assessment: Mapping[str, Any],
        versions: Mapping[str, Any],
        finding_obs: list[str],
    ) -> tuple[dict[str, str], list[str]]:
        wanted: list[tuple[str, str, str]] = []  # (condition id, status, note)
        for flag in assessment.get("red_flags") or []:
            for cid in flag.get("suspected") or []:
                if cid not in {w[0] for w in wanted}:
                    wanted.append(
                        (
                            cid,
                            "differential",
                            (
                                "Must-not-miss condition above its test threshold: "
                                if not flag.get("group")
                                else f"Part of {flag.get('name')}, whose shared rule-out test "
                                "is advised: "
                            )
                            + f"{flag.get('reason')}. {flag.get('action')}",
                        )
                    )
        by_id = {c["id"]: c for c in assessment.get("conditions") or []}
        entries = assessment.get("differential")
        if entries is None:  # an assessment stored before the network engine
            entries = [c for c in assessment.get("conditions") or [] if c.get("probability")]
        for i, entry in enumerate(entries):
            cond = by_id.get(entry["id"], entry)
            prob = cond.get("probability")
            if prob is None or (i > 0 and prob < _CONDITION_MIN_PROBABILITY):
                continue
            if cond["id"] in {w[0] for w in wanted}:
                continue
            note = f"glutemed post-test probability {_pct(prob)}"
            if cond.get("interval"):
                lo, hi = cond["interval"]
                note += f" (95 % interval {_pct(lo)} to {_pct(hi)})"
            note += f"; pre-test {cond.get('prior_source')}."
            wanted.append((cond["id"], "provisional" if i == 0 else "differential", note))
        counted = _counted_findings(assessment)
        out: dict[str, str] = {}
        provisional: list[str] = []
        for cid, status, note in wanted:
            kb_cond = self.kb.conditions.get(cid)
            name = kb_cond.name if kb_cond else cid
            codings = icd_codings(kb_cond, visit.case.side) if kb_cond else []
            codings.append(coding(CS.condition, cid, name))
            evidence = [
                obs
                for obs, fid in zip(finding_obs, visit.case.observed(), strict=True)
                if fid in counted.get(cid, set())
            ]
            res: dict[str, Any] = {
                "resourceType": "Condition",
                "id": uid(self.record.id, visit.id, "Condition", cid),
                "clinicalStatus": concept(coding(hl7("condition-clinical"), "active", "Active")),
                "verificationStatus": concept(
                    coding(hl7("condition-ver-status"), status, _VER_DISPLAY[status])
                ),
                "category": [
                    concept(
                        coding(
                            hl7("condition-category"), "encounter-diagnosis", "Encounter Diagnosis"
                        )
                    )
                ],
                "code": concept(*codings, text=name),
                "subject": ref(self.patient_id),
                "encounter": ref(eid),
                "recordedDate": visit.date.isoformat(),
                "note": [{"text": note}],
            }
            if evidence:
                res["evidence"] = [{"detail": [ref(e) for e in evidence]}]
            out[cid] = self.add(res, versions)
            if status == "provisional":
                provisional.append(out[cid])
        return out, provisional

    def risk(
        self,
        visit: Visit,
        eid: str,
        assessment: Mapping[str, Any],
        versions: Mapping[str, Any],
        finding_obs: list[str],
    ) -> str:
        predictions: list[dict[str, Any]] = []
        side = visit.case.side

        def outcome(cid: str, name: str) -> dict[str, Any]:
            kb_cond = self.kb.conditions.get(cid)
            codings = icd_codings(kb_cond, side) if kb_cond else []
            return concept(*codings, coding(CS.condition, cid, name), text=name)

        flagged = {
            cid: flag
            for flag in assessment.get("red_flags") or []
            for cid in flag.get("suspected") or []
        }
        for cond in assessment.get("conditions") or []:
            pred: dict[str, Any] = {"outcome": outcome(cond["id"], cond["name"])}
            if cond.get("probability") is not None:
                pred["probabilityDecimal"] = cond["probability"]
            if cond.get("interval"):
                lo, hi = cond["interval"]
                pred["extension"] = [
                    {
                        "url": EXT.probability_interval,
                        "valueRange": {"low": {"value": lo}, "high": {"value": hi}},
                    }
                ]
            why = " ".join(
                c["explanation"] for c in cond.get("contributions") or [] if c.get("counted")
            )
            pred["rationale"] = why or "No finding changed the pre-test probability."
            if cond["id"] in flagged:
                flag = flagged[cond["id"]]
                pred["rationale"] = (
                    f"Must-not-miss, above its test threshold ({flag.get('reason')}). "
                    + pred["rationale"]
                )
            predictions.append(pred)
        for cond in assessment.get("unranked_conditions") or []:
            pred = {"outcome": outcome(cond["id"], cond["name"])}
            if cond.get("combined_lr") is not None:
                pred["extension"] = [
                    {"url": EXT.combined_likelihood_ratio, "valueDecimal": cond["combined_lr"]}
                ]
            pred["rationale"] = cond.get("note") or "No sourced pre-test probability."
            predictions.append(pred)
        method = (assessment.get("method") or {}).get("model") or "glutemed Bayesian differential"
        notes = [{"text": str(assessment.get("disclaimer") or "Decision support for a clinician.")}]
        for flag in assessment.get("red_flags") or []:
            notes.append({"text": f"Must-not-miss: {flag.get('name')}: {flag.get('action')}"})
        res: dict[str, Any] = {
            "resourceType": "RiskAssessment",
            "id": uid(self.record.id, visit.id, "RiskAssessment"),
            "status": "final",
            "method": concept(coding(CS.risk_method, "bayesian-network", str(method))),
            "subject": ref(self.patient_id),
            "encounter": ref(eid),
            "occurrenceDateTime": visit.date.isoformat(),
            "basis": [ref(o) for o in finding_obs],
            "prediction": predictions,
            "note": notes,
        }
        return self.add(res, versions)

    def service_request(
        self,
        visit: Visit,
        eid: str,
        assessment: Mapping[str, Any],
        versions: Mapping[str, Any],
        device: str,
        conditions: Mapping[str, str],
        provisional: list[str],
    ) -> str | None:
        imaging = assessment.get("imaging") or {}
        modality = imaging.get("modality")
        if modality not in _MODALITY_DISPLAY:
            return None
        return self.add(
            imaging_service_request(
                uid(self.record.id, visit.id, "ServiceRequest", modality),
                imaging,
                patient=ref(self.patient_id),
                encounter=ref(eid),
                authored=visit.date,
                requester=ref(device, "glutemed"),
                reasons=[ref(r) for r in _reason_refs(conditions, provisional)],
                side=visit.case.side,
                status="draft",
                intent="proposal",
            ),
            versions,
        )

    def care_plan(
        self, visit: Visit, eid: str, plan: Mapping[str, Any], provisional: list[str]
    ) -> str:
        res = care_plan_resource(
            uid(self.record.id, visit.id, "CarePlan"),
            plan,
            self.kb,
            patient=ref(self.patient_id),
            encounter=ref(eid),
            start=visit.date,
            addresses=[ref(p) for p in provisional],
        )
        return self.add(res, plan.get("versions") or self.versions)

    def report(
        self,
        visit: Visit,
        eid: str,
        assessment: Mapping[str, Any] | None,
        plan: Mapping[str, Any] | None,
        versions: Mapping[str, Any],
        finding_obs: list[str],
    ) -> str:
        forms = []
        if visit.report_text:
            forms.append(
                {
                    "contentType": "text/plain; charset=utf-8",
                    "title": "report",
                    "data": _b64(visit.report_text),
                }
            )
        if assessment is not None:
            forms.append(
                {
                    "contentType": "application/json",
                    "title": "glutemed-assessment",
                    "data": _b64(_canonical_json(assessment)),
                }
            )
        if plan is not None:
            forms.append(
                {
                    "contentType": "application/json",
                    "title": "glutemed-plan",
                    "data": _b64(_canonical_json(plan)),
                }
            )
        conclusion = visit.report_text or (
            assessment_summary(assessment) if assessment else "Care plan recorded."
        )
        res: dict[str, Any] = {
            "resourceType": "DiagnosticReport",
            "id": uid(self.record.id, visit.id, "DiagnosticReport"),
            "status": "final",
            "code": concept(
                coding(CS.report, "lateral-hip-assessment", "glutemed lateral hip pain assessment"),
                text="glutemed lateral hip pain assessment",
            ),
            "subject": ref(self.patient_id),
            "encounter": ref(eid),
            "effectiveDateTime": visit.date.isoformat(),
            "issued": self.generated_at.isoformat(),
            "result": [ref(o) for o in finding_obs],
            "conclusion": conclusion,
            "presentedForm": forms,
        }
        return self.add(res, versions)


def _answer(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    return {"valueString": str(value)}


def _score_quantity(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "score", "system": UCUM, "code": "{score}"}


def _counted_findings(assessment: Mapping[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for cond in (assessment.get("conditions") or []) + (
        assessment.get("unranked_conditions") or []
    ):
        ids: set[str] = set()
        for contrib in cond.get("contributions") or []:
            if contrib.get("counted"):
                ids.update(contrib.get("findings") or [])
        out[cond["id"]] = ids
    return out


def _reason_refs(conditions: Mapping[str, str], provisional: list[str]) -> list[str]:
    out = list(provisional)
    for cid in ("gluteal_tendon_tear",):
        if cid in conditions and conditions[cid] not in out:
            out.append(conditions[cid])
    return out


def questionnaire_resource(inst: Instrument, kb_version: str) -> dict[str, Any]:
    """Return a FHIR Questionnaire (dict, not yet validated) for a knowledge-base instrument.

    Item text is the instrument's own wording only where ``item_text_allowed``; otherwise the
    item carries glutemed's short label (a paraphrase, not the licensed wording).
    """
    items = []
    for item in inst.items:
        integral = all(float(x).is_integer() for x in (item.min, item.max, item.step))
        text = item.text if (inst.item_text_allowed and item.text) else item.label
        items.append(
            {"linkId": item.id, "text": text, "type": "integer" if integral else "decimal"}
        )
    res: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": uid("Questionnaire", inst.id, kb_version),
        "url": f"https://glutemed.org/fhir/Questionnaire/{inst.id}",
        "version": kb_version,
        "name": "".join(part.capitalize() for part in inst.id.split("_")),
        "title": inst.name,
        "status": "active",
        "subjectType": ["Patient"],
        "description": inst.measures,
        "copyright": inst.licence,
        "code": [coding(CS.instrument, inst.id, inst.name)],
        "item": items,
    }
    return res


def imaging_service_request(
    resource_id: str,
    imaging: Mapping[str, Any],
    *,
    patient: dict[str, Any],
    encounter: dict[str, Any] | None,
    authored: dt.date,
    requester: dict[str, Any] | None,
    reasons: list[dict[str, Any]],
    side: str,
    status: str,
    intent: str,
) -> dict[str, Any]:
    """Return an imaging ServiceRequest (dict) from ``assessment["imaging"]``."""
    modality = str(imaging.get("modality"))
    display = _MODALITY_DISPLAY[modality]
    rec = str(imaging.get("recommendation") or display)
    res: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": resource_id,
        "status": status,
        "intent": intent,
        "category": [concept(text="Imaging")],
        "code": concept(coding(CS.imaging_procedure, modality, display), text=rec),
        "subject": patient,
        "authoredOn": authored.isoformat(),
    }
    priority = _PRIORITY.get(str(imaging.get("urgency")))
    if priority:
        res["priority"] = priority
    if encounter:
        res["encounter"] = encounter
    if requester:
        res["requester"] = requester
    if reasons:
        res["reasonReference"] = reasons
    site = _side_concept(side)
    if site:
        res["bodySite"] = [site]
    notes = [{"text": str(r.get("text"))} for r in imaging.get("reasons") or [] if r.get("text")]
    if notes:
        res["note"] = notes
    return res


def _plan_activity(rec: Mapping[str, Any], kb: KnowledgeBase) -> dict[str, Any]:
    ident = rec.get("id")
    named = rec.get("treatment")
    treatment = (
        kb.treatments.get(str(ident)) if rec.get("kind", "treatment") == "treatment" else None
    )
    if treatment is None and isinstance(named, str):
        treatment = kb.treatments.get(named)
    if treatment is not None:
        name = named if isinstance(named, str) and named != treatment.id else treatment.name
        code = concept(coding(CS.treatment, treatment.id, treatment.name), text=name)
    elif rec.get("kind") == "action" and isinstance(ident, str):
        name = str(named or ident)
        code = concept(coding(CS.care_action, ident, name), text=name)
    else:
        code = concept(text=str(named or ident or "recommendation"))
    detail: dict[str, Any] = {"code": code, "status": "not-started"}
    why = rec.get("why")
    text = " ".join(str(w) for w in why) if isinstance(why, list) else why
    if isinstance(text, str) and text.strip():
        detail["description"] = text.strip()
    return {"detail": detail}


def care_plan_resource(
    resource_id: str,
    plan: Mapping[str, Any],
    kb: KnowledgeBase,
    *,
    patient: dict[str, Any],
    encounter: dict[str, Any] | None,
    start: dt.date,
    addresses: list[dict[str, Any]],
) -> dict[str, Any]:
    """Return a CarePlan (dict) from a ``glutemed.pathway`` plan dict (``CarePlan.to_dict()``).

    Reads ``stage``, ``stage_name``, ``recommendations`` (``id`` = a treatment or pathway action
    id, ``kind``, ``treatment`` = display name, ``why`` = sentences), ``review_after_weeks`` and
    ``escalate_if`` (strings or ``{"text": ...}``) and tolerates missing keys.
    """
    activities = [
        _plan_activity(rec, kb)
        for rec in plan.get("recommendations") or []
        if isinstance(rec, Mapping)
    ]
    stage = plan.get("stage")
    title = "glutemed care plan"
    if stage not in (None, ""):
        title += f", stage {stage}"
    if plan.get("stage_name"):
        title += f": {plan['stage_name']}"
    notes = []
    if plan.get("review_after_weeks"):
        notes.append({"text": f"Review after {plan['review_after_weeks']} weeks."})
    escalate = plan.get("escalate_if")
    items = escalate if isinstance(escalate, list) else [escalate] if escalate else []
    texts = [str(e.get("text")) if isinstance(e, Mapping) else str(e) for e in items]
    texts = [t for t in texts if t.strip() and t != "None"]
    if texts:
        notes.append({"text": "Escalate if: " + "; ".join(texts)})
    res: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": resource_id,
        "status": "draft",
        "intent": "proposal",
        "title": title,
        "description": (
            "Staged care plan proposed by glutemed decision support for lateral hip pain."
        ),
        "subject": patient,
        "period": {"start": start.isoformat()},
    }
    if encounter:
        res["encounter"] = encounter
    if addresses:
        res["addresses"] = addresses
    if activities:
        res["activity"] = activities
    if notes:
        res["note"] = notes
    return res


def export_bundle(
    record: PatientRecord,
    *,
    kb: KnowledgeBase | None = None,
    generated_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Export a patient record as a FHIR R4 Bundle (type ``collection``).

    Parameters
    ----------
    record
        The pseudonymous patient record (see :class:`~glutemed.fhir.PatientRecord`).
    kb
        The knowledge base (default: the bundled one); names, codes and instruments come from it.
    generated_at
        Time stamp of the export (Bundle.timestamp, Provenance.recorded, DiagnosticReport.issued);
        default now (UTC). Pass a fixed value to get byte-identical exports.

    Returns
    -------
    dict
        The Bundle as JSON-ready data; every resource validated by ``fhir.resources`` (R4B).

    Raises
    ------
    InputValueError
        When a case, score or movement measure does not fit the knowledge base (every problem
        listed, with its path in the record, e.g. ``visits[0].scores[1].total``).
    """
    kb = kb or load_kb()
    when = generated_at or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    _check_record(record, kb)
    exp = _Exporter(record, kb, when)
    exp.patient()
    for visit in sorted(record.visits, key=lambda v: (v.date, v.id)):
        eid = exp.encounter(visit)
        finding_obs = exp.findings(visit, eid)
        exp.factors(visit, eid)
        exp.treatments(visit, eid)
        exp.scores(visit, eid)
        exp.adherence(visit, eid)
        if visit.movements:
            exp.movements(visit, eid)
        exp.derived(visit, eid, finding_obs)
    bundle_id = uid(record.id, "Bundle")
    data = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "identifier": {"system": SID.bundle, "value": bundle_id},
        "type": "collection",
        "timestamp": when.isoformat(),
        "entry": exp.entries,
    }
    out: dict[str, Any] = json.loads(Bundle.model_validate(data).model_dump_json())
    return out
