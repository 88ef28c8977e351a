"""Server-rendered pages (Jinja2 + htmx), usable on a tablet.

Every form posts a ``csrf_token`` field and every htmx request sends the ``X-CSRF-Token``
header (set once on ``<body>``); the router-level :func:`csrf_protect` dependency refuses
state-changing requests without it. Handlers are plain functions (run in the thread pool);
form bodies are read by the async :func:`_form` dependency.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from glutemed import store
from glutemed._checks import short_repr
from glutemed.errors import (
    DataFileError,
    GlutemedError,
    InputValueError,
    NotFoundError,
    Problem,
)
from glutemed.reasoning import percent
from glutemed.server import _services as svc
from glutemed.server._adherence import adherence_context, visit_rows
from glutemed.server._api import set_session_cookie, timeline_events, treatment_out
from glutemed.server._charts import outcome_chart_svg
from glutemed.server._deps import DB, Auth, CurrentAuth, State, csrf_protect, optional_auth
from glutemed.server._forms import (
    CASE_FACTORS,
    case_from_form,
    form_sections,
    form_values_from_case,
    section_summaries,
)
from glutemed.server._reports import (
    handout_links,
    handout_response,
    letter_response,
)
from glutemed.server._security import (
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    login_csrf_token,
    new_token,
    session_id_for_token,
)

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
#: The app's own script (print buttons, the visit form's section summaries); no inline script.
_PRINT_SCRIPT = "/static/app.js"


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


def _pct(p: Any) -> str:
    if p is None:
        return "—"
    return percent(float(p), space=True)


def _render(
    request: Request,
    state: Any,
    auth: Auth | None,
    name: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    ctx = {
        "auth": auth,
        "csrf_token": auth.csrf_token if auth else "",
        "versions": state.kb.versions(),
        "pct": _pct,
        "errors": None,
        "flash": None,
    }
    ctx.update(context)
    response: Response = state.templates.TemplateResponse(
        request, name, ctx, status_code=status_code
    )
    return response


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _errors(state: Any, exc: GlutemedError) -> dict[str, Any]:
    """An error for a form that re-renders: the message, and each problem beside its field."""
    problems = state.wording.problems(exc)
    by_field: dict[str, str] = {}
    for p in problems:
        by_field.setdefault(p["field"], p["text"])
    return {"message": state.wording.text(exc.message), "problems": problems, "by_field": by_field}


def _str(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _int(form: FormData, key: str) -> int | None:
    text = _str(form, key)
    try:
        return int(text) if text else None
    except ValueError:
        raise InputValueError(
            f"invalid {key}", [Problem(key, "a whole number", repr(text)[:40])]
        ) from None


def _form_dict(form: FormData) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out[key] = value
    return out


# --------------------------------------------------------------------------- login


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return _see_other("/patients")


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> RedirectResponse:
    # pages without the icon link (letters, handout) make browsers ask for /favicon.ico
    return RedirectResponse("/static/favicon.svg", status_code=301)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, state: State, next: str = "/patients") -> Response:
    pre = request.cookies.get(PRELOGIN_COOKIE) or new_token()
    response = _render(
        request,
        state,
        None,
        "login.html",
        login_csrf=login_csrf_token(state.settings.secret_key, pre),
        next=_safe_next(next),
        username="",
    )
    response.set_cookie(
        PRELOGIN_COOKIE,
        pre,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=state.settings.cookie_secure,
        path="/login",
    )
    return response


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/patients"


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, state: State, db: DB, form: Form) -> Response:
    username = _str(form, "username")
    password = form.get("password")
    try:
        actor = store.authenticate(
            db,
            username,
            password if isinstance(password, str) else "",
            max_failures=state.settings.login_max_failures,
            window_s=state.settings.login_window_s,
            client=request.client.host if request.client else None,
        )
    except (store.AuthenticationError, store.ThrottledError) as exc:
        db.commit()
        pre = request.cookies.get(PRELOGIN_COOKIE) or ""
        status = 429 if isinstance(exc, store.ThrottledError) else 401
        headers = (
            {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, store.ThrottledError) else {}
        )
        response = _render(
            request,
            state,
            None,
            "login.html",
            status_code=status,
            # one plain sentence: which of the two was wrong is not said (nor which field)
            errors={"title": "Could not log in", "message": exc.message, "problems": []},
            login_csrf=login_csrf_token(state.settings.secret_key, pre),
            next=_safe_next(_str(form, "next")),
            username=username,
        )
        response.headers.update(headers)
        return response
    token = new_token()
    store.start_session(
        db,
        actor,
        session_id_for_token(state.settings.secret_key, token),
        state.settings.session_ttl_s,
    )
    db.commit()
    response = _see_other(_safe_next(_str(form, "next") or "/patients"))
    set_session_cookie(response, state, token)
    response.delete_cookie(PRELOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(auth: Annotated[Auth | None, Depends(optional_auth)], state: State, db: DB) -> Response:
    if auth is not None:
        store.end_session(db, auth.session_id)
        db.commit()
        state.session_cache.forget(auth.session_id)
    response = _see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --------------------------------------------------------------------------- patients


@router.get("/patients", response_class=HTMLResponse)
def patients_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, q: str = "", offset: int = 0
) -> Response:
    return _patient_list(request, state, auth, db, "patients.html", q, offset)


@router.get("/patients/rows", response_class=HTMLResponse)
def patient_rows(
    request: Request, state: State, auth: CurrentAuth, db: DB, q: str = "", offset: int = 0
) -> Response:
    return _patient_list(request, state, auth, db, "_patient_rows.html", q, offset)


#: Patients per page of the list (the last row offers the next page).
_PAGE_SIZE = 50


def _patient_list(
    request: Request, state: Any, auth: Auth, db: Any, template: str, q: str, offset: int
) -> Response:
    offset = max(0, offset)
    rows, more = store.search_patients(db, auth.actor, q[:200], limit=_PAGE_SIZE, offset=offset)
    return _render(
        request,
        state,
        auth,
        template,
        patients=rows,
        more=more,
        q=q,
        offset=offset,
        next_offset=offset + len(rows),
        page_size=_PAGE_SIZE,
    )


@router.get("/patients/new", response_class=HTMLResponse)
def new_patient_page(request: Request, state: State, auth: CurrentAuth) -> Response:
    auth.actor.require_write()
    return _render(
        request,
        state,
        auth,
        "patient_form.html",
        patient=None,
        values={"sex": "unknown"},
        conflict=None,
    )


def _patient_form_values(form: FormData, *, edit: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        k: _str(form, k)
        for k in ("family_name", "given_name", "identifier", "birth_date", "sex", "notes")
    }
    if edit:
        values["archived"] = bool(form.get("archived"))
    return values


@router.post("/patients", response_class=HTMLResponse)
def create_patient(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form
) -> Response:
    values = _patient_form_values(form, edit=False)
    try:
        patient = store.create_patient(db, auth.actor, values)
    except InputValueError as exc:
        return _render(
            request,
            state,
            auth,
            "patient_form.html",
            status_code=422,
            patient=None,
            values=values,
            errors=_errors(state, exc),
            conflict=None,
        )
    except store.ConflictError as exc:
        return _render(
            request,
            state,
            auth,
            "patient_form.html",
            status_code=409,
            patient=None,
            values=values,
            errors=_errors(state, exc),
            conflict=None,
        )
    db.commit()
    return _see_other(f"/patients/{patient.id}")


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, patient_id: int
) -> Response:
    return _patient_page(request, state, auth, db, patient_id)


def _patient_page(
    request: Request,
    state: Any,
    auth: Auth,
    db: Any,
    patient_id: int,
    *,
    treatment_values: dict[str, Any] | None = None,
    errors: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The patient page; a failed treatment entry comes back with its values and problems."""
    patient = store.get_patient(db, auth.actor, patient_id)
    svc.audit_access(db, auth.actor, "read", "patients", patient.id)
    events = timeline_events(state, db, auth.actor, patient_id)
    treatments = [
        treatment_out(state, t)
        for t in store.list_treatments_given(db, auth.actor, patient_id, include_voided=True)
    ]
    charts = _charts(
        state, svc.outcome_series(state.kb, store.list_outcomes(db, auth.actor, patient_id))
    )
    return _render(
        request,
        state,
        auth,
        "patient.html",
        status_code=status_code,
        patient=patient,
        age=svc.age_at(patient.birth_date, dt.date.today()),
        events=events,
        treatments=treatments,
        responses=store.TREATMENT_RESPONSES,
        charts=charts,
        kb_treatments=sorted(state.kb.treatments.values(), key=lambda t: (t.stage, t.name)),
        today=dt.date.today().isoformat(),
        tx=treatment_values or {"given_on": dt.date.today().isoformat(), "response": "unknown"},
        errors=errors,
    )


