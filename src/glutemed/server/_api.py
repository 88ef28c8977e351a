"""The JSON API (``/api/v1``), documented by the app's OpenAPI schema (``/api/v1/openapi.json``).

Authentication: ``POST /api/v1/auth/login`` with ``{"username", "password"}`` sets the HttpOnly
session cookie and returns the session's ``csrf_token``; every state-changing request (POST, PUT,
PATCH, DELETE) must send it in the ``X-CSRF-Token`` header. Edits send the ``version`` they read;
a different stored version answers ``409 Conflict`` with ``current_version``. Errors are
``application/problem+json`` whose ``problems`` name each field at fault.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from glutemed import store
from glutemed.errors import InputValueError, Problem
from glutemed.reasoning import Case, percent
from glutemed.server import _services as svc
from glutemed.server._charts import outcome_chart_svg
from glutemed.server._deps import DB, CurrentAuth, PerLoop, State, csrf_protect
from glutemed.server._forms import form_sections
from glutemed.server._security import (
    SESSION_COOKIE,
    csrf_token_for_session,
    new_token,
    session_id_for_token,
)

__all__ = ["router", "set_session_cookie"]

router = APIRouter(prefix="/api/v1", dependencies=[Depends(csrf_protect)])


# --------------------------------------------------------------------------- models


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(max_length=80)
    password: str = Field(max_length=1024)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Literal["admin", "clinician", "read_only"]
    clinic_id: int
    clinic_name: str = ""


class MeOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(
        description="Send in the X-CSRF-Token header of state-changing requests."
    )


class UserIn(_In):
    username: str
    password: str
    role: Literal["admin", "clinician", "read_only"] = "clinician"
    display_name: str = ""


class PasswordChangeIn(_In):
    current_password: str = Field(max_length=1000)
    new_password: str = Field(max_length=1000)


class PasswordResetIn(_In):
    new_password: str = Field(max_length=1000)


class UserPatch(_In):
    role: Literal["admin", "clinician", "read_only"] | None = None
    display_name: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class SignedOutOut(BaseModel):
    sessions_ended: int


class PatientIn(_In):
    family_name: str = Field(min_length=1, max_length=120)
    given_name: str = Field(default="", max_length=120)
    identifier: str | None = Field(
        default=None, max_length=64, description="The clinic's record number."
    )
    birth_date: dt.date | None = None
    sex: Literal["female", "male", "other", "unknown"] = "unknown"
    notes: str = Field(default="", max_length=4000)


class PatientPatch(_In):
    version: int = Field(description="The version you read; 409 if it changed since.")
    family_name: str | None = Field(default=None, min_length=1, max_length=120)
    given_name: str | None = Field(default=None, max_length=120)
    identifier: str | None = Field(default=None, max_length=64)
    birth_date: dt.date | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None
    notes: str | None = Field(default=None, max_length=4000)
    archived: bool | None = None


class PatientOut(BaseModel):
    id: int
    identifier: str | None
    given_name: str
    family_name: str
    birth_date: dt.date | None
    sex: str
    notes: str
    archived: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PatientList(BaseModel):
    items: list[PatientOut]
    more: bool
    limit: int
    offset: int


class VisitIn(_In):
    visit_date: dt.date = Field(default_factory=dt.date.today)
    case: Case = Field(
        description="Findings, imaging, setting, side, factors, pretest. Age and sex come from the "
        "patient's record; treatments tried and outcomes from the recorded ones."
    )
    note: str = Field(default="", max_length=8000)
    plan: bool = Field(default=True, description="Also propose a care plan.")


class VisitPatch(_In):
    version: int
    visit_date: dt.date | None = None
    case: Case | None = None
    note: str | None = Field(default=None, max_length=8000)
    reason: str = Field(
        default="", max_length=2000, description="Why the visit is corrected (kept in its history)."
    )


class Versions(BaseModel):
    engine: str
    kb: str
    kb_manifest_sha256: str


class VisitOut(BaseModel):
    id: int
    patient_id: int
    visit_date: dt.date
    case: dict[str, Any]
    note: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class AssessmentOut(BaseModel):
    id: int
    visit_id: int
    created_at: dt.datetime
    versions: Versions
    result: dict[str, Any] = Field(description="glutemed.reasoning Assessment.to_dict()")


class CarePlanOut(BaseModel):
    id: int
    visit_id: int
    assessment_id: int | None
    status: Literal["proposed", "accepted", "modified"]
    generated: dict[str, Any] = Field(description="glutemed.pathway CarePlan.to_dict()")
    decision: dict[str, Any]
    version: int
    versions: Versions
    updated_at: dt.datetime


class MovementOut(BaseModel):
    id: int
    visit_id: int
    task: str
    file_name: str
    file_sha256: str
    has_plot: bool
    result: dict[str, Any] = Field(description="glutemed.motion MotionResult.to_dict()")
    versions: Versions
    created_at: dt.datetime


class VisitDetail(BaseModel):
    visit: VisitOut
    assessment: AssessmentOut | None
    care_plan: CarePlanOut | None
    care_plan_unavailable: str | None = None
    movements: list[MovementOut] = []


class DecisionIn(_In):
    version: int
    status: Literal["accepted", "modified"]
    selected: list[str] = Field(
        default_factory=list, description="Recommendation ids kept (modified plans)."
    )
    added: list[str] = Field(
        default_factory=list, description="Treatment ids added by the clinician."
    )
    note: str = Field(default="", max_length=4000)


class TreatmentIn(_In):
    treatment_id: str
    given_on: dt.date
    weeks: float | None = Field(default=None, ge=0, le=520)
    dose: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=4000)
    response: Literal["none", "partial", "good", "worse", "unknown"] = "unknown"
    visit_id: int | None = None


class TreatmentPatch(_In):
    version: int
    given_on: dt.date | None = None
    weeks: float | None = Field(default=None, ge=0, le=520)
    dose: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=4000)
    response: Literal["none", "partial", "good", "worse", "unknown"] | None = None


class TreatmentOut(BaseModel):
    id: int
    patient_id: int
    visit_id: int | None
    treatment_id: str
    treatment_name: str
    given_on: dt.date
    weeks: float | None
    dose: str
    note: str
    response: str
    version: int
    void_reason: str | None = Field(
        default=None, description="Why the record was voided (None: in use)."
    )


class VoidIn(_In):
    reason: str = Field(min_length=1, max_length=2000, description="Why the record is void.")
    version: int | None = Field(
        default=None, description="The version read (required for records that have one)."
    )


class VoidOut(BaseModel):
    entity_type: str
    entity_id: int
    voided_at: dt.datetime
    void_reason: str


class OutcomeIn(_In):
    instrument: str
    measured_on: dt.date = Field(default_factory=dt.date.today)
    answers: dict[str, float | int | None] | None = Field(
        default=None, description="Item id -> answer; scored with glutemed.questionnaires."
    )
    total: float | None = Field(
        default=None, description="A total scored elsewhere (checked against the range)."
    )
    visit_id: int | None = None
    note: str = Field(
        default="", max_length=2000, description="e.g. the activities named on the PSFS"
    )


class OutcomePatch(_In):
    version: int
    measured_on: dt.date | None = None
    answers: dict[str, float | int | None] | None = None
    total: float | None = None


class OutcomeOut(BaseModel):
    id: int
    patient_id: int
    visit_id: int | None
    instrument: str
    measured_on: dt.date
    total: float | None
    answers: dict[str, Any] | None
    score: dict[str, Any]
    version: int
    versions: Versions
    note: str = ""
    void_reason: str | None = None


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    user_id: int | None
    action: str
    entity_type: str
    entity_id: int | None
    entity_version: int | None
    changes: dict[str, Any]


class TimelineEvent(BaseModel):
    date: dt.date
    kind: Literal["visit", "treatment", "outcome", "movement", "adherence"]
    id: int
    summary: str
    link: str
    void_reason: str | None = Field(
        default=None, description="Why the record was voided (None: in use)."
    )


class Timeline(BaseModel):
    patient: PatientOut
    events: list[TimelineEvent]


# --------------------------------------------------------------------------- serialisers


def _versions(rec: Any) -> dict[str, str]:
    return {
        "engine": rec.engine_version,
        "kb": rec.kb_version,
        "kb_manifest_sha256": rec.kb_manifest_sha256,
    }


def patient_out(p: store.Patient) -> PatientOut:
    return PatientOut.model_validate(p, from_attributes=True)


def visit_out(v: store.Visit) -> VisitOut:
    return VisitOut.model_validate(v, from_attributes=True)


def assessment_out(a: store.AssessmentRecord) -> AssessmentOut:
    return AssessmentOut(
        id=a.id,
        visit_id=a.visit_id,
        created_at=a.created_at,
        versions=Versions(**_versions(a)),
        result=a.result,
    )


def plan_out(c: store.CarePlanRecord) -> CarePlanOut:
    return CarePlanOut(
        id=c.id,
        visit_id=c.visit_id,
        assessment_id=c.assessment_id,
        status=c.status,
        generated=c.generated,
        decision=c.decision,
        version=c.version,
        versions=Versions(**_versions(c)),
        updated_at=c.updated_at,
    )


def movement_out(m: store.MovementAnalysis) -> MovementOut:
    return MovementOut(
        id=m.id,
        visit_id=m.visit_id,
        task=m.task,
        file_name=m.file_name,
        file_sha256=m.file_sha256,
        has_plot=bool(m.result.get("plots")),
        result=m.result,
        versions=Versions(**_versions(m)),
        created_at=m.created_at,
    )


def treatment_out(state: Any, t: store.TreatmentGiven) -> TreatmentOut:
    tx = state.kb.treatments.get(t.treatment_id)
    return TreatmentOut(
        id=t.id,
        patient_id=t.patient_id,
        visit_id=t.visit_id,
        treatment_id=t.treatment_id,
        treatment_name=tx.name if tx else t.treatment_id,
        given_on=t.given_on,
        weeks=t.weeks,
        dose=t.dose,
        note=t.note,
        response=t.response,
        version=t.version,
        void_reason=t.void_reason if t.voided else None,
    )


def outcome_out(o: store.OutcomeEntry) -> OutcomeOut:
    return OutcomeOut(
        id=o.id,
        patient_id=o.patient_id,
        visit_id=o.visit_id,
        instrument=o.instrument,
        measured_on=o.measured_on,
        total=o.total,
        answers=o.answers,
        score=o.score,
        version=o.version,
        versions=Versions(**_versions(o)),
        note=o.note,
        void_reason=o.void_reason if o.voided else None,
    )


def audit_out(e: store.AuditEvent) -> AuditOut:
    return AuditOut(
        id=e.id,
        at=e.at,
        user_id=e.user_id,
        action=e.action,
        entity_type=e.entity_type,
        entity_id=e.entity_id,
        entity_version=e.entity_version,
        changes=e.changes,
    )


def set_session_cookie(response: Response, state: Any, token: str) -> None:
    """Set the HttpOnly, SameSite session cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=state.settings.session_ttl_s,
        httponly=True,
        samesite="lax",
        secure=state.settings.cookie_secure,
        path="/",
    )


