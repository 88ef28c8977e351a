"""Security: clinic isolation, CSRF on every state-changing route, login throttling, roles,
cookies, settings that refuse default secrets, headers, and no patient identifiers in logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from glutemed.errors import InputValueError
from glutemed.server import Settings


def test_another_clinics_patient_is_invisible(api_factory: Any, h: Any) -> None:
    north = api_factory()
    south = api_factory()
    pid = north.post(
        "/api/v1/patients", json={"family_name": "Northerner", "identifier": "N-1"}
    ).json()["id"]
    detail = north.post(
        f"/api/v1/patients/{pid}/visits", json={"case": h.example_case("tendinopathy")}
    ).json()
    vid = detail["visit"]["id"]
    aid = detail["assessment"]["id"]
    oid = north.post(
        f"/api/v1/patients/{pid}/outcomes", json={"instrument": "nprs", "total": 5}
    ).json()["id"]
    for url in (
        f"/api/v1/patients/{pid}",
        f"/api/v1/patients/{pid}/timeline",
        f"/api/v1/patients/{pid}/visits",
        f"/api/v1/patients/{pid}/history",
        f"/api/v1/patients/{pid}/outcomes",
        f"/api/v1/patients/{pid}/outcomes/nprs/chart.svg",
        f"/api/v1/visits/{vid}",
        f"/api/v1/visits/{vid}/report.pdf",
        f"/api/v1/assessments/{aid}",
    ):
        r = south.get(url)
        assert r.status_code == 404, url
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (
        south.get(f"/api/v1/patients/{pid + 10_000}").status_code == 404
    )  # same answer as a missing id
    assert south.get("/api/v1/patients?q=northerner").json()["items"] == []
    assert (
        south.patch(f"/api/v1/patients/{pid}", json={"version": 1, "notes": "x"}).status_code == 404
    )
    assert south.post(f"/api/v1/patients/{pid}/visits", json={"case": {}}).status_code == 404
    assert (
        south.patch(f"/api/v1/outcomes/{oid}", json={"version": 1, "total": 1}).status_code == 404
    )
    assert north.get(f"/api/v1/patients/{pid}").status_code == 200


def test_another_clinics_patient_page_is_404(pages: Any) -> None:
    north = pages()
    south = pages()
    page = north.get("/patients/new")
    r = north.post(
        "/patients",
        data={"csrf_token": _csrf(page.text), "family_name": "Hidden", "sex": "unknown"},
        follow_redirects=False,
    )
    url = r.headers["location"]
    assert north.get(url).status_code == 200
    r = south.get(url)
    assert r.status_code == 404 and "Hidden" not in r.text


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def test_form_without_csrf_token_is_refused(pages: Any) -> None:
    client = pages()
    r = client.post("/patients", data={"family_name": "NoToken"}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post(
        "/patients",
        data={"family_name": "BadToken", "csrf_token": "0" * 64},
        follow_redirects=False,
    )
    assert r.status_code == 403
    other = pages()  # a token of another session does not work either
    token = _csrf(other.get("/patients/new").text)
    assert (
        client.post("/patients", data={"family_name": "X", "csrf_token": token}).status_code == 403
    )
    assert "NoToken" not in client.get("/patients").text


def test_json_api_with_cookie_needs_csrf_header(api: Any) -> None:
    r = api.client.post("/api/v1/patients", json={"family_name": "NoHeader"})
    assert r.status_code == 403
    assert r.json()["problems"][0]["location"] == "csrf_token"
    r = api.client.post(
        "/api/v1/patients", json={"family_name": "Wrong"}, headers={"X-CSRF-Token": "abc"}
    )
    assert r.status_code == 403


def _all_routes(routes: list[Any]) -> list[Any]:
    """Flatten included routers (newer FastAPI keeps them nested)."""
    out: list[Any] = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        out.extend(_all_routes(nested.routes) if nested is not None else [route])
    return out


def test_every_state_changing_route_checks_csrf(sqlite_app: Any, h: Any) -> None:
    """Walk the routes: every POST/PUT/PATCH/DELETE refuses a logged-in request without token."""
    user = h.add_user(sqlite_app)
    api = h.Api(sqlite_app, user)
    client = api.client
    exempt = {"/api/v1/auth/login"}
    checked = 0
    for route in _all_routes(sqlite_app.routes):
        if not isinstance(route, APIRoute) or route.path in exempt:
            continue
        for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            url = route.path.replace("{", "").replace("}", "")
            for name in route.param_convertors:
                url = url.replace(name, "1")
            r = client.request(method, url, data={"x": "1"})
            if route.path.startswith("/cds-services"):
                # CDS Hooks: bearer-JWT only; the session cookie is never a credential there
                assert r.status_code == 401, (method, route.path, r.status_code)
            else:
                assert r.status_code == 403, (method, route.path, r.status_code)
            checked += 1
    assert checked >= 20


def test_five_wrong_passwords_are_throttled(sqlite_app: Any, h: Any) -> None:
    user = h.add_user(sqlite_app)
    client = TestClient(sqlite_app)
    for _ in range(5):
        r = client.post(
            "/api/v1/auth/login", json={"username": user.username, "password": "wrong-password"}
        )
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": user.username, "password": h.PASSWORD})
    assert r.status_code == 429  # the right password is refused while throttled
    assert int(r.headers["Retry-After"]) > 0 and r.json()["retry_after_s"] > 0


def test_login_page_throttles_too(sqlite_app: Any, h: Any) -> None:
    user = h.add_user(sqlite_app)
    client = TestClient(sqlite_app, headers={"accept": "text/html"})
    statuses = []
    for _ in range(6):
        token = _csrf(client.get("/login").text)
        r = client.post(
            "/login", data={"username": user.username, "password": "nope", "csrf_token": token}
        )
        statuses.append(r.status_code)
    assert statuses == [401] * 5 + [429]
    assert "too many failed logins" in r.text


def test_login_form_needs_its_csrf_token(sqlite_app: Any, h: Any) -> None:
    user = h.add_user(sqlite_app)
    client = TestClient(sqlite_app, headers={"accept": "text/html"})
    client.get("/login")
    r = client.post(
        "/login", data={"username": user.username, "password": h.PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 403


def test_session_cookie_flags(sqlite_app: Any, h: Any, tmp_path: Any) -> None:
    user = h.add_user(sqlite_app)
    r = TestClient(sqlite_app).post(
        "/api/v1/auth/login", json={"username": user.username, "password": h.PASSWORD}
    )
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    from glutemed.server import create_app

    secure_app = create_app(
        h.make_settings(f"sqlite:///{tmp_path / 's.sqlite3'}", cookie_secure=True)
    )
    user2 = h.add_user(secure_app)
    r = TestClient(secure_app).post(
        "/api/v1/auth/login", json={"username": user2.username, "password": h.PASSWORD}
    )
    assert "secure" in r.headers["set-cookie"].lower()


def test_logout_revokes_the_session(sqlite_app: Any, h: Any) -> None:
    api = h.Api(sqlite_app, h.add_user(sqlite_app))
    cookie = api.client.cookies.get("glutemed_session")
    api.post("/api/v1/auth/logout")
    replay = TestClient(sqlite_app, cookies={"glutemed_session": cookie})
    assert replay.get("/api/v1/me").status_code == 401


def test_read_only_users_cannot_change_records(api_factory: Any) -> None:
    clinician = api_factory("clinician")
    reader = api_factory("read_only", clinician.user.clinic)
    pid = clinician.post("/api/v1/patients", json={"family_name": "Readable"}).json()["id"]
    assert reader.get(f"/api/v1/patients/{pid}").status_code == 200
    r = reader.patch(f"/api/v1/patients/{pid}", json={"version": 1, "notes": "x"})
    assert r.status_code == 403 and r.json()["problems"][0]["location"] == "role"
    assert reader.post("/api/v1/patients", json={"family_name": "New"}).status_code == 403


def test_pages_redirect_to_login_and_api_answers_401(sqlite_app: Any) -> None:
    client = TestClient(sqlite_app)
    r = client.get("/patients", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert client.get("/api/v1/patients").status_code == 401


def test_security_headers(sqlite_app: Any) -> None:
    r = TestClient(sqlite_app).get("/login")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("key", ["", "changeme", "secret", "short-but-random-Xy7", "a" * 40])
def test_settings_refuse_default_or_weak_secret_outside_development(key: str) -> None:
    for env in ("production", "test"):
        with pytest.raises(InputValueError) as err:
            Settings(secret_key=key, environment=env)
        assert err.value.problems[0].location == "secret_key"
    Settings(secret_key=key, environment="development")  # allowed (a random key if empty)


def test_settings_from_env() -> None:
    env = {
        "GLUTEMED_ENV": "production",
        "GLUTEMED_SECRET_KEY": "Zq8-pL4_wR2mT7nB5vC1xK9hJ3gF6dS0",
        "GLUTEMED_COOKIE_SECURE": "0",
        "GLUTEMED_LOGIN_MAX_FAILURES": "7",
    }
    s = Settings.from_env(env)
    assert (s.environment, s.cookie_secure, s.login_max_failures) == ("production", False, 7)
    assert Settings.from_env(s.to_env()) == s
    with pytest.raises(InputValueError):
        Settings.from_env({"GLUTEMED_SECRET_KEY": ""})
    with pytest.raises(InputValueError):
        Settings.from_env({**env, "GLUTEMED_COOKIE_SECURE": "maybe"})


def test_no_patient_identifiers_in_logs(api: Any, h: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name, ident = "Zebulonsky", "MRN-ZX-991"
    r = api.post(
        "/api/v1/patients",
        json={
            "family_name": name,
            "given_name": "Quintessa",
            "identifier": ident,
            "birth_date": "1961-07-13",
        },
    )
    pid = r.json()["id"]
    api.get(f"/api/v1/patients?q={name}")
    api.post("/api/v1/patients", json={"family_name": name, "identifier": ident})  # 409, logged
    api.post(f"/api/v1/patients/{pid}/visits", json={"case": h.example_case("tendinopathy")})
    api.get(f"/api/v1/patients/{pid}/history")
    # the test client's own request log (httpx) is not the server's
    records = [rec for rec in caplog.records if not rec.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(rec.getMessage() for rec in records)
    for secret in (name, "Quintessa", ident, "1961-07-13", "zebulonsky"):
        assert secret not in text
    assert any("/api/v1/patients" in rec.getMessage() for rec in records)  # the request is logged


def test_serve_keeps_a_private_random_secret_key(tmp_path: Any) -> None:
    from glutemed.server import stored_secret_key

    key = stored_secret_key(tmp_path)
    assert len(key) >= 32 and stored_secret_key(tmp_path) == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    Settings(secret_key=key, environment="production")  # good enough for production
