"""The patient handout: plain language (Flesch-Kincaid grade <= 8), content, HTML and PDF."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from glutemed.errors import InputValueError
from glutemed.knowledge import KnowledgeBase
from glutemed.pathway import plan
from glutemed.reasoning import Case, load_case
from glutemed.report import handout_plain_text, render_handout_html, write_handout

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "src" / "glutemed" / "examples" / "cases"
EDGES = ROOT / "tests" / "data" / "cases"
TODAY = dt.date(2026, 11, 23)
MAX_GRADE = 8.0

CASES = {p.stem: p for p in [*sorted(EXAMPLES.glob("*.yaml")), *sorted(EDGES.glob("plan_*.yaml"))]}


def _html(kb: KnowledgeBase, name: str) -> tuple[Case, str]:
    case = load_case(CASES[name])
    return case, render_handout_html(case, plan(case, kb=kb, today=TODAY), kb)


@pytest.mark.parametrize("name", sorted(CASES))
def test_handout_is_plain_language(
    rkb: KnowledgeBase, fk_grade: Callable[[str], float], name: str
) -> None:
    _, html = _html(rkb, name)
    text = handout_plain_text(html)
    grade = fk_grade(text)
    assert grade <= MAX_GRADE, f"{name}: Flesch-Kincaid grade {grade:.1f} > {MAX_GRADE}"


def test_every_patient_text_is_plain(rkb: KnowledgeBase, fk_grade: Callable[[str], float]) -> None:
    texts = [t.text for t in rkb.pathway.patient_texts]
    texts += [e.plain for e in rkb.pathway.education]
    texts += [p.plain for p in rkb.pathway.exercise_phases]
    texts += [r.plain for r in rkb.pathway.rehabilitation]
    assert fk_grade(" ".join(texts)) <= MAX_GRADE


def test_handout_sections(rkb: KnowledgeBase) -> None:
    case, html = _html(rkb, "tendinopathy")
    text = handout_plain_text(html)
    assert "Your left hip" in text
    for heading in (
        "What is going on",
        "Your plan",
        "What you can do",
        "Your exercise steps",
        "When to come back",
        "Get help the same day if",
    ):
        assert heading in text
    for item in rkb.pathway.education:
        assert item.plain in text
    assert "8 to 12 weeks" in text
    assert case.label not in html  # no case text beyond the side is printed


def test_red_flag_handout_puts_the_referral_first(rkb: KnowledgeBase) -> None:
    _, html = _html(rkb, "red_flag")
    text = handout_plain_text(html)
    assert "Get checked first" in text
    assert "Your exercise steps" not in text and "What you can do" not in text
    assert text.index("Get checked first") < text.index("Get help the same day if")


def test_preference_is_explained(rkb: KnowledgeBase) -> None:
    _, html = _html(rkb, "plan_prefers_no_injection")
    assert "rather not have shots" in html
    assert "steroid shot near the tendon" not in html


def test_surgical_handout_has_rehabilitation(rkb: KnowledgeBase) -> None:
    _, html = _html(rkb, "full_thickness_tear")
    text = handout_plain_text(html)
    assert "After an operation" in text and "crutches" in text


@pytest.mark.parametrize("suffix", [".html", ".pdf"])
def test_write_handout(rkb: KnowledgeBase, tmp_path: Path, suffix: str) -> None:
    case = load_case(CASES["partial_tear"])
    out = write_handout(case, tmp_path / f"handout{suffix}", kb=rkb, today=TODAY)
    data = out.read_bytes()
    if suffix == ".pdf":
        assert data.startswith(b"%PDF")
    else:
        assert data.startswith(b"<!DOCTYPE html>")


def test_write_handout_rejects_other_formats(rkb: KnowledgeBase, tmp_path: Path) -> None:
    with pytest.raises(InputValueError, match="unsupported handout format"):
        write_handout(load_case(CASES["tendinopathy"]), tmp_path / "handout.docx", kb=rkb)
