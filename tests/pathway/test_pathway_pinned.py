"""Stored-result tests: the plan of every bundled case and every escalation edge is pinned.

Regenerate with ``.venv/bin/python tests/data/plans/make_plans.py`` (see tests/data/README.md)
after a deliberate clinical change, and note it in CHANGELOG.md.
"""

from __future__ import annotations

import json
from types import ModuleType

import pytest

from tests.pathway.conftest import EXAMPLES, PLANS, all_case_names

PINNED = sorted(p.stem for p in PLANS.glob("*.json"))


def test_every_case_has_a_pinned_plan(make_plans: ModuleType) -> None:
    assert sorted(make_plans.names()) == PINNED
    bundled = {p.stem for p in EXAMPLES.glob("*.yaml")}
    assert bundled <= set(PINNED), "every bundled example case has a pinned plan"
    assert set(all_case_names()) <= set(PINNED)


@pytest.mark.parametrize("name", PINNED)
def test_plan_matches_pinned(name: str, make_plans: ModuleType) -> None:
    stored = json.loads((PLANS / f"{name}.json").read_text("utf-8"))
    current = json.loads(make_plans.dump(make_plans.make(name)))
    assert current == stored, (
        f"the plan for {name} changed; if deliberate, run tests/data/plans/make_plans.py and note "
        "it in CHANGELOG.md under 'Clinical changes'"
    )


@pytest.mark.parametrize(
    ("name", "stage", "status", "rule"),
    [
        ("plan_no_response_12_weeks", 2, "active", "sr_no_response"),
        ("plan_outcomes_below_mcid", 2, "active", "sr_no_response"),
        ("plan_response_to_exercise", 1, "active", "sr_first_line"),
        ("plan_full_thickness_weakness_failed_care", 3, "active", "sr_repair_full_thickness"),
        ("plan_goutallier_grade_3", 4, "active", "sr_reconstruction"),
        ("plan_red_flag_infection", 0, "urgent_referral", "sr_red_flag"),
        ("red_flag", 0, "urgent_referral", "sr_red_flag"),
        ("tendinopathy", 1, "active", "sr_first_line"),
        ("partial_tear", 3, "active", "sr_repair_partial_refractory"),
        ("full_thickness_tear", 3, "active", "sr_repair_full_thickness"),
    ],
)
def test_escalation_edges(name: str, stage: int, status: str, rule: str) -> None:
    """The issue's escalation edges, readable without opening the JSON."""
    stored = json.loads((PLANS / f"{name}.json").read_text("utf-8"))
    assert (stored["stage"], stored["status"], stored["stage_rule"]) == (stage, status, rule)
