"""Server-rendered pages (Jinja2 + htmx), usable on a tablet.

Every form posts a ``csrf_token`` field and every htmx request sends the ``X-CSRF-Token``
header (set once on ``<body>``); the router-level :func:`csrf_protect` dependency refuses
state-changing requests without it. Handlers are plain functions (run in the thread pool);
form bodies are read by the async :func:`_form` dependency.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from glutemed import store
from glutemed.errors import GlutemedError, InputValueError, Problem
from glutemed.server import _services as svc
from glutemed.server._api import set_session_cookie, timeline_events, treatment_out
from glutemed.server._charts import outcome_chart_svg
from glutemed.server._deps import DB, Auth, CurrentAuth, State, csrf_protect, optional_auth
from glutemed.server._forms import (
    CASE_FACTORS,
    case_from_form,
    form_sections,
    form_values_from_case,
)
from glutemed.server._reports import handout_html, handout_links, report_data
from glutemed.server._security import (
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    login_csrf_token,
    new_token,
    session_id_for_token,
)

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


def _pct(p: Any) -> str:
    if p is None:
        return "—"
    return f"{float(p) * 100:.0f} %"


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


def _errors(exc: GlutemedError) -> dict[str, Any]:
    return {"message": exc.message, "problems": [p.as_dict() for p in exc.problems]}


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
            errors=_errors(exc),
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
    request: Request, state: State, auth: CurrentAuth, db: DB, q: str = ""
) -> Response:
    rows, more = store.search_patients(db, auth.actor, q[:200])
    return _render(request, state, auth, "patients.html", patients=rows, more=more, q=q)


@router.get("/patients/rows", response_class=HTMLResponse)
def patient_rows(
    request: Request, state: State, auth: CurrentAuth, db: DB, q: str = ""
) -> Response:
    rows, more = store.search_patients(db, auth.actor, q[:200])
    return _render(request, state, auth, "_patient_rows.html", patients=rows, more=more, q=q)


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
            errors=_errors(exc),
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
            errors=_errors(exc),
            conflict=None,
        )
    db.commit()
    return _see_other(f"/patients/{patient.id}")


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, patient_id: int
) -> Response:
    patient = store.get_patient(db, auth.actor, patient_id)
    events = timeline_events(state, db, auth.actor, patient_id)
    treatments = [
        treatment_out(state, t) for t in store.list_treatments_given(db, auth.actor, patient_id)
    ]
    charts = _charts(
        state, svc.outcome_series(state.kb, store.list_outcomes(db, auth.actor, patient_id))
    )
    return _render(
        request,
        state,
        auth,
        "patient.html",
        patient=patient,
        age=svc.age_at(patient.birth_date, dt.date.today()),
        events=events,
        treatments=treatments,
        responses=store.TREATMENT_RESPONSES,
        charts=charts,
        kb_treatments=sorted(state.kb.treatments.values(), key=lambda t: (t.stage, t.name)),
        today=dt.date.today().isoformat(),
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
            errors=_errors(exc),
            conflict=None,
        )
    db.commit()
    return _see_other(f"/patients/{patient_id}")


# --------------------------------------------------------------------------- treatments


@router.post("/patients/{patient_id}/treatments")
def add_treatment(state: State, auth: CurrentAuth, db: DB, form: Form, patient_id: int) -> Response:
    tid = _str(form, "treatment_id")
    if tid not in state.kb.treatments:
        raise InputValueError(
            "unknown treatment",
            [Problem("treatment_id", "a treatment of the knowledge base", repr(tid)[:60])],
        )
    data = {k: _str(form, k) for k in ("treatment_id", "given_on", "dose", "response", "weeks")}
    store.add_treatment_given(db, auth.actor, patient_id, data)
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


def _visit_form_context(state: Any, db: Any, auth: Auth, patient: store.Patient) -> dict[str, Any]:
    conditions = [
        c for c in state.kb.conditions.values() if c.in_differential and c.role != "red_flag"
    ]
    return {
        "patient": patient,
        "sections": form_sections(state.kb),
        "factors": CASE_FACTORS,
        "settings": ("community", "primary_care", "specialist"),
        "conditions": conditions,
        "treatments": [
            treatment_out(state, t) for t in store.list_treatments_given(db, auth.actor, patient.id)
        ],
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
    return _render(
        request,
        state,
        auth,
        "visit_form.html",
        visit=None,
        values=values,
        conflict=None,
        **_visit_form_context(state, db, auth, patient),
    )


@router.post("/patients/{patient_id}/visits", response_class=HTMLResponse)
def create_visit(
    request: Request, state: State, auth: CurrentAuth, db: DB, form: Form, patient_id: int
) -> Response:
    patient = store.get_patient(db, auth.actor, patient_id)
    demographics = {
        "age_years": svc.age_at(patient.birth_date, dt.date.today()),
        "sex": patient.sex,
    }
    try:
        case, visit_date, note = case_from_form(state.kb, _form_dict(form), patient=demographics)
        visit, _, _ = svc.create_visit_with_assessment(
            db, auth.actor, state.kb, patient_id, visit_date=visit_date, case=case, note=note
        )
    except InputValueError as exc:
        db.rollback()
        values = _form_dict(form)
        return _render(
            request,
            state,
            auth,
            "visit_form.html",
            status_code=422,
            visit=None,
            values=values,
            errors=_errors(exc),
            conflict=None,
            **_visit_form_context(state, db, auth, patient),
        )
    db.commit()
    return _see_other(f"/visits/{visit.id}")


@router.get("/visits/{visit_id}", response_class=HTMLResponse)
def visit_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, visit_id: int
) -> Response:
    visit = store.get_visit(db, auth.actor, visit_id)
    patient = store.get_patient(db, auth.actor, visit.patient_id)
    assessments = store.list_assessments(db, auth.actor, visit_id)
    plan = store.latest_care_plan(db, auth.actor, visit_id)
    return _render(
        request,
        state,
        auth,
        "visit.html",
        visit=visit,
        patient=patient,
        assessment=assessments[0] if assessments else None,
        n_assessments=len(assessments),
        plan=plan,
        plan_unavailable=None
        if svc.feature_available("pathway")
        else "Care plans are not available in this installation (glutemed.pathway is missing).",
        movements=store.list_movements(db, auth.actor, visit_id),
        motion_available=svc.feature_available("motion"),
        condition_names={c.id: c.name for c in state.kb.conditions.values()},
        treatment_names={t.id: t.name for t in state.kb.treatments.values()},
        kb_treatments=sorted(state.kb.treatments.values(), key=lambda t: (t.stage, t.name)),
        handout_links=handout_links(visit_id),
    )


@router.get("/visits/{visit_id}/edit", response_class=HTMLResponse)
def edit_visit_page(
    request: Request, state: State, auth: CurrentAuth, db: DB, visit_id: int
) -> Response:
    auth.actor.require_write()
    visit = store.get_visit(db, auth.actor, visit_id)
    patient = store.get_patient(db, auth.actor, visit.patient_id)
    values = form_values_from_case(visit.case) | {
        "visit_date": visit.visit_date.isoformat(),
        "note": visit.note,
    }
    return _render(
        request,
        state,
        auth,
        "visit_form.html",
        visit=visit,
        values=values,
        conflict=None,
        **_visit_form_context(state, db, auth, patient),
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
    try:
        case, visit_date, note = case_from_form(state.kb, _form_dict(form), patient=demographics)
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
        )
    except store.ConflictError as exc:
        db.rollback()
        visit = store.get_visit(db, auth.actor, visit_id)
        values = form_values_from_case(visit.case) | {
            "visit_date": visit.visit_date.isoformat(),
            "note": visit.note,
        }
        return _render(
            request,
            state,
            auth,
            "visit_form.html",
            status_code=409,
            visit=visit,
            values=values,
            conflict={"current_version": exc.current_version or visit.version},
            **_visit_form_context(state, db, auth, patient),
        )
    except InputValueError as exc:
        db.rollback()
        return _render(
            request,
            state,
            auth,
            "visit_form.html",
            status_code=422,
            visit=visit,
            values=_form_dict(form),
            errors=_errors(exc),
            conflict=None,
            **_visit_form_context(state, db, auth, patient),
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
        out.append(
            {
                "instrument": iid,
                "svg": outcome_chart_svg(inst, pts, trajectory=item.get("trajectory")),
                "change": item.get("change"),
                "trajectory": item.get("trajectory"),
            }
        )
    return out


def _outcome_context(state: Any, instrument: str | None) -> dict[str, Any]:
    instruments = list(state.kb.instruments.values())
    selected = state.kb.instruments.get(instrument or "") or next(
        (i for i in instruments if i.id == "visa_g"), instruments[0]
    )
    return {
        "instruments": instruments,
        "selected": selected,
        "scoring_available": svc.feature_available("questionnaires"),
        "instrument_names": {i.id: i.name for i in instruments},
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
    entries = store.list_outcomes(db, auth.actor, patient_id)
    charts = _charts(state, svc.outcome_series(state.kb, entries))
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
        **_outcome_context(state, instrument),
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
    store.get_patient(db, auth.actor, patient_id)
    return _render(
        request, state, auth, "_outcome_fields.html", **_outcome_context(state, instrument)
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
            errors=_errors(exc),
            status_code=422,
        )
    db.commit()
    return _see_other(f"/patients/{patient_id}/outcomes?instrument={instrument}#charts")


# --------------------------------------------------------------------------- movement


@router.post("/visits/{visit_id}/movement")
def upload_movement(state: State, auth: CurrentAuth, db: DB, form: Form, visit_id: int) -> Response:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InputValueError("no file", [Problem("file", "a movement file", "nothing")])
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    if size > state.settings.max_upload_bytes:
        raise svc.UploadTooLargeError(
            "file too large",
            [
                Problem(
                    "file",
                    f"at most {state.settings.max_upload_bytes // (1024 * 1024)} MB",
                    "a larger file",
                )
            ],
        )
    data = upload.file.read()
    rate_text = _str(form, "sampling_rate_hz")
    try:
        rate = float(rate_text) if rate_text else None
    except ValueError:
        raise InputValueError(
            "invalid frame rate", [Problem("sampling_rate_hz", "a number", repr(rate_text)[:40])]
        ) from None
    record = svc.store_movement(
        db,
        auth.actor,
        state.kb,
        visit_id,
        data=data,
        file_name=upload.filename or "upload",
        task=_str(form, "task") or "walk",
        sampling_rate_hz=rate,
    )
    db.commit()
    return _see_other(f"/movement/{record.id}")


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
        request, state, auth, "movement_video.html", visit=visit,
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


# --------------------------------------------------------------------------- reports, admin


@router.get("/visits/{visit_id}/report", response_class=HTMLResponse)
def report_page(state: State, auth: CurrentAuth, db: DB, visit_id: int, to: str = "gp") -> Response:
    from glutemed.report import clinician_report_html

    html = clinician_report_html(report_data(state, db, auth.actor, visit_id), letter_to=to)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/visits/{visit_id}/handout", response_class=HTMLResponse)
def handout_page(state: State, auth: CurrentAuth, db: DB, visit_id: int) -> Response:
    html = handout_html(state, db, auth.actor, visit_id)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/visits/{visit_id}/handout.pdf")
def handout_pdf(state: State, auth: CurrentAuth, db: DB, visit_id: int) -> Response:
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf = HTML(string=handout_html(state, db, auth.actor, visit_id)).write_pdf()
    return Response(
        bytes(pdf or b""),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="handout-visit-{visit_id}.pdf"',
            "Cache-Control": "no-store",
        },
    )


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
        events=events,
        users=users,
        entity_type=entity_type,
        entity_id=entity_id,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, state: State, auth: CurrentAuth, db: DB) -> Response:
    users = store.users_of_clinic(db, auth.actor)
    clinic = db.get(store.Clinic, auth.actor.clinic_id)
    return _render(
        request,
        state,
        auth,
        "admin_users.html",
        users=users,
        clinic_name=clinic.name if clinic else "",
    )


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
        users = store.users_of_clinic(db, auth.actor)
        return _render(
            request,
            state,
            auth,
            "admin_users.html",
            status_code=422,
            users=users,
            clinic_name="",
            errors=_errors(exc),
        )
    db.commit()
    return _see_other("/admin/users")


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
