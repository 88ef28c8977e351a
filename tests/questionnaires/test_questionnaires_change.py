"""Change interpretation against the knowledge base's MCID / MDC / PASS thresholds."""

from __future__ import annotations

import dataclasses

import pytest

from glutemed.errors import NotFoundError, ScoringError
from glutemed.knowledge import KnowledgeBase
from glutemed.knowledge._schema import SourceRef, Threshold
from glutemed.questionnaires import interpret_change, score


def _with_thresholds(
    kb: KnowledgeBase, instrument_id: str, thresholds: list[Threshold]
) -> KnowledgeBase:
    """A copy of ``kb`` whose instrument has the given thresholds (synthetic test case)."""
    instrument = kb.instruments[instrument_id].model_copy(update={"thresholds": thresholds})
    return dataclasses.replace(kb, instruments={**kb.instruments, instrument_id: instrument})


# ---------------------------------------------------------------- NPRS: 2 points or 30 %


def test_nprs_exactly_at_absolute_mcid(kb: KnowledgeBase) -> None:
    change = interpret_change("nprs", 8, 6, kb=kb)  # 2 points, 25 %
    assert change.change == -2 and change.improvement == 2
    assert change.direction == "improved"
    assert change.responder_status == "responder"
    met = {(c.relative, c.met) for c in change.thresholds}
    assert met == {(False, True), (True, False)}
    assert "meets the MCID of 2 but not 30%" in change.explanation
    assert "[Chronic pain (Farrar 2001)]" in change.explanation
    assert "tx_r" not in change.explanation


def test_nprs_just_below_both_mcids(kb: KnowledgeBase) -> None:
    change = interpret_change("nprs", 8, 6.01, kb=kb)  # 1.99 points, 24.9 %
    assert change.responder_status == "non_responder"
    assert all(c.met is False for c in change.thresholds)
    assert "below the MCID of 2 or 30%" in change.explanation


def test_nprs_relative_rule_exactly_30_percent(kb: KnowledgeBase) -> None:
    change = interpret_change("nprs", 3, 2.1, kb=kb)  # 0.9 points = 30 % of 3
    assert change.relative_improvement == pytest.approx(0.3)
    assert change.responder_status == "responder"
    relative = next(c for c in change.thresholds if c.relative)
    assert relative.met is True and relative.value == 0.3


def test_nprs_relative_rule_just_below_30_percent(kb: KnowledgeBase) -> None:
    change = interpret_change("nprs", 3, 2.11, kb=kb)  # 29.7 %
    assert change.responder_status == "non_responder"


def test_float_round_off_at_the_mcid_counts_as_met(kb: KnowledgeBase) -> None:
    assert 2.3 - 0.3 < 2  # binary floating point
    change = interpret_change("nprs", 2.3, 0.3, kb=kb)
    (absolute,) = [c for c in change.thresholds if not c.relative]
    assert absolute.met is True


def test_nprs_baseline_zero_has_no_relative_change(kb: KnowledgeBase) -> None:
    change = interpret_change("nprs", 0, 0, kb=kb)
    assert change.relative_improvement is None
    assert change.direction == "unchanged"
    assert change.responder_status == "non_responder"  # the absolute MCID is still judged
    assert change.explanation.startswith("NPRS did not change (0 to 0)")


def test_worsening_is_not_a_response(kb: KnowledgeBase) -> None:
    change = interpret_change("nprs", 4, 7, kb=kb)
    assert change.direction == "worsened"
    assert change.improvement == -3 and change.change == 3
    assert change.responder_status == "non_responder"


def test_score_objects_are_accepted(kb: KnowledgeBase) -> None:
    change = interpret_change("nprs", score("nprs", 6, kb=kb), score("nprs", 3, kb=kb), kb=kb)
    assert change.improvement == 3
    assert change.versions == kb.versions()


# ---------------------------------------------------------------- GROC, VISA-G, mHHS contexts


def test_groc_rating_of_two_meets_clifford_mcid(kb: KnowledgeBase) -> None:
    assert interpret_change("groc", 0, 2, kb=kb).responder_status == "responder"
    assert interpret_change("groc", 0, 1, kb=kb).responder_status == "non_responder"
    (check,) = interpret_change("groc", 0, 2, kb=kb).thresholds
    assert check.source_id == "tx_r6"


def test_visa_g_has_no_mcid(kb: KnowledgeBase) -> None:
    change = interpret_change("visa_g", 55, 65, kb=kb)
    assert change.responder_status == "not_assessable: no published MCID"
    assert change.thresholds == ()
    assert change.improvement == 10
    assert "no published MCID" in change.explanation


@pytest.mark.parametrize("instrument", ["psfs", "hoos", "leas", "oxford_hip_score"])
def test_other_instruments_without_mcid(kb: KnowledgeBase, instrument: str) -> None:
    lo, hi = kb.instruments[instrument].range
    change = interpret_change(instrument, lo, hi, kb=kb)
    assert change.responder_status == "not_assessable: no published MCID"


def test_mhhs_without_context_is_context_dependent(kb: KnowledgeBase) -> None:
    change = interpret_change("mhhs", 60, 69, kb=kb)  # 9: below only the 9.9 open-repair MCID
    assert change.responder_status == "context_dependent"
    assert "5 of 6 published contexts" in change.explanation
    assert "Open hip abductor repair (MCID study, OJSM 2021): 9.9 not met" in change.explanation
    assert "tx_r" not in change.explanation and "context=" not in change.explanation


def test_mhhs_all_contexts_met_or_none(kb: KnowledgeBase) -> None:
    assert interpret_change("mhhs", 50, 60, kb=kb).responder_status == "responder"
    assert interpret_change("mhhs", 50, 55, kb=kb).responder_status == "non_responder"


