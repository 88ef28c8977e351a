"""Errors at the edge: RFC 9457 ``application/problem+json`` for the API, an error page for people.

Every glutemed error becomes a problem document whose ``problems`` list names each field at
fault (``location``), what was expected and what was found, e.g.::

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "case has 1 problem(s)",
     "problems": [{"location": "case findings.trendelenberg_sign",
                   "expected": "a finding id from the knowledge base",
                   "found": "'trendelenberg_sign'", "hint": "did you mean trendelenburg_sign?"}]}

Under ``/fhir`` and ``/cds-services`` every error is a FHIR ``OperationOutcome``
(``application/fhir+json``) instead, as FHIR and CDS Hooks clients expect.

Messages never contain patient identifiers (glutemed errors are written that way), and the
server log records only the route, status and error class.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from glutemed.errors import (
    DataFileError,
    GlutemedError,
    InputValueError,
    NotFoundError,
    Problem,
)
from glutemed.fhir import (
    CdsAuthenticationError,
    FhirInputError,
    PrefetchMissingError,
    http_status_for,
    to_operation_outcome,
)
from glutemed.server._deps import CSRFError, LoginRequiredError
from glutemed.server._services import FeatureUnavailableError, UploadTooLargeError
from glutemed.store import (
    AuthenticationError,
    ConflictError,
    DatabaseBusyError,
    PermissionDeniedError,
    ThrottledError,
)

__all__ = [
    "FHIR_JSON",
    "error_response",
    "install_problem_handlers",
    "is_fhir_path",
    "operation_outcome_response",
    "problem_response",
    "status_for",
    "wants_html",
]

log = logging.getLogger("glutemed.server")

PROBLEM_JSON = "application/problem+json"
FHIR_JSON = "application/fhir+json"
_FHIR_ERRORS = (FhirInputError, PrefetchMissingError, CdsAuthenticationError)
#: OperationOutcome issue codes of the server's own errors (FHIR "IssueType").
_ISSUE_CODES: tuple[tuple[type[GlutemedError], str], ...] = (
    (LoginRequiredError, "login"),
    (AuthenticationError, "login"),
    (CSRFError, "forbidden"),
    (PermissionDeniedError, "forbidden"),
    (ConflictError, "conflict"),
    (ThrottledError, "throttled"),
    (DatabaseBusyError, "transient"),
    (UploadTooLargeError, "too-costly"),
)


def is_fhir_path(path: str) -> bool:
    """True for the FHIR and CDS Hooks endpoints (errors are OperationOutcomes there)."""
    return path == "/fhir" or path.startswith(("/fhir/", "/cds-services"))


def fhir_status_for(exc: GlutemedError) -> int:
    """HTTP status under ``/fhir`` and ``/cds-services``: the FHIR layer's for its errors."""
    if isinstance(exc, _FHIR_ERRORS):
        return http_status_for(exc)
    return status_for(exc)


def operation_outcome_response(
    exc: GlutemedError, status: int, *, headers: Mapping[str, str] | None = None
) -> Response:
    """Return ``exc`` as a FHIR OperationOutcome with the given status."""
    body = to_operation_outcome(exc)
    if not isinstance(exc, _FHIR_ERRORS):
        code = next((c for cls, c in _ISSUE_CODES if isinstance(exc, cls)), None)
        if code is None and status == 404:
            code = "not-found"
        if code is not None:
            for issue in body["issue"]:
                issue["code"] = code
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=dict(headers or {}))


def status_for(exc: GlutemedError) -> int:
    """Return the HTTP status of a glutemed error."""
    table: tuple[tuple[type[GlutemedError], int], ...] = (
        (LoginRequiredError, 401),
        (AuthenticationError, 401),
        (CSRFError, 403),
        (PermissionDeniedError, 403),
        (NotFoundError, 404),
        (ConflictError, 409),
        (ThrottledError, 429),
        (FeatureUnavailableError, 503),
        (DatabaseBusyError, 503),
        (UploadTooLargeError, 413),
        (InputValueError, 422),
        (DataFileError, 422),
    )
    for cls, status in table:
        if isinstance(exc, cls):
            return status
    return 400


def wants_html(request: Request) -> bool:
    """True for browser page requests (not the JSON API)."""
    path = request.url.path
    if path.startswith(("/api/", "/fhir", "/cds-services")):
        return False
    return (
        "text/html" in request.headers.get("accept", "")
        or request.headers.get("HX-Request") == "true"
    )