@router.get("/patients/{patient_id}/edit", response_class=HTMLResponse)
def edit_patient_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, patient_id: int
) -> Response:
    auth.actor.require_write()
    patient = store.get_patient(db, auth.actor, patient_id)
    return _render(
        request,
        state,
        auth,
        "patient_form.html",
        patient=patient,
        values=svc.patient_dict(patient),
        conflict=None,
    )


@router.post("/patients/{patient_id}/edit", response_class=HTMLResponse)
def edit_patient(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, patient_id: int
) -> Response:
    values = _patient_form_values(form, edit=True)
    try:
        version = _int(form, "version")
        store.update_patient(db, auth.actor, patient_id, values, version)
    except store.ConflictError as exc:
        db.rollback()
        patient = store.get_patient(db, auth.actor, patient_id)
        return _render(
            request,
            state,
            auth,
            "patient_form.html",
            status_code=409,
            patient=patient,
            values=svc.patient_dict(patient),
            conflict={"current_version": exc.current_version or patient.version, "yours": values},
        )
    except InputValueError as exc:
        db.rollback()
        patient = store.get_patient(db, auth.actor, patient_id)
        return _render(
            request,
            state,
            auth,
            "patient_form.html",
            status_code=422,
            patient=patient,
            values={**values, "version": _str(form, "version")},
            errors=_errors(state, exc),
            conflict=None,
        )
    db.commit()
    return _see_other(f"/patients/{patient_id}")


# --------------------------------------------------------------------------- treatments


@router.post("/patients/{patient_id}/treatments")
def add_treatment(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, patient_id: int
) -> Response:
    data = {k: _str(form, k) for k in ("treatment_id", "given_on", "dose", "response", "weeks")}
    try:
        if data["treatment_id"] not in state.kb.treatments:
            raise InputValueError(
                "choose a treatment",
                [
                    Problem(
                        "treatment_id",
                        "a treatment from the list",
                        short_repr(data["treatment_id"]),
                    )
                ],
            )
        store.add_treatment_given(db, auth.actor, patient_id, data)
    except InputValueError as exc:
        db.rollback()
        return _patient_page(
            request,
            state,
            auth,
            db,
            patient_id,
            treatment_values=data,
            errors=_errors(state, exc),
            status_code=422,
        )
    db.commit()
    return _see_other(f"/patients/{patient_id}#treatments")


