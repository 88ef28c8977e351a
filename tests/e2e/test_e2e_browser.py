"""End to end in headless Chromium (Playwright's Python API) on a tablet-sized screen.

A real uvicorn server on loopback with a fresh SQLite database; the browser logs in, creates a
patient, enters a visit, sees the assessment and the care plan, accepts the plan, records two
questionnaires and sees the chart. Screenshots go to ``artifacts/e2e/`` (git-ignored).

Uses the system Chromium (``chromium`` on PATH, Debian's package); it never downloads a browser.
Skipped, with the reason, when Chromium or Playwright is missing.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS, PASSWORD, ROOT

pytestmark = pytest.mark.slow


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_clinician_journey(server: str, browser: object) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 834, "height": 1194},
        device_scale_factor=1,
        has_touch=True,
        locale="en-GB",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # log in
    page.goto(f"{server}/patients")
    expect(page).to_have_url(f"{server}/login?next=/patients")
    page.fill("#username", "dr.lee")
    page.fill("#password", PASSWORD)
    _shot(page, "01-login")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Patients")

    # create a patient
    page.click("text=New patient")
    page.fill("#family_name", "Hartley")
    page.fill("#given_name", "Margaret")
    page.fill("#birth_date", "1968-04-17")
    page.select_option("#sex", "female")
    page.fill("#identifier", "HP-0042")
    page.click("button:has-text('Save')")
    expect(page.locator("h1")).to_contain_text("Hartley")
    patient_url = page.url

    # patient search with htmx
    page.goto(f"{server}/patients")
    page.fill("#q", "hartl")
    expect(page.locator("#rows")).to_contain_text("Hartley, Margaret")
    page.fill("#q", "nobody-called-this")
    expect(page.locator("#rows")).to_contain_text("No patient matches")

    # enter a visit: findings from the knowledge-base form
    page.goto(patient_url)
    page.click("text=New visit")
    expect(page.locator("#section-examination")).to_be_visible()
    page.select_option("#side", "left")
    for fid in (
        "lateral_hip_pain",
        "palpation_greater_trochanter_tenderness",
        "resisted_hip_abduction_pain",
        "single_leg_stance_30s",
    ):
        page.locator(f"input[name='f_{fid}'][value='positive'] + span").click()
    trendelenburg = page.locator("input[name='f_trendelenburg_sign'][value='negative'] + span")
    if trendelenburg.count():
        trendelenburg.click()
    page.locator("#section-examination details.how").first.click()  # how to perform opens
    _shot(page, "02-visit-form")
    page.click("button:has-text('Save and assess')")

    # assessment and plan
    expect(page.locator("#differential .prob").first).to_be_visible()
    expect(page.locator("#imaging")).to_be_visible()
    expect(page.locator("#care-plan")).to_be_visible()
    assert page.locator("#differential .prob").count() >= 2
    page.locator("#differential details.explain").first.click()
    _shot(page, "03-assessment")
    accept = page.locator("button:has-text('Accept plan')")
    if accept.count():
        accept.click()
        expect(page.locator("#plan-status")).to_have_text("accepted")
        _shot(page, "04-plan-accepted")
    visit_url = page.url.split("#")[0]

    # movement: upload the shared reference gait file (when present) and see measures and plot
    c3d = ROOT.parent / "shared" / "data" / "c3d" / "gait-raw.c3d"
    if c3d.exists() and page.locator("#file").count():
        page.set_input_files("#file", str(c3d))
        page.select_option("#task", "walk")
        page.click("button:has-text('Analyse and keep with this visit')")
        expect(page.locator("h1")).to_contain_text("Movement")
        expect(page.locator("table")).to_contain_text("pelvic")
        expect(page.locator("img")).to_be_visible()
        _shot(page, "07-movement")
        page.goto(visit_url)

    # outcomes: two NPRS scores, then the chart
    page.goto(f"{patient_url}/outcomes")
    page.select_option("#instrument", "nprs")
    expect(page.locator("#item_score")).to_be_visible()  # htmx swapped the fields in
    page.fill("#measured_on", "2026-09-01")
    page.fill("#item_score", "7")
    page.click("button:has-text('Save score')")
    expect(page.locator("#instrument")).to_have_value("nprs")  # the form keeps the questionnaire
    expect(page.locator("#item_score")).to_be_visible()
    page.fill("#measured_on", "2026-11-01")
    page.fill("#item_score", "3")
    page.click("button:has-text('Save score')")
    chart = page.locator("#charts svg.chart").first
    expect(chart).to_be_visible()
    assert chart.locator("circle.point").count() == 2
    assert chart.locator("rect.mcid-band").count() == 1
    _shot(page, "05-outcomes-chart")

    # the patient's timeline shows it all
    page.goto(patient_url)
    expect(page.locator(".timeline")).to_contain_text("visit")
    expect(page.locator(".timeline")).to_contain_text("outcome")
    _shot(page, "06-timeline")
    context.close()
    assert not errors, errors
