"""End to end in headless Chromium (Playwright's Python API) on a tablet-sized screen.

A real uvicorn server on loopback with a fresh SQLite database; the browser logs in, creates a
patient, enters a visit in the sectioned form, sees the assessment and the care plan, accepts the
plan, uploads a movement trial (when the shared reference file is there), records two
questionnaires and sees the chart, opens the letter (and its PDF) and the handout and comes back,
exports the record as FHIR and corrects the visit with a reason. Screenshots go to
``artifacts/e2e/`` (git-ignored).

Uses the system Chromium (``chromium`` on PATH, Debian's package); it never downloads a browser.
Skipped, with the reason, when Chromium or Playwright is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

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
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status == 404 else None)

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
    # sections are collapsed, each with a summary line; a jump link opens its section
    pain_sites = page.locator("#section-pain_sites")
    expect(pain_sites).to_be_visible()
    expect(pain_sites.locator("[data-summary]")).to_have_text("nothing recorded")
    assert page.locator("details.form-section[open]").count() == 0
    expect(page.locator("input[name='f_lateral_hip_pain'] + span").first).to_be_hidden()
    page.select_option("#side", "left")
    page.click("a[href='#section-pain_sites']")
    page.locator("input[name='f_lateral_hip_pain'][value='positive'] + span").click()
    expect(pain_sites.locator("[data-summary]")).to_have_text("1 positive")  # updated live
    live = page.locator("#live-assessment")
    expect(live).to_contain_text("Next best test:")  # the engine's suggestion, as one types
    before = live.inner_text()
    # a complete pain map: the pain sites not marked count as absent, and the estimate moves
    page.locator("input[name='f_pain_map_complete'][value='positive'] + span").click()
    expect(pain_sites.locator("[data-summary]")).to_have_text("2 positive")
    expect(live).not_to_have_text(before)
    page.click("[data-action=expand-all]")
    for fid in (
        "palpation_greater_trochanter_tenderness",
        "resisted_hip_abduction_pain",
        "single_leg_stance_30s",
    ):
        page.locator(f"input[name='f_{fid}'][value='positive'] + span").click()
    # keyboard: focus a finding, N chooses negative, Enter goes on to the next finding
    page.locator("input[name='f_trendelenburg_sign'][value='not_done']").focus()
    page.keyboard.press("n")
    expect(page.locator("input[name='f_trendelenburg_sign'][value='negative']")).to_be_checked()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.name") != "f_trendelenburg_sign"
    expect(page).to_have_url(re.compile(r"/visits/new(#.*)?$"))  # Enter did not submit it
    page.locator("#section-exam_side_lying details.how").first.click()  # how to perform opens
    expect(page.locator("#section-exam_side_lying [data-summary]")).to_have_text("2 positive")
    expect(live).not_to_have_text(before)  # the probabilities moved with the findings
    _shot(page, "02a-visit-form-open")
    page.click("[data-action=collapse-all]")
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
        expect(page.locator("table.verdict")).to_contain_text("Strides measured")
        expect(page.locator("table").last).to_contain_text("pelvic")
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

    # the letter: on screen with back and print, and as a PDF
    page.goto(visit_url)
    page.click("text=Letter to the GP")
    expect(page.locator("h1")).to_have_text("Letter to the general practitioner")
    expect(page.locator("nav.toolbar button[data-action=print]")).to_be_visible()
    _shot(page, "08-letter")
    pdf_href = page.locator("nav.toolbar a", has_text="Download PDF").get_attribute("href")
    pdf = page.request.get(f"{server}{pdf_href}")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    (ARTIFACTS / "08-letter.pdf").write_bytes(pdf.body())
    page.click("text=Back to the visit")
    expect(page).to_have_url(visit_url)

    # the patient handout, then back
    page.click("text=Patient handout")
    expect(page.locator("nav.toolbar")).to_be_visible()
    _shot(page, "09-handout")
    page.click("text=Back to the visit")
    expect(page).to_have_url(visit_url)

    # FHIR export from the patient page
    page.goto(patient_url)
    with page.expect_download() as download:
        page.click("text=Export record (FHIR)")
    bundle = download.value.path()
    assert bundle is not None and b'"resourceType"' in Path(bundle).read_bytes()

    # a correction of the visit: a reason is asked, and the history shows it
    page.goto(visit_url)
    page.click("text=Correct findings")
    page.click("[data-action=expand-all]")
    page.locator("input[name='f_faber_test'][value='negative'] + span").click()
    page.fill("#reason", "FABER done after the first save")
    page.click("button:has-text('Save and assess')")
    expect(page).to_have_url(visit_url)
    page.goto(visit_url.replace("/visits/", "/history/visits/"))
    expect(page.locator("table")).to_contain_text("FABER done after the first save")
    _shot(page, "10-correction-history")

    # an error page says what happened in words, and its Back button works under the CSP
    history_url = page.url
    seen = len(errors)
    page.goto(f"{server}/patients/999999")
    expect(page.locator("h1")).to_have_text("Not found")
    assert all("404" in e for e in errors[seen:])  # the page asked for, and nothing else
    del errors[seen:]
    _shot(page, "11-error-page")
    page.click("a[data-action=back]")
    expect(page).to_have_url(history_url)
    context.close()
    assert not errors, errors
