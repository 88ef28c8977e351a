"""The FHIR R4 and CDS Hooks 2.0 endpoints (issue 7): a thin HTTP layer over :mod:`glutemed.fhir`.

FHIR (``fhir_router``, session login like the rest of the app; CSRF token on POST)
    ``GET /fhir/Patient/{id}/$everything``
        The patient's record as a Bundle (``application/fhir+json``); another clinic's patient
        is not found (404).
    ``POST /fhir``
        Import a Bundle as a new patient: 201, ``Location: /fhir/Patient/{id}/$everything``, an
        OperationOutcome listing what was skipped (severity ``warning``). Malformed JSON or FHIR:
        an OperationOutcome with a 4xx status, and nothing is stored.

CDS Hooks (``cds_router``; CDS clients authenticate with a bearer JWT, not cookies)
    ``GET /cds-services``
        Discovery (no authentication).
    ``POST /cds-services/{id}``
        ``glutemed-lateral-hip`` (patient-view) and ``glutemed-imaging-order`` (order-select).
        The JWT must be signed by a configured issuer (``GLUTEMED_CDS_ISSUERS``) with ``aud`` the
        exact URL called (``GLUTEMED_PUBLIC_BASE_URL`` + path), live at most 5 minutes, and its
        ``jti`` is accepted once until the token expires (recorded in the database, so across
        workers and restarts). 503 without a configured public base URL (outside development),
        401 bad token (checked first), 404 unknown service, 412 missing prefetch.
    ``POST /cds-services/{id}/feedback``
        Validated feedback entries are kept in the audit log; 200.

CORS: the CDS routes answer any origin (no cookies are used there, so no credentials are
allowed); the FHIR routes do not allow cross-origin calls (they use the session cookie).

Errors under ``/fhir`` and ``/cds-services`` are FHIR OperationOutcomes (see
:mod:`glutemed.server._problems`).

``ehr_router`` adds ``GET /patients/ehr/{ehr_id}``, the target of card links for a patient known
to the EHR but not (by glutemed id) to the app: it opens the clinic's patient whose record number
is that id.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glutemed import store
from glutemed.errors import NotFoundError, Problem
from glutemed.fhir import (
    ORDER_SELECT_ID,
    PATIENT_VIEW_ID,
    CdsAuthenticationError,
    discovery,
    export_bundle,
    feedback,
    import_bundle,
    order_select,
    patient_view,
    verify_client_jwt,
)
from glutemed.server._deps import DB, AppState, CurrentAuth, State, csrf_protect
from glutemed.server._problems import FHIR_JSON
from glutemed.server._services import FeatureUnavailableError, audit_access

__all__ = ["CdsCorsMiddleware", "cds_router", "ehr_router", "fhir_router"]

fhir_router = APIRouter(prefix="/fhir", tags=["FHIR"])
cds_router = APIRouter(prefix="/cds-services", tags=["CDS Hooks"])
ehr_router = APIRouter(include_in_schema=False)

_SERVICES = {PATIENT_VIEW_ID: patient_view, ORDER_SELECT_ID: order_select}


# --------------------------------------------------------------------------- helpers


def _base_url(request: Request, state: AppState) -> str:
    return (state.settings.public_base_url or str(request.base_url)).rstrip("/")


def _fhir_json(
    data: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status_code, media_type=FHIR_JSON, headers=headers)


def _first_use(state: AppState) -> Callable[[str, str, int], bool]:
    """The ``is_replay`` check of :func:`verify_client_jwt`, kept in the shared database."""

    def is_replay(iss: str, jti: str, exp: int) -> bool:
        # keep at least a minute so clock leeway cannot reopen the window
        until = dt.datetime.fromtimestamp(max(float(exp), time.time() + 60.0), dt.UTC)
        with store.session_scope(state.sessions) as db:
            return not store.first_use_of_token(db, iss, jti, until)

    return is_replay


def _cds_issuers(request: Request, state: AppState) -> dict[str, Any]:
    cached: dict[str, Any] | None = getattr(request.app.state, "glutemed_cds_issuers", None)
    if cached is None:
        cached = state.settings.cds_issuer_keys()
        request.app.state.glutemed_cds_issuers = cached
    return cached


def _cds_base_url(request: Request, state: AppState) -> str:
    """The public base URL CDS tokens are addressed to and card links point at.

    Outside development it must be configured: taken from the request, a client could choose
    it with the Host header (a token for another site would be accepted, and cards would link
    there).
    """
    if state.settings.public_base_url or state.settings.environment == "development":
        return _base_url(request, state)
    raise FeatureUnavailableError(
        "CDS Hooks need the app's public URL",
        [
            Problem(
                "GLUTEMED_PUBLIC_BASE_URL",
                "the app's public base URL, e.g. https://glutemed.example.org",
                "none configured",
                "set it to the URL the EHR calls; the server will not guess it from requests",
            )
        ],
    )


def _authenticate(request: Request, state: AppState, url: str) -> dict[str, Any]:
    """Verify the CDS client's bearer JWT (unless authentication is switched off)."""
    if not state.settings.cds_require_auth:
        return {}
    issuers = _cds_issuers(request, state)
    header = request.headers.get("authorization", "")
    if not issuers:
        raise CdsAuthenticationError(
            "CDS client authentication failed: no trusted issuers are configured",
            [
                Problem(
                    "GLUTEMED_CDS_ISSUERS",
                    "the JWK Sets of the trusted CDS clients",
                    "none",
                    "configure the issuers (or GLUTEMED_CDS_REQUIRE_AUTH=0 in development)",
                )
            ],
        )
    if not header.lower().startswith("bearer "):
        raise CdsAuthenticationError(
            "CDS client authentication failed: no bearer token",
            [Problem("Authorization", "Bearer <JWT>", "no bearer token")],
        )
    return verify_client_jwt(header, service_url=url, issuers=issuers, is_replay=_first_use(state))


