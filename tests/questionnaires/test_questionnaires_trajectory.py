"""Trajectory classification: improving / plateau / worsening / insufficient data."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from glutemed.errors import ScoringError
from glutemed.knowledge import KnowledgeBase
from glutemed.questionnaires import DEFAULT_PLATEAU_WINDOW_DAYS, classify_trajectory


def test_default_window_is_four_weeks() -> None:
    assert DEFAULT_PLATEAU_WINDOW_DAYS == 28


def test_improving(kb: KnowledgeBase) -> None:
    result = classify_trajectory("nprs", [(0, 7), (28, 5), (56, 3)], kb=kb)
    assert result.status == "improving"
    assert result.mcid == 2 and result.threshold_source.startswith("tx_r100: ")
    assert result.improvement_from_baseline == 4 and result.change_from_baseline == -4
    assert result.change_over_window == -2
    assert result.slope_per_week == pytest.approx(-0.5)
    assert (result.n_points, result.span_days) == (3, 56)


def test_improving_exactly_at_mcid(kb: KnowledgeBase) -> None:
    assert classify_trajectory("nprs", [(0, 6), (28, 4)], kb=kb).status == "improving"


def test_just_below_mcid_is_plateau(kb: KnowledgeBase) -> None:
    result = classify_trajectory("nprs", [(0, 6), (28, 4.1)], kb=kb)
    assert result.status == "plateau"
    assert "below the MCID of 2" in result.reason


def test_plateau_after_initial_improvement(kb: KnowledgeBase) -> None:
    result = classify_trajectory("nprs", [(0, 8), (14, 5), (42, 5), (56, 4.5)], kb=kb)
    assert result.status == "plateau"
    assert result.change_over_window == -0.5  # vs day 14, the last point >= 28 days earlier
    assert "better by 3.5 since baseline" in result.reason


def test_improving_within_a_short_series(kb: KnowledgeBase) -> None:
    result = classify_trajectory("nprs", [(0, 8), (14, 5)], kb=kb)
    assert result.status == "improving"
    assert result.change_over_window is None
    assert "shorter than the 28-day plateau window" in result.reason


def test_no_change_long_enough_is_plateau(kb: KnowledgeBase) -> None:
    assert classify_trajectory("nprs", [(0, 6), (30, 5.5), (60, 6)], kb=kb).status == "plateau"


def test_no_change_too_short_is_insufficient(kb: KnowledgeBase) -> None:
    result = classify_trajectory("nprs", [(0, 6), (7, 5)], kb=kb)
    assert result.status == "insufficient_data"
    assert "spans only 7 of the 28 days" in result.reason


@pytest.mark.parametrize(("latest", "status"), [(6, "worsening"), (5.9, "plateau")])
def test_worsening_from_baseline_edge(kb: KnowledgeBase, latest: float, status: str) -> None:
    assert classify_trajectory("nprs", [(0, 4), (28, latest)], kb=kb).status == status


def test_worsening_from_best_after_improvement(kb: KnowledgeBase) -> None:
    result = classify_trajectory("nprs", [(0, 8), (28, 3), (56, 5.5)], kb=kb)
    assert result.status == "worsening"
    assert result.best == 3
    assert "than the best earlier value (3)" in result.reason


def test_higher_is_better_direction(kb: KnowledgeBase) -> None:
    up = classify_trajectory("ihot_12", [(0, 30), (42, 50)], context="Rice 2023", kb=kb)
    down = classify_trajectory("ihot_12", [(0, 50), (42, 30)], context="Rice 2023", kb=kb)
    assert (up.status, down.status) == ("improving", "worsening")
    assert up.mcid == 15.3


def test_several_mcids_use_the_largest_without_context(kb: KnowledgeBase) -> None:
    result = classify_trajectory("mhhs", [(0, 60), (90, 69.5)], kb=kb)
    assert result.mcid == 9.9
    assert result.status == "plateau"  # 9.5 < 9.9
    assert "largest of 6 published MCIDs" in result.reason
    endoscopic = classify_trajectory("mhhs", [(0, 60), (90, 69.5)], context="tx_r79", kb=kb)
    assert (endoscopic.mcid, endoscopic.status) == (8.7, "improving")


def test_visa_g_without_mcid_is_descriptive_only(kb: KnowledgeBase) -> None:
    result = classify_trajectory("visa_g", [(0, 55), (84, 65)], kb=kb)
    assert result.status == "insufficient_data"
    assert result.threshold_source == "none" and result.mcid is None
    assert "no published MCID" in result.reason
    assert result.slope_per_week == pytest.approx(10 / 12)
    assert result.improvement_from_baseline == 10


def test_dates_and_unsorted_points(kb: KnowledgeBase) -> None:
    points = [(date(2024, 2, 26), 3), (date(2024, 1, 1), 7), (date(2024, 1, 29), 5)]
    result = classify_trajectory("nprs", points, kb=kb)
    assert result.status == "improving"
    assert (result.baseline, result.latest) == (7, 3)
    assert result.slope_per_week == pytest.approx(-0.5)


def test_datetimes_keep_the_time_of_day(kb: KnowledgeBase) -> None:
    points = [(datetime(2024, 1, 1, 12), 6), (datetime(2024, 1, 2, 0), 5)]
    result = classify_trajectory("nprs", points, kb=kb)
    assert result.span_days == pytest.approx(0.5)


def test_least_squares_slope(kb: KnowledgeBase) -> None:
    result = classify_trajectory("nprs", [(0, 7), (7, 6), (14, 4)], kb=kb)
    assert result.slope_per_week == pytest.approx(-1.5)


@pytest.mark.parametrize("points", [[], [(0, 5)]])
def test_fewer_than_two_points(kb: KnowledgeBase, points: list[tuple[int, int]]) -> None:
    result = classify_trajectory("nprs", points, kb=kb)
    assert result.status == "insufficient_data"
    assert result.slope_per_week is None
    assert result.n_points == len(points)


def test_every_bad_point_reported_at_once(kb: KnowledgeBase) -> None:
    points = [(0, 5), (0, 4), (date(2024, 1, 1), 12), ("yesterday", 3), (7,), (14, None)]
    with pytest.raises(ScoringError) as info:
        classify_trajectory("nprs", points, plateau_window_days=0, kb=kb)  # type: ignore[arg-type]
    got = {p.location: p for p in info.value.problems}
    assert got["nprs.points[1].time"].expected == "one measurement per time point"
    assert got["nprs.points[2].value"].expected == "a number in [0, 10]"
    assert got["nprs.points[3].time"].found == "'yesterday'"
    assert got["nprs.points[4]"].expected == "a (date or days, value) pair"
    assert got["nprs.points[5].value"].expected == "a finite number"
    assert got["nprs.points"].found == "a mix of both"
    assert got["nprs.plateau_window_days"].expected == "a positive number of days"


def test_points_must_be_a_sequence(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        classify_trajectory("nprs", "0,5", kb=kb)  # type: ignore[arg-type]
    assert info.value.problems[0].location == "nprs.points"
