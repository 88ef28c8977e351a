"""Corrections with history: visits, treatments, outcomes and movement analyses are corrected or
voided with a reason, kept in the audit history, shown struck through and left out of use."""

from __future__ import annotations

import re
from typing import Any

import pytest


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def _a_treatment() -> str:
    import os

    from glutemed.knowledge import load_kb

    kb = load_kb(os.environ.get("GLUTEMED_KB_FOLDER") or None)
    return next(t.id for t in kb.treatments.values() if t.stage == 1)


def test_visit_correction_needs_a_reason_and_is_in_the_history(pages: Any, h: Any) -> None:
    client = pages()
    _, visit_url, token = h.patient_with_visit(client)
    vid = visit_url.rsplit("/", 1)[1]
    form = client.get(f"{visit_url}/edit").text
    version = re.search(r'name="version" value="(\d+)"', form).group(1)  # type: ignore[union-attr]
    data = h.visit_form_data(token) | {"version": version, "f_faber_test": "positive"}
    r = client.post(f"{visit_url}/edit", data=data)
    assert r.status_code == 422 and '<a href="#field-reason">Reason</a>' in r.text
    assert 'value="positive" data-label="positive" checked' in r.text  # typed values kept
    r = client.post(
        f"{visit_url}/edit",
        data=data | {"reason": "FABER entered late"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    history = client.get(f"/history/visits/{vid}").text
    assert "Reason:</strong> FABER entered late" in history
    assert "FABER" in history and "<del>not recorded</del> → positive" in history
    assert "{'" not in history and "corrected" in history


def test_void_a_visit_keeps_it_struck_through_and_out_of_use(pages: Any, h: Any) -> None:
    client = pages()
    patient_url, visit_url, token = h.patient_with_visit(client)
    vid = visit_url.rsplit("/", 1)[1]
    page = client.get(f"/records/visits/{vid}/void").text
    assert "Void: Visit of 2026-11-03" in page
    r = client.post(f"/records/visits/{vid}/void", data={"csrf_token": token, "version": "1"})
    assert r.status_code == 422 and 'id="field-reason"' in r.text and "field-error" in r.text
    r = client.post(
        f"/records/visits/{vid}/void",
        data={"csrf_token": token, "version": "1", "reason": "wrong patient"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == patient_url
    timeline = client.get(patient_url).text
    item = timeline.split(f'id="visit-{vid}"', 1)[1].split("</li>", 1)[0]
    assert "<del>" in item and "voided: wrong patient" in item
    visit = client.get(visit_url).text
    assert "This visit was voided" in visit and "Correct findings" not in visit
    assert client.get(f"/visits/{vid}/report?to=gp").status_code == 409  # not reported
    history = client.get(f"/history/visits/{vid}").text
    assert "voided" in history and "Void reason: wrong patient" in history
    again = client.post(
        f"/records/visits/{vid}/void",
        data={"csrf_token": token, "version": "2", "reason": "twice"},
    )
    assert again.status_code == 409 and "already voided" in again.text.lower()
    pid = patient_url.rsplit("/", 1)[1]
    assert client.get(f"/api/v1/patients/{pid}/visits").json() == []


def test_void_treatment_and_outcome_leave_the_case_and_the_chart(pages: Any, h: Any) -> None:
    client = pages()
    patient_url, _, token = h.patient_with_visit(client)
    pid = patient_url.rsplit("/", 1)[1]
    client.post(
        f"{patient_url}/treatments",
        data={"csrf_token": token, "treatment_id": _a_treatment(), "given_on": "2026-10-01"},
    )
    tid = client.get(f"/api/v1/patients/{pid}/treatments").json()[0]["id"]
    for day, score in (("2026-10-01", "7"), ("2026-11-01", "3")):
        client.post(
            f"{patient_url}/outcomes",
            data={"csrf_token": token, "instrument": "nprs", "measured_on": day, "total": score},
        )
    outcomes = client.get(f"/api/v1/patients/{pid}/outcomes").json()
    oid = outcomes[-1]["id"]
    r = client.post(
        f"/records/treatments_given/{tid}/void",
        data={"csrf_token": token, "version": "1", "reason": "never started"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"/records/outcomes/{oid}/void",
        data={"csrf_token": token, "version": "1", "reason": "other patient's form"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get(f"/api/v1/patients/{pid}/treatments").json() == []
    assert [o["id"] for o in client.get(f"/api/v1/patients/{pid}/outcomes").json()] == [
        outcomes[0]["id"]
    ]
    page = client.get(f"{patient_url}/outcomes").text
    row = page.split(f'id="outcome-{oid}"', 1)[1].split("</tr>", 1)[0]
    assert "<del>" in row and "voided: other patient&#39;s form" in row
    assert page.count('class="point"') == 1  # the chart has only the kept score
    patient = client.get(patient_url).text
    row = patient.split(f'id="treatment-{tid}"', 1)[1].split("</tr>", 1)[0]
    assert "<del>" in row and "voided: never started" in row
    # a new visit no longer counts the voided treatment as tried
    token = _csrf(client.get(f"{patient_url}/visits/new").text)
    r = client.post(f"{patient_url}/visits", data=h.visit_form_data(token), follow_redirects=False)
    new_vid = r.headers["location"].rsplit("/", 1)[1]
    case = client.get(f"/api/v1/visits/{new_vid}").json()["visit"]["case"]
    assert case.get("treatments_tried") in ([], None)


def test_api_void_and_edit_reason(api: Any, patient: dict[str, Any], h: Any) -> None:
    detail = api.post(
        f"/api/v1/patients/{patient['id']}/visits", json={"case": h.example_case("tendinopathy")}
    ).json()
    vid = detail["visit"]["id"]
    r = api.patch(
        f"/api/v1/visits/{vid}", json={"version": 1, "note": "typo fixed", "reason": "typo"}
    )
    assert r.status_code == 200, r.text
    events = api.get(f"/api/v1/visits/{vid}/history").json()
    assert any((e.get("changes") or {}).get("reason") == [None, "typo"] for e in events)
    r = api.post(f"/api/v1/records/visits/{vid}/void", json={"reason": "", "version": 2})
    assert r.status_code == 422
    r = api.post(f"/api/v1/records/visits/{vid}/void", json={"reason": "duplicate", "version": 1})
    assert r.status_code == 409  # stale version
    r = api.post(f"/api/v1/records/visits/{vid}/void", json={"reason": "duplicate", "version": 2})
    assert r.status_code == 200 and r.json()["void_reason"] == "duplicate"
    assert api.patch(f"/api/v1/visits/{vid}", json={"version": 3, "note": "x"}).status_code == 409
    r = api.post(f"/api/v1/records/patients/{patient['id']}/void", json={"reason": "no"})
    assert r.status_code == 422


@pytest.mark.parametrize("kind", ["assessments", "care_plans"])
def test_only_clinical_entries_can_be_voided(pages: Any, kind: str) -> None:
    client = pages()
    assert client.get(f"/records/{kind}/1/void").status_code == 404
