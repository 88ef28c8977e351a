"""Exercise programmes: sourced doses, honest gaps, strict schema and cross-checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from glutemed.knowledge import Dose, KnowledgeBase, Programme, Rule
from tests.knowledge._helpers import edit_kb_file, kb_problems


def test_leap_week_1_doses_are_those_of_protocol_table_3(kb: KnowledgeBase) -> None:
    stage = kb.programmes["prog_leap_edx"].stage("leap_week_1")
    doses = {item.exercise: item.dose for item in stage.items}
    supine = doses["ex_static_abduction_supine"]
    assert (supine.hold_s_min, supine.hold_s_max, supine.reps_min, supine.times_per_day) == (
        5,
        10,
        10,
        2,
    )
    standing = doses["ex_static_abduction_standing"]
    assert (standing.hold_s_min, standing.hold_s_max, standing.reps_min, standing.reps_max) == (
        5,
        15,
        3,
        5,
    )
    side = doses["ex_side_stepping"]
    assert side.reps_min == 10 and side.reps_each_side
    # a blank cell of the table stays blank
    assert doses["ex_double_leg_squat"].times_per_day is None
    assert all(item.source.id == "tx_r24" for item in stage.items)


def test_leap_graduated_loading_is_two_sets_of_5_to_10_somewhat_hard_to_hard(
    kb: KnowledgeBase,
) -> None:
    stage = kb.programmes["prog_leap_edx"].stage("leap_weeks_3_8")
    offset = next(i for i in stage.items if i.exercise == "ex_offset_squat")
    assert (offset.dose.sets_min, offset.dose.reps_min, offset.dose.reps_max) == (2, 5, 10)
    assert offset.dose.effort == "somewhat_hard_to_hard"
    assert (stage.week_from, stage.week_to) == (3, 8)


def test_clifford_isometric_dose_is_six_30_second_holds_daily(kb: KnowledgeBase) -> None:
    prog = kb.programmes["prog_clifford_isometric"]
    assert prog.duration_weeks == 12 and prog.supervised_sessions == 8
    for item in prog.stages[0].items:
        assert (item.dose.reps_min, item.dose.hold_s_min, item.dose.times_per_day) == (6, 30, 1)


def test_a_programme_whose_content_was_not_found_has_nothing_to_prescribe(
    kb: KnowledgeBase,
) -> None:
    iso = kb.programmes["prog_clifford_isotonic"]
    assert not iso.content_captured and not iso.stages


def test_postoperative_protocols_are_protocols_not_trial_evidence(kb: KnowledgeBase) -> None:
    post = [p for p in kb.programmes.values() if p.kind == "postoperative_protocol"]
    assert post, "the post-operative protocol is in the data"
    for p in post:
        assert p.evidence_level in (None, 5)
        assert "protocol" in p.evidence_note.lower()
    trial = [p for p in kb.programmes.values() if p.kind == "trial_programme"]
    assert {p.id for p in trial} >= {
        "prog_leap_edx",
        "prog_clifford_isometric",
        "prog_globe_targeted",
    }


def test_every_rule_without_a_source_is_a_labelled_assumption(kb: KnowledgeBase) -> None:
    rules: list[Rule] = []
    for p in kb.programmes.values():
        rules += [p.pain_rule, p.regress_when]
        rules += [s.progress_when for s in p.stages if s.progress_when is not None]
    for r in rules:
        assert r.sources or (r.basis == "assumption" and r.reason)
        if r.basis == "assumption":
            assert r.reason


def test_secondary_doses_are_marked(kb: KnowledgeBase) -> None:
    for stage in kb.programmes["prog_globe_targeted"].stages:
        for item in stage.items:
            assert "secondary" in item.marks


def test_every_exercise_has_a_figure_and_is_used(kb: KnowledgeBase) -> None:
    used = {i.exercise for p in kb.programmes.values() for s in p.stages for i in s.items}
    assert used == set(kb.exercises)


def test_exercises_are_found_by_id(kb: KnowledgeBase) -> None:
    assert kb.get("ex_offset_bridge")[0] == "exercises"
    assert kb.get("prog_leap_edx")[0] == "programmes"


def test_an_assumption_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="reason"):
        Rule(text="x", plain="x", basis="assumption")
    with pytest.raises(ValidationError, match="source"):
        Rule(text="x", plain="x", basis="trial_protocol")


def test_a_dose_range_cannot_run_backwards() -> None:
    with pytest.raises(ValidationError, match="below its minimum"):
        Dose(reps_min=10, reps_max=5)
    with pytest.raises(ValidationError, match="needs a minimum"):
        Dose(sets_max=3)


def test_a_postoperative_protocol_cannot_claim_trial_evidence(kb: KnowledgeBase) -> None:
    data = kb.programmes["prog_postop_repair"].model_dump()
    data["evidence_level"] = 1
    with pytest.raises(ValidationError, match="expert opinion"):
        Programme.model_validate(data)


def test_unknown_exercise_in_a_programme_is_reported(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        data["programmes"][0]["stages"][0]["items"][0]["exercise"] = "ex_no_such_thing"

    edit_kb_file(kb_copy, "exercises.yaml", bad)
    problems = kb_problems(kb_copy)
    assert any("ex_no_such_thing" in p and "known exercise id" in p for p in problems)


def test_unknown_field_in_a_dose_names_file_and_line(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        data["programmes"][0]["stages"][0]["items"][0]["dose"]["repetitions"] = 10

    edit_kb_file(kb_copy, "exercises.yaml", bad)
    problems = kb_problems(kb_copy)
    assert any(p.startswith("exercises.yaml:") and "repetitions" in p for p in problems)


def test_globe_stages_2_to_4_as_the_summary_gives_them(kb: KnowledgeBase) -> None:
    """Names and the dynamic-exercise dose from the secondary summary; the rest left blank."""
    prog = kb.programmes["prog_globe_targeted"]
    assert [s.id for s in prog.stages] == [f"globe_stage_{n}" for n in (1, 2, 3, 4)]
    expected = {
        "globe_stage_2": ["ex_hip_hitch_toe_tap", "ex_sit_to_stand", "ex_calf_raise_toe_tap"],
        "globe_stage_3": [
            "ex_hip_hitch_hip_swing",
            "ex_split_stance_sit_to_stand",
            "ex_single_leg_calf_raise",
        ],
        "globe_stage_4": ["ex_single_leg_squat", "ex_step_up", "ex_single_leg_calf_raise"],
    }
    for sid, exercises in expected.items():
        stage = prog.stage(sid)
        assert [i.exercise for i in stage.items] == exercises
        assert stage.week_from is None and stage.week_to is None  # not reported
        assert stage.progress_when is not None and stage.progress_when.criterion == "clinician"
        for item in stage.items:
            assert "secondary" in item.marks
            dose = item.dose
            assert dose.times_per_day is None and dose.days_per_week is None  # not reported
            if item.exercise.startswith("ex_hip_hitch"):
                assert dose == type(dose)()  # the summary gives no dose for these
            else:
                assert (dose.sets_min, dose.sets_max, dose.reps_min, dose.reps_max) == (2, 4, 5, 15)


def test_clifford_isotonic_stays_uncaptured(kb: KnowledgeBase) -> None:
    """The isotonic arm's exercises and dose are not in any stored source: nothing invented."""
    prog = kb.programmes["prog_clifford_isotonic"]
    assert prog.content_captured is False and prog.stages == []
