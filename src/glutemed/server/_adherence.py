"""Adherence and progression in the web app: the visit form, the per-visit table and the API.

Recording is one service, :func:`record_adherence` (validate with
:func:`glutemed.pathway.read_adherence`, suggest with :func:`glutemed.pathway.suggest_progression`,
store with :func:`glutemed.store.add_adherence`); the JSON API serialises it and the pages render
it. The suggestion is stored with the record as it was shown; the clinician's decision is saved
separately.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from glutemed import store
from glutemed.errors import InputValueError, Problem
from glutemed.knowledge import KnowledgeBase, Programme
from glutemed.pathway import (
    EFFORT_FELT,
    ENTRY_FIELDS,
    PROGRAMME_WIDE,
    dose_text,
    read_adherence,
    sessions_prescribed,
    suggest_progression,
)
from glutemed.server._deps import DB, Auth, CurrentAuth, State, csrf_protect

__all__ = [
    "ACTION_WORDS",
    "adherence_context",
    "adherence_out",
    "api_router",
    "pages_router",
    "record_adherence",
    "visit_rows",
]

api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(csrf_protect)])
pages_router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

#: The suggestion in words.
ACTION_WORDS = {
    "progress": "Progress",
    "stay": "Stay at this level",
    "regress": "Go back (make easier)",
    "": "not decided yet",
}


# --------------------------------------------------------------------------- service


def record_adherence(
    db: Any, actor: store.Actor, kb: KnowledgeBase, visit_id: int, data: Mapping[str, Any]
) -> store.AdherenceRecord:
    """Validate an adherence record, compute its progression suggestion and store both."""
    actor.require_write()
    store.get_visit(db, actor, visit_id)
    report = read_adherence(data, kb=kb)
    suggestion = suggest_progression(report, kb=kb)
    return store.add_adherence(
        db, actor, visit_id, report, suggestion=suggestion.to_dict(), versions=kb.versions()
    )


def adherence_out(kb: KnowledgeBase, record: store.AdherenceRecord) -> dict[str, Any]:
    """A stored record as JSON-ready data, with names beside the ids and the totals."""
    prog = kb.programmes.get(record.programme_id)
    stage_names = {s.id: s.name for s in prog.stages} if prog else {}
    done, planned = record.sessions_done, record.sessions_prescribed
    entries = []
    for e in record.entries:
        ex = kb.exercises.get(str(e.get("exercise")))
        entries.append(dict(e) | {"name": ex.name if ex else "The whole programme"})
    return {
        "id": record.id,
        "version": record.version,
        "patient_id": record.patient_id,
        "visit_id": record.visit_id,
        "programme": record.programme_id,
        "programme_name": prog.name if prog else record.programme_id,
        "stage": record.stage_id,
        "stage_name": stage_names.get(record.stage_id, record.stage_id),
        "programme_week": record.programme_week,
        "entries": entries,
        "sessions_done": done,
        "sessions_prescribed": planned,
        "done_pct": None if done is None or not planned else round(100.0 * done / planned, 1),
        "pain_during_max": record.pain_during_max,
        "pain_after_max": record.pain_after_max,
        "suggestion": record.suggestion,
        "decision": record.decision,
        "next_stage": record.next_stage_id,
        "next_stage_name": stage_names.get(record.next_stage_id, ""),
        "note": record.note,
        "void_reason": record.void_reason if record.voided_at is not None else None,
        "versions": {
            "engine": record.engine_version,
            "kb": record.kb_version,
            "kb_manifest_sha256": record.kb_manifest_sha256,
        },
    }


def adherence_context(
    kb: KnowledgeBase, db: Any, actor: store.Actor, visit: store.Visit
) -> dict[str, Any]:
    """What the visit page's adherence section needs (records of the visit, voided ones too)."""
    records = store.list_adherence(
        db, actor, visit.patient_id, visit_id=visit.id, include_voided=True
    )
    return {
        "adherence": [adherence_out(kb, r) for r in records],
        "action_words": ACTION_WORDS,
        "effort_felt": EFFORT_FELT,
        "stages_of": {p.id: p.stages for p in kb.programmes.values()},
    }


