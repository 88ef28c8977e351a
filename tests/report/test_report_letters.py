"""The clinician letters as a reader gets them: prose, numbered references, font and page numbers.

Each letter is rendered to PDF and, with poppler's ``pdftoppm``, to PNG pages in
``artifacts/letters/`` (git-ignored) for a person to look at; ``pdffonts`` and ``pdftotext`` check
the font and the "Page X of Y" footer. The poppler checks are skipped, with the reason, when
poppler-utils is not installed.
"""

from __future__ import annotations

import html as html_module
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from glutemed.knowledge import KnowledgeBase
from glutemed.pathway import plan
from glutemed.reasoning import assess, load_case
from glutemed.report import clinician_report_html, clinician_report_pdf, readable_citation

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "src" / "glutemed" / "examples" / "cases"
ARTIFACTS = ROOT / "artifacts" / "letters"

#: Python values, escaped CSS and knowledge-base keys that must never reach a reader.
_RAW = [
    re.compile(r"\['|\{'|'\]|'\}"),  # a printed list or dict
    re.compile(r"\b(?:dx|tx|ls|seed)_r?\d+\b"),  # source keys
    re.compile(r"\b[a-z]+(?:_[a-z0-9]+){1,}\b"),  # snake_case ids and field names
    re.compile(r"->|\bNone\b|\bTrue\b|\bFalse\b"),
]


def _letter_data(kb: KnowledgeBase, name: str, status: str) -> dict[str, Any]:
    case = load_case(CASES / f"{name}.yaml")
    generated = json.loads(json.dumps(plan(case, kb=kb).to_dict(), default=str))
    selected = [r["id"] for r in generated["recommendations"]][:2]
    return {
        "clinic": "Harbour Physio",
        "letterhead": "12 Harbour Road, Portsmouth PO1 2AB\nTel 023 9000 0000",
        "author": "Dr Lee",
        "patient": {
            "given_name": "Ann",
            "family_name": "Testperson",
            "birth_date": "1972-05-01",
            "identifier": "H123",
            "sex": "female",
        },
        "visit": {
            "visit_date": "2026-11-03",
            "note": "Pain for six months.",
            "case": json.loads(case.model_dump_json()),
        },
        "assessment": assess(case, kb).to_dict(),
        "plan": {
            "status": status,
            "generated": generated,
            "decision": {"selected": selected, "added": [], "note": ""}
            if status == "modified"
            else {},
        },
        "treatments": [
            {"name": "Walking aids", "given_on": "2026-09-01", "response": "partial", "dose": ""}
        ],
        "outcomes": {},
        "movement": [{"task": "walk", "findings": {"trendelenburg_gait": "positive"}}],
        "finding_names": {f.id: f.name for f in kb.findings.values()},
        "treatment_names": {t.id: t.name for t in kb.treatments.values()},
        "sources": {s.id: s.citation for s in kb.sources.values()},
        "generated_at": "2026-11-03T10:00:00+00:00",
    }


