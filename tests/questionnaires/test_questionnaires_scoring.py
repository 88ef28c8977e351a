"""Scoring of every instrument on hand-computed answers, missing-item rules and error paths."""

from __future__ import annotations

import math

import pytest

from glutemed.errors import NotFoundError, ScoringError
from glutemed.knowledge import KnowledgeBase
from glutemed.questionnaires import SINGLE_ITEM_ID, score
from glutemed.questionnaires._scoring import _SPECS

MHHS_ANSWERS = {
    "pain": 30,
    "function_limp": 8,
    "function_support": 11,
    "function_distance": 8,
    "function_stairs": 2,
    "function_shoes_socks": 2,
    "function_sitting": 5,
    "function_public_transport": 1,
}


def _hoos(
    pain: list[int | None],
    symptoms: list[int | None],
    adl: list[int | None],
    sport: list[int | None],
    qol: list[int | None],
) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for prefix, values in (
        ("pain", pain),
        ("symptoms", symptoms),
        ("adl", adl),
        ("sport", sport),
        ("qol", qol),
    ):
        out.update({f"{prefix}_{i}": v for i, v in enumerate(values, start=1)})
    return out


# ---------------------------------------------------------------- every instrument, valid answers


@pytest.mark.parametrize(
    ("instrument", "answer", "expected"),
    [
        ("nprs", 6, 6.0),
        ("nprs", {"score": 0}, 0.0),
        ("groc", -3, -3.0),
        ("groc", {"score": 5}, 5.0),
        ("vas_pain", 42.5, 42.5),
        ("leas", 12, 12.0),
        ("visa_g", 57, 57.0),
        ("hos_adl", 87.5, 87.5),
        ("hos_sport", 40.63, 40.63),
    ],
)
def test_single_value_scales(
    kb: KnowledgeBase, instrument: str, answer: object, expected: float
) -> None:
    result = score(instrument, answer, kb=kb)  # type: ignore[arg-type]
    assert result.total == expected
    assert result.n_answered == 1 and result.n_missing == 0
    assert result.range == kb.instruments[instrument].range
    assert result.versions == kb.versions()


def test_psfs_mean_of_nominated_activities(kb: KnowledgeBase) -> None:
    three = score("psfs", {"activity_1": 4, "activity_2": 5, "activity_3": 6}, kb=kb)
    assert three.total == 5.0
    assert three.n_missing == 0  # empty optional slots are "not nominated"
    four = score(
        "psfs", {"activity_1": 3, "activity_2": 4, "activity_3": 8, "activity_4": 10}, kb=kb
    )
    assert four.total == 6.25
    five = score("psfs", {f"activity_{i}": v for i, v in enumerate([4, 5, 6, 8, 2], 1)}, kb=kb)
    assert five.total == 5.0


def test_mhhs_raw_sum_rescaled_to_100(kb: KnowledgeBase) -> None:
    result = score("mhhs", MHHS_ANSWERS, kb=kb)
    # raw 30 + 8 + 11 + 8 + 2 + 2 + 5 + 1 = 67; 67 * 100 / 91
    assert result.total == pytest.approx(6700 / 91)
    assert result.subscales == {"pain": 30.0, "function": 37.0}
    assert any("pain 0–44, function 0–47" in n for n in result.notes)
    best = score("mhhs", {i.id: i.max for i in kb.instruments["mhhs"].items}, kb=kb)
    worst = score("mhhs", {i.id: i.min for i in kb.instruments["mhhs"].items}, kb=kb)
    assert (best.total, worst.total) == (100.0, 0.0)


def test_ihot12_mean_of_twelve_items(kb: KnowledgeBase) -> None:
    values = [50, 60, 70, 80, 40, 30, 20, 90, 100, 0, 55, 45.5]
    result = score("ihot_12", {f"item_{i}": v for i, v in enumerate(values, 1)}, kb=kb)
    assert result.total == pytest.approx(640.5 / 12)  # continuous VAS items (step 0)


def test_nahs_sum_times_1_25(kb: KnowledgeBase) -> None:
    values = [4, 3, 2, 1, 0] * 4  # raw 40
    result = score("nahs", {f"item_{i}": v for i, v in enumerate(values, 1)}, kb=kb)
    assert result.total == 50.0
    all_three = score("nahs", {f"item_{i}": 3 for i in range(1, 21)}, kb=kb)
    assert all_three.total == 75.0  # 60 * 1.25