def visit_rows(
    kb: KnowledgeBase,
    visits: Sequence[store.Visit],
    outcomes: Sequence[store.OutcomeEntry],
    records: Sequence[store.AdherenceRecord],
    instruments: Sequence[str] = ("nprs", "visa_g", "groc"),
) -> list[dict[str, Any]]:
    """One row per visit date: the questionnaire totals beside adherence and exercise pain.

    An outcome belongs to its visit (``visit_id``) or else to the visit on its date; an outcome
    on a date with no visit gets a row of its own.
    """
    by_date: dict[dt.date, dict[str, Any]] = {}
    visit_dates = {v.id: v.visit_date for v in visits}

    def row(day: dt.date) -> dict[str, Any]:
        return by_date.setdefault(day, {"date": day, "scores": {}, "adherence": []})

    for v in visits:
        row(v.visit_date)
    for o in outcomes:
        if o.instrument in instruments and o.total is not None:
            day = visit_dates.get(o.visit_id or -1, o.measured_on)
            row(day)["scores"][o.instrument] = o.total
    for r in records:
        on = visit_dates.get(r.visit_id)
        if on is not None:
            row(on)["adherence"].append(adherence_out(kb, r))
    return [by_date[d] for d in sorted(by_date)]


def _previous_visit_days(db: Any, actor: store.Actor, visit: store.Visit) -> int | None:
    earlier = [
        v.visit_date
        for v in store.list_visits(db, actor, visit.patient_id)
        if v.visit_date < visit.visit_date
    ]
    return (visit.visit_date - max(earlier)).days if earlier else None


def _form_data(
    form: FormData, programme: str, stage: str, exercises: Sequence[str]
) -> dict[str, Any]:
    """The form's fields (``EXERCISE.FIELD``) as the mapping :func:`read_adherence` reads."""
    entries = []
    for ex in [*exercises, PROGRAMME_WIDE]:
        entry: dict[str, Any] = {"exercise": ex}
        for name in ENTRY_FIELDS:
            value = form.get(f"{ex}.{name}")
            if isinstance(value, str) and value.strip():
                entry[name] = value.strip()
        entries.append(entry)
    week = form.get("programme_week")
    note = form.get("note")
    return {
        "programme": programme,
        "stage": stage,
        "programme_week": week.strip() if isinstance(week, str) and week.strip() else None,
        "note": note if isinstance(note, str) else "",
        "entries": entries,
    }


# --------------------------------------------------------------------------- API


