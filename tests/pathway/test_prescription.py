"""Exercise prescription: pick a programme stage, leave exercises out, change doses safely."""

from __future__ import annotations

import pytest

from glutemed.errors import InputValueError, NotFoundError
from glutemed.knowledge import Dose, KnowledgeBase
from glutemed.pathway import dose_text, prescribe


def test_default_stage_is_the_first_and_doses_come_from_the_source(kb: KnowledgeBase) -> None:
    rx = prescribe("prog_leap_edx", kb=kb)
    assert rx.stage_id == "leap_week_1"
    source = {i.exercise: i.dose for i in kb.programmes["prog_leap_edx"].stages[0].items}
    assert {i.exercise.id: i.dose for i in rx.items} == source
    assert not any(i.adjusted for i in rx.items)
    assert rx.versions["kb"] == kb.version


def test_clinician_leaves_out_and_adjusts(kb: KnowledgeBase) -> None:
    rx = prescribe(
        "prog_leap_edx",
        "leap_weeks_3_8",
        kb=kb,
        omit=["ex_sliding_platform"],
        adjust={"ex_offset_squat": {"sets_min": 1, "reps_max": 8}},
    )
    ids = [i.exercise.id for i in rx.items]
    assert "ex_sliding_platform" not in ids and rx.omitted == ["ex_sliding_platform"]
    squat = next(i for i in rx.items if i.exercise.id == "ex_offset_squat")
    assert squat.adjusted and (squat.dose.sets_min, squat.dose.reps_max) == (1, 8)
    assert squat.source_dose.sets_min == 2  # the source dose is kept alongside
    data = rx.to_dict()
    assert data["exercises"][ids.index("ex_offset_squat")]["adjusted_from_source"] is True


def test_an_adjusted_dose_is_validated_and_named(kb: KnowledgeBase) -> None:
    with pytest.raises(InputValueError) as info:
        prescribe(
            "prog_leap_edx",
            "leap_weeks_3_8",
            kb=kb,
            adjust={"ex_offset_squat": {"reps_max": 3}, "ex_side_stepping": {"sets_min": 0}},
        )
    where = [p.location for p in info.value.problems]
    assert any(w.startswith("ex_offset_squat") for w in where)
    assert "ex_side_stepping.sets_min" in where


def test_unknown_ids_get_suggestions(kb: KnowledgeBase) -> None:
    with pytest.raises(NotFoundError) as info:
        prescribe("prog_leap", kb=kb)
    assert "prog_leap_edx" in (info.value.problems[0].hint or "")
    with pytest.raises(NotFoundError):
        prescribe("prog_leap_edx", "week_9", kb=kb)
    with pytest.raises(NotFoundError) as info2:
        prescribe("prog_leap_edx", kb=kb, omit=["ex_offset_squat"])  # not in week 1
    assert "leap_week_1" in info2.value.problems[0].expected


def test_a_programme_without_captured_content_cannot_be_prescribed(kb: KnowledgeBase) -> None:
    with pytest.raises(InputValueError, match="cannot be prescribed"):
        prescribe("prog_clifford_isotonic", kb=kb)


def test_dose_text_says_what_the_source_does_not(kb: KnowledgeBase) -> None:
    assert dose_text(Dose(reps_min=10, sets_min=1)) == [
        "10 times, 1 round",
        "how often: ask your physiotherapist (not stated in the trial)",
    ]
    assert dose_text(Dose(reps_min=5, reps_max=10, sets_min=2, times_per_day=2)) == [
        "5 to 10 times, 2 rounds",
        "twice a day",
    ]
    assert dose_text(Dose(hold_s_min=30, reps_min=6, sets_min=1, times_per_day=1)) == [
        "6 times, 1 round",
        "hold 30 seconds",
        "once a day",
    ]
    assert dose_text(Dose(supervised_only=True)) == [
        "Only in the clinic, with your physiotherapist."
    ]


def test_the_postoperative_protocol_prescribes_instructions_not_doses(kb: KnowledgeBase) -> None:
    rx = prescribe("prog_postop_repair", kb=kb)
    assert not rx.items and rx.stage.instructions
    assert rx.to_dict()["kind"] == "postoperative_protocol"
