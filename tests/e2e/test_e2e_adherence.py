"""End to end in headless Chromium: exercise adherence recorded at two visits, seen over time.

The clinician records, in the browser, the sessions done and the exercise pain of the LEAP
programme at two visits: at the first, too few sessions (the suggestion is to stay), at the
second, enough sessions with pain within the pain rule (the suggestion is to progress to the next
stage), decides, and then sees both visits' adherence beside the pain scores on the outcomes page
and on the patient timeline. A typed error (more sessions done than prescribed) keeps what was
typed. Screenshots go to ``artifacts/e2e/`` (git-ignored).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, PASSWORD, ROOT

pytestmark = pytest.mark.slow

CASE = ROOT / "src" / "glutemed" / "examples" / "cases" / "tendinopathy.yaml"


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _setup(context: Any, server: str) -> tuple[int, list[int]]:
    """A patient with two visits two weeks apart and an NPRS score at each (through the API)."""
    import json

    import yaml

    r = context.request.post(
        f"{server}/api/v1/auth/login", data={"username": "dr.lee", "password": PASSWORD}
    )
    assert r.ok, r.text()
    headers = {"X-CSRF-Token": r.json()["csrf_token"]}
    p = context.request.post(
        f"{server}/api/v1/patients",
        data={"family_name": "Okafor", "given_name": "Grace", "sex": "female"},
        headers=headers,
    ).json()
    case = yaml.safe_load(CASE.read_text("utf-8"))
    case.pop("label", None)
    case = json.loads(json.dumps(case, default=str))
    visits = []
    for day, pain in (("2026-11-02", 6), ("2026-11-16", 4)):
        v = context.request.post(
            f"{server}/api/v1/patients/{p['id']}/visits",
            data={"case": case, "visit_date": day, "plan": False},
            headers=headers,
        )
        assert v.ok, v.text()
        visit_id = v.json()["visit"]["id"]
        visits.append(visit_id)
        o = context.request.post(
            f"{server}/api/v1/patients/{p['id']}/outcomes",
            data={"instrument": "nprs", "total": pain, "measured_on": day, "visit_id": visit_id},
            headers=headers,
        )
        assert o.ok, o.text()
    return p["id"], visits


def test_adherence_at_two_visits_on_the_timeline(server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1024, "height": 1194}, locale="en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    patient_id, (first, second) = _setup(context, server)

    # visit 1: choose the programme and stage, type the log's totals
    page.goto(f"{server}/visits/{first}")
    page.click("#record-adherence")
    page.select_option("#a_programme", "prog_leap_edx")
    page.click("#adherence-choose button")
    page.select_option("#a_stage", "leap_week_1")
    page.click("#adherence-choose button")
    expect(page.locator("#adherence-form h2")).to_contain_text("Week 1")
    page.fill("#programme_week", "1")
    page.fill("input[name='ex_double_leg_bridge.sessions_done']", "9")
    page.fill("input[name='ex_double_leg_bridge.sessions_prescribed']", "7")
    page.fill("input[name='ex_double_leg_bridge.pain_during_nrs_0_10']", "3")
    page.click("button:has-text('Save and suggest')")
    # a typed error names the field and keeps what was typed
    expect(page.locator("#form-errors")).to_contain_text("Sessions done")
    expect(page.locator("input[name='ex_double_leg_bridge.sessions_done']")).to_have_value("9")
    expect(page.locator("input[name='ex_double_leg_bridge.pain_during_nrs_0_10']")).to_have_value(
        "3"
    )
    _shot(page, "adherence-01-error")
    page.fill("input[name='ex_double_leg_bridge.sessions_done']", "3")
    page.fill("input[name='ex_double_leg_bridge.pain_after_nrs_0_10']", "2")
    page.click("button:has-text('Save and suggest')")
    expect(page.locator("#adherence .suggested-action")).to_have_text("Stay at this level")
    expect(page.locator("#adherence .adherence-pct")).to_have_text("43 %")
    page.click("#adherence button:has-text('Save decision')")
    expect(page.locator("#adherence .decision")).to_contain_text("Stay at this level")
    _shot(page, "adherence-02-visit-1")

    # visit 2: the form carries on with the same programme and stage
    page.goto(f"{server}/visits/{second}")
    page.click("#record-adherence")
    expect(page.locator("#adherence-form h2")).to_contain_text("Week 1")
    page.fill("#programme_week", "2")
    for ex, done in (("ex_double_leg_bridge", "14"), ("ex_side_stepping", "13")):
        page.fill(f"input[name='{ex}.sessions_done']", done)
        page.fill(f"input[name='{ex}.sessions_prescribed']", "14")
        page.fill(f"input[name='{ex}.pain_during_nrs_0_10']", "4")
        page.fill(f"input[name='{ex}.pain_after_nrs_0_10']", "2")
        page.select_option(f"select[name='{ex}.settled_next_morning']", "yes")
    _shot(page, "adherence-03-form")
    page.click("button:has-text('Save and suggest')")
    expect(page.locator("#adherence .suggested-action")).to_have_text("Progress")
    expect(page.locator("#adherence .suggestion")).to_contain_text("Week 2")
    expect(page.locator("#adherence .adherence-pct")).to_have_text("96 %")
    page.select_option("#adherence select[name='decision']", "progress")
    page.click("#adherence button:has-text('Save decision')")
    expect(page.locator("#adherence .decision")).to_contain_text("Progress")
    _shot(page, "adherence-04-visit-2")

    # over time: adherence and exercise pain beside the pain scores, per visit
    page.goto(f"{server}/patients/{patient_id}/outcomes")
    rows = page.locator("#per-visit tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("2026-11-02")
    expect(rows.nth(0)).to_contain_text("43 %")
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("6")
    expect(rows.nth(1)).to_contain_text("96 %")
    expect(rows.nth(1).locator("td").nth(1)).to_have_text("4")
    expect(rows.nth(1)).to_contain_text("4 / 2")
    page.locator("#per-visit").screenshot(path=str(ARTIFACTS / "adherence-05-per-visit.png"))
    page.goto(f"{server}/patients/{patient_id}")
    expect(page.locator(".timeline")).to_contain_text("96 % of sessions done")
    expect(page.locator(".timeline")).to_contain_text("43 % of sessions done")
    _shot(page, "adherence-06-timeline")
    page.goto(f"{server}/visits/{second}/report")
    section = page.locator("h2:has-text('Exercise programme') + table")
    expect(section).to_contain_text("27 of 28 (96 %)")
    expect(section).to_contain_text("3 of 7 (43 %)")
    _shot(page, "adherence-07-letter")
    assert errors == []
    context.close()