@router.post("/treatments/{record_id}/response")
def treatment_response(auth: CurrentAuth, db: DB, form: Form, record_id: int) -> Response:
    record = store.update_treatment_given(
        db, auth.actor, record_id, {"response": _str(form, "response")}, _int(form, "version")
    )
    db.commit()
    return _see_other(f"/patients/{record.patient_id}#treatment-{record.id}")


# --------------------------------------------------------------------------- visits


def _user_name(db: Any, user_id: int | None) -> str:
    user = None if user_id is None else db.get(store.User, user_id)
    return "" if user is None else str(user.display_name or user.username)


def _visit_form_page(
    request: Request,
    state: Any,
    db: Any,
    auth: Auth,
    patient: store.Patient,
    *,
    visit: store.Visit | None,
    values: dict[str, Any],
    errors: dict[str, Any] | None = None,
    warnings: list[dict[str, str]] | None = None,
    conflict: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The visit form (new or edit), re-rendered with the values typed and any problems."""
    conditions = [
        c for c in state.kb.conditions.values() if c.in_differential and c.role != "red_flag"
    ]
    sections = form_sections(state.kb)
    by_field = (errors or {}).get("by_field") or {}
    return _render(
        request,
        state,
        auth,
        "visit_form.html",
        status_code=status_code,
        visit=visit,
        values=values,
        errors=errors,
        warnings=warnings or [],
        conflict=conflict,
        patient=patient,
        sections=sections,
        summaries=section_summaries(sections, values, by_field),
        pretest_error=any(k.startswith("pretest_") for k in by_field),
        factors=CASE_FACTORS,
        settings=("community", "primary_care", "specialist"),
        conditions=conditions,
        today=dt.date.today().isoformat(),
        treatments=[
            treatment_out(state, t) for t in store.list_treatments_given(db, auth.actor, patient.id)
        ],
    )


def _visit_warnings(form: FormData, case: dict[str, Any]) -> list[dict[str, str]]:
    """Soft checks the clinician confirms with "Save anyway" (none once confirmed)."""
    if _str(form, "confirm"):
        return []
    if not case.get("findings") and not case.get("imaging"):
        return [
            {
                "field": "findings",
                "text": "No finding is recorded: the assessment would rest on the pre-test "
                "probabilities alone. Record what you found, or save anyway.",
            }
        ]
    return []


def _saved_values(visit: store.Visit) -> dict[str, Any]:
    return form_values_from_case(visit.case) | {
        "visit_date": visit.visit_date.isoformat(),
        "note": visit.note,
    }


@router.get("/patients/{patient_id}/visits/new", response_class=HTMLResponse)
def new_visit_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, patient_id: int
) -> Response:
    auth.actor.require_write()
    patient = store.get_patient(db, auth.actor, patient_id)
    values: dict[str, Any] = {
        "visit_date": dt.date.today().isoformat(),
        "setting": "primary_care",
        "side": "unknown",
        "mri_available": True,
        "factor_fit_for_surgery": True,
    }
    previous = store.list_visits(db, auth.actor, patient_id)
    if previous:  # carry the setting and side forward
        values["setting"] = previous[0].case.get("setting", "primary_care")
        values["side"] = previous[0].case.get("side", "unknown")
    return _visit_form_page(request, state, db, auth, patient, visit=None, values=values)


@router.post("/patients/{patient_id}/visits", response_class=HTMLResponse)
def create_visit(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, patient_id: int
) -> Response:
    patient = store.get_patient(db, auth.actor, patient_id)
    demographics = {
        "age_years": svc.age_at(patient.birth_date, dt.date.today()),
        "sex": patient.sex,
    }
    values = _form_dict(form)
    try:
        case, visit_date, note = case_from_form(state.kb, values, patient=demographics)
        warnings = _visit_warnings(form, case)
        if warnings:
            return _visit_form_page(
                request, state, db, auth, patient, visit=None, values=values, warnings=warnings
            )
        visit, _, _ = svc.create_visit_with_assessment(
            db, auth.actor, state.kb, patient_id, visit_date=visit_date, case=case, note=note
        )
    except InputValueError as exc:
        db.rollback()
        return _visit_form_page(
            request,
            state,
            db,
            auth,
            patient,
            visit=None,
            values=values,
            errors=_errors(state, exc),
            status_code=422,
        )
    db.commit()
    return _see_other(f"/visits/{visit.id}")


@router.post("/patients/{patient_id}/visits/preview", response_class=HTMLResponse)
def visit_preview(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, patient_id: int
) -> Response:
    """The live panel of the visit form: probabilities and the next best test as findings change.

    Nothing is stored; a form that cannot be read yet (e.g. no date) shows what it can.
    """
    patient = store.get_patient(db, auth.actor, patient_id)
    values = _form_dict(form)
    values["visit_date"] = values.get("visit_date") or dt.date.today().isoformat()
    when = dt.date.today()
    demographics = {"age_years": svc.age_at(patient.birth_date, when), "sex": patient.sex}
    result: dict[str, Any] | None = None
    problem = ""
    try:
        case, visit_date, _ = case_from_form(state.kb, values, patient=demographics)
        full = svc.build_case(db, auth.actor, patient, visit_date, case)
        _, result = svc.assess_case(state.kb, full)
    except InputValueError as exc:
        problem = state.wording.text(exc.message)
    condition_names = {c.id: c.name for c in state.kb.conditions.values()}
    return _render(
        request,
        state,
        auth,
        "_live.html",
        result=result,
        problem=problem,
        condition_names=condition_names,
    )


@router.get("/visits/{visit_id}", response_class=HTMLResponse)
def visit_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, visit_id: int
) -> Response:
    return _visit_page(request, state, auth, db, visit_id)


def _visit_page(
    request: Request,
    state: Any,
    auth: Auth,
    db: Any,
    visit_id: int,
    *,
    movement_values: dict[str, Any] | None = None,
    errors: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The visit page; a failed movement upload comes back with its choices and problems."""
    visit = store.get_visit(db, auth.actor, visit_id)
    patient = store.get_patient(db, auth.actor, visit.patient_id)
    assessments = store.list_assessments(db, auth.actor, visit_id)
    plan = store.latest_care_plan(db, auth.actor, visit_id)
    decision_aid = None
    if plan is not None:
        from markupsafe import Markup

        from glutemed.report import decision_aid_for, decision_aid_html

        rec_ids = [str(r.get("id")) for r in plan.generated.get("recommendations") or []]
        aid = decision_aid_for(state.kb, rec_ids)
        decision_aid = Markup(decision_aid_html(aid)) if aid is not None else None
    return _render(
        request,
        state,
        auth,
        "visit.html",
        status_code=status_code,
        decision_aid=decision_aid,
        visit=visit,
        patient=patient,
        assessment=assessments[0] if assessments else None,
        n_assessments=len(assessments),
        plan=plan,
        plan_unavailable=None
        if svc.feature_available("pathway")
        else "Care plans are not available in this installation (glutemed.pathway is missing).",
        movements=store.list_movements(db, auth.actor, visit_id, include_voided=True),
        voided_by=_user_name(db, visit.voided_by),
        motion_available=svc.feature_available("motion"),
        condition_names={c.id: c.name for c in state.kb.conditions.values()},
        treatment_names={t.id: t.name for t in state.kb.treatments.values()},
        kb_treatments=sorted(state.kb.treatments.values(), key=lambda t: (t.stage, t.name)),
        handout_links=handout_links(visit_id),
        **adherence_context(state.kb, db, auth.actor, visit),
        mv=movement_values or {"task": "walk"},
        errors=errors,
    )


@router.get("/visits/{visit_id}/edit", response_class=HTMLResponse)
def edit_visit_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, visit_id: int
) -> Response:
    auth.actor.require_write()
    visit = store.get_visit(db, auth.actor, visit_id)
    patient = store.get_patient(db, auth.actor, visit.patient_id)
    return _visit_form_page(
        request, state, db, auth, patient, visit=visit, values=_saved_values(visit)
    )


