"""A route of care for every condition of the differential; must-not-miss conditions follow
their network action."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from glutemed.knowledge import KnowledgeBase
from glutemed.knowledge._schema_pathway import ConditionRoute
from glutemed.pathway import URGENCY_ORDER, care_routes
from glutemed.reasoning import assess, load_case
from tests.knowledge._helpers import edit_kb_file, kb_problems

CASES = Path(__file__).resolve().parents[2] / "src" / "glutemed" / "examples" / "cases"


def test_every_condition_has_a_route(kb: KnowledgeBase) -> None:
    assert set(kb.pathway.condition_routes) == set(kb.conditions)


def test_must_not_miss_conditions_follow_the_network_action(kb: KnowledgeBase) -> None:
    assert kb.network is not None
    mnm = {m.condition for m in kb.network.must_not_miss}
    for cid, route in kb.pathway.condition_routes.items():
        assert (route.route == "must_not_miss_action") == (cid in mnm), cid
        if cid in mnm:
            assert route.urgency is None and route.refer_to


def test_routes_without_a_source_are_labelled_assumptions(kb: KnowledgeBase) -> None:
    for route in kb.pathway.condition_routes.values():
        assert route.sources or (route.basis == "assumption" and route.reason)


def test_red_flag_case_is_routed_by_its_must_not_miss_action_first(kb: KnowledgeBase) -> None:
    assessment = assess(load_case(CASES / "red_flag.yaml"))
    routes = care_routes(assessment, kb)
    assert assessment.red_flags, "the example case raises a red flag"
    first = routes[0]
    flag = assessment.red_flags[0]
    assert first.condition == flag["id"]
    assert first.route == "must_not_miss_action"
    assert first.action == flag["action"] and first.urgency == flag["urgency"]
    urgencies = [URGENCY_ORDER.index(r.urgency) for r in routes]
    assert urgencies == sorted(urgencies)


def test_hip_osteoarthritis_gets_first_line_care_labelled_as_an_assumption(
    kb: KnowledgeBase,
) -> None:
    assessment = assess(load_case(CASES / "hip_oa.yaml"))
    routes = {r.condition: r for r in care_routes(assessment, kb)}
    oa = routes["hip_osteoarthritis"]
    assert oa.route == "first_line_care" and oa.first_line and oa.refer_to
    assert oa.basis == "assumption" and oa.assumption
    assert oa.urgency == "routine"


def test_a_gluteal_case_stays_on_the_gluteal_pathway(kb: KnowledgeBase) -> None:
    assessment = assess(load_case(CASES / "tendinopathy.yaml"))
    routes = care_routes(assessment, kb, top=1)
    assert [r.route for r in routes if not r.route.startswith("must")][:1] == ["gluteal_pathway"]


def test_a_must_not_miss_route_cannot_set_its_own_urgency() -> None:
    with pytest.raises(ValidationError, match=r"urgency from network\.yaml"):
        ConditionRoute(
            id="cr_x",
            condition="hip_fracture",
            route="must_not_miss_action",
            refer_to="ED",
            urgency="routine",
            plain="x",
            basis="assumption",
            reason="x",
        )


def test_a_missing_route_is_reported(kb_copy: Path) -> None:
    def drop(data: dict[str, list[dict[str, str]]]) -> None:
        data["condition_routes"] = [
            r for r in data["condition_routes"] if r["condition"] != "deep_gluteal_syndrome"
        ]

    edit_kb_file(kb_copy, "pathway.yaml", drop)
    problems = kb_problems(kb_copy)
    assert any(
        "a route for every condition" in p and "deep_gluteal_syndrome" in p for p in problems
    )


def test_a_must_not_miss_condition_routed_elsewhere_is_reported(kb_copy: Path) -> None:
    def reroute(data: dict[str, list[dict[str, object]]]) -> None:
        for r in data["condition_routes"]:
            if r["condition"] == "septic_arthritis":
                r["route"] = "referral"
                r["urgency"] = "routine"

    edit_kb_file(kb_copy, "pathway.yaml", reroute)
    problems = kb_problems(kb_copy)
    assert any("must_not_miss_action" in p and "septic_arthritis" in p for p in problems)
