"""Exercise programmes in the web app: picker page, patient sheet and JSON API."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.server.conftest import Api, add_user


def test_api_lists_programmes_and_prescribes_with_changes(sqlite_app: FastAPI) -> None:
    api = Api(sqlite_app, add_user(sqlite_app))
    listed = api.get("/api/v1/programmes")
    assert listed.status_code == 200
    assert {p["id"] for p in listed.json()} >= {"prog_leap_edx", "prog_postop_repair"}
    r = api.get(
        "/api/v1/programmes/prog_leap_edx/prescription",
        params={
            "stage": "leap_weeks_3_8",
            "omit": "ex_sliding_platform",
            "set": "ex_offset_squat.sets_min=1",
        },
    )
    assert r.status_code == 200, r.text
    data = r.json()
    squat = next(e for e in data["exercises"] if e["exercise"] == "ex_offset_squat")
    assert squat["dose"]["sets_min"] == 1 and squat["adjusted_from_source"]
    assert data["versions"]["kb"]


def test_api_errors_are_problem_json(sqlite_app: FastAPI) -> None:
    api = Api(sqlite_app, add_user(sqlite_app))
    missing = api.get("/api/v1/programmes/prog_nope/prescription")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = api.get(
        "/api/v1/programmes/prog_leap_edx/prescription",
        params={"set": "ex_side_stepping.sets_min=0"},
    )
    assert bad.status_code == 422
    assert "ex_side_stepping.sets_min" in bad.text


def test_api_needs_login(sqlite_app: FastAPI) -> None:
    assert TestClient(sqlite_app).get("/api/v1/programmes").status_code == 401


def test_picker_page_and_sheet(pages: Callable[..., TestClient]) -> None:
    client = pages()
    page = client.get("/programmes")
    assert page.status_code == 200
    assert "LEAP education plus exercise programme" in page.text
    assert 'name="sets_min.ex_offset_squat"' in page.text
    sheet = client.get(
        "/programmes/prog_leap_edx/sheet",
        params={
            "stage": "leap_weeks_3_8",
            "omit": "ex_sliding_platform",
            "sets_min.ex_offset_squat": "1",
            "reps_min.ex_double_leg_bridge": "5",  # unchanged from the source: not flagged
        },
    )
    assert sheet.status_code == 200
    assert sheet.text.count("Set for you by your physiotherapist.") == 1
    assert "Sliding-board" not in sheet.text and "77 of 100" in sheet.text


def test_a_number_typed_in_the_picker_is_the_exact_dose(pages: Callable[..., TestClient]) -> None:
    client = pages()
    sheet = client.get(
        "/programmes/prog_leap_edx/sheet",
        params={"stage": "leap_weeks_3_8", "reps_min.ex_offset_squat": "12"},
    )
    assert sheet.status_code == 200, sheet.text
    assert "12 times, 2 rounds" in sheet.text


def test_sheet_as_pdf(pages: Callable[..., TestClient]) -> None:
    r = pages().get("/programmes/prog_clifford_isometric/sheet.pdf")
    assert r.status_code == 200 and r.content[:5] == b"%PDF-"


def test_visit_page_shows_the_decision_aid_when_exercise_is_planned(
    pages: Callable[..., TestClient], sqlite_app: FastAPI
) -> None:
    from tests.server.conftest import example_case

    client = pages()
    api = Api(sqlite_app, client.user)  # type: ignore[attr-defined]
    patient = api.post(
        "/api/v1/patients",
        json={
            "family_name": "Test",
            "given_name": "Ann",
            "birth_date": "1972-05-01",
            "sex": "female",
        },
    ).json()
    detail = api.post(
        f"/api/v1/patients/{patient['id']}/visits", json={"case": example_case("tendinopathy")}
    ).json()
    page = client.get(f"/visits/{detail['visit']['id']}")
    assert page.status_code == 200
    assert 'id="decision-aid"' in page.text and "77 of 100" in page.text
    assert 'href="/programmes"' in page.text