@router.post("/visits/{visit_id}/edit", response_class=HTMLResponse)
def edit_visit(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, visit_id: int
) -> Response:
    visit = store.get_visit(db, auth.actor, visit_id)
    patient = store.get_patient(db, auth.actor, visit.patient_id)
    demographics = {
        "age_years": svc.age_at(patient.birth_date, visit.visit_date),
        "sex": patient.sex,
    }
    values = _form_dict(form)
    try:
        case, visit_date, note = case_from_form(state.kb, values, patient=demographics)
        reason = _str(form, "reason")
        if not reason:  # a correction of a saved visit says why, in its history
            raise InputValueError(
                "say why the visit is corrected",
                [Problem("reason", "why the visit is corrected (kept in its history)", "nothing")],
            )
        warnings = _visit_warnings(form, case)
        if warnings:
            return _visit_form_page(
                request, state, db, auth, patient, visit=visit, values=values, warnings=warnings
            )
        # keep what the form does not show (treatments and outcomes are rebuilt from the records)
        svc.update_visit_case(
            db,
            auth.actor,
            state.kb,
            visit_id,
            expected_version=_int(form, "version"),
            visit_date=visit_date,
            case=case,
            note=note,
            reason=reason,
        )
    except store.ConflictError as exc:
        db.rollback()
        visit = store.get_visit(db, auth.actor, visit_id)
        return _visit_form_page(
            request,
            state,
            db,
            auth,
            patient,
            visit=visit,
            values=_saved_values(visit),
            conflict={"current_version": exc.current_version or visit.version},
            status_code=409,
        )
    except InputValueError as exc:
        db.rollback()
        return _visit_form_page(
            request,
            state,
            db,
            auth,
            patient,
            visit=visit,
            values=values,
            errors=_errors(state, exc),
            status_code=422,
        )
    db.commit()
    return _see_other(f"/visits/{visit_id}")


@router.post("/visits/{visit_id}/reassess")
def reassess(state: State, auth: CurrentAuth, db: DB, visit_id: int) -> Response:
    svc.reassess_visit(db, auth.actor, state.kb, visit_id)
    db.commit()
    return _see_other(f"/visits/{visit_id}")


@router.post("/visits/{visit_id}/plan")
def propose_plan(state: State, auth: CurrentAuth, db: DB, visit_id: int) -> Response:
    visit = store.get_visit(db, auth.actor, visit_id)
    record = store.latest_assessment(db, auth.actor, visit_id)
    if record is None:
        raise InputValueError("no assessment", [Problem("visit_id", "an assessed visit", "none")])
    parsed, _ = svc.assess_case(state.kb, visit.case)
    if svc.generate_plan(db, auth.actor, state.kb, visit, parsed, record) is None:
        raise svc.FeatureUnavailableError(
            "care plans are not available in this installation",
            [Problem("pathway", "glutemed.pathway.plan", "a missing module")],
        )
    db.commit()
    return _see_other(f"/visits/{visit_id}#care-plan")


@router.post("/care-plans/{plan_id}/decision")
def plan_decision(state: State, auth: CurrentAuth, db: DB, form: Form, plan_id: int) -> Response:
    status = _str(form, "status") or "accepted"
    added = [v for v in form.getlist("added") if isinstance(v, str) and v]
    unknown = [t for t in added if t not in state.kb.treatments]
    if unknown:
        raise InputValueError(
            "unknown treatment",
            [Problem("added", "treatments of the knowledge base", repr(unknown)[:60])],
        )
    decision = {
        "selected": [v for v in form.getlist("selected") if isinstance(v, str)],
        "added": added,
        "note": _str(form, "note"),
    }
    plan = store.decide_care_plan(
        db,
        auth.actor,
        plan_id,
        status=status,
        decision=decision,
        expected_version=_int(form, "version"),
    )
    db.commit()
    return _see_other(f"/visits/{plan.visit_id}#care-plan")