def _unknown_service(service_id: str) -> NotFoundError:
    return NotFoundError(
        "no such CDS service",
        [Problem("service id", "one of " + ", ".join(_SERVICES), repr(service_id)[:60])],
    )


# --------------------------------------------------------------------------- CDS Hooks


@cds_router.get("", summary="CDS Hooks discovery")
async def cds_discovery() -> JSONResponse:
    return JSONResponse(discovery())


@cds_router.post("/{service_id}", summary="Call a CDS service (patient-view, order-select)")
async def cds_call(service_id: str, request: Request, state: State) -> JSONResponse:
    base = _cds_base_url(request, state)
    await run_in_threadpool(_authenticate, request, state, f"{base}/cds-services/{service_id}")
    service = _SERVICES.get(service_id)
    if service is None:
        raise _unknown_service(service_id)
    body = await request.body()
    result = await run_in_threadpool(
        service,
        body,
        app_base_url=base,
        kb=state.kb,
        default_setting=state.settings.cds_default_setting,
    )
    return JSONResponse(result)


def _store_feedback(state: AppState, service_id: str, entries: Any, client: str) -> None:
    with store.session_scope(state.sessions) as db:
        store.record_cds_feedback(db, service_id, entries, client=client)


@cds_router.post("/{service_id}/feedback", summary="Feedback on a service's cards")
async def cds_feedback(service_id: str, request: Request, state: State) -> Response:
    base = _cds_base_url(request, state)
    claims = await run_in_threadpool(
        _authenticate, request, state, f"{base}/cds-services/{service_id}/feedback"
    )
    if service_id not in _SERVICES:
        raise _unknown_service(service_id)
    body = await request.body()
    entries = feedback(service_id, body)
    await run_in_threadpool(
        _store_feedback, state, service_id, entries, str(claims.get("iss") or "")
    )
    return Response(status_code=200)