def _check_treatment_id(state: Any, treatment_id: str) -> None:
    if treatment_id not in state.kb.treatments:
        from glutemed._checks import closest

        near = closest(treatment_id, state.kb.treatments)
        raise InputValueError(
            "unknown treatment",
            [
                Problem(
                    "treatment_id",
                    "a treatment id of the knowledge base",
                    repr(treatment_id)[:60],
                    f"did you mean {', '.join(near)}?" if near else "",
                )
            ],
        )


def _check_json(request: Request) -> None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise InputValueError(
            "login needs a JSON body",
            [
                Problem(
                    "content-type",
                    "application/json",
                    repr(request.headers.get("content-type"))[:60],
                )
            ],
        )


# --------------------------------------------------------------------------- auth


@router.post(
    "/auth/login", response_model=MeOut, tags=["auth"], summary="Log in (sets the session cookie)"
)
def login(body: LoginIn, request: Request, response: Response, state: State, db: DB) -> MeOut:
    _check_json(request)
    try:
        actor = store.authenticate(
            db,
            body.username,
            body.password,
            max_failures=state.settings.login_max_failures,
            window_s=state.settings.login_window_s,
            client=request.client.host if request.client else None,
        )
    except (store.AuthenticationError, store.ThrottledError):
        db.commit()  # keep the failure record
        raise
    token = new_token()
    session_id = session_id_for_token(state.settings.secret_key, token)
    store.start_session(db, actor, session_id, state.settings.session_ttl_s)
    db.commit()
    set_session_cookie(response, state, token)
    return MeOut(
        user=UserOut(
            id=actor.user_id,
            username=actor.username,
            display_name=actor.display_name,
            role=actor.role,
            clinic_id=actor.clinic_id,
        ),
        csrf_token=csrf_token_for_session(state.settings.secret_key, session_id),
    )