# --------------------------------------------------------------------------- outcomes


def _charts(state: Any, series: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for iid, item in series.items():
        inst = state.kb.instruments.get(iid)
        if inst is None:
            continue
        pts = [(dt.date.fromisoformat(d), v) for d, v in item["points"]]
        trajectory = item.get("trajectory")
        if trajectory and trajectory.get("threshold_source"):  # the band's tooltip: no keys
            trajectory = trajectory | {
                "threshold_source": state.wording.text(trajectory["threshold_source"])
            }
        out.append(
            {
                "instrument": iid,
                "svg": outcome_chart_svg(inst, pts, trajectory=trajectory),
                "change": item.get("change"),
                "trajectory": item.get("trajectory"),
            }
        )
    return out


def _last_notes(entries: list[Any]) -> dict[str, str]:
    """The latest note of each questionnaire (the PSFS activities carry over to the next entry)."""
    return {e.instrument: e.note for e in entries if e.note and not e.voided}


def _outcome_context(
    state: Any, instrument: str | None, last_notes: dict[str, str] | None = None
) -> dict[str, Any]:
    instruments = list(state.kb.instruments.values())
    selected = state.kb.instruments.get(instrument or "") or next(
        (i for i in instruments if i.id == "visa_g"), instruments[0]
    )
    return {
        "instruments": instruments,
        "selected": selected,
        "scoring_available": svc.feature_available("questionnaires"),
        "instrument_names": {i.id: i.name for i in instruments},
        "last_note": (last_notes or {}).get(selected.id, ""),
    }


def _outcomes_page(
    request: Request,
    state: Any,
    auth: Auth,
    db: Any,
    patient_id: int,
    *,
    instrument: str | None = None,
    errors: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    patient = store.get_patient(db, auth.actor, patient_id)
    entries = store.list_outcomes(db, auth.actor, patient_id, include_voided=True)
    charts = _charts(state, svc.outcome_series(state.kb, [e for e in entries if not e.voided]))
    return _render(
        request,
        state,
        auth,
        "outcomes.html",
        status_code=status_code,
        patient=patient,
        entries=entries,
        charts=charts,
        errors=errors,
        today=dt.date.today().isoformat(),
        visit_table=visit_rows(
            state.kb,
            store.list_visits(db, auth.actor, patient_id),
            [e for e in entries if not e.voided],
            store.list_adherence(db, auth.actor, patient_id),
        ),
        **_outcome_context(state, instrument, _last_notes(entries)),
    )


@router.get("/patients/{patient_id}/outcomes", response_class=HTMLResponse)
def outcomes_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, patient_id: int, instrument: str = ""
) -> Response:
    return _outcomes_page(request, state, auth, db, patient_id, instrument=instrument or None)


@router.get("/patients/{patient_id}/outcomes/fields", response_class=HTMLResponse)
def outcome_fields(
    request: Request, state: State, auth: CurrentAuth, db: DB, patient_id: int, instrument: str = ""
) -> Response:
    notes = _last_notes(store.list_outcomes(db, auth.actor, patient_id))
    return _render(
        request, state, auth, "_outcome_fields.html", **_outcome_context(state, instrument, notes)
    )


@router.post("/patients/{patient_id}/outcomes", response_class=HTMLResponse)
def add_outcome(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, patient_id: int
) -> Response:
    instrument = _str(form, "instrument")
    answers: dict[str, float] = {}
    problems: list[Problem] = []
    for key, value in form.multi_items():
        if key.startswith("item_") and isinstance(value, str) and value.strip():
            try:
                answers[key[5:]] = float(value)
            except ValueError:
                problems.append(Problem(key, "a number", repr(value)[:40]))
    total_text = _str(form, "total")
    total: float | None = None
    if total_text:
        try:
            total = float(total_text)
        except ValueError:
            problems.append(Problem("total", "a number", repr(total_text)[:40]))
    try:
        if problems:
            raise InputValueError(f"the questionnaire has {len(problems)} problem(s)", problems)
        svc.record_outcome(
            db,
            auth.actor,
            state.kb,
            patient_id,
            instrument=instrument,
            measured_on=_str(form, "measured_on") or dt.date.today().isoformat(),
            answers=answers or None,
            total=None if answers else total,
            note=_str(form, "note"),
        )
    except InputValueError as exc:
        db.rollback()
        return _outcomes_page(
            request,
            state,
            auth,
            db,
            patient_id,
            instrument=instrument,
            errors=_errors(state, exc),
            status_code=422,
        )
    db.commit()
    return _see_other(f"/patients/{patient_id}/outcomes?instrument={instrument}#charts")


# --------------------------------------------------------------------------- movement


@router.post("/visits/{visit_id}/movement", response_class=HTMLResponse)
def upload_movement(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, visit_id: int
) -> Response:
    values = {
        "task": _str(form, "task") or "walk",
        "sampling_rate_hz": _str(form, "sampling_rate_hz"),
    }
    try:
        record = _store_upload(state, auth, db, form, visit_id, values)
    except (InputValueError, DataFileError) as exc:
        db.rollback()
        status = 413 if isinstance(exc, svc.UploadTooLargeError) else 422
        return _visit_page(
            request,
            state,
            auth,
            db,
            visit_id,
            movement_values=values,
            errors=_errors(state, exc),
            status_code=status,
        )
    db.commit()
    return _see_other(f"/movement/{record.id}")


def _store_upload(
    state: Any, auth: Auth, db: Any, form: FormData, visit_id: int, values: dict[str, Any]
) -> Any:
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InputValueError("no file chosen", [Problem("file", "a movement file", "nothing")])
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    if size > state.settings.max_upload_bytes:
        raise svc.UploadTooLargeError(
            "the file is too large",
            [
                Problem(
                    "file",
                    f"at most {state.settings.max_upload_bytes // (1024 * 1024)} MB",
                    "a larger file",
                )
            ],
        )
    data = upload.file.read()
    rate_text = values["sampling_rate_hz"]
    try:
        rate = float(rate_text) if rate_text else None
    except ValueError:
        raise InputValueError(
            "invalid frame rate", [Problem("sampling_rate_hz", "a number", short_repr(rate_text))]
        ) from None
    return svc.store_movement(
        db,
        auth.actor,
        state.kb,
        visit_id,
        data=data,
        file_name=upload.filename or "upload",
        task=values["task"],
        sampling_rate_hz=rate,
    )


#: The video page runs the WebAssembly pose model and plays a local (blob:) video.
_VIDEO_PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' blob:; "
    "worker-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)


@router.get("/visits/{visit_id}/movement/video", response_class=HTMLResponse)
def movement_video_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, visit_id: int
) -> Response:
    """Pose estimation from a video in the clinician's browser; only landmarks are uploaded."""
    from glutemed.motion import settings_from_kb
    from glutemed.motion.video import filming_guidance, pose_assets_missing

    auth.actor.require_write()
    visit = store.get_visit(db, auth.actor, visit_id)
    response = _render(
        request,
        state,
        auth,
        "movement_video.html",
        visit=visit,
        assets_missing=pose_assets_missing() is not None,
        guidance=filming_guidance(settings_from_kb(state.kb)),
    )
    response.headers["Content-Security-Policy"] = _VIDEO_PAGE_CSP
    return response


