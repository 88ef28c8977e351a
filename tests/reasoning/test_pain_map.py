"""A complete pain map (body chart): the pain sites it does not mark count as absent."""

from __future__ import annotations

import math

import pytest

from glutemed.errors import CaseValidationError
from glutemed.knowledge import load_kb
from glutemed.reasoning import Case, assess, build_batch_model, network_for

KB = load_kb()
SITES = network_for(KB).expands["pain_map_complete"]


def _probs(case: Case) -> dict[str, float]:
    return {c.id: c.probability or 0.0 for c in assess(case, KB, with_intervals=False).conditions}


def _case(findings: dict[str, str]) -> Case:
    patient = {"age_years": 52, "sex": "female"}
    return Case(setting="primary_care", patient=patient, findings=findings)


def test_the_map_covers_the_pain_sites_of_the_form() -> None:
    assert set(SITES) == {
        "lateral_hip_pain",
        "groin_pain",
        "buttock_pain",
        "posterior_thigh_pain",
        "anterior_or_lateral_thigh_pain",
        "back_pain",
        "pain_radiating_below_knee",
    }


def test_unmarked_sites_count_as_absent_and_marked_ones_keep_their_value() -> None:
    mapped = _probs(_case({"lateral_hip_pain": "positive", "pain_map_complete": "positive"}))
    explicit = _probs(
        _case({s: "positive" if s == "lateral_hip_pain" else "negative" for s in SITES})
    )
    # the other sites not asked (left blank they would already count as weakly absent)
    unmapped = _probs(
        _case({s: "positive" if s == "lateral_hip_pain" else "not_done" for s in SITES})
    )
    for cid, p in explicit.items():
        assert math.isclose(mapped[cid], p, abs_tol=1e-12), cid
    # the absent groin and back move hip OA and referred lumbar pain down
    assert mapped["hip_osteoarthritis"] < unmapped["hip_osteoarthritis"] - 0.05
    assert mapped["referred_low_back_pain"] < unmapped["referred_low_back_pain"] - 0.05


def test_a_site_left_not_recorded_is_absent_under_a_complete_map() -> None:
    a = _probs(
        _case({"groin_pain": "positive", "back_pain": "not_done", "pain_map_complete": "positive"})
    )
    b = _probs(_case({"groin_pain": "positive", "pain_map_complete": "positive"}))
    assert a == b


def test_reasons_compare_a_marked_site_with_not_knowing_it() -> None:
    """Leaving out the lateral hip pain must not turn it into an absent site."""
    res = assess(
        _case({"lateral_hip_pain": "positive", "pain_map_complete": "positive"}),
        KB,
        with_intervals=False,
    )
    gtps = next(c for c in res.conditions if c.id == "gtps")
    lateral = next(r for r in gtps.contributions if r.finding_ids == ("lateral_hip_pain",))
    # not knowing the lateral hip pain: the other five sites absent, this one unknown
    without = _probs(_case({s: "negative" for s in SITES if s != "lateral_hip_pain"}))
    absent = _probs(_case({"pain_map_complete": "positive"}))
    assert lateral.alone_from is not None
    assert math.isclose(lateral.alone_from, without["gtps"], abs_tol=1e-9)
    assert not math.isclose(lateral.alone_from, absent["gtps"], abs_tol=1e-3)
    assert any(r.finding_ids == ("pain_map_complete",) for r in gtps.contributions)
    assert all("labelled assumption" in r.sentence for r in gtps.contributions)


def test_next_tests_do_not_ask_for_sites_the_map_settles() -> None:
    res = assess(
        _case({"lateral_hip_pain": "positive", "pain_map_complete": "positive"}),
        KB,
        with_intervals=False,
    )
    asked = {t["id"] for t in res.next_tests}
    assert not asked & set(SITES)


def test_batch_agrees_with_the_single_case() -> None:
    rows = [
        {"lateral_hip_pain": "positive", "pain_map_complete": "positive"},
        {"groin_pain": "positive", "buttock_pain": "not_done", "pain_map_complete": "positive"},
        {"groin_pain": "positive", "pain_map_complete": "negative"},
    ]
    model = build_batch_model(KB)
    batch = model.posteriors(model.encode(rows), "primary_care", [52.0] * 3, ["female"] * 3)
    for i, row in enumerate(rows):
        single = _probs(_case(row))
        for k, cid in enumerate(model.conditions):
            assert math.isclose(batch[i, k], single[cid], abs_tol=1e-9), (i, cid)


def test_a_complete_map_with_an_unlocalised_hip_pain_is_a_contradiction() -> None:
    with pytest.raises(CaseValidationError) as err:
        assess(
            _case({"hip_pain_site_unspecified": "positive", "pain_map_complete": "positive"}),
            KB,
        )
    (problem,) = err.value.problems
    assert problem.location.endswith("findings.pain_map_complete")
    assert "names the sites" in (problem.hint or "")