@api_router.post(
    "/visits/{visit_id}/adherence",
    tags=["exercise"],
    status_code=201,
    summary="Record adherence and exercise pain for a programme stage at a visit",
)
def api_record(
    visit_id: int,
    state: State,
    auth: CurrentAuth,
    db: DB,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    record = record_adherence(db, auth.actor, state.kb, visit_id, body)
    db.commit()
    return adherence_out(state.kb, record)


@api_router.post(
    "/adherence/suggestion",
    tags=["exercise"],
    summary="The progression suggestion for an adherence record, without storing it",
)
def api_suggest(
    state: State, auth: CurrentAuth, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    report = read_adherence(body, kb=state.kb)
    return {
        "adherence": report.to_dict(),
        "suggestion": suggest_progression(report, kb=state.kb).to_dict(),
    }


@api_router.get(
    "/patients/{patient_id}/adherence",
    tags=["exercise"],
    summary="A patient's adherence records, oldest visit first",
)
def api_list(
    patient_id: int, state: State, auth: CurrentAuth, db: DB, include_voided: bool = False
) -> list[dict[str, Any]]:
    records = store.list_adherence(db, auth.actor, patient_id, include_voided=include_voided)
    return [adherence_out(state.kb, r) for r in records]


@api_router.post(
    "/adherence/{record_id}/decision",
    tags=["exercise"],
    summary="The clinician's decision on a suggestion (progress, stay or regress)",
)
def api_decide(
    record_id: int,
    state: State,
    auth: CurrentAuth,
    db: DB,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    record = _decide(db, auth, state.kb, record_id, body)
    db.commit()
    return adherence_out(state.kb, record)


def _decide(
    db: Any, auth: Auth, kb: KnowledgeBase, record_id: int, data: Mapping[str, Any]
) -> store.AdherenceRecord:
    record = store.get_adherence(db, auth.actor, record_id)
    prog = kb.programmes.get(record.programme_id)
    next_stage = str(data.get("next_stage") or "")
    if next_stage and (prog is None or next_stage not in {s.id for s in prog.stages}):
        raise InputValueError(
            "unknown programme stage",
            [Problem("next_stage", "a stage of the programme", next_stage[:60])],
        )
    version = data.get("version")
    try:
        expected = int(version) if version is not None and str(version).strip() else None
    except ValueError:
        raise InputValueError(
            "invalid version", [Problem("version", "a whole number", str(version)[:40])]
        ) from None
    return store.decide_adherence(
        db,
        auth.actor,
        record_id,
        decision=str(data.get("decision") or ""),
        next_stage_id=next_stage,
        expected_version=expected,
    )


# --------------------------------------------------------------------------- pages


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


def _choose(kb: KnowledgeBase, programme: str, stage: str) -> tuple[Programme, str]:
    progs = [p for p in kb.programmes.values() if p.stages]
    prog = kb.programmes.get(programme)
    if prog is None or not prog.stages:
        prog = progs[0]
    stage_ids = [s.id for s in prog.stages]
    return prog, stage if stage in stage_ids else stage_ids[0]


def _form_page(
    request: Request,
    state: Any,
    auth: Auth,
    db: Any,
    visit_id: int,
    programme: str,
    stage: str,
    *,
    values: Mapping[str, str] | None = None,
    errors: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    auth.actor.require_write()
    visit = store.get_visit(db, auth.actor, visit_id)
    patient = store.get_patient(db, auth.actor, visit.patient_id)
    prog, sid = _choose(state.kb, programme, stage)
    stage_obj = prog.stage(sid)
    days = _previous_visit_days(db, auth.actor, visit)
    last = store.list_adherence(db, auth.actor, patient.id)
    if values is None:
        values = {}
        for item in stage_obj.items:
            planned = None if days is None else sessions_prescribed(item.dose, days)
            if planned:
                values = {**values, f"{item.exercise}.sessions_prescribed": str(planned)}
    rows = [
        {
            "id": i.exercise,
            "name": state.kb.exercises[i.exercise].name,
            "plain": state.kb.exercises[i.exercise].plain_name,
            "dose": "; ".join(dose_text(i.dose)),
        }
        for i in stage_obj.items
    ] + [
        {
            "id": PROGRAMME_WIDE,
            "name": "The whole programme (if not recorded per exercise)",
            "plain": "",
            "dose": "",
        }
    ]
    response: Response = state.templates.TemplateResponse(
        request,
        "adherence_form.html",
        {
            "auth": auth,
            "csrf_token": auth.csrf_token,
            "versions": state.kb.versions(),
            "flash": None,
            "errors": errors,
            "visit": visit,
            "patient": patient,
            "programmes": [p for p in state.kb.programmes.values() if p.stages],
            "programme": prog,
            "stage": stage_obj,
            "rows": rows,
            "values": values,
            "days": days,
            "effort_felt": EFFORT_FELT,
            "last": adherence_out(state.kb, last[-1]) if last else None,
        },
        status_code=status_code,
    )
    return response


@pages_router.get("/visits/{visit_id}/adherence", response_class=HTMLResponse)
def adherence_form(
    request: Request,
    state: State,
    auth: CurrentAuth,
    db: DB,
    visit_id: int,
    programme: str = "",
    stage: str = "",
) -> Response:
    if not programme:  # carry on from the last record: same programme and the decided stage
        visit = store.get_visit(db, auth.actor, visit_id)
        last = store.list_adherence(db, auth.actor, visit.patient_id)
        if last:
            programme = last[-1].programme_id
            stage = last[-1].next_stage_id or last[-1].stage_id
    return _form_page(request, state, auth, db, visit_id, programme, stage)


@pages_router.post("/visits/{visit_id}/adherence", response_class=HTMLResponse)
def adherence_submit(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, visit_id: int
) -> Response:
    programme = str(form.get("programme") or "")
    stage = str(form.get("stage") or "")
    prog, sid = _choose(state.kb, programme, stage)
    exercises = [i.exercise for i in prog.stage(sid).items]
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    try:
        record_adherence(
            db, auth.actor, state.kb, visit_id, _form_data(form, prog.id, sid, exercises)
        )
    except InputValueError as exc:
        db.rollback()
        problems = state.wording.problems(exc)
        by_field: dict[str, str] = {}
        for p in problems:
            by_field.setdefault(p["field"], p["text"])
        errors = {
            "message": state.wording.text(exc.message),
            "problems": problems,
            "by_field": by_field,
        }
        return _form_page(
            request,
            state,
            auth,
            db,
            visit_id,
            prog.id,
            sid,
            values=values,
            errors=errors,
            status_code=422,
        )
    db.commit()
    return RedirectResponse(f"/visits/{visit_id}#adherence", status_code=303)


@pages_router.post("/adherence/{record_id}/decision")
def adherence_decision(
    state: State, auth: CurrentAuth, db: DB, form: Form, record_id: int
) -> Response:
    data = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    record = _decide(db, auth, state.kb, record_id, data)
    db.commit()
    return RedirectResponse(f"/visits/{record.visit_id}#adherence", status_code=303)