@router.post("/auth/logout", status_code=204, tags=["auth"], summary="Log out (ends the session)")
def logout(auth: CurrentAuth, state: State, db: DB) -> Response:
    store.end_session(db, auth.session_id)
    db.commit()
    state.session_cache.forget(auth.session_id)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut, tags=["auth"], summary="The logged-in user and CSRF token")
def me(auth: CurrentAuth) -> MeOut:
    a = auth.actor
    return MeOut(
        user=UserOut(
            id=a.user_id,
            username=a.username,
            display_name=a.display_name,
            role=a.role,
            clinic_id=a.clinic_id,
        ),
        csrf_token=auth.csrf_token,
    )


@router.get(
    "/users", response_model=list[UserOut], tags=["admin"], summary="Accounts of your clinic"
)
def users(auth: CurrentAuth, db: DB) -> list[UserOut]:
    return [
        UserOut.model_validate(u, from_attributes=True)
        for u in store.users_of_clinic(db, auth.actor)
    ]


@router.post(
    "/users", response_model=UserOut, status_code=201, tags=["admin"], summary="Create an account"
)
def create_user(body: UserIn, auth: CurrentAuth, db: DB) -> UserOut:
    info = store.add_user(
        db,
        auth.actor,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
    )
    db.commit()
    return UserOut.model_validate(info, from_attributes=True)


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    tags=["admin"],
    summary="Change an account's role, name or active flag (deactivating ends its sessions)",
)
def update_user(user_id: int, body: UserPatch, state: State, auth: CurrentAuth, db: DB) -> UserOut:
    info = store.update_account(
        db,
        auth.actor,
        user_id,
        role=body.role,
        display_name=body.display_name,
        active=body.active,
    )
    db.commit()
    state.session_cache.forget_user(user_id)
    return UserOut.model_validate(info, from_attributes=True)


@router.post(
    "/users/{user_id}/password",
    status_code=204,
    tags=["admin"],
    summary="Reset an account's password (its sessions end)",
)
def reset_user_password(
    user_id: int, body: PasswordResetIn, state: State, auth: CurrentAuth, db: DB
) -> Response:
    store.reset_password(db, auth.actor, user_id, body.new_password)
    db.commit()
    state.session_cache.forget_user(user_id)
    return Response(status_code=204)


