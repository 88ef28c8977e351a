"""Exercise programmes in the web app: the picker page, the patient sheet and the JSON API.

The prescription is made once, by :func:`glutemed.pathway.prescribe`; the JSON API serialises it
(``Prescription.to_dict()``) and the pages render it (:mod:`glutemed.report`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from glutemed.knowledge import KnowledgeBase
from glutemed.pathway import Prescription, dose_text, parse_dose_changes, prescribe
from glutemed.server._deps import CurrentAuth, State, csrf_protect
from glutemed.server._reports import pdf_response

__all__ = ["DOSE_FIELDS", "api_router", "pages_router"]

api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(csrf_protect)])
pages_router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

#: dose fields the picker page lets the clinician change, with their labels
DOSE_FIELDS = (
    ("sets_min", "rounds"),
    ("reps_min", "times"),
    ("hold_s_min", "hold (s)"),
    ("times_per_day", "a day"),
)


def _from_query(request: Request, kb: KnowledgeBase, programme_id: str) -> Prescription:
    """Read stage, ``omit`` and dose fields (``FIELD.EXERCISE=VALUE``) from the query string.

    Only values that differ from the source dose count as changes; a changed ``*_min`` value
    also clears the range's maximum (the number typed in is the dose).
    """
    q = request.query_params
    stage = q.get("stage") or None
    omit = q.getlist("omit")
    changes = list(q.getlist("set"))
    fields = {f for f, _ in DOSE_FIELDS}
    source = {}
    prog = kb.programmes.get(programme_id)
    if prog is not None and prog.stages:
        chosen = prog.stage(stage) if stage in {s.id for s in prog.stages} else prog.stages[0]
        source = {i.exercise: i.dose for i in chosen.items}
    for key, value in q.multi_items():
        field, _, exercise = key.partition(".")
        if field in fields and exercise and value.strip():
            current = getattr(source.get(exercise), field, None)
            if current is None or f"{current:g}" != value.strip():
                changes.append(f"{exercise}.{field}={value.strip()}")
                if field.endswith("_min"):  # a value typed in the picker is exact, not a range
                    changes.append(f"{exercise}.{field[:-4]}_max=none")
    return prescribe(programme_id, stage, kb=kb, omit=omit, adjust=parse_dose_changes(changes))


@api_router.get("/programmes", tags=["exercise"], summary="The exercise programmes")
def list_programmes(state: State, auth: CurrentAuth) -> list[dict[str, Any]]:
    return [
        {
            "id": p.id,
            "name": p.name,
            "kind": p.kind,
            "evidence_level": p.evidence_level,
            "evidence_note": p.evidence_note,
            "stages": [{"id": s.id, "name": s.name} for s in p.stages],
            "prescribable": bool(p.stages),
        }
        for p in state.kb.programmes.values()
    ]


@api_router.get(
    "/programmes/{programme_id}/prescription",
    tags=["exercise"],
    summary="A programme stage as prescribed (stage, omit=EXERCISE, set=EXERCISE.FIELD=VALUE)",
)
def get_prescription(
    state: State,
    auth: CurrentAuth,
    programme_id: str,
    stage: Annotated[str | None, Query()] = None,
    omit: Annotated[list[str] | None, Query()] = None,
    set_: Annotated[list[str] | None, Query(alias="set")] = None,
) -> dict[str, Any]:
    rx = prescribe(
        programme_id,
        stage,
        kb=state.kb,
        omit=omit or (),
        adjust=parse_dose_changes(set_ or []),
    )
    return rx.to_dict()


@pages_router.get("/programmes", response_class=HTMLResponse)
def programmes_page(request: Request, state: State, auth: CurrentAuth) -> Response:
    programmes = [p for p in state.kb.programmes.values() if p.stages]
    response: Response = state.templates.TemplateResponse(
        request,
        "programmes.html",
        {
            "auth": auth,
            "csrf_token": auth.csrf_token,
            "versions": state.kb.versions(),
            "errors": None,
            "flash": None,
            "programmes": programmes,
            "exercises": state.kb.exercises,
            "dose_fields": DOSE_FIELDS,
            "dose_text": dose_text,
        },
    )
    return response


@pages_router.get("/programmes/{programme_id}/sheet", response_class=HTMLResponse)
def sheet_page(request: Request, state: State, auth: CurrentAuth, programme_id: str) -> Response:
    from glutemed.report import exercise_sheet_html

    html = exercise_sheet_html(_from_query(request, state.kb, programme_id), state.kb)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@pages_router.get("/programmes/{programme_id}/sheet.pdf")
def sheet_pdf(request: Request, state: State, auth: CurrentAuth, programme_id: str) -> Response:
    from glutemed.report import exercise_sheet_html

    html = exercise_sheet_html(_from_query(request, state.kb, programme_id), state.kb)
    response: Response = pdf_response(html, f"exercise-sheet-{programme_id}.pdf")
    return response


def _log_options(request: Request) -> tuple[int, Any]:
    """The log's ``days`` (default 14) and ``start`` date from the query string."""
    import datetime as dt

    from glutemed.errors import InputValueError, Problem

    q = request.query_params
    days_text = (q.get("days") or "14").strip()
    start_text = (q.get("start") or "").strip()
    try:
        days = int(days_text)
    except ValueError:
        raise InputValueError(
            "invalid number of days", [Problem("days", "a whole number", days_text[:40])]
        ) from None
    try:
        start = dt.date.fromisoformat(start_text) if start_text else None
    except ValueError:
        raise InputValueError(
            "invalid start date", [Problem("start", "a date YYYY-MM-DD", start_text[:40])]
        ) from None
    return days, start


@pages_router.get("/programmes/{programme_id}/log", response_class=HTMLResponse)
def log_page(request: Request, state: State, auth: CurrentAuth, programme_id: str) -> Response:
    from glutemed.report import exercise_log_html

    days, start = _log_options(request)
    rx = _from_query(request, state.kb, programme_id)
    html = exercise_log_html(rx, state.kb, days=days, start=start)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@pages_router.get("/programmes/{programme_id}/log.pdf")
def log_pdf(request: Request, state: State, auth: CurrentAuth, programme_id: str) -> Response:
    from glutemed.report import exercise_log_html

    days, start = _log_options(request)
    rx = _from_query(request, state.kb, programme_id)
    html = exercise_log_html(rx, state.kb, days=days, start=start)
    response: Response = pdf_response(html, f"exercise-log-{programme_id}.pdf")
    return response