def _visible_text(html: str) -> str:
    body = re.sub(r"<style>.*?</style>|<script[^>]*>.*?</script>", "", html, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return html_module.unescape(body)


LETTERS = [
    ("tendinopathy", "accepted", "gp"),
    ("full_thickness_tear", "proposed", "surgeon"),
    ("red_flag", "accepted", "gp"),
    ("partial_tear", "modified", "record"),
]


@pytest.mark.parametrize(("name", "status", "to"), LETTERS)
def test_letter_reads_as_prose(rkb: KnowledgeBase, name: str, status: str, to: str) -> None:
    html = clinician_report_html(_letter_data(rkb, name, status), letter_to=to)
    style = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "&#34;" not in style and "&quot;" not in style  # escaped CSS loses font and pages
    assert 'font-family: "DejaVu Sans"' in style and 'content: "Page " counter(page)' in style
    text = _visible_text(html)
    for pattern in _RAW:
        assert not pattern.search(text), (pattern.pattern, pattern.search(text))
    assert "Harbour Physio" in text and "12 Harbour Road" in text
    assert "References" in text and re.search(r"\[\d+(, \d+)*\]", text)
    assert "Yours sincerely" in text and "3 November 2026" in text


def test_letter_references_are_numbered_in_order(rkb: KnowledgeBase) -> None:
    html = clinician_report_html(_letter_data(rkb, "tendinopathy", "accepted"))
    refs = html.split('<ol class="refs">', 1)[1].split("</ol>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", refs, flags=re.S)
    cited = [int(n) for group in re.findall(r"\[([\d, ]+)\]", html) for n in group.split(", ")]
    assert items and max(cited) == len(items)
    assert sorted(set(cited)) == list(range(1, len(items) + 1))  # every reference is cited
    first_seen = list(dict.fromkeys(cited))
    assert first_seen[0] == 1


def test_letter_toolbar_is_screen_only() -> None:
    html = clinician_report_html(
        {"patient": {}, "visit": {}},
        toolbar=[("Back to the visit", "/visits/1")],
        script_src="/static/app.js",
    )
    assert 'href="/visits/1"' in html and 'data-action="print"' in html
    assert "@media print { .toolbar { display: none; } }" in html
    assert '<script src="/static/app.js"></script>' in html and "onclick" not in html
    assert "data-action" not in clinician_report_html({"patient": {}, "visit": {}})


def test_readable_citation_drops_working_notes() -> None:
    raw = (
        "Grimaldi A, Mellor R. Utility of clinical tests. Br J Sports Med 2017;51:519-524. "
        "DOI 10.1136/bjsports-2016-096175 (not verified). Abstract: https://example.org"
    )
    expected = "Grimaldi A, Mellor R. Utility of clinical tests. Br J Sports Med 2017;51:519-524."
    assert readable_citation(raw) == expected


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian package poppler-utils)")
    return path


@pytest.mark.parametrize(("name", "status", "to"), LETTERS)
def test_letter_pdf_has_font_page_numbers_and_renders(
    rkb: KnowledgeBase, name: str, status: str, to: str
) -> None:
    pdftoppm, pdffonts, pdftotext = (_poppler(t) for t in ("pdftoppm", "pdffonts", "pdftotext"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTIFACTS / f"{name}-{to}.pdf"
    pdf.write_bytes(clinician_report_pdf(_letter_data(rkb, name, status), letter_to=to))
    fonts = subprocess.run([pdffonts, str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "DejaVu-Sans" in fonts and "Serif" not in fonts, fonts
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = text.count("\f") or 1
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    for old in ARTIFACTS.glob(f"{name}-{to}-*.png"):
        old.unlink()
    subprocess.run(
        [pdftoppm, "-r", "70", "-png", str(pdf), str(ARTIFACTS / f"{name}-{to}")], check=True
    )
    images = sorted(ARTIFACTS.glob(f"{name}-{to}-*.png"))
    assert len(images) == pages and all(p.stat().st_size > 10_000 for p in images)


def _png() -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 1.5))
    ax.plot([0, 1, 2], [0, 4, -2])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def test_letter_prints_the_movement_picture(rkb: KnowledgeBase) -> None:
    data = _letter_data(rkb, "tendinopathy", "accepted")
    data["movement"][0]["picture_png"] = _png()
    html = clinician_report_html(data)
    assert '<img class="movement" src="data:image/png;base64,' in html
    data["movement"][0]["picture_png"] = b"not a png"
    assert "<img" not in clinician_report_html(data)
    pdfimages = _poppler("pdfimages")
    data["movement"][0]["picture_png"] = _png()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTIFACTS / "movement-picture.pdf"
    pdf.write_bytes(clinician_report_pdf(data))
    listing = subprocess.run(
        [pdfimages, "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    assert len(listing.strip().splitlines()) >= 3  # header, rule, one image