@router.post(
    "/auth/password",
    status_code=204,
    tags=["auth"],
    summary="Change your own password (your other sessions end)",
)
def change_password(body: PasswordChangeIn, state: State, auth: CurrentAuth, db: DB) -> Response:
    store.change_own_password(
        db,
        auth.actor,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session_id=auth.session_id,
    )
    db.commit()
    state.session_cache.forget_user(auth.actor.user_id, keep=auth.session_id)
    return Response(status_code=204)


@router.post(
    "/auth/sign-out-everywhere",
    response_model=SignedOutOut,
    tags=["auth"],
    summary="End every other login session of your account",
)
def sign_out_everywhere(state: State, auth: CurrentAuth, db: DB) -> SignedOutOut:
    ended = store.end_user_sessions(db, auth.actor, keep_session_id=auth.session_id)
    db.commit()
    state.session_cache.forget_user(auth.actor.user_id, keep=auth.session_id)
    return SignedOutOut(sessions_ended=ended)


@router.get(
    "/audit", response_model=list[AuditOut], tags=["admin"], summary="The clinic's audit log"
)
def audit(
    auth: CurrentAuth,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: int | None = None,
) -> list[AuditOut]:
    return [
        audit_out(e) for e in store.audit_events(db, auth.actor, limit=limit, before_id=before_id)
    ]


# --------------------------------------------------------------------------- knowledge base


@router.get("/kb/versions", response_model=Versions, tags=["knowledge base"])
def kb_versions(state: State, auth: CurrentAuth) -> Versions:
    return Versions(**state.kb.versions())


@router.get(
    "/kb/forms", tags=["knowledge base"], summary="The visit form generated from the knowledge base"
)
def kb_forms(state: State, auth: CurrentAuth) -> dict[str, Any]:
    sections = form_sections(state.kb)
    return {
        "versions": state.kb.versions(),
        "sections": [
            {
                "id": s.id,
                "title": s.title,
                "help": s.help,
                "fields": [
                    {
                        "id": f.id,
                        "name": f.name,
                        "kind": f.kind,
                        "section": "imaging" if f.kind == "imaging" else "findings",
                        "choices": list(f.choices),
                        "description": f.description,
                        "how_to_perform": f.how_to_perform,
                        "positive_if": f.positive_if,
                        "red_flag": f.red_flag,
                        "informs": list(f.informs),
                    }
                    for f in s.fields
                ],
            }
            for s in sections
        ],
    }


@router.post(
    "/assess",
    tags=["assessment"],
    summary="Assess a case without storing it",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "Assessment.to_dict()"}},
)
async def assess_case(case: Case, state: State, auth: CurrentAuth) -> Response:
    """Run the diagnosis engine on a case (nothing is stored). Returns ``Assessment.to_dict()``.

    A case assessed before with the same knowledge base is answered from the result cache on the
    event loop; a new case runs in the worker thread pool.
    """
    # the body is parsed once, into ``case``, by FastAPI; the cache key is its JSON form
    key = svc.assessment_cache_key(state.kb, case)
    body = svc.cached_assessment(key)
    if body is None:
        body = await _ENGINE_RUNS.run(key, svc.assess_parsed_case_json, state.kb, case, key)
    return Response(body, media_type="application/json")


class _SharedRuns:
    """Concurrent requests for one uncached case share one engine run (in one worker process).

    Without it, clients that send the same new case at once (a page reloaded by several users,
    a burst after a restart) would each run the engine for it in the thread pool. The first
    request runs it; the others wait for its result (or its error).
    """

    def __init__(self) -> None:
        self._runs: dict[str, asyncio.Future[bytes]] = {}
        self._turns: PerLoop[asyncio.Lock] = PerLoop(asyncio.Lock)

    async def _in_thread(self, fn: Callable[..., bytes], *args: Any) -> bytes:
        """Run one engine call in the thread pool, one at a time in this worker process.

        The engine is CPU-bound and holds the GIL for most of a case, and the worker processes
        are the parallelism: engine runs side by side in one process only take turns on the GIL,
        so every one of them finishes late. In turn (first come, first served), at 50 clients
        on 2 cores, the 99th percentile of distinct assessments fell from about 2.0-2.3 s to
        1.2 s and the server CPU per assessment by about 10 % (benchmarks/app_benchmark.py).
        """
        from starlette.concurrency import run_in_threadpool

        async with self._turns.get():
            return await run_in_threadpool(fn, *args)

    async def run(self, key: str, fn: Callable[..., bytes], *args: Any) -> bytes:
        running = self._runs.get(key)
        if running is not None:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():  # this request itself was cancelled
                    raise
                return await self._in_thread(fn, *args)  # the first request went away
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._runs[key] = future
        try:
            body = await self._in_thread(fn, *args)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters, if any, raise it themselves
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(body)
            return body
        finally:
            del self._runs[key]


_ENGINE_RUNS = _SharedRuns()


# --------------------------------------------------------------------------- patients