@router.post("/movement/{movement_id}/still")
def upload_movement_still(
    state: State, auth: CurrentAuth, db: DB, form: Form, movement_id: int
) -> Response:
    image = form.get("image")
    if not isinstance(image, UploadFile):
        raise InputValueError("no still picture", [Problem("image", "a JPEG or PNG", "nothing")])
    data = image.file.read(svc.MAX_STILL_BYTES + 1)
    svc.store_movement_still(db, auth.actor, movement_id, data)
    db.commit()
    return _see_other(f"/movement/{movement_id}")


@router.get("/movement/{movement_id}/still.png")
def movement_still(auth: CurrentAuth, db: DB, movement_id: int) -> Response:
    m = store.get_movement(db, auth.actor, movement_id)
    if not m.still_png:
        raise InputValueError(
            "no still picture", [Problem("still", "a kept still picture", "none for this analysis")]
        )
    return Response(m.still_png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/movement/{movement_id}", response_class=HTMLResponse)
def movement_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, movement_id: int
) -> Response:
    m = store.get_movement(db, auth.actor, movement_id)
    names = {f.id: f.name for f in state.kb.findings.values()}
    return _render(
        request,
        state,
        auth,
        "movement.html",
        m=m,
        r=m.result,
        has_plot=bool(m.result.get("plots")),
        has_still=m.still_png is not None,
        finding_names=names,
        measure_names={k: v.name for k, v in state.kb.movement_measures.items()},
        units={"deg": "°", "steps_per_min": "steps/min", "m": "m", "s": "s", "hz": "Hz"},
    )


# --------------------------------------------------------------------------- corrections


def _void_target(state: Any, db: Any, auth: Auth, entity_type: str, entity_id: int) -> Any:
    """The record to void, how a clinician names it, and where to go back to."""
    if entity_type not in store.VOIDABLE_TYPES:
        raise NotFoundError(
            "no such kind of record",
            [Problem("entity_type", "a record that can be voided", short_repr(entity_type))],
        )
    actor = auth.actor
    if entity_type == "visits":
        v = store.get_visit(db, actor, entity_id)
        return v, f"Visit of {v.visit_date.isoformat()}", f"/patients/{v.patient_id}"
    if entity_type == "treatments_given":
        t = store.get_treatment_given(db, actor, entity_id)
        name = state.wording.name(t.treatment_id)
        return (
            t,
            f"{name}, started {t.given_on.isoformat()}",
            f"/patients/{t.patient_id}#treatments",
        )
    if entity_type == "outcomes":
        o = store.get_outcome(db, actor, entity_id)
        total = "" if o.total is None else f" {o.total:g}"
        label = f"{state.wording.name(o.instrument)}{total} on {o.measured_on.isoformat()}"
        return o, label, f"/patients/{o.patient_id}/outcomes"
    if entity_type == "adherence_records":
        a = store.get_adherence(db, actor, entity_id)
        prog = state.kb.programmes.get(a.programme_id)
        return a, f"Exercise adherence: {prog.name if prog else ''}", f"/visits/{a.visit_id}"
    m = store.get_movement(db, actor, entity_id)
    return (
        m,
        f"Movement analysis: {m.task.replace('_', ' ')}, {m.file_name}",
        f"/visits/{m.visit_id}",
    )


