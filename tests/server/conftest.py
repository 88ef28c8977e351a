"""Fixtures for the web app: one app per database backend, users in two clinics, logged-in clients.

The app runs on SQLite and on a throwaway PostgreSQL cluster (Debian's server binaries on
loopback, skipped with the reason only when they are absent). Tests create their own users and
clinics with unique names, so they share one database per backend.

``GLUTEMED_KB_FOLDER`` (optional) points the app at another knowledge-base folder; by default the
bundled knowledge base is used.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

import glutemed.store as store
import glutemed.store._auth as auth_module
from glutemed.server import Settings, create_app
from glutemed.store._pgcluster import shared_cluster, unavailable_reason

PASSWORD = "correct horse battery staple"
SECRET = "test-secret-" + "k3y9" * 10
CASES = Path(__file__).resolve().parents[2] / "src" / "glutemed" / "examples" / "cases"


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(auth_module, "_hasher", cheap)
    monkeypatch.setattr(auth_module, "_DUMMY_HASH", cheap.hash("timing"))


def make_settings(url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "environment": "test",
        "secret_key": SECRET,
        "cookie_secure": False,
        "kb_folder": os.environ.get("GLUTEMED_KB_FOLDER", ""),
        "public_base_url": "http://testserver",  # CDS Hooks are refused without one
    }
    values.update(changes)
    return Settings(**values)


def _app_for(backend: str, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('app') / 'glutemed.sqlite3'}"
    else:
        reason = unavailable_reason()
        if reason:
            pytest.skip(reason)
        url = shared_cluster().create_database()
    return create_app(make_settings(url))


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app on each backend (API tests run on both)."""
    return _app_for(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app on SQLite only (pages and security tests)."""
    return _app_for("sqlite", tmp_path_factory)


@dataclass
class User:
    username: str
    clinic: str
    role: str


def add_user(app: FastAPI, role: str = "clinician", clinic: str | None = None) -> User:
    """Create a user (and clinic) directly in the app's database."""
    state = app.state.glutemed
    name = f"u{uuid.uuid4().hex[:10]}"
    clinic = clinic or f"Clinic {uuid.uuid4().hex[:8]}"
    with store.session_scope(state.sessions) as db:
        c = store.get_or_create_clinic(db, clinic)
        db.add(
            store.User(
                username=name,
                display_name=f"Dr {name}",
                password_hash=store.hash_password(PASSWORD),
                role=role,
                clinic_id=c.id,
            )
        )
    return User(name, clinic, role)


class Api:
    """A logged-in JSON client that sends the CSRF header."""

    def __init__(self, app: FastAPI, user: User) -> None:
        self.user = user
        self.client = TestClient(app)
        r = self.client.post(
            "/api/v1/auth/login", json={"username": user.username, "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        self.csrf = r.json()["csrf_token"]

    def _h(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf, **(headers or {})}

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.post(url, headers=self._h(headers), **kw)

    def patch(self, url: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.patch(url, headers=self._h(headers), **kw)

    def put(self, url: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.put(url, headers=self._h(headers), **kw)


@pytest.fixture
def api_factory(app: FastAPI) -> Callable[..., Api]:
    def make(role: str = "clinician", clinic: str | None = None) -> Api:
        return Api(app, add_user(app, role, clinic))

    return make


@pytest.fixture
def api(api_factory: Callable[..., Api]) -> Api:
    return api_factory()


def example_case(name: str) -> dict[str, Any]:
    """A bundled example case as the API takes it (no label)."""
    import json

    data: dict[str, Any] = yaml.safe_load((CASES / f"{name}.yaml").read_text("utf-8"))
    data.pop("label", None)
    out: dict[str, Any] = json.loads(json.dumps(data, default=str))  # YAML dates -> ISO strings
    return out


@pytest.fixture
def patient(api: Api) -> dict[str, Any]:
    r = api.post(
        "/api/v1/patients",
        json={
            "family_name": "Testperson",
            "given_name": "Ann",
            "birth_date": "1972-05-01",
            "sex": "female",
        },
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


@pytest.fixture
def pages(sqlite_app: FastAPI) -> Iterator[Callable[..., TestClient]]:
    """Browser-like clients logged in through the login form."""
    clients: list[TestClient] = []

    def make(role: str = "clinician", clinic: str | None = None) -> TestClient:
        user = add_user(sqlite_app, role, clinic)
        client = TestClient(sqlite_app, headers={"accept": "text/html"})
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = client.post(
            "/login",
            data={
                "username": user.username,
                "password": PASSWORD,
                "csrf_token": token,
                "next": "/patients",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        client.user = user  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


def visit_form_data(token: str) -> dict[str, str]:
    """A filled-in visit form: lateral hip pain with the findings of gluteal tendinopathy."""
    return {
        "csrf_token": token,
        "visit_date": "2026-11-03",
        "setting": "primary_care",
        "side": "left",
        "mri_available": "1",
        "factor_fit_for_surgery": "1",
        "f_lateral_hip_pain": "positive",
        "f_palpation_greater_trochanter_tenderness": "positive",
        "f_resisted_hip_abduction_pain": "positive",
        "f_single_leg_stance_30s": "positive",
        "note": "sore on stairs",
    }


def patient_with_visit(client: Any, **patient: str) -> tuple[str, str, str]:
    """Through the pages: a new patient and a visit (:func:`visit_form_data`).

    Returns the patient's URL, the visit's URL and the page CSRF token.
    """
    fields = {"family_name": "Visited", "birth_date": "1960-01-01", "sex": "female", **patient}
    token = page_csrf(client.get("/patients/new").text)
    r = client.post("/patients", data={"csrf_token": token, **fields}, follow_redirects=False)
    patient_url = str(r.headers["location"])
    token = page_csrf(client.get(f"{patient_url}/visits/new").text)
    r = client.post(f"{patient_url}/visits", data=visit_form_data(token), follow_redirects=False)
    return patient_url, str(r.headers["location"]), token


def page_csrf(html: str) -> str:
    """The CSRF token embedded in a page."""
    return html.split('name="csrf_token" value="')[1].split('"')[0]


@pytest.fixture(scope="session")
def h() -> Any:
    """Helpers for test modules (conftest modules are not imported directly)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        PASSWORD=PASSWORD,
        SECRET=SECRET,
        Api=Api,
        add_user=add_user,
        example_case=example_case,
        make_settings=make_settings,
        page_csrf=page_csrf,
        visit_form_data=visit_form_data,
        patient_with_visit=patient_with_visit,
    )
