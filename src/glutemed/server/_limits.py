"""Request bodies: the login is checked and the size bounded before a byte of the body is read.

:class:`RequestGate` is a pure ASGI middleware in front of every route. For a request with a
body (``POST``, ``PUT``, ``PATCH``, ``DELETE``) it

1. picks the route's limit (:func:`body_limit`): movement-file uploads
   ``max_upload_bytes`` (plus the multipart envelope), FHIR and CDS Hooks ``max_fhir_bytes``,
   everything else (JSON and forms) ``max_body_bytes``;
2. on routes that need a login, checks the session cookie and answers 401 (or the login page)
   without reading the body;
3. answers 413 at once when ``Content-Length`` declares more, without reading the body;
4. counts the bytes while the route reads them (chunked bodies too) and answers 413 as soon as
   the count passes the limit; the rest of the body is never read, and the connection is closed.

So a refused body costs the server at most one network buffer, whatever its size.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glutemed.errors import Problem
from glutemed.server._deps import AppState, LoginRequiredError, login_required_error, optional_auth
from glutemed.server._services import UploadTooLargeError
from glutemed.server._settings import Settings

__all__ = ["ANONYMOUS_POST_PATHS", "BodyTooLargeError", "RequestGate", "body_limit"]

#: Unsafe requests allowed without a login session (CDS clients authenticate by bearer JWT).
ANONYMOUS_POST_PATHS = frozenset({"/login", "/logout", "/api/v1/auth/login"})
_UPLOAD = re.compile(r"^(/api/v1)?/visits/[^/]+/movement$")
_MULTIPART_ENVELOPE_BYTES = 64 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLargeError(UploadTooLargeError):
    """A request body beyond the route's limit (HTTP 413)."""


def body_limit(path: str, settings: Settings) -> tuple[int, str]:
    """Return the largest body accepted on ``path`` in bytes, and the setting that sets it."""
    if _UPLOAD.match(path):
        return settings.max_upload_bytes + _MULTIPART_ENVELOPE_BYTES, "max_upload_bytes"
    if path == "/fhir" or path.startswith(("/fhir/", "/cds-services")):
        return settings.max_fhir_bytes, "max_fhir_bytes"
    return settings.max_body_bytes, "max_body_bytes"


def _too_large(limit: int, setting: str, found: str) -> BodyTooLargeError:
    mb = limit / (1024 * 1024)
    size = f"{mb:.0f} MB" if mb >= 1 else f"{limit // 1024} kB"
    return BodyTooLargeError(
        "request body too large",
        [
            Problem(
                "body",
                f"at most {size} ({limit} bytes) on this route",
                found,
                "if the file or form is genuine, ask the administrator to raise the limit "
                f"(GLUTEMED_{setting.upper()})",
            )
        ],
    )


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 19 else -1
    return None


def _needs_login(path: str) -> bool:
    return path not in ANONYMOUS_POST_PATHS and not path.startswith("/cds-services")


class RequestGate:
    """Pure ASGI middleware: size limits and the login check before the body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        from glutemed.server._problems import error_response

        state: AppState = scope["app"].state.glutemed
        path = str(scope["path"])
        limit, setting = body_limit(path, state.settings)
        declared = _declared_length(scope)

        async def refuse(exc: Any) -> None:
            response = await error_response(Request(scope), exc)
            if isinstance(exc, BodyTooLargeError):
                response.headers["Connection"] = "close"
            await response(scope, receive, send)

        if _needs_login(path) and await optional_auth(Request(scope), state) is None:
            exc: LoginRequiredError = login_required_error()
            await refuse(exc)
            return
        if declared is not None and declared > limit:
            await refuse(_too_large(limit, setting, f"{declared} bytes"))
            return

        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _too_large(limit, setting, f"more than {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the route's answer to the broken-off body is replaced by the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLargeError:
            if not exceeded:
                raise
        if exceeded and not started:
            started = True
            await refuse(_too_large(limit, setting, f"more than {limit} bytes"))
