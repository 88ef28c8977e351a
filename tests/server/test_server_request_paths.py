"""Request paths kept short for speed: one engine run per new case, engine runs in turn, the
SQLite writer turn, the writers' gate."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import glutemed.server._deps as deps
import glutemed.server._services as svc
import glutemed.store as store
from tests.server.conftest import PASSWORD, Api, add_user, example_case


async def _client(app: FastAPI) -> tuple[httpx.AsyncClient, dict[str, str]]:
    user = add_user(app)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    r = await client.post(
        "/api/v1/auth/login", json={"username": user.username, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return client, {"X-CSRF-Token": r.json()["csrf_token"]}


def _assess_together(app: FastAPI, cases: list[dict[str, Any]]) -> list[httpx.Response]:
    """Send one request per case, all at once; return the answers."""

    async def go() -> list[httpx.Response]:
        client, headers = await _client(app)
        try:
            return await asyncio.gather(
                *(client.post("/api/v1/assess", json=c, headers=headers) for c in cases)
            )
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_concurrent_requests_for_one_new_case_share_one_engine_run(
    sqlite_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[str] = []
    real = svc.assess_parsed_case_json

    def counted(*args: Any) -> bytes:
        runs.append(threading.current_thread().name)
        time.sleep(0.2)  # long enough for the other requests to arrive meanwhile
        return real(*args)

    monkeypatch.setattr(svc, "assess_parsed_case_json", counted)
    case = example_case("tendinopathy")
    case["patient"]["age_years"] = 47.37  # a case no other test has assessed
    answers = _assess_together(sqlite_app, [case] * 5)
    assert [r.status_code for r in answers] == [200] * 5
    assert len({r.content for r in answers}) == 1
    assert len(runs) == 1


def test_engine_runs_for_different_new_cases_take_turns(
    sqlite_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans: list[tuple[float, float]] = []
    real = svc.assess_parsed_case_json

    def timed(*args: Any) -> bytes:
        start = time.perf_counter()
        time.sleep(0.05)
        out = real(*args)
        spans.append((start, time.perf_counter()))
        return out

    monkeypatch.setattr(svc, "assess_parsed_case_json", timed)
    cases = []
    for i in range(4):
        case = example_case("tendinopathy")
        case["patient"]["age_years"] = 51.13 + i / 100  # cases no other test has assessed
        cases.append(case)
    answers = _assess_together(sqlite_app, cases)
    assert [r.status_code for r in answers] == [200] * 4
    spans.sort()
    assert len(spans) == 4  # four engine runs (four cache keys), none of them side by side
    assert all(end <= nxt for (_, end), (nxt, _) in itertools.pairwise(spans))


def test_concurrent_requests_for_one_invalid_case_all_get_its_error(sqlite_app: FastAPI) -> None:
    case = example_case("tendinopathy")
    case["findings"] = {"no_such_finding_xyz": "positive"}
    answers = _assess_together(sqlite_app, [case] * 3)
    assert [r.status_code for r in answers] == [422] * 3
    assert all("no_such_finding_xyz" in r.text for r in answers)


def test_writer_turn_is_released_after_success_and_after_a_refused_write(
    sqlite_app: FastAPI,
) -> None:
    lock = sqlite_app.state.glutemed.write_lock
    assert lock is not None

    async def go() -> list[int]:
        client, headers = await _client(sqlite_app)
        body = {"family_name": "Turner", "identifier": f"WL-{time.time_ns()}"}
        try:
            first = await client.post("/api/v1/patients", json=body, headers=headers)
            again = await client.post("/api/v1/patients", json=body, headers=headers)  # taken
            other = await client.post(
                "/api/v1/patients", json={"family_name": "Turner"}, headers=headers
            )
        finally:
            await client.aclose()
        return [first.status_code, again.status_code, other.status_code]

    assert asyncio.run(go()) == [201, 409, 201]
    assert not lock.locked()


class _CountingSessions:
    """Wraps the app's session factory; records the most sessions open at once."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.open = 0
        self.peak = 0

    def __call__(self) -> Any:
        session = self.real()
        self.open += 1
        self.peak = max(self.peak, self.open)
        close = session.close

        def counted_close() -> None:
            self.open -= 1
            close()

        session.close = counted_close
        return session