@pytest.mark.parametrize(("follow_up", "status"), [(68.7, "responder"), (68.69, "non_responder")])
def test_mhhs_endoscopic_5_to_10_year_mcid_edge(
    kb: KnowledgeBase, follow_up: float, status: str
) -> None:
    change = interpret_change("mhhs", 60, follow_up, context="tx_r79", kb=kb)
    (check,) = change.thresholds
    assert check.value == 8.7 and check.kind == "mcid"
    assert change.responder_status == status


def test_context_matches_words_case_insensitively(kb: KnowledgeBase) -> None:
    change = interpret_change("mhhs", 60, 69, context="ENDOSCOPIC", kb=kb)
    assert {c.source_id for c in change.thresholds} == {"tx_r79", "tx_r103"}
    assert change.responder_status == "responder"


@pytest.mark.parametrize(("follow_up", "met"), [(74, True), (73.9, False)])
def test_mhhs_pass_like_cut_off(kb: KnowledgeBase, follow_up: float, met: bool) -> None:
    change = interpret_change("mhhs", 60, follow_up, context="Fitzpatrick", kb=kb)
    (pass_check,) = [c for c in change.thresholds if c.kind == "pass"]
    assert pass_check.value == 74 and pass_check.met is met


@pytest.mark.parametrize(("follow_up", "met"), [(36.8, True), (36.9, False)])
def test_vas_pass_is_at_or_below_for_pain(kb: KnowledgeBase, follow_up: float, met: bool) -> None:
    change = interpret_change("vas_pain", 60, follow_up, context="Rice 2023", kb=kb)
    (pass_check,) = [c for c in change.thresholds if c.kind == "pass"]
    assert pass_check.met is met


@pytest.mark.parametrize(("follow_up", "met"), [(63, True), (62.99, False)])
def test_hos_adl_mdc(kb: KnowledgeBase, follow_up: float, met: bool) -> None:
    change = interpret_change("hos_adl", 60, follow_up, kb=kb)
    (mdc,) = [c for c in change.thresholds if c.kind == "mdc"]
    assert mdc.met is met


def test_thresholds_carry_source_and_context(kb: KnowledgeBase) -> None:
    change = interpret_change("ihot_12", 40, 60, kb=kb)
    assert {c.source_id for c in change.thresholds} == {"tx_r81", "tx_r101", "tx_r108"}
    assert all(c.locator and c.context for c in change.thresholds)
    assert change.responder_status == "responder"  # 20 >= 15.3 and 14.2


# ---------------------------------------------------------------- synthetic KB variants


def test_unverified_mcid_is_shown_but_never_used(kb: KnowledgeBase) -> None:
    unverified = Threshold(
        kind="mcid",
        value=5,
        context="synthetic",
        marks=["unverified"],
        source=SourceRef(id="tx_r95", locator="synthetic test"),
    )
    variant = _with_thresholds(kb, "visa_g", [unverified])
    change = interpret_change("visa_g", 50, 70, kb=variant)
    (check,) = change.thresholds
    assert (check.used, check.met) == (False, None)
    assert change.responder_status == "not_assessable: only unverified MCIDs"


def test_relative_only_mcid_at_best_end(kb: KnowledgeBase) -> None:
    relative = Threshold(
        kind="mcid",
        value=0.3,
        relative=True,
        context="synthetic",
        source=SourceRef(id="tx_r100", locator="synthetic test"),
    )
    variant = _with_thresholds(kb, "nprs", [relative])
    change = interpret_change("nprs", 0, 1, kb=variant)
    assert change.responder_status == "not_assessable: baseline at the best end of the scale"


# ---------------------------------------------------------------- errors


def test_out_of_range_and_non_numbers_reported_together(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        interpret_change("nprs", 11, "4", kb=kb)  # type: ignore[arg-type]
    got = {p.location: p for p in info.value.problems}
    assert got["nprs.baseline"].expected == "a number in [0, 10]"
    assert got["nprs.baseline"].found == "11"
    assert got["nprs.follow_up"].expected == "a number or a Score"
    assert got["nprs.follow_up"].found == "'4'"


def test_score_of_another_instrument_rejected(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        interpret_change("nprs", score("vas_pain", 5, kb=kb), 3, kb=kb)
    (problem,) = info.value.problems
    assert (problem.location, problem.expected, problem.found) == (
        "nprs.baseline",
        "a nprs score",
        "a score of vas_pain",
    )


def test_hoos_score_without_total_rejected(kb: KnowledgeBase) -> None:
    answers = {i.id: 2 for i in kb.instruments["hoos"].items}
    with pytest.raises(ScoringError) as info:
        interpret_change("hoos", score("hoos", answers, kb=kb), 60, kb=kb)
    assert info.value.problems[0].hint == "pass one subscale score as a number"


def test_unknown_context_lists_the_contexts(kb: KnowledgeBase) -> None:
    with pytest.raises(ScoringError) as info:
        interpret_change("mhhs", 60, 70, context="arthroplasty", kb=kb)
    (problem,) = info.value.problems
    assert problem.location == "mhhs.context"
    assert (
        "Endoscopic abductor repair, 5–10-year follow-up (65 hips; 92.2 % reached it);"
        in problem.expected
    )
    assert "tx_r" not in problem.expected
    assert problem.found == "'arthroplasty'"


def test_context_ignored_without_thresholds(kb: KnowledgeBase) -> None:
    change = interpret_change("visa_g", 50, 60, context="endoscopic", kb=kb)
    assert change.responder_status == "not_assessable: no published MCID"


def test_unknown_instrument(kb: KnowledgeBase) -> None:
    with pytest.raises(NotFoundError):
        interpret_change("koos", 50, 60, kb=kb)