def _void_page(
    request: Request,
    state: Any,
    db: Any,
    auth: Auth,
    entity_type: str,
    entity_id: int,
    *,
    reason: str = "",
    errors: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    record, label, back = _void_target(state, db, auth, entity_type, entity_id)
    return _render(
        request,
        state,
        auth,
        "void.html",
        status_code=status_code,
        record=record,
        label=label,
        back=back,
        action=f"/records/{entity_type}/{entity_id}/void",
        history=f"/history/{entity_type}/{entity_id}",
        reason=reason,
        errors=errors,
    )


@router.get("/records/{entity_type}/{entity_id}/void", response_class=HTMLResponse)
def void_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, entity_type: str, entity_id: int
) -> Response:
    auth.actor.require_write()
    return _void_page(request, state, db, auth, entity_type, entity_id)


@router.post("/records/{entity_type}/{entity_id}/void", response_class=HTMLResponse)
def void_submit(
    request: Request,
    state: State,
    auth: CurrentAuth,
    db: DB,
    form: Form,
    entity_type: str,
    entity_id: int,
) -> Response:
    reason = _str(form, "reason")
    _, _, back = _void_target(state, db, auth, entity_type, entity_id)
    try:
        store.void_record(
            db,
            auth.actor,
            entity_type,
            entity_id,
            reason=reason,
            expected_version=_int(form, "version"),
        )
    except (InputValueError, store.ConflictError) as exc:
        db.rollback()
        status = 409 if isinstance(exc, store.ConflictError) else 422
        return _void_page(
            request,
            state,
            db,
            auth,
            entity_type,
            entity_id,
            reason=reason,
            errors=_errors(state, exc),
            status_code=status,
        )
    db.commit()
    return _see_other(back)


# --------------------------------------------------------------------------- reports, admin


@router.get("/visits/{visit_id}/report", response_class=HTMLResponse)
def report_page(state: State, auth: CurrentAuth, db: DB, visit_id: int, to: str = "gp") -> Response:
    return letter_response(
        state,
        db,
        auth.actor,
        visit_id,
        to,
        fmt="html",
        toolbar=[
            ("← Back to the visit", f"/visits/{visit_id}"),
            ("Download PDF", f"/api/v1/visits/{visit_id}/report.pdf?to={quote(to)}"),
        ],
        script_src=_PRINT_SCRIPT,
    )


def _handout_toolbar(visit_id: int) -> list[tuple[str, str]]:
    return [
        ("← Back to the visit", f"/visits/{visit_id}"),
        ("Download PDF", f"/visits/{visit_id}/handout.pdf"),
    ]


@router.get("/visits/{visit_id}/handout", response_class=HTMLResponse)
def handout_page(state: State, auth: CurrentAuth, db: DB, visit_id: int) -> Response:
    return handout_response(
        state,
        db,
        auth.actor,
        visit_id,
        fmt="html",
        toolbar=_handout_toolbar(visit_id),
        script_src=_PRINT_SCRIPT,
    )


@router.get("/visits/{visit_id}/handout.pdf")
def handout_pdf(state: State, auth: CurrentAuth, db: DB, visit_id: int) -> Response:
    return handout_response(state, db, auth.actor, visit_id, fmt="pdf")


@router.get("/history/{entity_type}/{entity_id}", response_class=HTMLResponse)
def history_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, entity_type: str, entity_id: int
) -> Response:
    events = store.history(db, auth.actor, entity_type, entity_id)
    users = {
        u.id: u.display_name or u.username
        for u in db.query(store.User).filter(store.User.clinic_id == auth.actor.clinic_id)
    }
    return _render(
        request,
        state,
        auth,
        "history.html",
        rows=[_history_row(state, e) for e in events],
        users=users,
        record=_RECORD_NAMES.get(entity_type, entity_type.replace("_", " ")),
        entity_id=entity_id,
    )


_RECORD_NAMES = {
    "patients": "Patient",
    "visits": "Visit",
    "assessments": "Assessment",
    "care_plans": "Care plan",
    "treatments_given": "Treatment",
    "outcomes": "Outcome",
    "movement_analyses": "Movement analysis",
    "adherence_records": "Exercise adherence",
}
_ACTIONS = {"create": "entered", "update": "corrected", "void": "voided", "decide": "decided"}
#: Bookkeeping columns a reader of the history does not need.
_HIDDEN_CHANGES = frozenset({"reason", "voided_by", "voided_at", "updated_by", "created_by"})


