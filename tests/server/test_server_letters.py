"""Letters and handout served by the app: letterhead from the settings, screen-only actions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from glutemed.server import Settings, create_app


def test_letterhead_lines_from_settings() -> None:
    s = Settings(environment="development", letterhead="1 Quay St | Tel 0123\nmail@example.org")
    assert s.letterhead_lines() == ["1 Quay St", "Tel 0123", "mail@example.org"]
    env = Settings.from_env(
        {"GLUTEMED_ENV": "development", "GLUTEMED_LETTERHEAD": "2 Dock Rd|Tel 9"}
    )
    assert env.letterhead_lines() == ["2 Dock Rd", "Tel 9"]


def test_letter_pdf_carries_the_letterhead(tmp_path: Path, h: Any) -> None:
    app = create_app(
        h.make_settings(
            f"sqlite:///{tmp_path / 'letters.sqlite3'}",
            letterhead="12 Harbour Road, Portsmouth | Tel 023 9000 0000",
        )
    )
    user = h.add_user(app)
    api = h.Api(app, user)
    pid = api.post(
        "/api/v1/patients", json={"family_name": "Lettered", "given_name": "Lu", "sex": "male"}
    ).json()["id"]
    r = api.post(
        f"/api/v1/patients/{pid}/visits",
        json={"visit_date": "2026-11-03", "case": h.example_case("tendinopathy")},
    )
    assert r.status_code == 201, r.text
    vid = r.json()["visit"]["id"]
    html = api.get(f"/api/v1/visits/{vid}/report.html?to=gp").text
    assert "12 Harbour Road, Portsmouth" in html and "Tel 023 9000 0000" in html
    assert user.clinic in html
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext is not installed (Debian package poppler-utils)")
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(api.get(f"/api/v1/visits/{vid}/report.pdf?to=gp").content)
    text = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True).stdout
    assert "12 Harbour Road, Portsmouth" in text and "Page 1 of" in text


def test_letter_names_the_sites_a_complete_pain_map_leaves_absent(tmp_path: Path, h: Any) -> None:
    app = create_app(h.make_settings(f"sqlite:///{tmp_path / 'pain-map.sqlite3'}"))
    api = h.Api(app, h.add_user(app))
    pid = api.post(
        "/api/v1/patients", json={"family_name": "Mapped", "given_name": "Mo", "sex": "female"}
    ).json()["id"]
    case = {
        "patient": {"age_years": 52, "sex": "female"},
        "findings": {
            "lateral_hip_pain": "positive",
            "back_pain": "negative",
            "pain_map_complete": "positive",
        },
    }
    r = api.post(f"/api/v1/patients/{pid}/visits", json={"visit_date": "2026-11-03", "case": case})
    assert r.status_code == 201, r.text
    html = api.get(f"/api/v1/visits/{r.json()['visit']['id']}/report.html?to=gp").text
    assert (
        "Pain map complete (every pain site recorded), so absent: groin (anterior hip) pain, "
        "buttock (posterior hip) pain, posterior thigh pain, anterior or lateral thigh pain, "
        "pain radiating below the knee"
    ) in html
    assert "pain_map_complete" not in html and "groin_pain" not in html
    assert "Negative:</strong> Low back pain" in html  # recorded by itself, not repeated


def test_handout_page_has_back_and_print(pages: Any) -> None:
    client: TestClient = pages()
    token = client.get("/patients/new").text.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post(
        "/patients",
        data={"csrf_token": token, "family_name": "Hand", "given_name": "Out", "sex": "female"},
        follow_redirects=False,
    )
    patient_url = r.headers["location"]
    form = client.get(f"{patient_url}/visits/new").text
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post(
        f"{patient_url}/visits",
        data={
            "csrf_token": token,
            "visit_date": "2026-11-03",
            "f_lateral_hip_pain": "positive",
            "f_palpation_greater_trochanter_tenderness": "positive",
        },
        follow_redirects=False,
    )
    vid = r.headers["location"].rsplit("/", 1)[1]
    page = client.get(f"/visits/{vid}/handout")
    assert page.status_code == 200
    assert f'href="/visits/{vid}"' in page.text and 'data-action="print"' in page.text
    assert '<script src="/static/app.js"></script>' in page.text
    assert client.get("/static/app.js").status_code == 200


def test_handout_pdf_renders_in_the_right_font(pages: Any, h: Any) -> None:
    tools = [shutil.which(t) for t in ("pdffonts", "pdftoppm")]
    if None in tools:
        pytest.skip("poppler-utils (pdffonts, pdftoppm) is not installed")
    pdffonts, pdftoppm = (str(t) for t in tools)
    client: TestClient = pages()
    _, visit_url, _ = h.patient_with_visit(client)
    r = client.get(f"{visit_url}/handout.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    out = Path(__file__).resolve().parents[2] / "artifacts" / "letters"
    out.mkdir(parents=True, exist_ok=True)
    pdf = out / "handout.pdf"
    pdf.write_bytes(r.content)
    fonts = subprocess.run([pdffonts, str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "DejaVu-Sans" in fonts and "Serif" not in fonts, fonts
    for old in out.glob("handout-*.png"):
        old.unlink()
    subprocess.run([pdftoppm, "-r", "60", "-png", str(pdf), str(out / "handout")], check=True)
    assert any(p.stat().st_size > 10_000 for p in out.glob("handout-*.png"))