@router.get(
    "/patients", response_model=PatientList, tags=["patients"], summary="List or search patients"
)
def patients(
    auth: CurrentAuth,
    db: DB,
    q: Annotated[
        str, Query(max_length=200, description="Name parts, record number or birth date")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    archived: bool = False,
) -> PatientList:
    rows, more = store.search_patients(
        db, auth.actor, q, limit=limit, offset=offset, include_archived=archived
    )
    return PatientList(items=[patient_out(p) for p in rows], more=more, limit=limit, offset=offset)


@router.post("/patients", response_model=PatientOut, status_code=201, tags=["patients"])
def create_patient(body: PatientIn, response: Response, auth: CurrentAuth, db: DB) -> PatientOut:
    p = store.create_patient(db, auth.actor, body.model_dump())
    db.commit()
    response.headers["Location"] = f"/api/v1/patients/{p.id}"
    response.headers["ETag"] = f'"{p.version}"'
    return patient_out(p)


@router.get("/patients/{patient_id}", response_model=PatientOut, tags=["patients"])
def get_patient(patient_id: int, response: Response, auth: CurrentAuth, db: DB) -> PatientOut:
    p = store.get_patient(db, auth.actor, patient_id)
    out = patient_out(p)
    svc.audit_access(db, auth.actor, "read", "patients", p.id)
    response.headers["ETag"] = f'"{out.version}"'
    return out


@router.patch("/patients/{patient_id}", response_model=PatientOut, tags=["patients"])
def patch_patient(patient_id: int, body: PatientPatch, auth: CurrentAuth, db: DB) -> PatientOut:
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version")
    p = store.update_patient(db, auth.actor, patient_id, changes, version)
    db.commit()
    return patient_out(p)


@router.get("/patients/{patient_id}/history", response_model=list[AuditOut], tags=["patients"])
def patient_history(patient_id: int, auth: CurrentAuth, db: DB) -> list[AuditOut]:
    return [audit_out(e) for e in store.history(db, auth.actor, "patients", patient_id)]


def timeline_events(
    state: Any, db: Any, actor: store.Actor, patient_id: int
) -> list[TimelineEvent]:
    """Return a patient's visits, treatments, outcomes and movement analyses, newest first."""
    events: list[TimelineEvent] = []

    def voided(record: Any) -> str | None:
        return str(record.void_reason) if record.voided_at is not None else None

    visits = {v.id: v for v in store.list_visits(db, actor, patient_id, include_voided=True)}
    for v in visits.values():
        a = store.latest_assessment(db, actor, v.id)
        summary = "visit"
        if a is not None:
            res = a.result
            if res.get("red_flags"):
                summary = "RED FLAG: " + ", ".join(f["name"] for f in res["red_flags"])
            elif res.get("conditions"):
                top = res["conditions"][0]
                summary = f"{top['name']} {percent(top['probability'])}"
        events.append(
            TimelineEvent(
                date=v.visit_date,
                kind="visit",
                id=v.id,
                summary=summary,
                link=f"/visits/{v.id}",
                void_reason=voided(v),
            )
        )
        for m in store.list_movements(db, actor, v.id, include_voided=True):
            events.append(
                TimelineEvent(
                    date=v.visit_date,
                    kind="movement",
                    id=m.id,
                    summary=f"movement: {m.task}",
                    link=f"/movement/{m.id}",
                    void_reason=voided(m) or voided(v),
                )
            )
    for t in store.list_treatments_given(db, actor, patient_id, include_voided=True):
        tx = state.kb.treatments.get(t.treatment_id)
        events.append(
            TimelineEvent(
                date=t.given_on,
                kind="treatment",
                id=t.id,
                summary=f"{tx.name if tx else t.treatment_id} (response: {t.response})",
                link=f"/patients/{patient_id}#treatment-{t.id}",
                void_reason=voided(t),
            )
        )
    for o in store.list_outcomes(db, actor, patient_id, include_voided=True):
        inst = state.kb.instruments.get(o.instrument)
        total = "subscales only" if o.total is None else f"{o.total:g}"
        events.append(
            TimelineEvent(
                date=o.measured_on,
                kind="outcome",
                id=o.id,
                summary=f"{inst.name if inst else o.instrument}: {total}",
                link=f"/patients/{patient_id}/outcomes",
                void_reason=voided(o),
            )
        )
    for r in store.list_adherence(db, actor, patient_id, include_voided=True):
        visit = visits[r.visit_id]
        prog = state.kb.programmes.get(r.programme_id)
        done = (
            f"{100 * r.sessions_done / r.sessions_prescribed:.0f} % of sessions done"
            if r.sessions_done is not None and r.sessions_prescribed
            else "sessions not recorded"
        )
        pain = "" if r.pain_during_max is None else f", exercise pain up to {r.pain_during_max}/10"
        events.append(
            TimelineEvent(
                date=visit.visit_date,
                kind="adherence",
                id=r.id,
                summary=f"{prog.name if prog else 'exercise programme'}: {done}{pain}",
                link=f"/visits/{r.visit_id}#adherence",
                void_reason=voided(r) or voided(visit),
            )
        )
    order = {"visit": 0, "movement": 1, "adherence": 2, "treatment": 3, "outcome": 4}
    events.sort(key=lambda e: (e.date, -order[e.kind], e.id), reverse=True)
    return events


@router.get("/patients/{patient_id}/timeline", response_model=Timeline, tags=["patients"])
def patient_timeline(patient_id: int, state: State, auth: CurrentAuth, db: DB) -> Timeline:
    p = store.get_patient(db, auth.actor, patient_id)
    return Timeline(
        patient=patient_out(p), events=timeline_events(state, db, auth.actor, patient_id)
    )


# --------------------------------------------------------------------------- visits


def visit_detail(state: Any, db: Any, actor: store.Actor, visit_id: int) -> VisitDetail:
    v = store.get_visit(db, actor, visit_id)
    a = store.latest_assessment(db, actor, v.id)
    c = store.latest_care_plan(db, actor, v.id)
    unavailable = None if svc.feature_available("pathway") else "glutemed.pathway is not installed"
    return VisitDetail(
        visit=visit_out(v),
        assessment=None if a is None else assessment_out(a),
        care_plan=None if c is None else plan_out(c),
        care_plan_unavailable=unavailable,
        movements=[movement_out(m) for m in store.list_movements(db, actor, v.id)],
    )


@router.get("/patients/{patient_id}/visits", response_model=list[VisitOut], tags=["visits"])
def visits(patient_id: int, auth: CurrentAuth, db: DB) -> list[VisitOut]:
    return [visit_out(v) for v in store.list_visits(db, auth.actor, patient_id)]


@router.post(
    "/patients/{patient_id}/visits", response_model=VisitDetail, status_code=201, tags=["visits"]
)
def create_visit(
    patient_id: int, body: VisitIn, response: Response, state: State, auth: CurrentAuth, db: DB
) -> VisitDetail:
    """Create a visit, assess its case and (if available) propose a care plan, in one step."""
    visit, _, _ = svc.create_visit_with_assessment(
        db,
        auth.actor,
        state.kb,
        patient_id,
        visit_date=body.visit_date,
        case=body.case.model_dump(mode="json", exclude_unset=True),
        note=body.note,
        with_plan=body.plan,
    )
    db.commit()
    response.headers["Location"] = f"/api/v1/visits/{visit.id}"
    return visit_detail(state, db, auth.actor, visit.id)


@router.get("/visits/{visit_id}", response_model=VisitDetail, tags=["visits"])
def get_visit(visit_id: int, state: State, auth: CurrentAuth, db: DB) -> VisitDetail:
    return visit_detail(state, db, auth.actor, visit_id)


@router.patch("/visits/{visit_id}", response_model=VisitDetail, tags=["visits"])
def patch_visit(
    visit_id: int, body: VisitPatch, state: State, auth: CurrentAuth, db: DB
) -> VisitDetail:
    """Edit a visit; a changed case is re-assessed (the old assessment is kept)."""
    svc.update_visit_case(
        db,
        auth.actor,
        state.kb,
        visit_id,
        expected_version=body.version,
        visit_date=body.visit_date,
        case=None if body.case is None else body.case.model_dump(mode="json", exclude_unset=True),
        note=body.note,
        reason=body.reason,
    )
    db.commit()
    return visit_detail(state, db, auth.actor, visit_id)


@router.get("/visits/{visit_id}/history", response_model=list[AuditOut], tags=["visits"])
def visit_history(visit_id: int, auth: CurrentAuth, db: DB) -> list[AuditOut]:
    return [audit_out(e) for e in store.history(db, auth.actor, "visits", visit_id)]


@router.get(
    "/visits/{visit_id}/assessments", response_model=list[AssessmentOut], tags=["assessment"]
)
def visit_assessments(visit_id: int, auth: CurrentAuth, db: DB) -> list[AssessmentOut]:
    return [assessment_out(a) for a in store.list_assessments(db, auth.actor, visit_id)]


@router.post(
    "/visits/{visit_id}/assessments",
    response_model=AssessmentOut,
    status_code=201,
    tags=["assessment"],
)
def reassess(visit_id: int, state: State, auth: CurrentAuth, db: DB) -> AssessmentOut:
    """Re-run the engine on the stored case (e.g. after a knowledge-base update)."""
    record, _ = svc.reassess_visit(db, auth.actor, state.kb, visit_id)
    db.commit()
    return assessment_out(record)


@router.get("/assessments/{assessment_id}", response_model=AssessmentOut, tags=["assessment"])
def get_assessment(assessment_id: int, auth: CurrentAuth, db: DB) -> AssessmentOut:
    return assessment_out(store.get_assessment(db, auth.actor, assessment_id))


# --------------------------------------------------------------------------- care plans


@router.post(
    "/visits/{visit_id}/care-plans", response_model=CarePlanOut, status_code=201, tags=["care plan"]
)
def new_plan(visit_id: int, state: State, auth: CurrentAuth, db: DB) -> CarePlanOut:
    """Propose a care plan from the visit's latest assessment (needs glutemed.pathway)."""
    visit = store.get_visit(db, auth.actor, visit_id)
    record = store.latest_assessment(db, auth.actor, visit_id)
    if record is None:
        raise InputValueError("no assessment", [Problem("visit_id", "an assessed visit", "none")])
    parsed, _ = svc.assess_case(state.kb, visit.case)
    plan = svc.generate_plan(db, auth.actor, state.kb, visit, parsed, record)
    if plan is None:
        raise svc.FeatureUnavailableError(
            "care plans are not available in this installation",
            [Problem("pathway", "glutemed.pathway.plan", "a missing module")],
        )
    db.commit()
    return plan_out(plan)


@router.get("/care-plans/{plan_id}", response_model=CarePlanOut, tags=["care plan"])
def get_plan(plan_id: int, auth: CurrentAuth, db: DB) -> CarePlanOut:
    return plan_out(store.get_care_plan(db, auth.actor, plan_id))


@router.put("/care-plans/{plan_id}/decision", response_model=CarePlanOut, tags=["care plan"])
def decide(plan_id: int, body: DecisionIn, state: State, auth: CurrentAuth, db: DB) -> CarePlanOut:
    """Accept the plan, or modify it (keep some recommendations, add treatments, a note)."""
    for tid in body.added:
        _check_treatment_id(state, tid)
    decision = {"selected": body.selected, "added": body.added, "note": body.note}
    plan = store.decide_care_plan(
        db,
        auth.actor,
        plan_id,
        status=body.status,
        decision=decision,
        expected_version=body.version,
    )
    db.commit()
    return plan_out(plan)


@router.get("/care-plans/{plan_id}/history", response_model=list[AuditOut], tags=["care plan"])
def plan_history(plan_id: int, auth: CurrentAuth, db: DB) -> list[AuditOut]:
    return [audit_out(e) for e in store.history(db, auth.actor, "care_plans", plan_id)]


# --------------------------------------------------------------------------- treatments


@router.get(
    "/patients/{patient_id}/treatments", response_model=list[TreatmentOut], tags=["treatments"]
)
def treatments(patient_id: int, state: State, auth: CurrentAuth, db: DB) -> list[TreatmentOut]:
    return [
        treatment_out(state, t) for t in store.list_treatments_given(db, auth.actor, patient_id)
    ]


@router.post(
    "/patients/{patient_id}/treatments",
    response_model=TreatmentOut,
    status_code=201,
    tags=["treatments"],
)
def add_treatment(
    patient_id: int, body: TreatmentIn, state: State, auth: CurrentAuth, db: DB
) -> TreatmentOut:
    _check_treatment_id(state, body.treatment_id)
    data = body.model_dump()
    t = store.add_treatment_given(db, auth.actor, patient_id, data)
    db.commit()
    return treatment_out(state, t)


@router.patch("/treatments/{treatment_record_id}", response_model=TreatmentOut, tags=["treatments"])
def patch_treatment(
    treatment_record_id: int, body: TreatmentPatch, state: State, auth: CurrentAuth, db: DB
) -> TreatmentOut:
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version")
    t = store.update_treatment_given(db, auth.actor, treatment_record_id, changes, version)
    db.commit()
    return treatment_out(state, t)


# --------------------------------------------------------------------------- outcomes


@router.get("/patients/{patient_id}/outcomes", response_model=list[OutcomeOut], tags=["outcomes"])
def outcomes(
    patient_id: int, auth: CurrentAuth, db: DB, instrument: str | None = None
) -> list[OutcomeOut]:
    return [outcome_out(o) for o in store.list_outcomes(db, auth.actor, patient_id, instrument)]


@router.post(
    "/patients/{patient_id}/outcomes", response_model=OutcomeOut, status_code=201, tags=["outcomes"]
)
def add_outcome(
    patient_id: int, body: OutcomeIn, state: State, auth: CurrentAuth, db: DB
) -> OutcomeOut:
    """Record a questionnaire: item ``answers`` (scored) or a ``total`` scored elsewhere."""
    o = svc.record_outcome(
        db,
        auth.actor,
        state.kb,
        patient_id,
        instrument=body.instrument,
        measured_on=body.measured_on,
        answers=body.answers,
        total=body.total,
        visit_id=body.visit_id,
        note=body.note,
    )
    db.commit()
    return outcome_out(o)


@router.patch("/outcomes/{outcome_id}", response_model=OutcomeOut, tags=["outcomes"])
def patch_outcome(
    outcome_id: int, body: OutcomePatch, state: State, auth: CurrentAuth, db: DB
) -> OutcomeOut:
    """Correct an outcome (re-scored); the previous values stay in its history."""
    current = store.get_outcome(db, auth.actor, outcome_id)
    answers = (
        body.answers
        if body.answers is not None
        else (None if body.total is not None else current.answers)
    )
    total = body.total if body.total is not None else (None if answers else current.total)
    # score through the same path as a new record, without storing it
    scored = svc.score_only(state.kb, current.instrument, answers=answers, total=total)
    o = store.update_outcome(
        db,
        auth.actor,
        outcome_id,
        measured_on=body.measured_on or current.measured_on,
        total=scored[0],
        score=scored[1],
        versions=scored[1].get("versions") or state.kb.versions(),
        answers=answers,
        expected_version=body.version,
    )
    db.commit()
    return outcome_out(o)


@router.get(
    "/patients/{patient_id}/outcomes/summary",
    tags=["outcomes"],
    summary="Series, change and trajectory",
)
def outcome_summary(patient_id: int, state: State, auth: CurrentAuth, db: DB) -> dict[str, Any]:
    entries = store.list_outcomes(db, auth.actor, patient_id)
    return {"instruments": svc.outcome_series(state.kb, entries), "versions": state.kb.versions()}


@router.get(
    "/patients/{patient_id}/outcomes/{instrument}/chart.svg",
    tags=["outcomes"],
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
    summary="Scores over time with the MCID band (SVG)",
)
def outcome_chart(
    patient_id: int, instrument: str, state: State, auth: CurrentAuth, db: DB
) -> Response:
    from glutemed._checks import check_option

    check_option("instrument", instrument, state.kb.instruments)
    entries = store.list_outcomes(db, auth.actor, patient_id, instrument)
    series = svc.outcome_series(state.kb, entries).get(instrument, {})
    pts = [(dt.date.fromisoformat(d), v) for d, v in series.get("points", [])]
    svg = outcome_chart_svg(
        state.kb.instruments[instrument], pts, trajectory=series.get("trajectory")
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


# --------------------------------------------------------------------------- movement


@router.post(
    "/visits/{visit_id}/movement", response_model=MovementOut, status_code=201, tags=["movement"]
)
async def upload_movement(
    visit_id: int,
    state: State,
    auth: CurrentAuth,
    db: DB,
    file: Annotated[UploadFile, File(description="A .c3d, .trc, .csv or .json movement file")],
    task: Annotated[Literal["walk", "single_leg_stance", "single_leg_squat"], Form()] = "walk",
    sampling_rate_hz: Annotated[float | None, Form(gt=0, le=10000)] = None,
) -> MovementOut:
    """Analyse a movement file (glutemed.motion); keep file, measures and plot with the visit."""
    from starlette.concurrency import run_in_threadpool

    data = await svc.read_upload(file, state.settings.max_upload_bytes)
    record = await run_in_threadpool(
        svc.store_movement,
        db,
        auth.actor,
        state.kb,
        visit_id,
        data=data,
        file_name=file.filename or "upload",
        task=task,
        sampling_rate_hz=sampling_rate_hz,
    )
    await run_in_threadpool(db.commit)
    return movement_out(record)


@router.get("/movement/{movement_id}", response_model=MovementOut, tags=["movement"])
def get_movement(movement_id: int, auth: CurrentAuth, db: DB) -> MovementOut:
    return movement_out(store.get_movement(db, auth.actor, movement_id))


@router.get(
    "/movement/{movement_id}/plot.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    tags=["movement"],
)
def movement_plot(movement_id: int, auth: CurrentAuth, db: DB) -> Response:
    m = store.get_movement(db, auth.actor, movement_id)
    if not m.plot_png:
        raise store_not_found("plot", movement_id)
    return Response(m.plot_png, media_type="image/png", headers={"Cache-Control": "no-store"})


def store_not_found(what: str, ident: int) -> Exception:
    from glutemed.errors import NotFoundError

    return NotFoundError(f"{what} not found", [Problem(f"{what}", "an existing plot", str(ident))])


# --------------------------------------------------------------------------- corrections


@router.post(
    "/records/{entity_type}/{entity_id}/void",
    response_model=VoidOut,
    tags=["corrections"],
    summary="Void a record entered in error (kept, struck through, left out of computations)",
)
def void_record(
    entity_type: str, entity_id: int, body: VoidIn, auth: CurrentAuth, db: DB
) -> VoidOut:
    record = store.void_record(
        db,
        auth.actor,
        entity_type,
        entity_id,
        reason=body.reason,
        expected_version=body.version,
    )
    db.commit()
    return VoidOut(
        entity_type=entity_type,
        entity_id=entity_id,
        voided_at=record.voided_at,
        void_reason=record.void_reason,
    )


# --------------------------------------------------------------------------- reports


@router.get(
    "/visits/{visit_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    tags=["reports"],
    summary="Clinician report / letter (PDF)",
)
def report_pdf(
    visit_id: int,
    state: State,
    auth: CurrentAuth,
    db: DB,
    to: Literal["gp", "surgeon", "record"] = "gp",
) -> Response:
    from glutemed.server._reports import letter_response

    return letter_response(state, db, auth.actor, visit_id, to, fmt="pdf")


@router.get(
    "/visits/{visit_id}/report.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}},
    tags=["reports"],
    summary="Clinician report / letter (printable HTML)",
)
def report_html(
    visit_id: int,
    state: State,
    auth: CurrentAuth,
    db: DB,
    to: Literal["gp", "surgeon", "record"] = "gp",
) -> Response:
    from glutemed.server._reports import letter_response

    return letter_response(state, db, auth.actor, visit_id, to, fmt="html")


@router.get(
    "/visits/{visit_id}/handout.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}},
    tags=["reports"],
    summary="Patient handout (HTML, from glutemed.report)",
)
def handout_html_api(visit_id: int, state: State, auth: CurrentAuth, db: DB) -> Response:
    from glutemed.server._reports import handout_response

    return handout_response(state, db, auth.actor, visit_id, fmt="html")
