"""The patient's exercise sheet and its drawings: one row and one picture per exercise, the
dose in words, the rules, the icon arrays; checked as markup and as rendered images."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from glutemed.knowledge import KnowledgeBase
from glutemed.pathway import prescribe
from glutemed.report import (
    exercise_sheet_html,
    exercise_svg,
    handout_plain_text,
    icon_array_svg,
    write_exercise_sheet,
)
from glutemed.report._figures import FIGURE_HEIGHT_PX, FIGURE_WIDTH_PX

TODAY = dt.date(2026, 12, 1)
SVG_NS = "{http://www.w3.org/2000/svg}"


def _coords(svg: str) -> list[tuple[float, float]]:
    root = ET.fromstring(svg)
    pts: list[tuple[float, float]] = []
    for el in root.iter():
        tag = el.tag.removeprefix(SVG_NS)
        if tag == "line":
            pts += [(float(el.get("x1", 0)), float(el.get("y1", 0)))]
            pts += [(float(el.get("x2", 0)), float(el.get("y2", 0)))]
        elif tag == "circle":
            cx, cy, r = (float(el.get(k, 0)) for k in ("cx", "cy", "r"))
            pts += [(cx - r, cy - r), (cx + r, cy + r)]
    return pts


def test_every_exercise_drawing_fits_its_box(kb: KnowledgeBase) -> None:
    for ex in kb.exercises.values():
        svg = exercise_svg(ex.figure, title=ex.plain_name)
        pts = _coords(svg)
        assert len(pts) > 20, ex.id
        for x, y in pts:
            assert 0 <= x <= FIGURE_WIDTH_PX and 0 <= y <= FIGURE_HEIGHT_PX, (ex.id, x, y)


def test_every_exercise_has_its_own_drawing(kb: KnowledgeBase) -> None:
    drawings = [exercise_svg(e.figure) for e in kb.exercises.values()]
    assert len(set(drawings)) == len(drawings)


def test_icon_array_fills_per_100() -> None:
    svg = icon_array_svg(51, 66)
    filled = svg.count('fill="#0b6e99"')
    assert filled == 77  # 51/66 = 77 of 100
    with pytest.raises(ValueError):
        icon_array_svg(70, 66)


def test_sheet_has_one_row_and_picture_per_exercise_and_no_internal_words(
    kb: KnowledgeBase,
) -> None:
    rx = prescribe(
        "prog_leap_edx",
        "leap_weeks_3_8",
        kb=kb,
        omit=["ex_sliding_platform"],
        adjust={"ex_offset_squat": {"sets_min": 1}},
    )
    html = exercise_sheet_html(rx, kb, today=TODAY)
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr>") == len(rx.items) == body.count("<svg")
    text = handout_plain_text(html)
    for item in rx.items:
        assert item.exercise.plain_name in text
    assert "Set for you by your physiotherapist." in text  # the changed dose is flagged
    assert "77 of 100" in text and "58 of 100" in text and "29 of 100" in text
    assert "rule of thumb" in text  # the pain rule is an assumption and says so
    visible = text.split("Sources:", 1)[0]
    assert not re.search(r"\b(ex|prog|leap|tx|dx)_[a-z0-9_]+", visible), "internal id shown"
    for python_value in ("None", "True", "False", "[]", "{'"):
        assert python_value not in visible


def test_postoperative_sheet_says_it_is_a_protocol(kb: KnowledgeBase) -> None:
    html = exercise_sheet_html(prescribe("prog_postop_repair", kb=kb), kb, today=TODAY)
    assert "expert advice rather than results of trials" in handout_plain_text(html)


def test_sheet_writes_html_and_pdf(kb: KnowledgeBase, tmp_path: Path) -> None:
    rx = prescribe("prog_clifford_isometric", kb=kb)
    html = write_exercise_sheet(rx, tmp_path / "sheet.html", kb, today=TODAY)
    assert html.read_text("utf-8").startswith("<!DOCTYPE html>")
    pytest.importorskip("weasyprint")
    pdf = write_exercise_sheet(rx, tmp_path / "sheet.pdf", kb, today=TODAY)
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_drawings_render_as_clean_separate_images(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Render every drawing with the system Chromium and check the pixels of each cell."""
    image = pytest.importorskip("PIL.Image")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium not found on PATH (Debian package 'chromium')")
    exercises = list(kb.exercises.values())
    cells = "".join(
        f'<div style="position:absolute;left:{(i % 4) * 210}px;top:{(i // 4) * 160}px">'
        f"{exercise_svg(e.figure)}</div>"
        for i, e in enumerate(exercises)
    )
    page = tmp_path / "figures.html"
    page.write_text(f"<html><body style='margin:0;background:#fff'>{cells}</body></html>")
    png = tmp_path / "figures.png"
    rows = (len(exercises) + 3) // 4
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={4 * 210},{rows * 160}",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    img = image.open(png).convert("L")
    crops = []
    for i in range(len(exercises)):
        x, y = (i % 4) * 210, (i // 4) * 160
        cell = img.crop((x, y, x + FIGURE_WIDTH_PX, y + FIGURE_HEIGHT_PX))
        dark = sum(cell.histogram()[:128])
        assert dark > 300, f"{exercises[i].id}: almost nothing drawn"
        border = [cell.getpixel((px, 1)) for px in range(FIGURE_WIDTH_PX)]
        border += [cell.getpixel((1, py)) for py in range(FIGURE_HEIGHT_PX)]
        border += [cell.getpixel((FIGURE_WIDTH_PX - 2, py)) for py in range(FIGURE_HEIGHT_PX)]
        assert min(border) > 128, f"{exercises[i].id}: the drawing touches the edge (clipped)"
        crops.append(cell.tobytes())
    assert len(set(crops)) == len(crops), "two exercises render the same picture"


def test_care_plan_handout_shows_the_icon_arrays_when_exercise_is_recommended(
    kb: KnowledgeBase,
) -> None:
    from glutemed.pathway import plan
    from glutemed.reasoning import load_case
    from glutemed.report import render_handout_html

    cases = Path(__file__).resolve().parents[2] / "src" / "glutemed" / "examples" / "cases"
    case = load_case(cases / "tendinopathy.yaml")
    care = plan(case, kb=kb, today=TODAY)
    assert "progressive_loading_exercise" in {r.id for r in care.recommendations}
    text = handout_plain_text(render_handout_html(case, care, kb))
    assert "What the research found" in text and "77 of 100" in text and "29 of 100" in text
    urgent = load_case(cases / "red_flag.yaml")
    urgent_text = handout_plain_text(
        render_handout_html(urgent, plan(urgent, kb=kb, today=TODAY), kb)
    )
    assert "77 of 100" not in urgent_text
