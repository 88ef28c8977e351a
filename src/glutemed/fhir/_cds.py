"""CDS Hooks 2.0 services (pure logic; the web layer only routes HTTP to these functions).

Services
--------
``glutemed-lateral-hip`` (hook ``patient-view``)
    Reads the patient's glutemed findings (and NPRS pain scores, treatments, visits) from the
    prefetch, assesses the latest visit and returns cards: one per red flag (critical or warning),
    otherwise the differential (info; probabilities with 95 % intervals, the reasons and their
    sources, the next test; suggestion: create the care plan as a CarePlan) and, when imaging is
    advised, an imaging card (suggestion: create the ServiceRequest). Links open the patient in
    the glutemed app.
``glutemed-imaging-order`` (hook ``order-select``)
    For a selected hip/pelvis imaging ServiceRequest: **warns** when an MRI is ordered although the
    clinical picture is clear gluteal tendinopathy / GTPS and glutemed advises no imaging
    (suggestions: remove the order, or start the care plan; override reasons offered);
    **supports** the order (info) when a red flag or a suspected tear calls for it; suggests a
    radiograph or ultrasound instead when that is the advised modality.

Required prefetch: ``patient`` and ``observations``. The services do not query the client's FHIR
server, so a required key that is absent, ``null`` for the patient, or an OperationOutcome raises
:class:`~glutemed.fhir.PrefetchMissingError` (HTTP 412). Every response passes the
:class:`~glutemed.fhir.CdsResponse` model and :func:`strip_empty` (no ``null``, ``""``, ``[]``,
``{}`` for optional fields).
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from glutemed._checks import check_option, short_repr
from glutemed.errors import GlutemedError, InputValueError, NotFoundError, Problem
from glutemed.fhir._cds_models import CdsRequest, CdsResponse, CdsService, CdsServices, Feedback
from glutemed.fhir._codes import CS, EXT, LOINC, coding
from glutemed.fhir._errors import FhirInputError, PrefetchMissingError
from glutemed.fhir._export import care_plan_resource, imaging_service_request
from glutemed.fhir._import import (
    ReadResult,
    SourceItem,
    parse_json,
    read_resources,
    validate_bundle,
)
from glutemed.fhir._resources import (
    fhir_problems,
    known_resource_type,
    uid,
    validated,
    versions_extension,
)
from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.reasoning import Assessment, Case, assess, percent

__all__ = [
    "ORDER_SELECT_ID",
    "PATIENT_VIEW_ID",
    "PREFETCH",
    "REQUIRED_PREFETCH",
    "discovery",
    "feedback",
    "order_select",
    "pathway_plan",
    "patient_view",
    "strip_empty",
]

PATIENT_VIEW_ID = "glutemed-lateral-hip"
ORDER_SELECT_ID = "glutemed-imaging-order"

_OBS_CODES = ",".join(f"{s}|" for s in (CS.finding, CS.case_factor, CS.movement_measure))
#: Prefetch templates of both services (CDS Hooks "recommended subset": reads, token equality
#: with ``system|`` for "any code of this system", ``_sort``, ``_count``).
PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "observations": f"Observation?patient={{{{context.patientId}}}}&code={_OBS_CODES}",
    "painScores": f"Observation?patient={{{{context.patientId}}}}&code={LOINC}|72514-3"
    "&_sort=-date&_count=5",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "treatments": f"Procedure?patient={{{{context.patientId}}}}&code={CS.treatment}|",
    "visits": "Encounter?patient={{context.patientId}}&identifier="
    "https://glutemed.org/fhir/sid/visit|",
}
REQUIRED_PREFETCH = ("patient", "observations")

_SERVICES = {
    PATIENT_VIEW_ID: CdsService(
        hook="patient-view",
        id=PATIENT_VIEW_ID,
        title="glutemed: lateral hip pain",
        description=(
            "Evidence-based decision support for lateral hip pain (gluteal tendinopathy, gluteal "
            "tendon tears and their mimics): red flags, the probability of each condition with "
            "its 95 % interval and sources, imaging advice and the staged care plan, from the "
            "glutemed examination findings recorded for the patient."
        ),
        prefetch=PREFETCH,
        usageRequirements=(
            "Needs glutemed examination findings in the client's FHIR server (Observations in "
            "the https://glutemed.org/fhir/CodeSystem/finding code system)."
        ),
    ),
    ORDER_SELECT_ID: CdsService(
        hook="order-select",
        id=ORDER_SELECT_ID,
        title="glutemed: hip imaging order check",
        description=(
            "Checks a selected MRI, ultrasound or radiograph of the hip/pelvis against glutemed's "
            "imaging advice: warns when an MRI would only confirm clear clinical gluteal "
            "tendinopathy, supports it when red flags or a suspected tear call for it."
        ),
        prefetch=PREFETCH,
    ),
}

_SOURCE_LABEL = "glutemed lateral hip pain decision support"
_HIP_WORDS = re.compile(r"hip|pelvi|glut|trochant|femo|thigh|buttock|acetab", re.I)
_MODALITY_PATTERNS = (
    ("mri", re.compile(r"\bmri\b|\bmr\b|magnetic resonance", re.I)),
    ("ultrasound", re.compile(r"ultrasound|sonograph|\bus\b|\busg\b", re.I)),
    ("xray", re.compile(r"x-?ray|radiograph|\bxr\b|\bcr\b", re.I)),
)
_MODALITY_NAME = {"mri": "MRI", "ultrasound": "ultrasound", "xray": "radiograph"}
_MODALITY_TITLE = {"mri": "MRI", "ultrasound": "Ultrasound", "xray": "Radiograph"}
_OVERRIDE_REASONS = (
    ("diagnosis-unclear", "Diagnosis unclear or atypical features"),
    ("failed-conservative-care", "No response to adequate conservative care"),
    ("surgical-planning", "Needed for surgical planning"),
    ("specialist-request", "Requested by a specialist"),
)


# --------------------------------------------------------------------------- JSON rules


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def strip_empty(obj: Any, *, keep: tuple[str, ...] = ("cards", "services")) -> Any:
    """Drop ``null``, ``""``, ``[]`` and ``{}`` recursively (CDS Hooks JSON rules).

    The top-level keys in ``keep`` (``cards``, ``services``) may stay empty arrays: the
    specification allows ``{"cards": []}`` and ``{"services": []}``. ``False`` and ``0`` are
    values, not empties.
    """
    return _strip(obj, keep)


def _strip(obj: Any, keep: tuple[str, ...]) -> Any:
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            clean = _strip(value, ())
            if _empty(clean) and key not in keep:
                continue
            out[key] = clean
        return out
    if isinstance(obj, list | tuple):
        return [c for c in (_strip(v, ()) for v in obj) if not _empty(c)]
    return obj


def _response(cards: list[dict[str, Any]]) -> dict[str, Any]:
    body = strip_empty({"cards": cards})
    model = CdsResponse.model_validate(body)
    out: dict[str, Any] = strip_empty(model.model_dump(mode="json", exclude_none=True))
    return out


# --------------------------------------------------------------------------- discovery


def discovery() -> dict[str, Any]:
    """Return the discovery document ``{"services": [...]}`` (``GET /cds-services``)."""
    body = CdsServices(services=list(_SERVICES.values()))
    out: dict[str, Any] = strip_empty(body.model_dump(mode="json", exclude_none=True))
    return out


# --------------------------------------------------------------------------- requests


def _request(request_json: str | bytes | Mapping[str, Any], service_id: str) -> CdsRequest:
    data = parse_json(request_json, "request")
    if not isinstance(data, Mapping):
        raise FhirInputError(
            "request is not a CDS Hooks request",
            [Problem("request", "a JSON object", short_repr(type(data).__name__))],
        )
    try:
        req = CdsRequest.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                "request" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]),
                str(e["msg"]).lower(),
                "nothing" if e["type"] == "missing" else short_repr(e.get("input")),
            )
            for e in exc.errors()
        ]
        raise FhirInputError("request is not a valid CDS Hooks request", problems) from None
    hook = _SERVICES[service_id].hook
    if req.hook != hook:
        raise FhirInputError(
            f"request is for another hook than {service_id}'s",
            [Problem("request.hook", repr(hook), short_repr(req.hook))],
        )
    patient_id = req.context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        raise FhirInputError(
            "request context lacks the patient",
            [
                Problem(
                    "request.context.patientId",
                    "the FHIR id of the patient",
                    short_repr(patient_id),
                )
            ],
        )
    return req


def _is_outcome(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("resourceType") == "OperationOutcome"


def _prefetch_items(req: CdsRequest) -> tuple[list[SourceItem], list[Problem]]:
    prefetch = req.prefetch or {}
    missing: list[Problem] = []
    notes: list[Problem] = []
    items: list[SourceItem] = []
    for key in PREFETCH:
        where = f"prefetch.{key}"
        required = key in REQUIRED_PREFETCH
        if key not in prefetch:
            if required:
                missing.append(
                    Problem(
                        where,
                        f"the prefetch {PREFETCH[key]!r}",
                        "no key",
                        "the client did not (or could not) prefetch it",
                    )
                )
            continue
        value = prefetch[key]
        if value is None and key != "patient":
            continue  # "no data" for this template
        if value is None or _is_outcome(value):
            found = "null" if value is None else "an OperationOutcome"
            if required:
                missing.append(Problem(where, "the prefetched data", found))
            else:
                notes.append(Problem(where, "the prefetched data", found, "ignored"))
            continue
        items.extend(_items_from(value, where))
    if missing:
        raise PrefetchMissingError("required prefetch data are missing", missing)
    patient = [i for i in items if i.resource.get("resourceType") == "Patient"]
    want = req.context.get("patientId")
    for item in patient:
        if item.resource.get("id") not in (None, want):
            raise FhirInputError(
                "prefetched Patient is not the patient in context",
                [
                    Problem(
                        f"{item.path}.id",
                        "the id in context.patientId",
                        "another patient's id",
                    )
                ],
            )
    return items, notes


def _items_from(value: Any, where: str) -> list[SourceItem]:
    if not isinstance(value, Mapping):
        raise FhirInputError(
            f"{where} is not a FHIR resource",
            [Problem(where, "a FHIR resource or searchset Bundle", short_repr(value))],
        )
    if value.get("resourceType") == "Bundle":
        validate_bundle(value, where)
        out = []
        for i, entry in enumerate(value.get("entry") or []):
            res = entry.get("resource")
            mode = (entry.get("search") or {}).get("mode")
            if not isinstance(res, Mapping) or mode == "outcome" or _is_outcome(res):
                continue
            out.append(SourceItem(f"{where}.entry[{i}].resource", res, entry.get("fullUrl")))
        return out
    rtype = value.get("resourceType")
    if not known_resource_type(rtype):
        raise FhirInputError(
            f"{where} is not a FHIR resource",
            [Problem(f"{where}.resourceType", "a FHIR R4 resource type", short_repr(rtype))],
        )
    try:
        validated(value)
    except ValidationError as exc:
        raise FhirInputError(f"{where} is not valid FHIR", fhir_problems(exc, where)) from None
    return [SourceItem(where, value, None)]


def _case_from(result: ReadResult) -> Case | None:
    """The latest visit with history, examination or imaging values, with all outcomes."""
    visits = [
        v
        for v in result.record.visits
        if any(val != "not_done" for val in v.case.observed().values())
    ]
    if not visits:
        return None
    case = visits[-1].case
    outcomes = {(o.instrument, o.date): o for v in result.record.visits for o in v.case.outcomes}
    ordered = [outcomes[k] for k in sorted(outcomes, key=lambda k: (k[1], k[0]))]
    return case.model_copy(update={"outcomes": ordered})


def _with_default_setting(result: ReadResult, items: list[SourceItem], setting: str) -> ReadResult:
    if setting == "primary_care" or any(
        i.resource.get("resourceType") == "Encounter"
        and any(
            isinstance(e, Mapping) and e.get("url") == EXT.case_context
            for e in i.resource.get("extension") or []
        )
        for i in items
    ):
        return result
    visits = [
        v.model_copy(update={"case": v.case.model_copy(update={"setting": setting})})
        for v in result.record.visits
    ]
    record = result.record.model_copy(update={"visits": visits})
    return ReadResult(
        record, result.warnings, result.patient_ehr_id, result.known_conditions, result.glutemed_id
    )


Planner = Callable[[Case, Assessment, KnowledgeBase], dict[str, Any] | None]


def pathway_plan(case: Case, assessment: Assessment, kb: KnowledgeBase) -> dict[str, Any] | None:
    """The care plan from :mod:`glutemed.pathway` (``None`` when the pathway cannot plan)."""
    try:
        pathway = importlib.import_module("glutemed.pathway")
        make = pathway.plan
    except (ImportError, AttributeError):
        return None
    try:
        plan = make(case, assessment, kb=kb)
        out = plan.to_dict()
    except GlutemedError:
        return None
    return out if isinstance(out, dict) else None


# --------------------------------------------------------------------------- cards


def _clip(text: str, limit: int = 139) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _pct(p: float | None) -> str:
    return "n/a" if p is None else percent(p, space=True)


def _md(text: Any) -> str:
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", str(text))


class _Cards:
    def __init__(
        self,
        req: CdsRequest,
        service_id: str,
        app_base_url: str,
        kb: KnowledgeBase,
        result: ReadResult,
    ) -> None:
        if not app_base_url.startswith(("https://", "http://")):
            raise InputValueError(
                "invalid value for app_base_url",
                [Problem("app_base_url", "an absolute http(s) URL", short_repr(app_base_url))],
            )
        self.req = req
        self.service_id = service_id
        self.base = app_base_url.rstrip("/")
        self.kb = kb
        self.result = result
        self.patient_ref = {"reference": f"Patient/{req.context['patientId']}"}
        self.encounter_ref = (
            {"reference": f"Encounter/{req.context['encounterId']}"}
            if isinstance(req.context.get("encounterId"), str) and req.context["encounterId"]
            else None
        )

    def uuid(self, *key: object) -> str:
        return uid(self.req.hookInstance, self.service_id, *key)

    def source(self, topic: str, display: str) -> dict[str, Any]:
        return {
            "label": _SOURCE_LABEL,
            "url": f"{self.base}/about",
            "topic": coding(CS.card_topic, topic, display),
        }

    def links(self) -> list[dict[str, Any]]:
        gid = self.result.glutemed_id
        if gid:
            url = f"{self.base}/patients/{quote(gid, safe='')}"
        else:
            url = f"{self.base}/patients/ehr/{quote(str(self.req.context['patientId']), safe='')}"
        return [{"label": "Open in glutemed", "url": url, "type": "absolute"}]

    def condition_name(self, cid: Any) -> str:
        cond = self.kb.conditions.get(str(cid))
        return cond.name if cond else str(cid)

    def citation(self, sid: str, locator: str | None = None) -> str:
        src = self.kb.sources.get(sid)
        text = src.citation if src else sid
        if locator:
            text += f" ({locator})"
        return text

    def sources_md(self, refs: list[tuple[str, str | None]]) -> str:
        seen: list[tuple[str, str | None]] = []
        for r in refs:
            if r[0] and r not in seen:
                seen.append(r)
        if not seen:
            return ""
        lines = [
            f"{i}. {_md(self.citation(sid, loc))} [{sid}]" for i, (sid, loc) in enumerate(seen, 1)
        ]
        return "**Sources**\n\n" + "\n".join(lines)

    def versions_md(self, assessment: Mapping[str, Any]) -> str:
        v = assessment.get("versions") or {}
        return (
            f"_glutemed engine {v.get('engine')}, knowledge base {v.get('kb')}. "
            f"{_md(assessment.get('disclaimer', ''))}_"
        )

    def resource(self, data: dict[str, Any], versions: Mapping[str, Any]) -> dict[str, Any]:
        data.setdefault("extension", []).insert(0, versions_extension(versions))
        return validated(data)

    # ---------------------------------------------------------------- patient-view cards
    def red_flag_cards(self, assessment: Mapping[str, Any]) -> list[dict[str, Any]]:
        cards = []
        for flag in assessment["red_flags"]:
            urgent = flag.get("urgency") in ("emergency_same_day", "urgent")
            refs: list[tuple[str, str | None]] = [
                (str(sid), None) for sid in flag.get("sources") or []
            ]
            detail = "\n\n".join(
                x
                for x in (
                    f"**Must-not-miss: {_md(flag.get('name'))}** "
                    f"({_md(str(flag.get('urgency', '')).replace('_', ' '))})",
                    f"**Why:** {_md(flag.get('reason'))}",
                    f"**Action:** {_md(flag.get('action'))}",
                    f"**Imaging:** {_md(flag['imaging'])}" if flag.get("imaging") else "",
                    "The differential is shown beside this alert; deal with the must-not-miss "
                    "condition first.",
                    self.sources_md(refs),
                    self.versions_md(assessment),
                )
                if x
            )
            cards.append(
                {
                    "uuid": self.uuid("red-flag", flag.get("id")),
                    "summary": _clip(f"Must-not-miss: {flag.get('name')}. {flag.get('action')}"),
                    "indicator": "critical" if urgent else "warning",
                    "detail": detail,
                    "source": self.source("red-flag", "Red flag"),
                    "links": self.links(),
                }
            )
        return cards

    def differential_card(
        self, assessment: Mapping[str, Any], plan: dict[str, Any] | None
    ) -> dict[str, Any]:
        by_id = {c["id"]: c for c in assessment.get("conditions") or []}
        entries = [
            e for e in assessment.get("differential") or [] if (e.get("probability") or 0) >= 0.05
        ][:8]
        ranked = [
            by_id["gtps"]
            if e["variable"] == "gluteal_tendon" and "gtps" in by_id
            else by_id[e["id"]]
            for e in entries
            if e["id"] in by_id
        ]
        if ranked:
            top = ranked[0]
            interval = top.get("interval")
            ci = f" (95 % interval {_pct(interval[0])} to {_pct(interval[1])})" if interval else ""
            summary = f"Lateral hip pain: {top['name']} most likely, {_pct(top['probability'])}{ci}"
        else:
            summary = "Lateral hip pain: glutemed assessment available (no condition ranked)"
        lines = ["| Condition | Probability | 95 % interval | Pre-test |", "|---|---|---|---|"]
        for e, c in zip(entries, ranked, strict=False):
            iv = c.get("interval")
            label = e.get("label") or c["name"]
            lines.append(
                f"| {_md(label)} | {_pct(c['probability'])} | "
                f"{f'{_pct(iv[0])} to {_pct(iv[1])}' if iv else 'n/a'} | {_pct(c.get('prior'))} |"
            )
        parts = [
            "Probabilities are for each condition separately (conditions can coexist).",
            "\n".join(lines) if ranked else "",
        ]
        refs: list[tuple[str, str | None]] = []
        why = []
        for c in ranked[:3]:
            if c.get("prior_source_id"):
                refs.append((str(c["prior_source_id"]), None))
            for contrib in c.get("contributions") or []:
                if contrib.get("counted"):
                    why.append(f"- {_md(contrib.get('explanation'))}")
                    refs.append((str(contrib.get("source") or ""), contrib.get("locator")))
        if why:
            parts.append("**Why**\n\n" + "\n".join(why))
        unranked = assessment.get("unranked_conditions") or []
        if unranked:
            parts.append(
                "**Not ranked** (no sourced pre-test probability): "
                + "; ".join(
                    f"{_md(c['name'])} (combined LR {c.get('combined_lr')})" for c in unranked
                )
            )
        nxt = (assessment.get("next_tests") or [])[:2]
        if nxt:
            parts.append(
                "**Most informative next test**\n\n"
                + "\n".join(
                    f"- {_md(t.get('name'))}: {_md(self.condition_name(t.get('condition')))} "
                    f"{_pct(t.get('current'))} now, {_pct(t.get('if_positive'))} if positive, "
                    f"{_pct(t.get('if_negative'))} if negative"
                    for t in nxt
                )
            )
        imaging = assessment.get("imaging") or {}
        if imaging.get("recommendation"):
            parts.append(f"**Imaging:** {_md(imaging['recommendation'])}.")
            for r in imaging.get("reasons") or []:
                parts.append(f"- {_md(r.get('text'))}")
                refs.extend(_reason_sources(r))
        for note in assessment.get("notes") or []:
            parts.append(f"_{_md(note)}_")
        parts += [self.sources_md(refs), self.versions_md(assessment)]
        card: dict[str, Any] = {
            "uuid": self.uuid("differential"),
            "summary": _clip(summary),
            "indicator": "info",
            "detail": "\n\n".join(p for p in parts if p),
            "source": self.source("differential", "Differential diagnosis"),
            "links": self.links(),
        }
        if plan is not None:
            care_plan = self.resource(
                care_plan_resource(
                    self.uuid("careplan-resource"),
                    plan,
                    self.kb,
                    patient=self.patient_ref,
                    encounter=self.encounter_ref,
                    start=dt.date.today(),
                    addresses=[],
                ),
                plan.get("versions") or self.kb.versions(),
            )
            care_plan.pop("id", None)
            card["suggestions"] = [
                {
                    "label": "Create the glutemed care plan",
                    "uuid": self.uuid("suggestion", "careplan"),
                    "isRecommended": True,
                    "actions": [
                        {
                            "type": "create",
                            "description": "Add the staged care plan proposed by glutemed",
                            "resource": care_plan,
                        }
                    ],
                }
            ]
            card["selectionBehavior"] = "any"
        return card

    def imaging_request(
        self, imaging: Mapping[str, Any], versions: Mapping[str, Any], case: Case
    ) -> dict[str, Any]:
        res = self.resource(
            imaging_service_request(
                self.uuid("servicerequest", imaging.get("modality")),
                imaging,
                patient=self.patient_ref,
                encounter=self.encounter_ref,
                authored=dt.date.today(),
                requester=None,
                reasons=[],
                side=case.side,
                status="draft",
                intent="order",
            ),
            versions,
        )
        res.pop("id", None)
        return res

    def imaging_card(self, assessment: Mapping[str, Any], case: Case) -> dict[str, Any] | None:
        imaging = assessment.get("imaging") or {}
        modality = imaging.get("modality")
        if modality not in _MODALITY_NAME:
            return None
        refs: list[tuple[str, str | None]] = []
        reasons = []
        for r in imaging.get("reasons") or []:
            reasons.append(f"- {_md(r.get('text'))}")
            refs.extend(_reason_sources(r))
        detail = "\n\n".join(
            p
            for p in (
                f"**{_md(imaging.get('recommendation'))}** "
                f"(urgency: {_md(imaging.get('urgency'))})",
                "\n".join(reasons),
                self.sources_md(refs),
                self.versions_md(assessment),
            )
            if p
        )
        request = self.imaging_request(imaging, assessment.get("versions") or {}, case)
        return {
            "uuid": self.uuid("imaging"),
            "summary": _clip(f"Imaging advised: {imaging.get('recommendation')}"),
            "indicator": "info",
            "detail": detail,
            "source": self.source("imaging", "Imaging advice"),
            "suggestions": [
                {
                    "label": f"Order {_MODALITY_NAME[modality]}",
                    "uuid": self.uuid("suggestion", "imaging"),
                    "isRecommended": True,
                    "actions": [
                        {
                            "type": "create",
                            "description": f"Draft order: {imaging.get('recommendation')}",
                            "resource": request,
                        }
                    ],
                }
            ],
            "selectionBehavior": "at-most-one",
            "links": self.links(),
        }


def _reason_sources(reason: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for s in reason.get("sources") or []:
        if isinstance(s, Mapping):
            out.append((str(s.get("id") or ""), s.get("locator")))
        elif isinstance(s, str):
            out.append((s, None))
    return out


def _read(req: CdsRequest, kb: KnowledgeBase, default_setting: str) -> ReadResult:
    items, _ = _prefetch_items(req)
    result = read_resources(items, kb, where="prefetch")
    return _with_default_setting(result, items, default_setting)


def patient_view(
    request_json: str | bytes | Mapping[str, Any],
    *,
    app_base_url: str,
    kb: KnowledgeBase | None = None,
    default_setting: str = "primary_care",
    planner: Planner = pathway_plan,
) -> dict[str, Any]:
    """Answer a ``patient-view`` call of the ``glutemed-lateral-hip`` service.

    Parameters
    ----------
    request_json
        The CDS Hooks request body (JSON text, bytes or mapping).
    app_base_url
        Absolute base URL of the glutemed web app, for card links (``{base}/patients/{id}``,
        or ``{base}/patients/ehr/{EHR patient id}`` when the patient has no glutemed id) and
        the card source (``{base}/about``).
    kb
        The knowledge base (default: the bundled one).
    default_setting
        Care setting for the priors when the prefetched data carry none (glutemed visits carry
        their own): ``community``, ``primary_care`` or ``specialist``.
    planner
        Makes the care plan dict offered as a CarePlan suggestion (default:
        :func:`glutemed.pathway.plan`); returning ``None`` leaves the suggestion out.

    Returns
    -------
    dict
        ``{"cards": [...]}``: red-flag cards; or the differential card (+ an imaging card when
        imaging is advised); an info card when the record has a lateral-hip diagnosis but no
        glutemed examination; no cards when there is nothing about lateral hip pain.

    Raises
    ------
    PrefetchMissingError
        A required prefetch key (``patient``, ``observations``) is absent (HTTP 412).
    FhirInputError
        The request or the prefetched FHIR is malformed (HTTP 400, OperationOutcome).
    """
    kb = kb or load_kb()
    check_option("default_setting", default_setting, ("community", "primary_care", "specialist"))
    req = _request(request_json, PATIENT_VIEW_ID)
    result = _read(req, kb, default_setting)
    cards = _Cards(req, PATIENT_VIEW_ID, app_base_url, kb, result)
    case = _case_from(result)
    if case is None:
        if not result.known_conditions:
            return _response([])
        names = ", ".join(kb.conditions[c].name for c in result.known_conditions)
        return _response(
            [
                {
                    "uuid": cards.uuid("no-assessment"),
                    "summary": _clip(f"{names} on record: no glutemed examination yet"),
                    "indicator": "info",
                    "detail": "The record lists "
                    + _md(names)
                    + ", but no glutemed examination findings "
                    "were found. Record the examination in glutemed to get red-flag screening, the "
                    "probability of each condition with its sources, imaging advice and a care "
                    "plan.",
                    "source": cards.source("assessment-missing", "No assessment"),
                    "links": cards.links(),
                }
            ]
        )
    assessment = assess(case, kb)
    data = assessment.to_dict()
    plan = planner(case, assessment, kb)
    out = [*cards.red_flag_cards(data), cards.differential_card(data, plan)]
    imaging = cards.imaging_card(data, case)
    if imaging:
        out.append(imaging)
    return _response(out)


# --------------------------------------------------------------------------- order-select


def _order_modality(resource: Mapping[str, Any]) -> str | None:
    """Modality of a hip/pelvis imaging ServiceRequest, or None (not imaging, or not the hip)."""
    code: Mapping[str, Any] = resource["code"] if isinstance(resource.get("code"), Mapping) else {}
    for c in code.get("coding") or []:
        if c.get("system") == CS.imaging_procedure and c.get("code") in _MODALITY_NAME:
            return str(c["code"])
    texts = [str(code.get("text") or "")] + [
        str(c.get("display") or "") for c in code.get("coding") or []
    ]
    for site in resource.get("bodySite") or []:
        texts.append(str(site.get("text") or ""))
        texts += [str(c.get("display") or "") for c in site.get("coding") or []]
    text = " ".join(texts)
    if not _HIP_WORDS.search(text):
        return None
    for modality, pattern in _MODALITY_PATTERNS:
        if pattern.search(text):
            return modality
    return None


def _selected_imaging(req: CdsRequest) -> list[tuple[str, str, Mapping[str, Any]]]:
    ctx = req.context
    selections = ctx.get("selections")
    if (
        not isinstance(selections, list)
        or not selections
        or not all(isinstance(s, str) and s for s in selections)
    ):
        raise FhirInputError(
            "order-select context lacks selections",
            [
                Problem(
                    "request.context.selections",
                    "a non-empty array of references like 'ServiceRequest/1'",
                    short_repr(selections),
                )
            ],
        )
    draft = ctx.get("draftOrders")
    if draft is None:
        raise FhirInputError(
            "order-select context lacks draftOrders",
            [Problem("request.context.draftOrders", "a FHIR Bundle of draft orders", "nothing")],
        )
    validate_bundle(draft, "request.context.draftOrders")
    by_ref: dict[str, Mapping[str, Any]] = {}
    for entry in draft.get("entry") or []:
        res = entry.get("resource")
        if isinstance(res, Mapping) and isinstance(res.get("id"), str):
            by_ref[f"{res.get('resourceType')}/{res['id']}"] = res
    out = []
    for sel in selections:
        res = by_ref.get(sel) or by_ref.get("/".join(sel.split("/")[-2:]))
        if res is None or res.get("resourceType") != "ServiceRequest":
            continue
        modality = _order_modality(res)
        if modality is not None:
            out.append((sel, modality, res))
    return out


def _clear_tendinopathy(assessment: Mapping[str, Any]) -> bool:
    ranked = [c for c in assessment.get("conditions") or [] if c.get("probability") is not None]
    if not ranked or ranked[0]["id"] not in ("gluteal_tendinopathy", "gtps"):
        return False
    top = ranked[0]
    raised = any(
        c.get("counted") and (c.get("lr_used") or 0) > 1 for c in top.get("contributions") or []
    )
    return raised and top["probability"] > (top.get("prior") or 1.0)


def order_select(
    request_json: str | bytes | Mapping[str, Any],
    *,
    app_base_url: str,
    kb: KnowledgeBase | None = None,
    default_setting: str = "primary_care",
    planner: Planner = pathway_plan,
) -> dict[str, Any]:
    """Answer an ``order-select`` call of the ``glutemed-imaging-order`` service.

    Only selected ServiceRequests that are hip/pelvis imaging are considered: the glutemed
    ``imaging-procedure`` code, or words in the code/body-site text ("MRI", "magnetic resonance",
    "ultrasound", "radiograph", "X-ray" with "hip", "pelvis", "gluteal", "trochanter", ...).
    Other orders get no card (and need no prefetch). ``app_base_url``, ``kb``,
    ``default_setting`` and ``planner`` as in :func:`patient_view`.

    Returns
    -------
    dict
        ``{"cards": [...]}``: a warning when an MRI is ordered but glutemed advises no imaging
        for clear clinical tendinopathy / GTPS (or advises another modality); an info card
        supporting the order when a red flag or a suspected tear calls for it.

    Raises
    ------
    PrefetchMissingError
        For a relevant order without the required prefetch (HTTP 412).
    FhirInputError
        Malformed request, context or prefetch (HTTP 400).
    """
    kb = kb or load_kb()
    check_option("default_setting", default_setting, ("community", "primary_care", "specialist"))
    req = _request(request_json, ORDER_SELECT_ID)
    orders = _selected_imaging(req)
    if not orders:
        return _response([])
    result = _read(req, kb, default_setting)
    cards = _Cards(req, ORDER_SELECT_ID, app_base_url, kb, result)
    case = _case_from(result)
    out: list[dict[str, Any]] = []
    if case is None:
        for sel, modality, _ in orders:
            out.append(
                {
                    "uuid": cards.uuid("no-assessment", sel),
                    "summary": _clip(
                        f"glutemed cannot check this {_MODALITY_NAME[modality]}: "
                        "no lateral hip examination recorded"
                    ),
                    "indicator": "info",
                    "detail": "No glutemed examination findings were found for this patient. "
                    "Record "
                    "the examination in glutemed to check the order against the imaging advice.",
                    "source": cards.source("imaging", "Imaging advice"),
                    "links": cards.links(),
                }
            )
        return _response(out)
    assessment = assess(case, kb)
    data = assessment.to_dict()
    imaging = data["imaging"]
    advised = imaging.get("modality")
    for sel, modality, _res in orders:
        card = _order_card(cards, data, case, sel, modality, advised, assessment, kb, planner)
        if card is not None:
            out.append(card)
    return _response(out)


def _order_card(
    cards: _Cards,
    data: Mapping[str, Any],
    case: Case,
    selection: str,
    ordered: str,
    advised: Any,
    assessment: Assessment,
    kb: KnowledgeBase,
    planner: Planner,
) -> dict[str, Any] | None:
    imaging = data["imaging"]
    refs: list[tuple[str, str | None]] = []
    reasons = []
    for r in imaging.get("reasons") or []:
        reasons.append(f"- {_md(r.get('text'))}")
        refs.extend(_reason_sources(r))
    base_detail = [
        f"**glutemed imaging advice:** {_md(imaging.get('recommendation'))}",
        "\n".join(reasons),
    ]
    tail = [cards.sources_md(refs), cards.versions_md(data)]
    if data["red_flags"]:
        flags = "; ".join(str(f.get("name")) for f in data["red_flags"])
        return {
            "uuid": cards.uuid("order", selection),
            "summary": _clip(f"Imaging supported: must-not-miss condition ({flags})"),
            "indicator": "info",
            "detail": "\n\n".join(
                p
                for p in [
                    *base_detail,
                    *(
                        f"- **{_md(f.get('name'))}**: {_md(f.get('action'))}"
                        for f in data["red_flags"]
                    ),
                    *tail,
                ]
                if p
            ),
            "source": cards.source("imaging", "Imaging advice"),
            "links": cards.links(),
        }
    if advised == ordered:
        first = (imaging.get("reasons") or [{}])[0].get("text", "")
        return {
            "uuid": cards.uuid("order", selection),
            "summary": _clip(f"{_MODALITY_TITLE[ordered]} supported: {first}"),
            "indicator": "info",
            "detail": "\n\n".join(p for p in [*base_detail, *tail] if p),
            "source": cards.source("imaging", "Imaging advice"),
            "links": cards.links(),
        }
    if ordered != "mri":
        return None
    override = [coding(CS.override_reason, code, display) for code, display in _OVERRIDE_REASONS]
    delete = {
        "type": "delete",
        "description": f"Remove the draft MRI order {selection}",
        "resourceId": selection,
    }
    if advised == "none":
        if not _clear_tendinopathy(data):
            return None
        ranked = [c for c in data["conditions"] if c.get("probability") is not None]
        top = ranked[0]
        suggestions: list[dict[str, Any]] = [
            {
                "label": "Remove the MRI order",
                "uuid": cards.uuid("suggestion", selection, "remove"),
                "isRecommended": True,
                "actions": [delete],
            }
        ]
        plan = planner(case, assessment, kb)
        if plan is not None:
            care_plan = cards.resource(
                care_plan_resource(
                    cards.uuid("careplan-resource", selection),
                    plan,
                    kb,
                    patient=cards.patient_ref,
                    encounter=cards.encounter_ref,
                    start=dt.date.today(),
                    addresses=[],
                ),
                plan.get("versions") or kb.versions(),
            )
            care_plan.pop("id", None)
            suggestions.append(
                {
                    "label": "Remove the MRI order and start the glutemed care plan",
                    "uuid": cards.uuid("suggestion", selection, "careplan"),
                    "actions": [
                        delete,
                        {
                            "type": "create",
                            "description": "Add the staged care plan",
                            "resource": care_plan,
                        },
                    ],
                }
            )
        return {
            "uuid": cards.uuid("order", selection),
            "summary": _clip(
                "MRI not needed to confirm clinical gluteal tendinopathy; "
                "tendon changes are common without symptoms"
            ),
            "indicator": "warning",
            "detail": "\n\n".join(
                p
                for p in [
                    f"{_md(top['name'])}: {_pct(top['probability'])}"
                    + (
                        f" (95 % interval {_pct(top['interval'][0])} to {_pct(top['interval'][1])})"
                        if top.get("interval")
                        else ""
                    )
                    + " from the examination findings.",
                    *base_detail,
                    "Image when the diagnosis is unclear, a tear is suspected (abductor weakness "
                    "with pain on loading) or care fails.",
                    *tail,
                ]
                if p
            ),
            "source": cards.source("imaging", "Imaging advice"),
            "suggestions": suggestions,
            "selectionBehavior": "at-most-one",
            "overrideReasons": override,
            "links": cards.links(),
        }
    if advised in ("xray", "ultrasound"):
        replacement = cards.imaging_request(imaging, data.get("versions") or {}, case)
        return {
            "uuid": cards.uuid("order", selection),
            "summary": _clip(
                f"{_MODALITY_TITLE[str(advised)]} advised instead of MRI: "
                f"{imaging.get('recommendation')}"
            ),
            "indicator": "warning",
            "detail": "\n\n".join(p for p in [*base_detail, *tail] if p),
            "source": cards.source("imaging", "Imaging advice"),
            "suggestions": [
                {
                    "label": f"Replace the MRI with a {_MODALITY_NAME[str(advised)]}",
                    "uuid": cards.uuid("suggestion", selection, "replace"),
                    "isRecommended": True,
                    "actions": [
                        delete,
                        {
                            "type": "create",
                            "description": f"Draft order: {imaging.get('recommendation')}",
                            "resource": replacement,
                        },
                    ],
                }
            ],
            "selectionBehavior": "at-most-one",
            "overrideReasons": override,
            "links": cards.links(),
        }
    return None


# --------------------------------------------------------------------------- feedback


def feedback(service_id: str, body: str | bytes | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Validate a feedback body (``POST /cds-services/{id}/feedback``).

    Returns
    -------
    list of dict
        The feedback entries, JSON-ready, for the server to store (card uuid, outcome, accepted
        suggestion ids, override reason, outcome timestamp).

    Raises
    ------
    NotFoundError
        Unknown service id (HTTP 404).
    FhirInputError
        A body that breaks the feedback schema, with paths like ``feedback[0].outcome``.
    """
    if service_id not in _SERVICES:
        raise NotFoundError(
            f"no CDS service {service_id!r}",
            [Problem("service id", "one of " + ", ".join(_SERVICES), short_repr(service_id))],
        )
    data = parse_json(body, "feedback")
    try:
        model = Feedback.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                "".join(
                    f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
                    for i, p in enumerate(e["loc"])
                )
                or "feedback",
                str(e["msg"]).lower(),
                "nothing" if e["type"] == "missing" else short_repr(e.get("input")),
            )
            for e in exc.errors()
        ]
        raise FhirInputError(
            "feedback does not follow the CDS Hooks feedback schema", problems
        ) from None
    out: list[dict[str, Any]] = [
        strip_empty(e.model_dump(mode="json", exclude_none=True)) for e in model.feedback
    ]
    return out
