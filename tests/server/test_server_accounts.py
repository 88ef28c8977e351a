"""Accounts: change one's own password, admin reset, edit and deactivate, the password policy, and
sign out everywhere (each ends the right sessions at once, also those cached by the app)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

import glutemed.store as store
from glutemed.errors import InputValueError

NEW = "a brand new passphrase"


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "at least 8 characters"),
        ("password123", "not a commonly used one"),
        ("Qwerty123", "not a commonly used one"),
        ("xx-drjones-2026", "without the user name"),
    ],
)
def test_password_policy(password: str, why: str) -> None:
    with pytest.raises(InputValueError) as info:
        store.check_password(password, username="DrJones")
    assert why in info.value.problems[0].expected
    assert store.check_password("four quiet river stones", username="drjones")


def _login(app: Any, username: str, password: str) -> TestClient:
    client = TestClient(app, headers={"accept": "text/html"})
    token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_change_own_password_signs_out_other_sessions(sqlite_app: Any, h: Any) -> None:
    user = h.add_user(sqlite_app)
    here = _login(sqlite_app, user.username, h.PASSWORD)
    there = _login(sqlite_app, user.username, h.PASSWORD)
    assert there.get("/patients").status_code == 200
    page = here.get("/account").text
    token = _csrf(page)
    r = here.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": "not it at all",
            "new_password": NEW,
            "confirm_password": NEW,
        },
    )
    assert r.status_code == 422 and 'id="field-current_password"' in r.text
    box = r.text.split('id="field-current_password"', 1)[1].split("</div>", 1)[0]
    assert "field-error" in box
    r = here.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": h.PASSWORD,
            "new_password": "password1",
            "confirm_password": "password1",
        },
    )
    assert r.status_code == 422 and "commonly used" in r.text
    r = here.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": h.PASSWORD,
            "new_password": NEW,
            "confirm_password": NEW,
        },
    )
    assert r.status_code == 200 and "Password changed" in r.text
    assert here.get("/patients").status_code == 200  # this session stays
    assert there.get("/patients", follow_redirects=False).status_code in (302, 303, 401)
    _login(sqlite_app, user.username, NEW)


def test_sign_out_everywhere(sqlite_app: Any, h: Any) -> None:
    user = h.add_user(sqlite_app)
    here = _login(sqlite_app, user.username, h.PASSWORD)
    others = [_login(sqlite_app, user.username, h.PASSWORD) for _ in range(2)]
    r = here.post(
        "/account/sign-out-everywhere", data={"csrf_token": _csrf(here.get("/account").text)}
    )
    assert r.status_code == 200 and "Signed out on 2 other devices" in r.text
    assert here.get("/patients").status_code == 200
    for c in others:
        assert c.get("/patients", follow_redirects=False).status_code in (302, 303, 401)


def test_admin_resets_edits_and_deactivates(sqlite_app: Any, h: Any) -> None:
    admin_user = h.add_user(sqlite_app, "admin")
    admin = _login(sqlite_app, admin_user.username, h.PASSWORD)
    user = h.add_user(sqlite_app, "clinician", admin_user.clinic)
    theirs = _login(sqlite_app, user.username, h.PASSWORD)
    users = admin.get("/admin/users").text
    token = _csrf(users)
    uid = int(users.split(f"<td>{user.username}</td>")[0].rsplit('id="user-', 1)[1].split('"')[0])
    r = admin.post(
        f"/admin/users/{uid}/password", data={"csrf_token": token, "new_password": "abc"}
    )
    assert r.status_code == 422 and "at least 8 characters" in r.text
    r = admin.post(f"/admin/users/{uid}/password", data={"csrf_token": token, "new_password": NEW})
    assert r.status_code == 200 and "Password reset" in r.text
    assert theirs.get("/patients", follow_redirects=False).status_code in (302, 303, 401)
    theirs = _login(sqlite_app, user.username, NEW)
    r = admin.post(
        f"/admin/users/{uid}/edit",
        data={"csrf_token": token, "role": "read_only", "display_name": "Pat Reader"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Pat Reader" in admin.get("/admin/users").text
    r = admin.post(
        f"/admin/users/{uid}/active",
        data={"csrf_token": token, "active": "0"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert theirs.get("/patients", follow_redirects=False).status_code in (302, 303, 401)
    client = TestClient(sqlite_app)
    assert (
        client.post(
            "/api/v1/auth/login", json={"username": user.username, "password": NEW}
        ).status_code
        == 401
    )
    # an administrator cannot lock themselves out
    me = int(
        users.split(f"<td>{admin_user.username}</td>")[0].rsplit('id="user-', 1)[1].split('"')[0]
    )
    r = admin.post(f"/admin/users/{me}/active", data={"csrf_token": token, "active": "0"})
    assert r.status_code == 403
    audit = admin.get("/admin/audit").text
    assert "password" in audit and "sign out" in audit


def test_api_accounts(api_factory: Any, h: Any) -> None:
    admin = api_factory("admin")
    clinician = api_factory("clinician", admin.user.clinic)
    uid = next(
        u["id"]
        for u in admin.get("/api/v1/users").json()
        if u["username"] == clinician.user.username
    )
    r = clinician.post(
        "/api/v1/auth/password", json={"current_password": h.PASSWORD, "new_password": "12345678"}
    )
    assert r.status_code == 422
    r = clinician.post(
        "/api/v1/auth/password", json={"current_password": h.PASSWORD, "new_password": NEW}
    )
    assert r.status_code == 204 and clinician.get("/api/v1/me").status_code == 200
    assert clinician.post("/api/v1/auth/sign-out-everywhere").json() == {"sessions_ended": 0}
    assert clinician.patch(f"/api/v1/users/{uid}", json={"active": False}).status_code == 403
    r = admin.patch(f"/api/v1/users/{uid}", json={"active": False})
    assert r.status_code == 200
    assert clinician.get("/api/v1/me").status_code == 401
    assert (
        admin.post(f"/api/v1/users/{uid}/password", json={"new_password": NEW + "!"}).status_code
        == 204
    )
