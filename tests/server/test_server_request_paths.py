"""Request paths kept short for speed: one engine run per new case, engine runs in turn, the
SQLite writer turn."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import glutemed.server._services as svc
from tests.server.conftest import PASSWORD, add_user, example_case


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