def _case_changes(state: Any, before: Any, after: Any) -> list[tuple[str, str, str]]:
    """A visit's case change as one line per finding, factor or setting that changed."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    out: list[tuple[str, str, str]] = []
    for group in ("findings", "imaging"):
        a, b = old.get(group) or {}, new.get(group) or {}
        for fid in sorted(set(a) | set(b)):
            if a.get(fid) != b.get(fid):
                out.append(
                    (
                        state.wording.name(fid),
                        state.wording.text(a.get(fid, "not recorded")),
                        state.wording.text(b.get(fid, "not recorded")),
                    )
                )
    for key in ("setting", "side", "mri_available", "mri_contraindicated"):
        if old.get(key) != new.get(key):
            out.append(
                (
                    state.wording.label(key),
                    state.wording.text(old.get(key)),
                    state.wording.text(new.get(key)),
                )
            )
    return out


def _history_row(state: Any, event: Any) -> dict[str, Any]:
    """One audited write in words: who, what, the reason, and each change as before -> after."""
    changes: list[tuple[str, str, str]] = []
    for key, value in (event.changes or {}).items():
        if key in _HIDDEN_CHANGES:
            continue
        pair = value if isinstance(value, list | tuple) and len(value) == 2 else (None, value)
        if key == "case":
            changes.extend(_case_changes(state, pair[0], pair[1]))
        elif isinstance(pair[1], dict | list) or isinstance(pair[0], dict | list):
            changes.append((state.wording.label(key), "", "changed"))
        else:
            changes.append(
                (state.wording.label(key), state.wording.text(pair[0]), state.wording.text(pair[1]))
            )
    reason = (event.changes or {}).get("reason")
    if isinstance(reason, list | tuple):
        reason = reason[-1]
    return {
        "at": event.at,
        "user_id": event.user_id,
        "action": _ACTIONS.get(event.action, state.wording.text(event.action)),
        "voided": event.action == "void",
        "version": event.entity_version,
        "reason": reason or "",
        "changes": changes,
    }


def _users_page(
    request: Request,
    state: Any,
    auth: Auth,
    db: Any,
    *,
    errors: dict[str, Any] | None = None,
    flash: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    users = store.users_of_clinic(db, auth.actor)
    clinic = db.get(store.Clinic, auth.actor.clinic_id)
    return _render(
        request,
        state,
        auth,
        "admin_users.html",
        status_code=status_code,
        users=users,
        clinic_name=clinic.name if clinic else "",
        roles=(("clinician", "clinician"), ("read_only", "read-only"), ("admin", "admin")),
        errors=errors,
        flash=flash,
        min_length=store.MIN_PASSWORD_LENGTH,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, state: State, auth: CurrentAuth, db: DB) -> Response:
    return _users_page(request, state, auth, db)


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(request: Request, state: State, auth: CurrentAuth, db: DB, form: Form) -> Response:
    try:
        store.add_user(
            db,
            auth.actor,
            username=_str(form, "username"),
            password=str(form.get("password") or ""),
            role=_str(form, "role") or "clinician",
            display_name=_str(form, "display_name"),
        )
    except (InputValueError, store.ConflictError) as exc:
        db.rollback()
        return _users_page(request, state, auth, db, errors=_errors(state, exc), status_code=422)
    db.commit()
    return _see_other("/admin/users")


# --------------------------------------------------------------------------- accounts


def _account_page(
    request: Request,
    state: Any,
    auth: Auth,
    *,
    errors: dict[str, Any] | None = None,
    flash: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return _render(
        request,
        state,
        auth,
        "account.html",
        status_code=status_code,
        errors=errors,
        flash=flash,
        min_length=store.MIN_PASSWORD_LENGTH,
    )


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, state: State, auth: CurrentAuth) -> Response:
    return _account_page(request, state, auth)


@router.post("/account/password", response_class=HTMLResponse)
def account_password(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form
) -> Response:
    new = str(form.get("new_password") or "")
    try:
        if new != str(form.get("confirm_password") or ""):
            raise InputValueError(
                "the two new passwords differ",
                [Problem("confirm_password", "the new password typed again", "a different one")],
            )
        store.change_own_password(
            db,
            auth.actor,
            current_password=str(form.get("current_password") or ""),
            new_password=new,
            keep_session_id=auth.session_id,
        )
    except InputValueError as exc:
        db.rollback()
        return _account_page(request, state, auth, errors=_errors(state, exc), status_code=422)
    db.commit()
    state.session_cache.forget_user(auth.actor.user_id, keep=auth.session_id)
    done = "Password changed. Your other sessions were signed out."
    return _account_page(request, state, auth, flash={"kind": "ok", "text": done})


@router.post("/account/sign-out-everywhere", response_class=HTMLResponse)
def account_sign_out_everywhere(
    request: Request, state: State, auth: CurrentAuth, db: DB
) -> Response:
    ended = store.end_user_sessions(db, auth.actor, keep_session_id=auth.session_id)
    db.commit()
    state.session_cache.forget_user(auth.actor.user_id, keep=auth.session_id)
    text = (
        f"Signed out on {ended} other device{'' if ended == 1 else 's'}; this one stays signed in."
    )
    return _account_page(request, state, auth, flash={"kind": "ok", "text": text})


@router.post("/admin/users/{user_id}/active", response_class=HTMLResponse)
def admin_user_active(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, user_id: int
) -> Response:
    active = _str(form, "active") == "1"
    try:
        store.update_account(db, auth.actor, user_id, active=active)
    except store.PermissionDeniedError as exc:
        db.rollback()
        return _users_page(request, state, auth, db, errors=_errors(state, exc), status_code=403)
    db.commit()
    state.session_cache.forget_user(user_id)
    return _see_other("/admin/users")


@router.post("/admin/users/{user_id}/edit", response_class=HTMLResponse)
def admin_user_edit(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, user_id: int
) -> Response:
    try:
        store.update_account(
            db,
            auth.actor,
            user_id,
            role=_str(form, "role") or None,
            display_name=_str(form, "display_name"),
        )
    except (InputValueError, store.PermissionDeniedError) as exc:
        db.rollback()
        return _users_page(request, state, auth, db, errors=_errors(state, exc), status_code=422)
    db.commit()
    state.session_cache.forget_user(user_id)
    return _see_other("/admin/users")


@router.post("/admin/users/{user_id}/password", response_class=HTMLResponse)
def admin_user_password(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, user_id: int
) -> Response:
    try:
        store.reset_password(db, auth.actor, user_id, str(form.get("new_password") or ""))
    except InputValueError as exc:
        db.rollback()
        return _users_page(request, state, auth, db, errors=_errors(state, exc), status_code=422)
    db.commit()
    state.session_cache.forget_user(user_id)
    done = {"kind": "ok", "text": "Password reset; the account's sessions were signed out."}
    return _users_page(request, state, auth, db, flash=done)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, before_id: int | None = None
) -> Response:
    events = store.audit_events(db, auth.actor, limit=200, before_id=before_id)
    users = {
        u.id: u.display_name or u.username
        for u in db.query(store.User).filter(store.User.clinic_id == auth.actor.clinic_id)
    }
    return _render(request, state, auth, "admin_audit.html", events=events, users=users)
