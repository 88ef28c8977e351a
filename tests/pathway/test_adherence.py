"""Adherence validation and the progression rule read from exercises.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from glutemed.errors import InputValueError, NotFoundError
from glutemed.knowledge import load_kb
from glutemed.pathway import read_adherence, sessions_prescribed, suggest_progression


def _rec(stage: str = "leap_week_1", week: int | None = 2, **entry: Any) -> dict[str, Any]:
    base = {"exercise": "ex_double_leg_bridge", "sessions_done": 7, "sessions_prescribed": 7}
    return {
        "programme": "prog_leap_edx",
        "stage": stage,
        "programme_week": week,
        "entries": [base | entry],
    }


def _locations(exc: pytest.ExceptionInfo[InputValueError]) -> set[str]:
    return {p.location for p in exc.value.problems}


def test_every_problem_is_named_by_exercise_and_field() -> None:
    with pytest.raises(InputValueError) as exc:
        read_adherence(
            {
                "programme": "prog_leap_edx",
                "stage": "leap_week_1",
                "programme_week": 0,
                "entries": [
                    {
                        "exercise": "ex_double_leg_bridge",
                        "sessions_done": 9,
                        "sessions_prescribed": 7,
                    },
                    {"exercise": "ex_side_stepping", "pain_during_nrs_0_10": 11},
                    {"exercise": "ex_double_leg_squat", "pain_after_nrs_0_10": -1, "effort": "x"},
                    {"exercise": "ex_offset_squat"},  # not in week 1
                    {"exercise": "ex_side_stepping"},  # twice
                    {"exercise": "ex_static_abduction_supine", "sessions_done": 3},
                    {"exercise": "programme", "sessions_done": 2.5, "sessions_prescribed": 7},
                ],
            }
        )
    assert _locations(exc) == {
        "programme_week",
        "ex_double_leg_bridge.sessions_done",
        "ex_side_stepping.pain_during_nrs_0_10",
        "ex_double_leg_squat.pain_after_nrs_0_10",
        "ex_double_leg_squat.effort",
        "ex_offset_squat.exercise",
        "ex_side_stepping.exercise",
        "ex_static_abduction_supine.sessions_prescribed",
        "programme.sessions_done",
    }
    done = next(p for p in exc.value.problems if p.location == "ex_double_leg_bridge.sessions_done")
    assert "7 sessions prescribed" in done.expected and done.found == "9"


def test_unknown_programme_stage_uncaptured_and_empty() -> None:
    with pytest.raises(NotFoundError):
        read_adherence({"programme": "prog_nope", "stage": "x", "entries": []})
    with pytest.raises(NotFoundError):
        read_adherence({"programme": "prog_leap_edx", "stage": "x", "entries": []})
    with pytest.raises(InputValueError):  # the isotonic programme's content was not captured
        read_adherence({"programme": "prog_clifford_isotonic", "stage": "x", "entries": []})
    with pytest.raises(InputValueError) as exc:  # rows left blank are not entries
        read_adherence(
            {
                "programme": "prog_leap_edx",
                "stage": "leap_week_1",
                "entries": [{"exercise": "ex_double_leg_bridge"}],
            }
        )
    assert _locations(exc) == {"entries"}


def test_totals_and_percent() -> None:
    r = read_adherence(
        {
            "programme": "prog_leap_edx",
            "stage": "leap_week_1",
            "entries": [
                {
                    "exercise": "ex_double_leg_bridge",
                    "sessions_done": 5,
                    "sessions_prescribed": 7,
                    "pain_during_nrs_0_10": 4,
                    "pain_after_nrs_0_10": 1,
                },
                {
                    "exercise": "ex_side_stepping",
                    "sessions_done": 7,
                    "sessions_prescribed": 7,
                    "pain_during_nrs_0_10": 2,
                    "pain_after_nrs_0_10": 3,
                },
                {"exercise": "ex_double_leg_squat", "pain_during_nrs_0_10": 1},
            ],
        }
    )
    assert (r.sessions_done, r.sessions_prescribed) == (12, 14)
    assert r.done_pct == pytest.approx(100 * 12 / 14)
    assert (r.pain_during_max, r.pain_after_max) == (4, 3)


def test_sessions_prescribed_from_the_dose() -> None:
    kb = load_kb()
    stage = kb.programmes["prog_leap_edx"].stage("leap_week_1")
    doses = {i.exercise: i.dose for i in stage.items}
    assert sessions_prescribed(doses["ex_static_abduction_supine"], 14) == 28  # twice a day
    assert sessions_prescribed(doses["ex_double_leg_bridge"], 14) == 14
    assert sessions_prescribed(doses["ex_double_leg_squat"], 14) is None  # frequency blank


def test_pain_above_the_rule_regresses_and_is_labelled_an_assumption() -> None:
    s = suggest_progression(read_adherence(_rec(pain_during_nrs_0_10=7)))
    assert s.action == "regress"
    assert s.uses_assumptions
    assert "7/10" in s.reasons[0] and "5/10" in s.reasons[0] and "assumption" in s.reasons[0]
    (ex,) = s.exercises
    assert ex.exercise == "ex_double_leg_bridge" and ex.action == "regress"
    assert ex.how == load_kb().exercises["ex_double_leg_bridge"].easier
    # the limit itself is not a breach
    assert suggest_progression(read_adherence(_rec(pain_during_nrs_0_10=5))).action == "progress"


def test_pain_not_settled_next_morning_regresses_whole_programme_to_previous_stage() -> None:
    rec = _rec(stage="leap_week_2", week=3)
    rec["entries"] = [{"exercise": "programme", "settled_next_morning": False}]
    s = suggest_progression(read_adherence(rec))
    assert s.action == "regress" and s.target_stage_id == "leap_week_1"
    assert any("next morning" in r for r in s.reasons)


def test_low_adherence_stays() -> None:
    s = suggest_progression(read_adherence(_rec(sessions_done=3)))
    assert s.action == "stay" and s.target_stage_id is None
    assert "3 of 7" in s.reasons[0] and "80 %" in s.reasons[0]


def test_time_criterion_progresses_after_the_stage_weeks() -> None:
    s = suggest_progression(read_adherence(_rec(week=2)))
    assert s.action == "progress" and s.target_stage_id == "leap_week_2"
    assert suggest_progression(read_adherence(_rec(week=1))).action == "stay"
    unknown = suggest_progression(read_adherence(_rec(week=None)))
    assert unknown.action == "stay" and "week was not recorded" in unknown.reasons[-1]


def test_effort_criterion_in_graduated_loading() -> None:
    easy = _rec(stage="leap_weeks_3_8", week=5, exercise="ex_offset_squat", effort="light")
    s = suggest_progression(read_adherence(easy))
    assert s.action == "progress" and s.target_stage_id is None
    assert s.exercises[0].how == load_kb().exercises["ex_offset_squat"].harder
    right = _rec(stage="leap_weeks_3_8", week=5, exercise="ex_offset_squat", effort="hard")
    assert suggest_progression(read_adherence(right)).action == "stay"
    # the double-leg squat is prescribed light: 'hard' is harder than prescribed
    heavy = _rec(stage="leap_weeks_3_8", week=5, exercise="ex_double_leg_squat", effort="hard")
    assert suggest_progression(read_adherence(heavy)).action == "regress"


def test_no_criterion_in_the_sources_leaves_it_to_the_clinician() -> None:
    rec = {
        "programme": "prog_clifford_isometric",
        "stage": "clifford_iso_weeks_1_12",
        "entries": [
            {
                "exercise": "ex_isometric_abduction_side_lying",
                "sessions_done": 14,
                "sessions_prescribed": 14,
                "pain_during_nrs_0_10": 3,
            }
        ],
    }
    s = suggest_progression(read_adherence(rec))
    assert s.action == "stay" and "you decide" in s.reasons[-1]
    assert {r["kind"] for r in s.rules} == {"pain", "adherence", "progress"}


def test_pelvis_not_level_regresses_only_where_the_rule_says_so() -> None:
    s = suggest_progression(read_adherence(_rec(pelvis_level=False)))
    assert s.action == "regress" and "level pelvis" in s.reasons[0]
    assert "assumption" in s.reasons[0]  # LEAP's regression rule is a labelled assumption
    assert suggest_progression(read_adherence(_rec(pelvis_level=True))).action == "progress"
    clifford = {
        "programme": "prog_clifford_isometric",
        "stage": "clifford_iso_weeks_1_12",
        "entries": [
            {
                "exercise": "ex_static_abduction_standing",
                "sessions_done": 14,
                "sessions_prescribed": 14,
                "pelvis_level": False,
            }
        ],
    }
    assert suggest_progression(read_adherence(clifford)).action == "stay"
    with pytest.raises(InputValueError) as exc:
        read_adherence(_rec(pelvis_level="maybe"))
    assert _locations(exc) == {"ex_double_leg_bridge.pelvis_level"}
