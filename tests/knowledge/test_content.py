"""Content checks: what the issue and the seeds require is in the knowledge base, as cited data."""

from __future__ import annotations

import pytest

SEED_TESTS = [
    "gait_observation",
    "abductor_weakness",
    "palpation_greater_trochanter_tenderness",
    "trendelenburg_sign",
    "single_leg_squat",
]
SEED_TREATMENTS = [
    "rice",
    "prolozone",
    "nsaids_paracetamol",
    "corticosteroid_injection",
    "deep_tissue_massage",
    "stretching",
    "strengthening_exercise",
    "assistive_devices",
    "mmat_adipose",
    "bmac",
    "prp_injection",
    "endoscopic_repair",
    "open_repair",
    "gluteus_maximus_transfer",
    "repair_augmentation_patch",
    "education_load_management",
    "progressive_loading_exercise",
    "shockwave_therapy",
]
CONDITIONS = [
    "gtps",
    "gluteal_tendinopathy",
    "gluteal_tendon_tear",
    "gluteal_tendon_partial_tear",
    "gluteal_tendon_full_thickness_tear",
    "irreparable_abductor_tear",
    "trochanteric_bursitis",
    "hip_osteoarthritis",
    "lumbar_radiculopathy",
    "referred_low_back_pain",
    "proximal_hamstring_tendinopathy",
    "fai_labral_tear",
    "femoral_neck_stress_fracture",
    "hip_fracture",
    "septic_arthritis",
    "bone_tumour",
    "avascular_necrosis",
]


@pytest.mark.parametrize("fid", SEED_TESTS)
def test_every_examination_the_seeds_name_is_present(kb, fid: str) -> None:
    f = kb.findings[fid]
    assert f.kind == "examination"
    assert f.accuracy or f.no_accuracy_reason


@pytest.mark.parametrize("modality", ["xray", "ultrasound", "mri"])
def test_each_imaging_modality_has_findings(kb, modality: str) -> None:
    assert [f for f in kb.findings.values() if f.modality == modality]


@pytest.mark.parametrize("tid", SEED_TREATMENTS)
def test_every_treatment_is_present_with_evidence_and_harms(kb, tid: str) -> None:
    t = kb.treatments[tid]
    assert t.evidence and t.harms and t.evidence_summary


@pytest.mark.parametrize("cid", CONDITIONS)
def test_conditions_present(kb, cid: str) -> None:
    assert kb.conditions[cid].definition


def test_orthobiologics_are_not_recommended_by_default(kb) -> None:
    for tid in ("prolozone", "mmat_adipose", "bmac"):
        t = kb.treatments[tid]
        assert not t.recommend_by_default
        assert t.evidence_status == "no_clinical_evidence"
        assert t.regulatory_status


def test_dossier_marks_are_kept(kb) -> None:
    lequesne = [r for r in kb.findings["single_leg_stance_30s"].accuracy if r.source.id == "dx_r3"]
    assert lequesne and lequesne[0].design == "case_control" and not lequesne[0].use_in_model
    grimaldi = [r for r in kb.findings["single_leg_stance_30s"].accuracy if r.use_in_model]
    assert grimaldi and grimaldi[0].source.id == "dx_r1"
    assert grimaldi[0].lr_positive is not None and grimaldi[0].lr_positive.value == pytest.approx(
        12
    )
    assert "secondary" in grimaldi[0].sensitivity.marks


def test_abductor_weakness_points_to_hip_oa(kb) -> None:
    rows = [
        r for r in kb.findings["abductor_weakness"].accuracy if r.target == "hip_osteoarthritis"
    ]
    assert rows and rows[0].lr_positive.value == pytest.approx(4.5)


def test_kinsella_clusters(kb) -> None:
    clusters = {c.findings["resisted_hip_abduction_pain"]: c for c in kb.clusters.values()}
    assert clusters["negative"].lr.value == pytest.approx(0.11, abs=0.01)
    assert clusters["positive"].lr.value == pytest.approx(16.7, abs=0.1)
    assert "computed" in clusters["positive"].lr.marks


