"""Behaviour of the care pathway: escalation, preferences, factors, on-request treatments."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest
import yaml

from glutemed.errors import InputValueError
from glutemed.knowledge import KnowledgeBase
from glutemed.pathway import CarePlan, plan
from glutemed.pathway._facts import COMPUTED
from glutemed.reasoning import Case, assess
from tests.pathway.conftest import TESTS, TODAY, all_case_names, example

SEED_CLAIMS = TESTS / "data" / "seed_claims.yaml"
FAILED_12_WEEKS = [{"id": "progressive_loading_exercise", "weeks": 12, "response": "none"}]
TEAR_WITH_WEAKNESS = {
    "setting": "specialist",
    "findings": {"abductor_weakness": "positive", "trendelenburg_sign": "positive"},
    "imaging": {"mri_tendon_abnormality": "positive", "mri_tear_thickness": "full"},
}


def make(kb: KnowledgeBase, case: Case, **kwargs: object) -> CarePlan:
    return plan(case, kb=kb, today=TODAY, **kwargs)  # type: ignore[arg-type]


def ids(care: CarePlan) -> list[str]:
    return [r.id for r in care.recommendations]


def not_rec(care: CarePlan, tid: str) -> dict[str, object]:
    return next(n for n in care.not_recommended if n["id"] == tid)


# --------------------------------------------------------------------------- escalation


def test_red_flag_gives_no_plan_but_urgent_referral(pkb: KnowledgeBase) -> None:
    case = example("plan_red_flag_infection")
    care = make(pkb, case)
    assessment = assess(case, pkb)
    assert care.stage == 0 and care.status == "urgent_referral"
    assert ids(care) == ["urgent_referral"]
    assert care.education is None and care.exercise is None and care.review_after_weeks is None
    referral = care.recommendations[0]
    actions = {f["action"] for f in assessment.red_flags}
    assert {f["action"] for f in referral.details["red_flags"]} == actions
    assert any(a in " ".join(referral.why) for a in actions)


def test_no_response_after_12_weeks_escalates_to_stage_2(
    pkb: KnowledgeBase, build: Callable[..., Case]
) -> None:
    care = make(pkb, build(treatments_tried=FAILED_12_WEEKS))
    assert care.stage == 2 and care.stage_rule["id"] == "sr_no_response"
    assert ids(care)[0] == "recheck_diagnosis"
    assert {"corticosteroid_injection", "shockwave_therapy"} <= set(ids(care))
    assert "prp_injection" not in ids(care)  # on request only: no better than placebo
    recheck = care.recommendations[0]
    assert recheck.details["imaging"]["recommendation"]  # the assessment's imaging advice
    asked = make(pkb, build(treatments_tried=FAILED_12_WEEKS), ask_about=["prp_injection"])
    prp = not_rec(asked, "prp_injection")
    assert prp["evidence_status"] == "no_better_than_placebo"
    assert "placebo" in str(prp["reason"])
    csi = next(r for r in care.recommendations if r.id == "corticosteroid_injection")
    assert csi.evidence_status == "short_term_only"
    assert any("2 a year" in w and "peritendinous" in w for w in csi.why)
    assert care.review_after_weeks == 12


def test_response_to_exercise_does_not_escalate(
    pkb: KnowledgeBase, build: Callable[..., Case]
) -> None:
    care = make(
        pkb,
        build(
            treatments_tried=[
                {"id": "progressive_loading_exercise", "weeks": 12, "response": "good"}
            ]
        ),
    )
    assert care.stage == 1 and care.stage_rule["id"] == "sr_first_line"
    assert ids(care)[:2] == ["education_load_management", "progressive_loading_exercise"]
    assert care.review_window_weeks == [8, 12]
    texts = [e["text"] for e in care.escalate_if]
    assert any("NPRS change below the MCID" in t and "week 8-12 review" in t for t in texts)
    assert any(t.startswith("VISA-G") and "no published MCID" in t for t in texts)


def test_too_early_to_judge_stays_in_stage_1(
    pkb: KnowledgeBase, build: Callable[..., Case]
) -> None:
    care = make(
        pkb,
        build(
            treatments_tried=[
                {"id": "progressive_loading_exercise", "weeks": 4, "response": "none"}
            ]
        ),
    )
    assert care.stage == 1
    exercise = next(r for r in care.recommendations if r.id == "progressive_loading_exercise")
    assert "s1_too_early" in exercise.rules


def test_measured_outcomes_override_recorded_response(
    pkb: KnowledgeBase, build: Callable[..., Case]
) -> None:
    case = build(
        treatments_tried=[
            {"id": "progressive_loading_exercise", "start_date": "2026-09-07", "response": "none"}
        ],
        outcomes=[
            {"instrument": "nprs", "date": "2026-09-07", "total": 6},
            {"instrument": "nprs", "date": "2026-11-16", "total": 3},
        ],
    )
    care = make(pkb, case)
    assert care.stage == 1
    assert care.outcomes[0]["verdict"] == "responder"
    assert any("measured outcomes were used" in n for n in care.notes)


def test_short_outcome_series_is_not_judged(pkb: KnowledgeBase, build: Callable[..., Case]) -> None:
    case = build(
        outcomes=[
            {"instrument": "nprs", "date": "2026-11-02", "total": 6},
            {"instrument": "nprs", "date": "2026-11-23", "total": 6},
        ]
    )
    care = make(pkb, case)
    assert care.stage == 1
    assert care.outcomes[0]["verdict"] == "too_early"


def test_worsening_trajectory_prompts_a_recheck(
    pkb: KnowledgeBase, build: Callable[..., Case]
) -> None:
    case = build(
        outcomes=[
            {"instrument": "nprs", "date": "2026-10-05", "total": 4},
            {"instrument": "nprs", "date": "2026-11-16", "total": 8},
        ]
    )
    care = make(pkb, case)
    recheck = next(r for r in care.recommendations if r.id == "recheck_diagnosis")
    assert recheck.role == "consider" and "s1_recheck_worsening" in recheck.rules


def test_full_thickness_tear_with_weakness_after_failed_care(pkb: KnowledgeBase) -> None:
    care = make(pkb, example("plan_full_thickness_weakness_failed_care"))
    assert care.stage == 3
    assert {"surgical_referral", "endoscopic_repair", "open_repair"} <= set(ids(care))
    (comparison,) = care.comparisons
    measures = {(f["measure"], f["arm"]) for f in comparison["figures"]}
    assert ("complications", "endoscopic_repair") in measures
    assert ("complications", "open_repair") in measures
    assert any(f["measure"] == "re-tear" for f in comparison["figures"])
    (convention,) = care.conventions
    assert convention["basis"] == "convention" and convention["value"] == 3
    assert "No study fixes an exact months-of-failure threshold" in convention["statement"]
    assert care.rehabilitation is not None
    assert care.rehabilitation["basis"] == "protocols, not trial evidence"
    assert {e["id"] for e in care.rehabilitation["elements"]} >= {
        "rehab_weight_bearing",
        "rehab_brace",
        "rehab_return",
    }


def test_tear_without_weakness_is_not_referred(
    pkb: KnowledgeBase, build: Callable[..., Case]
) -> None:
    case = build(
        setting="specialist",
        imaging={"mri_tear_thickness": "full"},
        treatments_tried=[{"id": "progressive_loading_exercise", "weeks": 16, "response": "none"}],
    )
    assert make(pkb, case).stage == 2


def test_surgery_waits_for_three_months_of_care(
    pkb: KnowledgeBase, build: Callable[..., Case]
) -> None:
    case = build(
        **TEAR_WITH_WEAKNESS,
        treatments_tried=[{"id": "progressive_loading_exercise", "weeks": 10, "response": "none"}],
    )
    care = make(pkb, case)
    assert care.stage == 2  # 10 weeks is below the 3-month convention


def test_goutallier_grade_3_goes_to_reconstruction(pkb: KnowledgeBase) -> None:
    care = make(pkb, example("plan_goutallier_grade_3"))
    assert care.stage == 4
    assert {
        "reconstruction_referral",
        "gluteus_maximus_transfer",
        "repair_augmentation_patch",
    } <= set(ids(care))
    transfer = next(r for r in care.recommendations if r.id == "gluteus_maximus_transfer")
    assert any(row["source"]["id"] == "tx_r48" for row in transfer.effect)  # expected outcomes
    assert any("Goutallier-Fuchs grade 3-4" in w for w in transfer.why)


def test_after_repair_and_failed_repair(pkb: KnowledgeBase, build: Callable[..., Case]) -> None:
    after = make(pkb, example("plan_after_repair"))
    assert after.stage == 3 and ids(after) == ["postoperative_rehabilitation"]
    assert after.recommendations[0].role == "first_line"
    failed = make(
        pkb,
        build(
            setting="specialist",
            imaging={"mri_tear_thickness": "full"},
            treatments_tried=[
                {"id": "open_repair", "start_date": "2025-10-01", "response": "worse"}
            ],
        ),
    )
    assert failed.stage == 4 and failed.stage_rule["id"] == "sr_failed_repair"


def test_mimic_ranked_first_is_off_pathway(pkb: KnowledgeBase) -> None:
    care = make(pkb, example("hip_oa"))
    assert care.stage == 0 and care.status == "off_pathway"
    assert ids(care) == ["recheck_diagnosis"]
    top = care.recommendations[0].details["differential"][0]
    assert pkb.conditions[top["id"]].role == "mimic"
    assert care.education is None


# --------------------------------------------------------------------------- on request


@pytest.fixture(scope="module")
def all_plans(pkb: KnowledgeBase) -> dict[str, CarePlan]:
    """Default plans of every bundled example case and pathway edge case."""
    return {name: make(pkb, example(name)) for name in all_case_names()}


def test_orthobiologics_never_recommended_by_default(
    pkb: KnowledgeBase, all_plans: dict[str, CarePlan]
) -> None:
    on_request = set(pkb.pathway.on_request)
    assert {"prolozone", "mmat_adipose", "bmac"} <= on_request
    for name, care in all_plans.items():
        shown = set(ids(care)) | {str(n["id"]) for n in care.not_recommended}
        assert not shown & on_request, name
        if care.status == "active":
            assert any("shown only on request" in n for n in care.notes), name


@pytest.mark.parametrize("how", ["ask_about", "show_orthobiologics"])
def test_orthobiologics_shown_when_asked(pkb: KnowledgeBase, how: str) -> None:
    kwargs: dict[str, object] = (
        {"ask_about": ["prolozone", "mmat_adipose", "bmac"]}
        if how == "ask_about"
        else {"show_orthobiologics": True}
    )
    care = make(pkb, example("tendinopathy"), **kwargs)
    assert not {"prolozone", "mmat_adipose", "bmac"} & set(ids(care))
    for tid in ("prolozone", "mmat_adipose", "bmac"):
        entry = not_rec(care, tid)
        assert entry["status"] == "on_request_only"
        assert str(entry["reason"]).startswith("No clinical evidence for this condition.")
        assert entry["evidence_status"] == "no_clinical_evidence"
        assert entry["regulatory_status"]
        assert entry["sources"] and entry["asked_about"] is True


def test_every_seed_treatment_is_reachable_with_its_evidence(
    pkb: KnowledgeBase, all_plans: dict[str, CarePlan]
) -> None:
    claims = yaml.safe_load(SEED_CLAIMS.read_text("utf-8"))["claims"]
    seeds = sorted({m for c in claims for m in c.get("maps_to", []) if m in pkb.treatments})
    assert len(seeds) >= 10
    recommended = {r.id for care in all_plans.values() for r in care.recommendations}
    offered_by_pathway = {
        o.treatment for s in pkb.pathway.stages.values() for o in s.offers if o.treatment
    }
    # every seed treatment the pathway offers is recommended by at least one pinned case
    assert {t for t in seeds if t in offered_by_pathway} <= recommended
    care = make(pkb, example("tendinopathy"), ask_about=seeds)
    for tid in seeds:
        entry = next(
            (r.to_dict() for r in care.recommendations if r.id == tid),
            next((n for n in care.not_recommended if n["id"] == tid), None),
        )
        assert entry is not None, f"{tid} is not reachable"
        assert entry["asked_about"] is True
        assert entry["evidence_status"] and entry["evidence_summary"], tid
        assert entry["effect"] or pkb.treatments[tid].evidence_status in (
            "not_tested",
            "no_clinical_evidence",
        ), tid
        assert entry["sources"], tid


def test_ask_about_unknown_treatment_is_an_error(pkb: KnowledgeBase) -> None:
    with pytest.raises(InputValueError) as info:
        make(pkb, example("tendinopathy"), ask_about=["prolozon"])
    assert "did you mean prolozone" in str(info.value)


# --------------------------------------------------------------------------- factors


def test_preference_against_injection(pkb: KnowledgeBase) -> None:
    care = make(pkb, example("plan_prefers_no_injection"))
    assert care.stage == 2
    categories = {r.category for r in care.recommendations if r.kind == "treatment"}
    assert not categories & {"injection", "orthobiologic"}
    assert "shockwave_therapy" in ids(care)
    assert "prp_injection" not in ids(care)  # not offered at all (on request only)
    for tid in ("corticosteroid_injection",):
        entry = not_rec(care, tid)
        assert entry["status"] == "excluded"
        assert "ex_prefers_no_injection" in entry["rules"]  # type: ignore[operator]
        assert "prefers not to have injections" in str(entry["reason"])
        assert entry["alternatives"]


def test_preference_against_surgery_offers_alternatives(pkb: KnowledgeBase) -> None:
    care = make(pkb, example("plan_prefers_no_surgery"))
    assert (care.indicated_stage, care.stage) == (3, 2)
    assert not {"surgical_referral", "endoscopic_repair", "open_repair"} & set(ids(care))
    assert not_rec(care, "surgical_referral")["status"] == "excluded"
    assert any(n.startswith("Stage 3") and "prefers not to have surgery" in n for n in care.notes)


def test_not_fit_for_surgery(pkb: KnowledgeBase, build: Callable[..., Case]) -> None:
    case = build(
        **TEAR_WITH_WEAKNESS,
        factors={"fit_for_surgery": False},
        treatments_tried=[{"id": "progressive_loading_exercise", "weeks": 16, "response": "none"}],
    )
    care = make(pkb, case)
    assert (care.indicated_stage, care.stage) == (3, 2)
    assert "ex_not_fit_for_surgery" in not_rec(care, "open_repair")["rules"]  # type: ignore[operator]


def test_injection_not_repeated_after_no_response(
    pkb: KnowledgeBase, build: Callable[..., Case]
) -> None:
    care = make(
        pkb,
        build(
            treatments_tried=[
                *FAILED_12_WEEKS,
                {"id": "corticosteroid_injection", "response": "none"},
            ]
        ),
    )
    assert care.stage == 2 and "corticosteroid_injection" not in ids(care)
    assert "ex_csi_no_response" in not_rec(care, "corticosteroid_injection")["rules"]  # type: ignore[operator]


def test_injection_limit_per_year(pkb: KnowledgeBase) -> None:
    care = make(pkb, example("plan_csi_limit_reached"))
    entry = not_rec(care, "corticosteroid_injection")
    assert "ex_csi_limit" in entry["rules"]  # type: ignore[operator]
    assert "limit of 2" in str(entry["reason"])


def test_factor_cautions_say_when_the_dossier_is_silent(
    pkb: KnowledgeBase, build: Callable[..., Case]
) -> None:
    care = make(
        pkb,
        build(
            treatments_tried=FAILED_12_WEEKS,
            factors={"diabetes": True, "anticoagulation": True, "pregnancy": True},
        ),
    )
    csi = next(r for r in care.recommendations if r.id == "corticosteroid_injection")
    by_id = {c["id"]: c for c in csi.cautions}
    assert {"ca_diabetes_csi", "ca_anticoagulation_injection", "ca_pregnancy"} <= set(by_id)
    assert by_id["ca_diabetes_csi"]["dossier_covers"] is False
    assert "do not cover" in by_id["ca_diabetes_csi"]["text"]
    assert by_id["ca_diabetes_infection"]["dossier_covers"] is True
    assert by_id["ca_diabetes_infection"]["sources"]
    assert "ca_diabetes_csi" in csi.rules
    assert {c["id"] for c in care.cautions} >= set(by_id)


# --------------------------------------------------------------------------- output contract


def test_plan_dict_contract(pkb: KnowledgeBase, all_plans: dict[str, CarePlan]) -> None:
    for name, care in all_plans.items():
        data = json.loads(json.dumps(care.to_dict()))
        for key in (
            "stage",
            "stage_name",
            "recommendations",
            "not_recommended",
            "review_after_weeks",
            "escalate_if",
            "education",
            "rehabilitation",
            "versions",
        ):
            assert key in data, (name, key)
        assert data["versions"] == pkb.versions()
        for rec in data["recommendations"]:
            for key in (
                "id",
                "treatment",
                "why",
                "evidence_level",
                "evidence_status",
                "effect",
                "harms",
                "sources",
                "regulatory_status",
                "rules",
            ):
                assert key in rec, (name, rec["id"], key)
            assert rec["why"] and all(isinstance(w, str) and w for w in rec["why"])
            assert rec["rules"]
            assert rec["sources"], (name, rec["id"])
            for src in rec["sources"]:
                assert src["id"] in pkb.sources and src["citation"] and src["locator"]
            for row in rec["effect"]:
                assert row["check"] != "unverified" and row["source"]["id"] in pkb.sources
        assert data["escalate_if"], name


def test_given_assessment_is_used(pkb: KnowledgeBase) -> None:
    case = example("partial_tear")
    own = plan(case, assess(case, pkb), pkb, today=TODAY)
    assert own.decision_summary() == make(pkb, case).decision_summary()


def test_every_computed_fact_is_implemented(pkb: KnowledgeBase) -> None:
    declared = {f.id for f in pkb.pathway.facts.values() if f.kind == "computed"}
    assert declared == set(COMPUTED)


# --------------------------------------------------------------------------- data, not code


def _kb_with(kb: KnowledgeBase, edits: dict[str, float]) -> KnowledgeBase:
    """A copy of the knowledge base with some pathway parameters changed (in memory)."""
    params = dict(kb.pathway.parameters)
    for pid, value in edits.items():
        params[pid] = params[pid].model_copy(update={"value": value})
    return dataclasses.replace(kb, pathway=kb.pathway.model_copy(update={"parameters": params}))


def test_review_weeks_come_from_the_knowledge_base(
    pkb: KnowledgeBase, build: Callable[..., Case]
) -> None:
    kb = _kb_with(pkb, {"exercise_review_min_weeks": 16})
    care = plan(build(treatments_tried=FAILED_12_WEEKS), kb=kb, today=TODAY)
    assert care.stage == 1  # 12 weeks is now too early to judge
    assert care.review_after_weeks == 16


def test_surgical_threshold_comes_from_the_knowledge_base(pkb: KnowledgeBase) -> None:
    kb = _kb_with(pkb, {"surgery_min_conservative_months": 6})
    care = plan(example("plan_full_thickness_weakness_failed_care"), kb=kb, today=TODAY)
    assert care.stage == 2  # 16 weeks is below a 6-month threshold