def test_writing_requests_hold_a_database_session_a_few_at_a_time(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = app.state.glutemed
    permits = deps.WRITERS_PER_WORKER
    real_create = store.create_patient

    def slow_create(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.05)  # long enough for the other requests to arrive meanwhile
        return real_create(*args, **kwargs)

    async def go() -> list[int]:
        client, headers = await _client(app)
        counting = _CountingSessions(state.sessions)
        monkeypatch.setattr(state, "sessions", counting)
        monkeypatch.setattr(store, "create_patient", slow_create)
        try:
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/patients", json={"family_name": f"Gate{i}"}, headers=headers
                    )
                    for i in range(12)
                )
            )
        finally:
            await client.aclose()
        sessions.append(counting.peak)
        return [r.status_code for r in answers]

    sessions: list[int] = []
    assert asyncio.run(go()) == [201] * 12
    # without the gate, 12 sessions were open at once (one per waiting worker thread)
    assert sessions == [permits]


def test_a_slowly_sent_form_does_not_hold_the_writers_gate(
    sqlite_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A form sent with the CSRF header (not read for the token) is read before it queues."""
    monkeypatch.setattr(deps, "WRITERS_PER_WORKER", 1)
    cookie_api = Api(sqlite_app, add_user(sqlite_app))
    cookie = "; ".join(f"{k}={v}" for k, v in cookie_api.client.cookies.items())
    body = b"family_name=Slowsender&given_name=Ann"

    async def go() -> tuple[int, int, bool]:
        release = asyncio.Event()
        sent: list[int] = []

        async def receive() -> dict[str, Any]:
            if not sent:  # the first half at once, the rest when released
                sent.append(1)
                return {"type": "http.request", "body": body[:10], "more_body": True}
            if len(sent) == 1:
                sent.append(2)
                await release.wait()
                return {"type": "http.request", "body": body[10:], "more_body": False}
            return {"type": "http.disconnect"}

        status: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/patients",
            "raw_path": b"/patients",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode()),
                (b"cookie", cookie.encode()),
                (b"x-csrf-token", cookie_api.csrf.encode()),
                (b"accept", b"text/html"),
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
            "state": {},
        }
        client, headers = await _client(sqlite_app)  # logged in first: a login writes too
        slow = asyncio.create_task(sqlite_app(scope, receive, send))
        while len(sent) < 2:
            await asyncio.sleep(0.01)
        try:
            other = await asyncio.wait_for(
                client.post("/api/v1/patients", json={"family_name": "Other"}, headers=headers),
                timeout=5,
            )
            still_sending = not slow.done()
        finally:
            release.set()
            await client.aclose()
        await asyncio.wait_for(slow, timeout=10)
        return other.status_code, status[0], still_sending

    assert asyncio.run(go()) == (201, 303, True)


def test_a_writer_that_waits_too_long_at_the_gate_gets_database_busy(
    sqlite_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deps, "WRITERS_PER_WORKER", 1)
    monkeypatch.setattr(deps, "GATE_WAIT_S", 0.2)
    state = sqlite_app.state.glutemed

    async def go() -> tuple[int, str, int]:
        client, headers = await _client(sqlite_app)
        gate = state.writer_gate()
        await gate.acquire()  # another writer holds the only place
        try:
            busy = await client.post(
                "/api/v1/patients", json={"family_name": "Waiter"}, headers=headers
            )
        finally:
            gate.release()
        after = await client.post(
            "/api/v1/patients", json={"family_name": "Waiter"}, headers=headers
        )
        await client.aclose()
        return busy.status_code, busy.headers.get("retry-after", ""), after.status_code

    status, retry_after, after = asyncio.run(go())
    assert (status, after) == (503, 201)
    assert retry_after.isdigit()