def test_innervation_correction_of_seed_004(kb) -> None:
    facts = [f.statement for f in kb.structures["gluteus_medius"].facts if f.topic == "innervation"]
    assert any("L4" in s for s in facts)
    assert any(
        c.seed == "004" and "L5" in c.claim and c.verdict != "supported"
        for c in kb.corrections.values()
    )


def test_prolozone_claim_is_corrected(kb) -> None:
    hits = [
        c for c in kb.corrections.values() if c.seed == "000" and "prolozone" in c.claim.lower()
    ]
    assert hits and all(c.verdict in ("contradicted", "unsupported") for c in hits)


def test_priors_cover_primary_care_gtps(kb) -> None:
    assert kb.priors["primary_care"]["gtps"].probability.value == pytest.approx(0.59)
    assert set(kb.priors) == {"community", "primary_care", "specialist"}


def test_red_flags_have_triggers_and_actions(kb) -> None:
    assert len(kb.red_flags) >= 5
    for flag in kb.red_flags.values():
        assert flag.action and flag.triggers


def test_dependence_groups_are_shared(kb) -> None:
    groups: dict[str, list[str]] = {}
    for f in kb.findings.values():
        if f.dependence_group:
            groups.setdefault(f.dependence_group, []).append(f.id)
    assert any(len(v) > 1 for v in groups.values())


def test_instruments_licences(kb) -> None:
    assert not kb.instruments["visa_g"].item_text_allowed
    assert not any(t.kind == "mcid" for t in kb.instruments["visa_g"].thresholds)
    assert any(t.kind == "mcid" for t in kb.instruments["nprs"].thresholds)


def test_must_not_miss_thresholds_lie_above_every_non_emergency_prior() -> None:
    """An alert must come from the case's findings: in every setting but the emergency
    department, no must-not-miss prior (even at the largest age and sex ratios) reaches its
    test threshold."""
    from glutemed.knowledge import load_kb
    from glutemed.reasoning import network_for

    kb = load_kb()
    net = network_for(kb)
    for setting, pb in net.prior_b.items():
        if setting == "emergency_department":
            continue
        for cid, m in net.must_not_miss.items():
            i = net.binaries.index(cid)
            p = pb[0, i]
            worst = max(
                net.demo_b[f"age:{band}"][0, i]
                for band in ("under_35", "35_to_49", "50_to_64", "65_and_over")
            ) * max(net.demo_b["sex:female"][0, i], net.demo_b["sex:male"][0, i], 1.0)
            odds = p / (1 - p) * worst
            assert odds / (1 + odds) < m.threshold, (setting, cid)


def test_no_must_not_miss_prior_sits_on_its_threshold() -> None:
    """A prior equal to its threshold would raise or drop the alert on rounding alone."""
    from glutemed.knowledge import load_kb
    from glutemed.reasoning import network_for

    kb = load_kb()
    net = network_for(kb)
    for setting, pb in net.prior_b.items():
        for cid, m in net.must_not_miss.items():
            p = pb[0, net.binaries.index(cid)]
            assert abs(p - m.threshold) > 1e-6, (setting, cid)


def test_shared_rule_out_priors_lie_below_the_group_threshold() -> None:
    """As for each condition: outside the emergency department, no group of conditions that
    one test rules out reaches the group's threshold on the prior alone, at any age and sex."""
    from glutemed.knowledge import load_kb
    from glutemed.reasoning import SETTINGS, Case, assess

    kb = load_kb()
    assert kb.network is not None and kb.network.shared_rule_out
    for setting in SETTINGS:
        if setting == "emergency_department":
            continue
        for age in (20, 40, 57, 75):
            for sex in ("female", "male"):
                res = assess(
                    Case(setting=setting, patient={"age_years": age, "sex": sex}),
                    kb,
                    with_intervals=False,
                )
                groups = {
                    m["shared_rule_out"]["id"]: m["shared_rule_out"]
                    for m in res.must_not_miss
                    if m["shared_rule_out"]
                }
                for g in groups.values():
                    assert not g["above_threshold"], (setting, age, sex, g["probability"])
                assert not res.red_flags, (setting, age, sex, [f["id"] for f in res.red_flags])
