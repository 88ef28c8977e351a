"""Request bodies are bounded while they stream, and refused before reading when the login is
missing or the declared size is too large (issue 14).

The app is driven as a raw ASGI callable, so the tests see how much of the body the server asked
for: a refused body must not be read (declared too large, no login) or must stop being read at
the limit (chunked, no Content-Length).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from tests.server.conftest import Api

CHUNK = 64 * 1024


@dataclass
class Reply:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks_read: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: FastAPI,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    total_bytes: int = 0,
    declare: bool = True,
    cookies: dict[str, str] | None = None,
) -> Reply:
    """Send ``total_bytes`` of filler body in 64 kB chunks; count the chunks the app asked for."""
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    if declare:
        hdrs["content-length"] = str(total_bytes)
    if cookies:
        hdrs["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    reply = Reply()
    n_chunks = -(-total_bytes // CHUNK)
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if reply.chunks_read >= n_chunks:
            await done.wait()
            return {"type": "http.disconnect"}
        reply.chunks_read += 1
        last = reply.chunks_read == n_chunks
        return {"type": "http.request", "body": b"[" * CHUNK, "more_body": not last}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            reply.body += message.get("body", b"")
            if not message.get("more_body"):
                done.set()

    asyncio.run(app(scope, receive, send))
    return reply


def session_of(api: Api) -> dict[str, str]:
    return {"glutemed_session": api.client.cookies["glutemed_session"]}


def test_anonymous_body_is_refused_before_reading(sqlite_app: FastAPI) -> None:
    for path in ("/api/v1/patients", "/fhir", "/api/v1/visits/1/movement"):
        r = call(
            sqlite_app,
            "POST",
            path,
            headers={"content-type": "application/json"},
            total_bytes=200 * 1024 * 1024,
        )
        assert r.status == 401 and r.chunks_read == 0, (path, r.status, r.chunks_read)
    r = call(sqlite_app, "POST", "/patients", headers={"accept": "text/html"}, total_bytes=10**6)
    assert r.status == 303 and r.headers["location"].startswith("/login") and r.chunks_read == 0


def test_declared_oversize_is_413_before_reading(app: FastAPI, api_factory: Any) -> None:
    api = api_factory()
    cookies = session_of(api)
    h = {"content-type": "application/json", "x-csrf-token": api.csrf}
    r = call(
        app,
        "POST",
        "/api/v1/patients",
        headers=h,
        total_bytes=2 * 1024 * 1024,
        cookies=cookies,
    )
    assert r.status == 413 and r.chunks_read == 0
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (
        body["problems"][0]["location"] == "body"
        and "GLUTEMED_MAX_BODY_BYTES" in body["problems"][0]["hint"]
    )
    assert r.headers["connection"] == "close"
    r = call(app, "POST", "/fhir", headers=h, total_bytes=200 * 1024 * 1024, cookies=cookies)
    assert r.status == 413 and r.chunks_read == 0
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["code"] == "too-costly"
    upload = {"content-type": "multipart/form-data; boundary=x", "x-csrf-token": api.csrf}
    r = call(
        app,
        "POST",
        "/api/v1/visits/1/movement",
        headers=upload,
        total_bytes=1024**3,
        cookies=cookies,
    )
    assert r.status == 413 and r.chunks_read == 0


def test_chunked_body_stops_at_the_limit(app: FastAPI, api_factory: Any) -> None:
    api = api_factory()
    cookies = session_of(api)
    limit = app.state.glutemed.settings.max_fhir_bytes
    h = {"content-type": "application/fhir+json", "x-csrf-token": api.csrf}
    r = call(
        app,
        "POST",
        "/fhir",
        headers=h,
        total_bytes=64 * 1024 * 1024,
        declare=False,
        cookies=cookies,
    )
    assert r.status == 413 and r.json()["resourceType"] == "OperationOutcome"
    assert r.chunks_read == limit // CHUNK + 1
    h = {"content-type": "application/json", "x-csrf-token": api.csrf}
    r = call(
        app,
        "POST",
        "/api/v1/patients",
        headers=h,
        total_bytes=8 * 1024 * 1024,
        declare=False,
        cookies=cookies,
    )
    assert r.status == 413 and r.chunks_read <= 1024 * 1024 // CHUNK + 1
    assert r.headers["content-type"].startswith("application/problem+json")


def test_bodies_within_limits_still_work(api: Api) -> None:
    r = api.post("/api/v1/patients", json={"family_name": "Within", "sex": "female"})
    assert r.status_code == 201, r.text


def test_cds_services_authenticate_by_token_not_cookie(sqlite_app: FastAPI) -> None:
    r = call(
        sqlite_app,
        "POST",
        "/cds-services/glutemed-lateral-hip",
        headers={"content-type": "application/json"},
        total_bytes=100 * 1024 * 1024,
    )
    assert r.status in (401, 413) and r.chunks_read == 0