def test_hoos_five_subscales_no_total(kb: KnowledgeBase) -> None:
    answers = _hoos([1] * 10, [0, 0, 0, 0, 4], [2] * 17, [4, 4, 4, 4], [0, 1, 2, 3])
    result = score("hoos", answers, kb=kb)
    assert result.total is None
    assert result.subscales == {
        "pain": 75.0,  # 100 - 25 * 1
        "symptoms": 80.0,  # 100 - 25 * 0.8
        "adl": 50.0,
        "sport": 0.0,
        "qol": 62.5,  # 100 - 25 * 1.5
    }
    assert result.unscored_subscales == {}
    assert result.n_answered == 40


def test_oxford_hip_score_refused_for_licence(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        score("oxford_hip_score", {"item_1": 4}, kb=kb)
    text = str(info.value)
    assert "oxford_hip_score" in text
    assert "Oxford University Innovation" in text
    assert "licence" in text


# ---------------------------------------------------------------- missing-item rules


def test_hoos_subscale_scored_at_exactly_half(kb: KnowledgeBase) -> None:
    answers = _hoos(
        [2, 2, 2, 2, 2, None, None, None, None, None],
        [1, 1, 1, None, None],
        [0] * 17,
        [3, 3, None, None],
        [4, None, None, None],
    )
    result = score("hoos", answers, kb=kb)
    assert result.subscales["pain"] == 50.0  # 5 of 10 answered: exactly 50 %
    assert result.subscales["symptoms"] == 75.0  # 3 of 5 answered
    assert result.subscales["sport"] == 25.0  # 2 of 4 answered
    assert "qol" not in result.subscales  # 1 of 4 answered
    assert result.unscored_subscales["qol"].startswith("1 of 4 items answered")
    assert any(n.startswith("subscale qol not scored") for n in result.notes)
    assert result.n_missing == 5 + 2 + 0 + 2 + 3


def test_hoos_subscale_just_below_half_not_scored(kb: KnowledgeBase) -> None:
    answers = _hoos(
        [2, 2, 2, 2, None, None, None, None, None, None],
        [1, 1, None, None, None],
        [0] * 17,
        [3, 3, 3, 3],
        [4, 4, 4, 4],
    )
    result = score("hoos", answers, kb=kb)
    assert set(result.unscored_subscales) == {"pain", "symptoms"}  # 4/10 and 2/5


def test_hoos_nothing_scorable_raises_per_subscale(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        score("hoos", {"pain_1": 2}, kb=kb)
    locations = [p.location for p in info.value.problems]
    assert locations == ["hoos.pain", "hoos.symptoms", "hoos.adl", "hoos.sport", "hoos.qol"]
    assert info.value.problems[0].expected == "at least 50% of the 10 pain items answered"
    assert info.value.problems[0].found == "1 answered"


def test_complete_questionnaire_rule_lists_every_missing_item(kb: KnowledgeBase) -> None:
    answers = {f"item_{i}": 50 for i in range(1, 11)}  # item_11, item_12 missing
    with pytest.raises(ScoringError) as info:
        score("ihot_12", answers, kb=kb)
    problems = info.value.problems
    assert [p.location for p in problems] == ["ihot_12.item_11", "ihot_12.item_12"]
    assert problems[0].found == "no answer"
    assert "complete questionnaires" in problems[0].hint  # the KB rule, said once


def test_none_marks_an_unanswered_item(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        score("nprs", {"score": None}, kb=kb)
    assert info.value.problems[0].location == "nprs.score"
    result = score(
        "psfs", {"activity_1": 5, "activity_2": 5, "activity_3": 5, "activity_4": None}, kb=kb
    )
    assert result.total == 5.0


def test_psfs_requires_three_activities(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        score("psfs", {"activity_1": 5, "activity_2": 6}, kb=kb)
    assert [p.location for p in info.value.problems] == ["psfs.activity_3"]


# ---------------------------------------------------------------- error paths


def test_unknown_item_with_closest_match(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        score("psfs", {"activty_1": 5, "activity_2": 5, "activity_3": 5}, kb=kb)
    problems = info.value.problems
    unknown = next(p for p in problems if p.location == "psfs.activty_1")
    assert unknown.expected == "an item id of PSFS"
    assert unknown.found == "'activty_1'"
    assert "did you mean activity_1" in unknown.hint
    # the misspelt item does not count as an answer
    assert any(p.location == "psfs.activity_1" and p.found == "no answer" for p in problems)


def test_unknown_item_without_close_match_lists_items(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        score("nprs", {"zzz": 5, "score": 5}, kb=kb)
    assert info.value.problems[0].hint == "known items: score"


@pytest.mark.parametrize(
    ("value", "expected", "found"),
    [
        (11, "a number in [0, 10]", "11"),
        (-1, "a number in [0, 10]", "-1"),
        (5.5, "a value in steps of 1 from 0", "5.5"),
        ("five", "a number", "'five'"),
        (True, "a number", "True"),
        ([5], "a number", "[5]"),
        (float("nan"), "a finite number", "nan"),
        (float("inf"), "a finite number", "inf"),
    ],
)
def test_invalid_single_values(kb: KnowledgeBase, value: object, expected: str, found: str) -> None:
    with pytest.raises(ScoringError) as info:
        score("nprs", value, kb=kb)  # type: ignore[arg-type]
    (problem,) = info.value.problems
    assert (problem.location, problem.expected, problem.found) == ("nprs.score", expected, found)
    assert f"nprs.score: expected {expected}, got {found}" in str(info.value)


def test_all_problems_reported_at_once(kb: KnowledgeBase) -> None:
    answers = dict(MHHS_ANSWERS, pain=45, function_limp="8", function_stairs=2.5, extra=1)
    del answers["function_sitting"]
    with pytest.raises(ScoringError) as info:
        score("mhhs", answers, kb=kb)
    got = {p.location: p for p in info.value.problems}
    assert set(got) == {
        "mhhs.pain",
        "mhhs.function_limp",
        "mhhs.function_stairs",
        "mhhs.extra",
        "mhhs.function_sitting",
    }
    assert got["mhhs.pain"].expected == "a number in [0, 44]"
    assert got["mhhs.function_limp"].expected == "a number"
    assert got["mhhs.function_stairs"].expected == "a value in steps of 1 from 0"
    assert got["mhhs.function_sitting"].found == "no answer"
    assert info.value.message == "mhhs: 5 problem(s) with the answers"


def test_bare_number_for_multi_item_instrument(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        score("mhhs", 70, kb=kb)
    (problem,) = info.value.problems
    assert problem.location == "mhhs"
    assert problem.expected.startswith("a mapping of item id to number (8 items: pain, ")
    assert problem.found == "int 70"


def test_unknown_instrument(kb: KnowledgeBase) -> None:
    with pytest.raises(NotFoundError) as info:
        score("visa-g", 50, kb=kb)
    assert "did you mean visa_g" in info.value.problems[0].hint


def test_numpy_numbers_accepted(kb: KnowledgeBase) -> None:
    np = pytest.importorskip("numpy")
    assert score("nprs", np.int64(3), kb=kb).total == 3.0
    assert score("vas_pain", np.float64(12.5), kb=kb).total == 12.5


# ---------------------------------------------------------------- code spec agrees with the KB


def test_scoring_spec_matches_knowledge_base(kb: KnowledgeBase) -> None:
    for instrument_id, spec in _SPECS.items():
        instrument = kb.instruments[instrument_id]
        item_ids = {i.id for i in instrument.items}
        assert spec.optional_items <= item_ids
        if spec.min_answered_fraction is not None:
            percent = f"{spec.min_answered_fraction:.0%}".replace("%", " %")
            assert percent in instrument.missing_items_rule
        if spec.subscales != "none":
            prefixes = {i.split("_", 1)[0] for i in item_ids}
            assert all(p in instrument.scoring for p in prefixes)
    assert "optional" in kb.instruments["psfs"].missing_items_rule
    assert "0 (no problems) to 4" in kb.instruments["hoos"].scoring  # reverse-coded items
    assert kb.instruments["hoos"].higher_is_better


def test_single_value_scales_use_the_score_item(kb: KnowledgeBase) -> None:
    for instrument in kb.instruments.values():
        if len(instrument.items) == 1:
            (item,) = instrument.items
            assert item.id == SINGLE_ITEM_ID
            assert (item.min, item.max) == instrument.range


def test_every_instrument_with_items_scores_its_best_and_worst(kb: KnowledgeBase) -> None:
    for instrument in kb.instruments.values():
        if not instrument.items:
            continue
        spec = _SPECS.get(instrument.id)
        lo, hi = instrument.range
        best = {i.id: (i.min if spec and spec.reverse_items else i.max) for i in instrument.items}
        worst = {i.id: (i.max if spec and spec.reverse_items else i.min) for i in instrument.items}
        good, bad = score(instrument.id, best, kb=kb), score(instrument.id, worst, kb=kb)
        for result, target in ((good, hi), (bad, lo)):
            values = [result.total] if result.total is not None else []
            if spec is None or spec.subscales == "scored":
                values += list(result.subscales.values())
            assert values and all(math.isclose(v, target) for v in values if v is not None)
