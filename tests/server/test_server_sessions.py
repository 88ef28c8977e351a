"""Sessions, proxies and production mode (issue 14): logout is immediate on every worker and
audited, forwarded headers count only from configured proxies, production sends HSTS."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

import glutemed.store as store
from glutemed.server import create_app


def _second_worker(app: FastAPI, **changes: Any) -> FastAPI:
    """Another app instance on the same database, as a second server worker would be."""
    return create_app(app.state.glutemed.settings.with_changes(auto_migrate=False, **changes))


def test_logout_is_immediate_on_every_worker_and_audited(sqlite_app: FastAPI, h: Any) -> None:
    other = _second_worker(sqlite_app)
    api = h.Api(sqlite_app, h.add_user(sqlite_app))
    cookie = {"glutemed_session": api.client.cookies["glutemed_session"]}
    worker2 = TestClient(other, cookies=cookie)
    assert worker2.get("/api/v1/me").status_code == 200  # the session is known to worker 2
    assert api.post("/api/v1/auth/logout").status_code == 204
    assert worker2.get("/api/v1/me").status_code == 401  # at once, not after a cache delay
    with sqlite_app.state.glutemed.sessions() as db:
        actions = db.scalars(
            sa.select(store.AuditEvent.action)
            .join(store.User, store.User.id == store.AuditEvent.user_id)
            .where(store.User.username == api.user.username)
            .order_by(store.AuditEvent.id)
        ).all()
    assert actions[-2:] == ["login", "logout"]


def _fail_logins(client: TestClient, username: str, n: int, **headers: str) -> list[int]:
    return [
        client.post(
            "/api/v1/auth/login",
            json={"username": username, "password": "wrong-password"},
            headers=headers,
        ).status_code
        for _ in range(n)
    ]


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(sqlite_app: FastAPI, h: Any) -> None:
    user = h.add_user(sqlite_app)
    loopback = TestClient(sqlite_app, client=("127.0.0.1", 40000))
    # rotating X-Forwarded-For does not escape the throttle: the header is not believed
    statuses = [
        _fail_logins(loopback, user.username, 1, **{"X-Forwarded-For": f"192.0.2.{i}"})[0]
        for i in range(6)
    ]
    assert statuses == [401] * 5 + [429]


def test_trusted_proxy_sets_the_client_address(sqlite_app: FastAPI, h: Any) -> None:
    proxied = _second_worker(sqlite_app, trusted_proxies="10.0.0.5")
    user = h.add_user(sqlite_app)
    proxy = TestClient(proxied, client=("10.0.0.5", 40000))
    assert _fail_logins(proxy, user.username, 6, **{"X-Forwarded-For": "192.0.2.1"})[-1] == 429
    # the owner behind the same proxy, at another address, is not locked out
    r = proxy.post(
        "/api/v1/auth/login",
        json={"username": user.username, "password": h.PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert r.status_code == 200, r.text
    # an untrusted peer cannot choose its address
    other = TestClient(proxied, client=("10.9.9.9", 40000))
    spoofed = _fail_logins(other, user.username, 6, **{"X-Forwarded-For": "198.51.100.7"})
    assert spoofed[-1] == 429


def test_production_mode_sends_hsts_and_secure_cookies(sqlite_app: FastAPI, h: Any) -> None:
    prod = _second_worker(sqlite_app, environment="production", cookie_secure=True)
    user = h.add_user(sqlite_app)
    r = TestClient(prod, base_url="https://testserver").post(
        "/api/v1/auth/login", json={"username": user.username, "password": h.PASSWORD}
    )
    assert r.status_code == 200
    assert r.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "secure" in r.headers["set-cookie"].lower()
    assert "strict-transport-security" not in TestClient(sqlite_app).get("/healthz").headers


def test_settings_refuse_unparseable_proxies(h: Any) -> None:
    import pytest

    from glutemed.errors import InputValueError

    assert h.make_settings("sqlite://", trusted_proxies="10.0.0.5, 10.1.0.0/16").trusted_proxies
    with pytest.raises(InputValueError, match=r"not safe"):
        h.make_settings("sqlite://", trusted_proxies="proxy.example")


def test_reads_and_exports_are_audited_but_not_edit_history(api_factory: Any, h: Any) -> None:
    admin = api_factory("admin")
    reader = api_factory("read_only", admin.user.clinic)
    pid = admin.post("/api/v1/patients", json={"family_name": "Viewed", "sex": "female"}).json()[
        "id"
    ]
    r = admin.post(
        f"/api/v1/patients/{pid}/visits",
        json={"visit_date": "2026-11-02", "case": h.example_case("tendinopathy")},
    )
    assert r.status_code == 201, r.text
    vid = r.json()["visit"]["id"] if "visit" in r.json() else r.json()["id"]
    assert reader.get(f"/api/v1/patients/{pid}").status_code == 200
    assert reader.get(f"/fhir/Patient/{pid}/$everything").status_code == 200
    assert reader.get(f"/api/v1/visits/{vid}/report.html").status_code == 200
    events = admin.get("/api/v1/audit").json()
    mine = [
        (e["action"], e["entity_type"], e["entity_id"])
        for e in events
        if e["action"] in ("read", "export")
    ]
    assert ("read", "patients", pid) in mine
    assert ("export", "patients", pid) in mine
    assert ("export", "visits", vid) in mine
    history = admin.get(f"/api/v1/patients/{pid}/history").json()
    assert [e["action"] for e in history] == ["create"]


def test_serve_believes_only_configured_proxies_and_secures_cookies_behind_them(
    monkeypatch: Any, tmp_path: Any, h: Any
) -> None:
    import os

    import uvicorn

    from glutemed.server import run

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    # run() hands its settings to the workers through os.environ: give it a copy to write to
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.delenv("GLUTEMED_COOKIE_SECURE", raising=False)
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    key = h.SECRET
    monkeypatch.setenv("GLUTEMED_TRUSTED_PROXIES", "10.0.0.5")
    run("127.0.0.1", 8123, url, secret_key=key)
    assert calls[-1]["proxy_headers"] is False
    assert os.environ["GLUTEMED_COOKIE_SECURE"] == "1"  # a TLS proxy in front: Secure cookies
    monkeypatch.delenv("GLUTEMED_COOKIE_SECURE")
    monkeypatch.setenv("GLUTEMED_TRUSTED_PROXIES", "")
    run("127.0.0.1", 8123, url, secret_key=key)
    assert os.environ["GLUTEMED_COOKIE_SECURE"] == "0"  # plain loopback: cookies over HTTP