def problem_response(
    request: Request,
    status: int,
    detail: str,
    problems: list[dict[str, Any]] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """Return a problem+json response, or the error page for a browser."""
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "problems": problems or [],
    }
    if extra:
        body.update(extra)
    if wants_html(request):
        templates = request.app.state.glutemed.templates
        auth = getattr(request.state, "auth", None)
        page: Response = templates.TemplateResponse(
            request,
            "error.html",
            {"problem": body, "auth": auth, "csrf_token": auth.csrf_token if auth else ""},
            status_code=status,
            headers=dict(headers or {}),
        )
        return page
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))


async def error_response(request: Request, exc: Exception) -> Response:
    """Return a glutemed error as the client expects it: problem+json, an OperationOutcome
    under ``/fhir`` and ``/cds-services``, the error page (or the login page) for a browser."""
    assert isinstance(exc, GlutemedError)
    status = status_for(exc)
    if isinstance(exc, LoginRequiredError) and wants_html(request):
        nxt = request.url.path
        return RedirectResponse(f"/login?next={nxt}", status_code=303)
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, ThrottledError | DatabaseBusyError):
        headers["Retry-After"] = str(exc.retry_after_s)
        extra["retry_after_s"] = exc.retry_after_s
    if isinstance(exc, ConflictError) and exc.current_version is not None:
        extra["current_version"] = exc.current_version
    if isinstance(exc, LoginRequiredError | AuthenticationError):
        headers["WWW-Authenticate"] = 'Cookie realm="glutemed"'
    if is_fhir_path(request.url.path):
        status = fhir_status_for(exc)
        if isinstance(exc, CdsAuthenticationError):
            headers["WWW-Authenticate"] = 'Bearer realm="glutemed-cds"'
        log.info("%s %s -> %d %s", request.method, _route(request), status, type(exc).__name__)
        return operation_outcome_response(exc, status, headers=headers)
    log.info("%s %s -> %d %s", request.method, _route(request), status, type(exc).__name__)
    return problem_response(
        request,
        status,
        exc.message,
        [p.as_dict() for p in exc.problems],
        headers=headers,
        extra=extra,
    )


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        head, rest = parts[0], parts[1:]
        return head + (": " + ".".join(rest) if rest else "")
    return ".".join(parts)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        found = "nothing" if err.get("type") == "missing" else repr(err.get("input"))[:60]
        problems.append(
            Problem(
                _loc(err.get("loc", ())), str(err.get("msg", "a valid value")).lower(), found
            ).as_dict()
        )
    log.info("%s %s -> 422 RequestValidationError", request.method, _route(request))
    if is_fhir_path(request.url.path):
        error = InputValueError(
            f"the request has {len(problems)} problem(s)",
            [Problem(p["location"], p["expected"], p["found"]) for p in problems],
        )
        return operation_outcome_response(error, 400)
    return problem_response(request, 422, f"the request has {len(problems)} problem(s)", problems)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if is_fhir_path(request.url.path):
        cls = NotFoundError if exc.status_code == 404 else GlutemedError
        error = cls(f"{detail}: {request.method} {_route(request)}")
        return operation_outcome_response(error, exc.status_code, headers=exc.headers)
    return problem_response(request, exc.status_code, detail, [], headers=exc.headers)


async def _integrity_error(request: Request, exc: Exception) -> Response:
    """A uniqueness or reference constraint the services did not foresee: 409, never a 500."""
    log.warning("%s %s -> 409 %s", request.method, _route(request), type(exc).__name__)
    error = ConflictError(
        "the change conflicts with a record saved at the same time",
        [
            Problem(
                "record", "a change that fits the stored records", "a conflict", "reload and retry"
            )
        ],
    )
    return await error_response(request, error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("%s %s -> 500 %s", request.method, _route(request), type(exc).__name__)
    if is_fhir_path(request.url.path):
        error = GlutemedError("internal error; the details are in the server log")
        return operation_outcome_response(error, 500)
    return problem_response(request, 500, "internal error; the details are in the server log", [])


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn errors into problem+json (or the error page)."""
    app.add_exception_handler(GlutemedError, error_response)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _unexpected)
