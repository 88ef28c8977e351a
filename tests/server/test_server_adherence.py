"""Adherence and progression in the web app: JSON API, visit form, per-visit table, log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.server.conftest import Api, add_user, example_case


def _visit(api: Api, patient_id: int, date: str) -> int:
    case = example_case("tendinopathy")
    r = api.post(
        f"/api/v1/patients/{patient_id}/visits",
        json={"case": case, "visit_date": date, "plan": False},
    )
    assert r.status_code == 201, r.text
    visit_id: int = r.json()["visit"]["id"]
    return visit_id


def _record(done: int, pain: int, week: int = 2) -> dict[str, Any]:
    return {
        "programme": "prog_leap_edx",
        "stage": "leap_week_1",
        "programme_week": week,
        "entries": [
            {
                "exercise": "ex_double_leg_bridge",
                "sessions_done": done,
                "sessions_prescribed": 7,
                "pain_during_nrs_0_10": pain,
                "pain_after_nrs_0_10": 2,
            }
        ],
    }


def test_api_records_lists_decides_and_scopes(
    api: Api, api_factory: Callable[..., Api], patient: dict[str, Any]
) -> None:
    visit_id = _visit(api, patient["id"], "2026-11-16")
    r = api.post(f"/api/v1/visits/{visit_id}/adherence", json=_record(6, 3))
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["done_pct"] == round(600 / 7, 1)
    assert rec["suggestion"]["action"] == "progress"
    assert rec["suggestion"]["target_stage"] == "leap_week_2"
    assert rec["suggestion"]["uses_assumptions"] is True
    assert rec["versions"]["kb"]
    listed = api.get(f"/api/v1/patients/{patient['id']}/adherence").json()
    assert [x["id"] for x in listed] == [rec["id"]]
    d = api.post(
        f"/api/v1/adherence/{rec['id']}/decision",
        json={"decision": "stay", "next_stage": "leap_week_1", "version": rec["version"]},
    )
    assert d.status_code == 200, d.text
    assert d.json()["decision"] == "stay"
    stale = api.post(
        f"/api/v1/adherence/{rec['id']}/decision",
        json={"decision": "progress", "version": rec["version"]},
    )
    assert stale.status_code == 409
    other = api_factory()
    assert other.get(f"/api/v1/patients/{patient['id']}/adherence").status_code == 404
    assert other.post(f"/api/v1/visits/{visit_id}/adherence", json=_record(6, 3)).status_code == 404
    timeline = api.get(f"/api/v1/patients/{patient['id']}/timeline").json()["events"]
    assert any(
        e["kind"] == "adherence" and "86 % of sessions done" in e["summary"] for e in timeline
    )


def test_api_bad_input_is_problem_json_naming_the_field_and_stores_nothing(
    api: Api, patient: dict[str, Any]
) -> None:
    visit_id = _visit(api, patient["id"], "2026-11-16")
    r = api.post(f"/api/v1/visits/{visit_id}/adherence", json=_record(9, 11))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "ex_double_leg_bridge.sessions_done" in r.text
    assert "ex_double_leg_bridge.pain_during_nrs_0_10" in r.text
    assert api.get(f"/api/v1/patients/{patient['id']}/adherence").json() == []
    s = api.post("/api/v1/adherence/suggestion", json=_record(2, 1))
    assert s.status_code == 200 and s.json()["suggestion"]["action"] == "stay"


def test_read_only_cannot_record(sqlite_app: FastAPI) -> None:
    clinic = "Clinic adherence-ro"
    writer = Api(sqlite_app, add_user(sqlite_app, "clinician", clinic))
    reader = Api(sqlite_app, add_user(sqlite_app, "read_only", clinic))
    p = writer.post("/api/v1/patients", json={"family_name": "R"}).json()
    visit_id = _visit(writer, p["id"], "2026-11-16")
    assert (
        reader.post(f"/api/v1/visits/{visit_id}/adherence", json=_record(6, 3)).status_code == 403
    )


def test_visit_form_keeps_values_on_error_then_saves(
    pages: Callable[..., TestClient], sqlite_app: FastAPI
) -> None:
    client = pages()
    api = Api(sqlite_app, client.user)  # type: ignore[attr-defined]
    p = api.post("/api/v1/patients", json={"family_name": "Form"}).json()
    _visit(api, p["id"], "2026-11-02")
    visit_id = _visit(api, p["id"], "2026-11-16")
    form = client.get(f"/visits/{visit_id}/adherence?programme=prog_leap_edx&stage=leap_week_1")
    assert form.status_code == 200
    # 14 days since the last visit: the twice-daily hold is 28 sessions, the daily bridge 14
    assert 'name="ex_static_abduction_supine.sessions_prescribed"' in form.text
    assert 'value="28"' in form.text and 'value="14"' in form.text
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    data = {
        "csrf_token": token,
        "programme": "prog_leap_edx",
        "stage": "leap_week_1",
        "programme_week": "3",
        "ex_double_leg_bridge.sessions_done": "20",
        "ex_double_leg_bridge.sessions_prescribed": "14",
        "ex_side_stepping.pain_during_nrs_0_10": "12",
    }
    bad = client.post(f"/visits/{visit_id}/adherence", data=data)
    assert bad.status_code == 422
    assert 'value="20"' in bad.text and 'value="12"' in bad.text  # nothing typed is lost
    assert "Sessions done" in bad.text and "ex_double_leg_bridge" not in bad.text.split("<form")[0]
    data["ex_double_leg_bridge.sessions_done"] = "13"
    data["ex_side_stepping.pain_during_nrs_0_10"] = "4"
    ok = client.post(f"/visits/{visit_id}/adherence", data=data, follow_redirects=False)
    assert ok.status_code == 303
    page = client.get(f"/visits/{visit_id}")
    assert 'id="adherence"' in page.text and "93 %" in page.text
    assert "Suggested:" in page.text and "Progress" in page.text
    assert "you decide" in page.text and "assumption" in page.text
    outcomes = client.get(f"/patients/{p['id']}/outcomes")
    assert 'id="per-visit"' in outcomes.text and "93 %" in outcomes.text
    assert 'id="plan-progression"' in page.text  # also on the care plan
    record_id = int(page.text.split('id="adherence-')[1].split('"')[0])
    history = client.get(f"/history/adherence_records/{record_id}")
    assert history.status_code == 200
    assert "LEAP education plus exercise programme" in history.text
    assert "prog_leap_edx" not in history.text and "prog leap edx" not in history.text
    void = client.get(f"/records/adherence_records/{record_id}/void")
    assert void.status_code == 200 and "Exercise adherence" in void.text
    letter = client.get(f"/visits/{visit_id}/report")
    assert letter.status_code == 200
    assert "Exercise programme: adherence and exercise pain" in letter.text
    assert "13 of 14 (93 %)" in letter.text and "suggested: progress" in letter.text
    token = void.text.split('name="csrf_token" value="')[1].split('"')[0]
    voided = client.post(
        f"/records/adherence_records/{record_id}/void",
        data={"csrf_token": token, "reason": "entered for the wrong visit", "version": "1"},
        follow_redirects=False,
    )
    assert voided.status_code == 303
    page = client.get(f"/visits/{visit_id}")
    assert "voided: entered for the wrong visit" in page.text
    assert 'id="plan-progression"' not in page.text
    assert "93 %" not in client.get(f"/patients/{p['id']}/outcomes").text


def test_printable_log_html_and_pdf(pages: Callable[..., TestClient]) -> None:
    client = pages()
    log = client.get("/programmes/prog_leap_edx/log?stage=leap_week_1&days=3&start=2026-12-07")
    assert log.status_code == 200
    assert "Mon 07 Dec" in log.text and "Wed 09 Dec" in log.text and "Day 4" not in log.text
    assert log.text.count("Bridge on both legs") == 4  # 3 days + the totals table
    assert "&#9744;&#9744;" in log.text  # twice a day: two boxes
    assert client.get("/programmes/prog_leap_edx/log?days=99").status_code == 422
    pdf = client.get("/programmes/prog_leap_edx/log.pdf?stage=leap_week_1")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "/programmes/prog_leap_edx/log" in client.get("/programmes").text
