"""No internal ids, field names, source keys or Python values anywhere a clinician reads.

A whole visit is walked through the pages (patient, visit form, assessment, plan, outcomes,
treatments, letters, handout, history, admin, error pages, login error); the visible text of
every page (tags, scripts and styles removed) is scanned.
"""

from __future__ import annotations

import html as html_module
import re
from typing import Any

import pytest

from glutemed.knowledge import load_kb

#: What must not reach a reader, with the reason (shown when the test fails).
RAW = [
    (re.compile(r"\b(?:dx|tx)_r\d+\b|\bseed_\d+\b"), "a source key"),
    (re.compile(r"\b\w+\.md\b"), "an evidence-dossier file name"),
    (re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"), "a snake_case id or field name"),
    (re.compile(r"\bNone\b|\bTrue\b|\bFalse\b|\['|\{'|'\]|'\}"), "a Python value"),
    (re.compile(r"(?<!\.)\.;|;\."), "rules joined with '.;'"),
]


def visible_text(page: str) -> str:
    """The text a browser shows: no tags, scripts, styles or attribute values."""
    body = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", " ", page, flags=re.S | re.I)
    body = re.sub(r"<!--.*?-->", " ", body, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return " ".join(html_module.unescape(body).split())


def raw_bits(page: str) -> list[str]:
    """Every internal-looking token in a page's visible text, with its kind and context."""
    text = visible_text(page)
    out = []
    for pattern, why in RAW:
        for m in pattern.finditer(text):
            out.append(f"{why}: {m.group(0)!r} in …{text[max(0, m.start() - 60) : m.end() + 40]}…")
    return out


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_scanner_catches_internals() -> None:
    assert raw_bits("<p>dependence group abductor_load_pain</p>")
    assert raw_bits("<p>Kinsella 2024 (dx_r7; diagnosis.md §3)</p>")
    assert raw_bits("<p>archived: False</p>") and raw_bits("<p>['First-line']</p>")
    assert not raw_bits('<p class="snake_case">Pain on resisted hip abduction</p>')
    assert not raw_bits("<style>.a_b{}</style><p>Fine.</p>")


def test_no_internals_on_any_page(pages: Any, h: Any) -> None:
    kb = load_kb(__import__("os").environ.get("GLUTEMED_KB_FOLDER") or None)
    admin = pages("admin")
    seen: dict[str, str] = {}

    def get(url: str, **kw: Any) -> str:
        r = admin.get(url, **kw)
        assert r.status_code < 500, (url, r.status_code)
        seen[url] = r.text
        return str(r.text)

    new = get("/patients/new")
    r = admin.post(
        "/patients",
        data={
            "csrf_token": _csrf(new),
            "family_name": "Wording",
            "given_name": "Wanda",
            "birth_date": "1966-02-03",
            "sex": "female",
        },
        follow_redirects=False,
    )
    patient_url = r.headers["location"]
    form = get(f"{patient_url}/visits/new")
    token = _csrf(form)
    data = h.visit_form_data(token)
    r = admin.post(f"{patient_url}/visits", data=data, follow_redirects=False)
    visit_url = r.headers["location"]
    vid = visit_url.rsplit("/", 1)[1]
    visit = get(visit_url)
    plan_id = re.search(r'action="/care-plans/(\d+)/decision"', visit)
    if plan_id:
        admin.post(
            f"/care-plans/{plan_id.group(1)}/decision",
            data={"csrf_token": token, "status": "accepted"},
        )
        get(visit_url)
    # a bad visit form, a treatment, outcomes, then every reading page
    seen["visit form errors"] = admin.post(
        f"{patient_url}/visits",
        data={"csrf_token": token, "visit_date": "03/11/2026", "f_lateral_hip_pain": "yes"},
    ).text
    tid = next(iter(kb.treatments))
    admin.post(
        f"{patient_url}/treatments",
        data={"csrf_token": token, "treatment_id": tid, "given_on": "2026-10-01"},
    )
    for day in ("2026-10-01", "2026-11-03"):
        admin.post(
            f"{patient_url}/outcomes",
            data={"csrf_token": token, "instrument": "nprs", "measured_on": day, "total": "6"},
        )
    get(f"{patient_url}/outcomes")
    get(patient_url)
    get(f"/visits/{vid}/edit")
    # a red-flag visit and a visit with a full-thickness tear on MRI and a failed programme
    for extra in (
        {"f_unable_to_weight_bear": "positive", "f_trauma_or_fall": "positive"},
        {
            "f_abductor_weakness": "positive",
            "f_trendelenburg_sign": "positive",
            "i_mri_tear_thickness": "full",
            "i_mri_tendon_retraction": "positive",
            "i_mri_goutallier_fuchs_grade": "grade_3",
        },
    ):
        r = admin.post(
            f"{patient_url}/visits", data=data | extra | {"confirm": "1"}, follow_redirects=False
        )
        other = r.headers["location"]
        get(other)
        get(f"/visits/{other.rsplit('/', 1)[1]}/report?to=surgeon")
    for to in ("gp", "surgeon", "record"):
        get(f"/visits/{vid}/report?to={to}")
    get(f"/visits/{vid}/handout")
    get(f"/history/visits/{vid}")
    get("/patients")
    get("/admin/users")
    get("/admin/audit")
    get("/account")
    get(f"/records/visits/{vid}/void")
    get("/patients/999999")  # 404
    get("/admin/nonexistent")
    problems = {url: bits for url, text in seen.items() if (bits := raw_bits(text))}
    assert not problems, "\n".join(f"{u}:\n  " + "\n  ".join(b[:6]) for u, b in problems.items())


def test_failed_treatment_entry_keeps_the_form(pages: Any, h: Any) -> None:
    client = pages()
    patient_url, _, token = h.patient_with_visit(client)
    page = client.get(patient_url).text
    assert '<option value="" selected>Choose a treatment…</option>' in page  # no silent default
    r = client.post(
        f"{patient_url}/treatments",
        data={"csrf_token": token, "treatment_id": "", "given_on": "2026-10-01", "dose": "3x/wk"},
    )
    assert r.status_code == 422 and "<html" in r.text
    box = r.text.split('id="field-treatment_id"', 1)[1].split("</div>", 1)[0]
    assert 'class="field-error"' in box and "a treatment from the list" in box
    assert 'value="3x/wk"' in r.text and 'value="2026-10-01"' in r.text
    assert not raw_bits(r.text), raw_bits(r.text)


def test_failed_movement_upload_keeps_the_form(pages: Any, h: Any) -> None:
    client = pages()
    _, visit_url, token = h.patient_with_visit(client)
    if 'id="movement-form"' not in client.get(visit_url).text:
        pytest.skip("movement analysis is not installed: the visit page has no upload form")
    r = client.post(
        f"{visit_url}/movement",
        data={"csrf_token": token, "task": "single_leg_squat", "sampling_rate_hz": "30"},
        files={"file": ("notes.txt", b"hello", "text/plain")},
    )
    assert r.status_code == 422 and "Not saved" in r.text
    box = r.text.split('id="field-file"', 1)[1].split("</div>", 1)[0]
    assert 'class="field-error"' in box
    assert '<option value="single_leg_squat" selected>' in r.text and 'value="30"' in r.text
    assert not raw_bits(r.text), raw_bits(r.text)


def test_login_error_is_one_plain_sentence(sqlite_app: Any) -> None:
    from fastapi.testclient import TestClient

    with TestClient(sqlite_app, headers={"accept": "text/html"}) as client:
        token = _csrf(client.get("/login").text)
        r = client.post(
            "/login",
            data={"csrf_token": token, "username": "nobody", "password": "wrong", "next": "/"},
        )
    assert r.status_code == 401
    assert "Could not log in: wrong user name or password" in visible_text(r.text)
    assert "mismatch" not in r.text and not raw_bits(r.text)


def test_error_pages_have_a_working_back_link(pages: Any) -> None:
    client = pages()
    for url in ("/patients/999999", "/admin/users"):
        r = client.get(url)
        assert r.status_code in (403, 404)
        assert "javascript:" not in r.text and 'data-action="back"' in r.text
        assert not raw_bits(r.text), raw_bits(r.text)


def test_wording_turns_keys_into_words() -> None:
    import os

    from glutemed.server._wording import Wording

    w = Wording(load_kb(os.environ.get("GLUTEMED_KB_FOLDER") or None))
    assert w.text("Kinsella 2024 (dx_r7; diagnosis.md §3 and §1a rows (SR/MA, pooled))") == (
        "Kinsella 2024"
    )
    assert w.text("LR 16.7 [Kinsella 2024, diagnosis.md §1a; implied by 59 % -> 96 %]") == (
        "LR 16.7 [Kinsella 2024; implied by 59 % → 96 %]"
    )
    assert w.text("below the MCID [Chronic pain (Farrar 2001), tx_r100].") == (
        "below the MCID [Chronic pain (Farrar 2001)]."
    )
    assert w.text("descriptive only (threshold_source: none)") == "descriptive only"
    assert w.text("see single_leg_stance_30s") == "see " + w.name("single_leg_stance_30s")
    assert w.text("one of not_done, positive") == "one of not done, positive"
    assert w.label("f_lateral_hip_pain") == w.name("lateral_hip_pain")
    assert w.label("birth_date") == "Date of birth" and w.text(False) == "no"
    assert w.label("pretest_gtps").startswith("Your pre-test estimate for ")