class CdsCorsMiddleware:
    """CORS for ``/cds-services`` (browser-based CDS clients): any origin, no credentials.

    Preflight requests (``OPTIONS`` with ``Access-Control-Request-Method``) are answered here;
    other responses, errors included, get ``Access-Control-Allow-Origin``.
    """

    allow_methods = b"GET, POST, OPTIONS"
    allow_headers = b"Authorization, Content-Type, Accept"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith("/cds-services"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        origin = headers.get(b"origin")
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        (b"access-control-allow-origin", b"*"),
                        (b"access-control-allow-methods", self.allow_methods),
                        (b"access-control-allow-headers", self.allow_headers),
                        (b"access-control-max-age", b"600"),
                        (b"vary", b"Origin"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if origin is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-expose-headers", b"Location, WWW-Authenticate"),
                ]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_cors)


# --------------------------------------------------------------------------- FHIR


def _export(state: AppState, db: Any, actor: store.Actor, patient_id: int) -> dict[str, Any]:
    record = store.patient_record(db, actor, patient_id)
    bundle = export_bundle(record, kb=state.kb)
    audit_access(db, actor, "export", "patients", patient_id, "FHIR bundle")
    return bundle


@fhir_router.get(
    "/Patient/{patient_id}/$everything",
    summary="A patient's record as a FHIR R4 Bundle",
    response_class=Response,
)
def patient_everything(patient_id: int, state: State, auth: CurrentAuth, db: DB) -> Response:
    return _fhir_json(_export(state, db, auth.actor, patient_id))


def _import_outcome(patient_id: int, n_visits: int, warnings: list[Problem]) -> dict[str, Any]:
    issues: list[dict[str, Any]] = [
        {
            "severity": "information",
            "code": "informational",
            "diagnostics": f"created Patient/{patient_id} with {n_visits} visit(s)",
        }
    ]
    for w in warnings:
        issue: dict[str, Any] = {
            "severity": "warning",
            "code": "not-supported",
            "diagnostics": str(w),
        }
        if w.location and " " not in w.location.strip():
            issue["expression"] = [w.location.strip()]
        issues.append(issue)
    try:
        model = OperationOutcome.model_validate(
            {"resourceType": "OperationOutcome", "issue": issues}
        )
    except ValidationError:  # an unusual path in an expression: keep the diagnostics only
        for issue in issues:
            issue.pop("expression", None)
        model = OperationOutcome.model_validate(
            {"resourceType": "OperationOutcome", "issue": issues}
        )
    out: dict[str, Any] = json.loads(model.model_dump_json())
    return out


@fhir_router.post(
    "",
    summary="Import a FHIR R4 Bundle as a new patient",
    status_code=201,
    response_class=Response,
    dependencies=[Depends(csrf_protect)],
)
async def import_fhir(request: Request, state: State, auth: CurrentAuth) -> Response:
    auth.actor.require_write()
    body = await request.body()

    def work() -> tuple[int, int, list[Problem]]:
        result = import_bundle(body, kb=state.kb)
        with store.session_scope(state.sessions) as db:
            pid = store.save_imported_record(db, auth.actor, result.record, kb=state.kb)
        return pid, len(result.record.visits), list(result.warnings)

    pid, n_visits, warnings = await run_in_threadpool(work)
    base = _base_url(request, state)
    return _fhir_json(
        _import_outcome(pid, n_visits, warnings),
        status_code=201,
        headers={"Location": f"{base}/fhir/Patient/{pid}/$everything"},
    )


# --------------------------------------------------------------------------- card links


@ehr_router.get("/patients/ehr/{ehr_id}")
def patient_by_ehr_id(ehr_id: str, auth: CurrentAuth, db: DB) -> RedirectResponse:
    """Open the clinic's patient whose record number is the EHR's patient id."""
    pid = db.scalar(
        sa.select(store.Patient.id).where(
            store.Patient.clinic_id == auth.actor.clinic_id,
            store.Patient.identifier == ehr_id.strip()[:64],
        )
    )
    if pid is None:
        raise NotFoundError(
            "no patient with this record number in your clinic",
            [
                Problem(
                    "ehr_id",
                    "the record number of a patient of your clinic",
                    "an unknown one",
                    "create the patient with the EHR's id as record number",
                )
            ],
        )
    return RedirectResponse(f"/patients/{pid}", status_code=303)
