"""Server-rendered pages: forms generated from the knowledge base, assessment, plan, outcomes."""

from __future__ import annotations

import re
from typing import Any

from glutemed.knowledge import load_kb


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _new_patient(client: Any, **fields: str) -> str:
    token = _csrf(client.get("/patients/new").text)
    data = {
        "csrf_token": token,
        "family_name": "Page",
        "given_name": "Pat",
        "birth_date": "1966-02-03",
        "sex": "female",
    }
    data.update(fields)
    r = client.post("/patients", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def _visit_form(client: Any, patient_url: str) -> tuple[str, str]:
    page = client.get(f"{patient_url}/visits/new")
    assert page.status_code == 200
    return page.text, _csrf(page.text)


def test_login_page_and_patient_search(pages: Any) -> None:
    client = pages()
    _new_patient(client, family_name="Abernathy")
    _new_patient(client, family_name="Zimmermann")
    page = client.get("/patients")
    assert (
        page.status_code == 200
        and "Abernathy" in page.text
        and 'hx-get="/patients/rows"' in page.text
    )
    rows = client.get("/patients/rows?q=zimm", headers={"HX-Request": "true"})
    assert "Zimmermann" in rows.text and "Abernathy" not in rows.text and "<html" not in rows.text


def test_visit_form_is_generated_from_the_knowledge_base(pages: Any) -> None:
    import html as html_module

    from glutemed.server._wording import Wording

    client = pages()
    html, _ = _visit_form(client, _new_patient(client))
    kb = load_kb(__import__("os").environ.get("GLUTEMED_KB_FOLDER") or None)
    wording = Wording(kb)
    text = html_module.unescape(html)
    # every finding of the knowledge base can be entered: only the derived age flag and the
    # symptoms on both sides (the side chosen at the top of the form) are not asked
    missing = [
        f.id
        for f in kb.findings.values()
        if f.id not in ("age_60_or_over", "bilateral_symptoms")
        and f'name="{"i_" if f.kind == "imaging" else "f_"}{f.id}"' not in html
    ]
    assert not missing, missing
    exam = [f for f in kb.findings.values() if f.kind == "examination"]
    for f in exam:
        assert wording.text(f.how_to_perform)[:40] in text
    assert "How to perform" in html and "Red-flag screen" in html
    assert 'name="f_age_60_or_over"' not in html  # derived from the age, never asked
    assert not any(f'name="f_{m}"' in html for m in kb.movement_measures)
    # sections collapsed, with a summary line and jump links
    opening = r'<details class="card form-section[^"]*" id="(section-[a-z_]+)" *>'
    sections = re.findall(opening, html)
    assert len(sections) >= 5 and all(f'href="#{s}"' in html for s in sections)
    assert html.count("data-summary>nothing recorded<") == len(sections)


def test_visit_form_sections_follow_the_layout_and_take_unknown_kinds() -> None:
    from types import SimpleNamespace

    from glutemed.server._forms import load_layout

    layout = load_layout()

    def finding(kind: str, how: str = "", modality: str | None = None) -> Any:
        return SimpleNamespace(kind=kind, how_to_perform=how, modality=modality)

    assert layout.section_of(finding("history"), red_flag=True) == "red_flags"
    assert layout.section_of(finding("history"), red_flag=False) == "history"
    assert layout.section_of(finding("examination", "Patient side-lying; ..."), False) == (
        "exam_side_lying"
    )
    assert layout.section_of(finding("examination", "Patient supine. Lift."), False) == (
        "exam_supine"
    )
    assert layout.section_of(finding("examination", "The patient stands on"), False) == (
        "exam_standing"
    )
    assert layout.section_of(finding("examination", "Resisted adduction."), False) == "exam_other"
    assert layout.section_of(finding("imaging", modality="mri"), False) == "imaging_mri"
    assert layout.section_of(finding("imaging", modality="ct"), False) == "imaging_other"
    assert layout.section_of(finding("blood"), False) == "bloods"
    assert layout.section_of(finding("genetics"), False) == "other"  # a kind nobody planned


def test_the_pain_sites_come_together_with_the_pain_map_last() -> None:
    from glutemed.knowledge import load_kb
    from glutemed.reasoning import network_for
    from glutemed.server._forms import form_sections, load_layout

    kb = load_kb()
    layout = load_layout()
    listed = layout.order("pain_sites")
    assert set(listed) <= set(kb.findings), set(listed) - set(kb.findings)
    sections = form_sections(kb)
    assert [s.id for s in sections][:3] == ["red_flags", "pain_sites", "history"]
    pain = next(s for s in sections if s.id == "pain_sites")
    ids = [f.id for f in pain.fields]
    assert ids == list(listed)
    assert ids[0] == "lateral_hip_pain" and ids[-1] == "pain_map_complete"
    # every site the pain map settles is in the same section as the map
    assert set(network_for(kb).expands["pain_map_complete"]) <= set(ids)


def test_visit_post_shows_assessment_and_plan(pages: Any, h: Any) -> None:
    client = pages()
    patient_url = _new_patient(client)
    _, token = _visit_form(client, patient_url)
    data = h.visit_form_data(token)
    r = client.post(f"{patient_url}/visits", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    visit = client.get(r.headers["location"]).text
    assert 'class="prob"' in visit and "Imaging advice" in visit and "Care plan" in visit
    assert re.search(r'class="fill" style="width: [0-9.]+%"', visit)
    assert 'class="ci"' in visit  # the interval band
    timeline = client.get(patient_url).text
    assert "2026-11-03" in timeline


def test_red_flag_banner(pages: Any) -> None:
    client = pages()
    patient_url = _new_patient(client)
    _, token = _visit_form(client, patient_url)
    data = {
        "csrf_token": token,
        "visit_date": "2026-11-03",
        "f_unable_to_weight_bear": "positive",
        "f_trauma_or_fall": "positive",
    }
    r = client.post(f"{patient_url}/visits", data=data, follow_redirects=False)
    visit = client.get(r.headers["location"]).text
    # the must-not-miss alert is shown, and the differential beside it (never withheld)
    assert 'class="redflag"' in visit and 'class="prob"' in visit


def test_visit_form_errors_name_the_field(pages: Any) -> None:
    client = pages()
    patient_url = _new_patient(client)
    _, token = _visit_form(client, patient_url)
    r = client.post(
        f"{patient_url}/visits",
        data={"csrf_token": token, "visit_date": "03/11/2026", "f_lateral_hip_pain": "yes"},
    )
    assert r.status_code == 422
    # each problem is named by its label, beside its field, and the typed values are kept
    assert '<a href="#field-visit_date">Visit date</a>' in r.text
    link = '<a href="#field-f_lateral_hip_pain">Lateral hip pain (presenting complaint)</a>'
    assert link in r.text
    date_box = r.text.split('id="field-visit_date"', 1)[1].split("</div>", 1)[0]
    assert 'value="03/11/2026"' in date_box and 'class="field-error"' in date_box
    hip = r.text.split('id="field-f_lateral_hip_pain"', 1)[1].split("</fieldset>", 1)[0]
    assert 'class="field-error"' in hip and "expected one of not done, positive, negative" in hip
    assert "<code>" not in r.text


def test_visit_date_is_required_and_not_in_the_future(pages: Any) -> None:
    import datetime as dt

    client = pages()
    patient_url = _new_patient(client)
    _, token = _visit_form(client, patient_url)
    base = {"csrf_token": token, "f_lateral_hip_pain": "positive", "note": "kept"}
    r = client.post(f"{patient_url}/visits", data=base)
    assert r.status_code == 422 and "Visit date</a>: expected the date of the visit" in r.text
    assert ">kept</textarea>" in r.text  # the typed values come back
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    r = client.post(f"{patient_url}/visits", data=base | {"visit_date": future})
    assert r.status_code == 422 and "today or earlier" in r.text and future in r.text
    visits = client.get(f"/api/v1/patients/{patient_url.rsplit('/', 1)[1]}/visits").json()
    assert visits == []


def test_empty_visit_asks_before_saving(pages: Any) -> None:
    client = pages()
    patient_url = _new_patient(client)
    _, token = _visit_form(client, patient_url)
    data = {"csrf_token": token, "visit_date": "2026-11-03"}
    r = client.post(f"{patient_url}/visits", data=data, follow_redirects=False)
    assert r.status_code == 200 and "No finding is recorded" in r.text
    assert 'name="confirm" value="1"' in r.text
    r = client.post(f"{patient_url}/visits", data=data | {"confirm": "1"}, follow_redirects=False)
    assert r.status_code == 303


def test_patient_edit_conflict_is_shown_not_overwritten(pages: Any) -> None:
    client = pages()
    patient_url = _new_patient(client, notes="original")
    form = client.get(f"{patient_url}/edit").text
    token = _csrf(form)
    base = {
        "csrf_token": token,
        "family_name": "Page",
        "given_name": "Pat",
        "sex": "female",
        "version": "1",
    }
    assert (
        client.post(
            f"{patient_url}/edit", data={**base, "notes": "first edit"}, follow_redirects=False
        ).status_code
        == 303
    )
    r = client.post(f"{patient_url}/edit", data={**base, "notes": "stale edit"})
    assert (
        r.status_code == 409
        and "someone else changed this patient" in r.text
        and "stale edit" in r.text
    )
    assert "first edit" in client.get(patient_url).text
    history = client.get("/history/patients/" + patient_url.rsplit("/", 1)[1]).text
    assert "first edit" in history and "stale edit" not in history


def test_outcomes_page_entry_and_chart(pages: Any) -> None:
    client = pages()
    patient_url = _new_patient(client)
    page = client.get(f"{patient_url}/outcomes").text
    fields = client.get(
        f"{patient_url}/outcomes/fields?instrument=nprs", headers={"HX-Request": "true"}
    ).text
    assert 'name="item_score"' in fields
    token = _csrf(page)
    for day, value in (("2026-09-01", "8"), ("2026-10-01", "5"), ("2026-11-01", "3")):
        r = client.post(
            f"{patient_url}/outcomes",
            data={
                "csrf_token": token,
                "instrument": "nprs",
                "measured_on": day,
                "item_score": value,
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    page = client.get(f"{patient_url}/outcomes").text
    assert "<svg" in page and "mcid-band" in page and page.count('class="point"') == 3
    bad = client.post(
        f"{patient_url}/outcomes",
        data={"csrf_token": token, "instrument": "nprs", "item_score": "15"},
    )
    assert bad.status_code == 422


def test_treatment_record_and_response(pages: Any) -> None:
    client = pages()
    patient_url = _new_patient(client)
    token = _csrf(client.get(patient_url).text)
    r = client.post(
        f"{patient_url}/treatments",
        data={
            "csrf_token": token,
            "treatment_id": "corticosteroid_injection",
            "given_on": "2026-10-01",
            "response": "unknown",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(patient_url).text
    tid = re.search(r'action="/treatments/(\d+)/response"', page).group(1)  # type: ignore[union-attr]
    r = client.post(
        f"/treatments/{tid}/response",
        data={"csrf_token": token, "version": "1", "response": "none"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert (
        client.post(
            f"/treatments/{tid}/response",
            data={"csrf_token": token, "version": "1", "response": "good"},
        ).status_code
        == 409
    )


def test_report_and_admin_pages(pages: Any) -> None:
    admin = pages("admin")
    patient_url = _new_patient(admin)
    _, token = _visit_form(admin, patient_url)
    r = admin.post(
        f"{patient_url}/visits",
        data={"csrf_token": token, "visit_date": "2026-11-03", "f_lateral_hip_pain": "positive"},
        follow_redirects=False,
    )
    vid = r.headers["location"].rsplit("/", 1)[1]
    letter = admin.get(f"/visits/{vid}/report?to=surgeon")
    assert letter.status_code == 200 and "Referral letter" in letter.text
    assert "Pat Page, born 3 February 1966" in letter.text
    assert f'href="/visits/{vid}"' in letter.text and 'data-action="print"' in letter.text
    assert f"/api/v1/visits/{vid}/report.pdf?to=surgeon" in letter.text
    assert "Users of" in admin.get("/admin/users").text
    assert "Audit log" in admin.get("/admin/audit").text
    clinician = pages()
    assert clinician.get("/admin/audit").status_code == 403


def test_visit_form_live_panel_updates_without_storing(pages: Any, h: Any) -> None:
    client = pages()
    patient_url = _new_patient(client)
    html, token = _visit_form(client, patient_url)
    assert 'hx-post="' + patient_url + '/visits/preview"' in html and 'id="live-assessment"' in html
    preview = f"{patient_url}/visits/preview"
    empty = client.post(preview, data={"csrf_token": token}, headers={"HX-Request": "true"})
    full = client.post(preview, data=h.visit_form_data(token), headers={"HX-Request": "true"})
    assert empty.status_code == full.status_code == 200 and "<html" not in full.text
    assert "Next best test:" in full.text and "%" in full.text

    def top(text: str) -> float:
        return float(re.search(r"<strong>(\d+) %</strong>", text).group(1))  # type: ignore[union-attr]

    assert top(full.text) > top(empty.text)  # the findings moved the probabilities
    flag = client.post(
        preview,
        data={
            "csrf_token": token,
            "f_unable_to_weight_bear": "positive",
            "f_trauma_or_fall": "positive",
        },
    )
    assert "Red flag:" in flag.text
    assert 'class="live-probs"' in flag.text  # the differential stays in view beside the flag
    pid = patient_url.rsplit("/", 1)[1]
    assert client.get(f"/api/v1/patients/{pid}/visits").json() == []  # nothing stored


def test_patient_list_pages_beyond_fifty(pages: Any) -> None:
    import uuid

    client = pages()
    family = "Pager" + uuid.uuid4().hex[:6]
    token = _csrf(client.get("/patients/new").text)
    for i in range(53):
        client.post(
            "/patients",
            data={"csrf_token": token, "family_name": family, "given_name": f"P{i:02d}"},
            follow_redirects=False,
        )
    first = client.get(f"/patients/rows?q={family}", headers={"HX-Request": "true"}).text
    assert first.count('class="link"') == 50 and "Show the next" in first
    more = re.search(r'hx-get="([^"]+)"', first).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    second = client.get(more, headers={"HX-Request": "true"}).text
    assert second.count('class="link"') == 3 and "Show the next" not in second
    assert "No patient matches" not in second
    assert "P52" in second and "P00" not in second


def test_outcome_note_names_the_activities_and_carries_over(pages: Any) -> None:
    client = pages()
    patient_url = _new_patient(client)
    token = _csrf(client.get(f"{patient_url}/outcomes").text)
    form = {"csrf_token": token, "instrument": "psfs", "measured_on": "2026-10-01"}
    items = {f"item_activity_{i}": "4" for i in (1, 2, 3)}
    r = client.post(
        f"{patient_url}/outcomes",
        data=form | items | {"note": "1 stairs, 2 walking 30 min, 3 lying on the left"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(f"{patient_url}/outcomes?instrument=psfs").text
    assert "1 stairs, 2 walking 30 min, 3 lying on the left</span>" in page  # in the table
    assert 'value="1 stairs, 2 walking 30 min, 3 lying on the left"' in page  # carried over
    fields = client.get(f"{patient_url}/outcomes/fields?instrument=psfs").text
    assert "Carried over from the last entry" in fields
    pid = patient_url.rsplit("/", 1)[1]
    assert client.get(f"/api/v1/patients/{pid}/outcomes").json()[0]["note"].startswith("1 stairs")
