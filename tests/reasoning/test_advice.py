"""Red flags, imaging advice and severity."""

from __future__ import annotations

from glutemed.reasoning import Case, assess


def test_must_not_miss_alert_never_hides_the_differential(kb) -> None:
    result = assess(
        Case(findings={"history_of_cancer": "positive", "lateral_hip_pain": "positive"}), kb
    )
    (flag,) = [f for f in result.red_flags if f["id"] == "bone_tumour"]
    assert not result.differential_withheld
    assert result.conditions and result.differential and result.next_tests
    assert result.imaging["urgency"] in ("emergency_same_day", "urgent", "soon")
    assert "threshold" in flag["reason"] and "history of cancer" in flag["reason"].lower()
    (mnm,) = [m for m in result.must_not_miss if m["id"] == "bone_tumour"]
    assert mnm["above_threshold"] and mnm["probability"] >= mnm["threshold"]
    assert mnm["rule_out_tests"] and mnm["action"]


def test_a_rule_out_test_clears_a_must_not_miss_condition(kb) -> None:
    findings = {"history_of_cancer": "positive", "lateral_hip_pain": "positive"}
    cleared = assess(
        Case(findings=findings, imaging={"mri_mass_or_marrow_replacement": "negative"}), kb
    )
    assert not [f for f in cleared.red_flags if f["id"] == "bone_tumour"]


def test_a_normal_radiograph_lowers_displaced_fracture_not_stress_fracture(kb) -> None:
    findings = {"trauma_or_fall": "positive", "activity_related_pain_runner_or_recruit": "positive"}
    before = assess(Case(findings=findings), kb, with_intervals=False)
    after = assess(
        Case(findings=findings, imaging={"xray_normal": "positive"}), kb, with_intervals=False
    )
    drop = {
        c: (before.probability(c) or 0) / (after.probability(c) or 1e-9)
        for c in ("hip_fracture", "femoral_neck_stress_fracture")
    }
    # radiographs show most displaced fractures but only about half of stress fractures (Kiuru)
    assert drop["hip_fracture"] > 3 * drop["femoral_neck_stress_fracture"]
    assert (after.probability("femoral_neck_stress_fracture") or 0) > 0.3 * (
        before.probability("femoral_neck_stress_fracture") or 0
    )


def test_retracted_full_thickness_tear_on_mri_dominates(kb) -> None:
    case = Case(
        patient={"age_years": 83, "sex": "female"},
        imaging={"mri_tear_thickness": "full", "mri_tendon_retraction": "positive"},
    )
    result = assess(case, kb)
    assert result.probability("gluteal_tendon_full_thickness_tear") > 0.9
    assert not result.imaging["recommendation"].startswith("no imaging needed")
    assert result.referral["refer"] and "surgeon" in result.referral["to"]
    assert all(t["id"] != "hip_lag_sign" for t in result.next_tests[:1])


def test_seed_004_rule_weakness_with_load_pain_means_mri(kb) -> None:
    case = Case(
        findings={"abductor_weakness": "positive", "resisted_hip_abduction_pain": "positive"}
    )
    img = assess(case, kb).imaging
    assert img["modality"] == "mri"
    assert any(s["id"] == "seed_004" for r in img["reasons"] for s in r["sources"])


def test_ultrasound_when_mri_contraindicated(kb) -> None:
    case = Case(
        findings={"abductor_weakness": "positive", "resisted_hip_abduction_pain": "positive"},
        mri_contraindicated=True,
    )
    assert assess(case, kb).imaging["modality"] == "ultrasound"


def test_no_mri_to_confirm_clear_tendinopathy(kb) -> None:
    case = Case(
        findings={
            "palpation_greater_trochanter_tenderness": "positive",
            "resisted_hip_abduction_pain": "positive",
            "single_leg_stance_30s": "positive",
        }
    )
    img = assess(case, kb).imaging
    assert img["modality"] == "none"
    assert "asymptomatic" in img["reasons"][0]["text"]


def test_xray_for_oa_signs(kb) -> None:
    case = Case(
        findings={"decreased_passive_adduction": "positive", "squat_posterior_hip_pain": "positive"}
    )
    assert assess(case, kb).imaging["modality"] == "xray"


def test_failed_injection_leads_to_imaging_and_a_note(kb) -> None:
    case = Case(
        findings={"palpation_greater_trochanter_tenderness": "positive"},
        treatments_tried=[{"id": "corticosteroid_injection", "response": "none"}],
    )
    result = assess(case, kb)
    assert result.imaging["modality"] == "mri"
    assert any("tear" in n for n in result.notes)


def test_severity_grades(kb) -> None:
    sev = assess(
        Case(imaging={"mri_tear_thickness": "full", "mri_goutallier_fuchs_grade": "grade_3"}), kb
    ).severity
    assert sev["grade"] == "full_thickness_tear"
    assert any("Goutallier" in f for f in sev["flags"]) and "tx_r70" in sev["sources"]
    assert assess(Case(), kb).severity["grade"] == "not_imaged"
    assert (
        assess(Case(imaging={"mri_tear_thickness": "partial"}), kb).severity["grade"]
        == "partial_tear"
    )


def test_weakness_raises_hip_oa_too(kb) -> None:
    base = {c.id: c.probability for c in assess(Case(), kb, with_intervals=False).conditions}
    weak = {
        c.id: c.probability
        for c in assess(
            Case(findings={"abductor_weakness": "positive"}), kb, with_intervals=False
        ).conditions
    }
    assert weak["hip_osteoarthritis"] > base["hip_osteoarthritis"]


def test_next_tests_show_both_outcomes(kb) -> None:
    result = assess(Case(findings={"lateral_hip_pain": "positive"}), kb)
    assert result.next_tests
    for t in result.next_tests:
        assert (
            0 <= t["if_negative"] <= t["current"] <= t["if_positive"] <= 1
            or 0 <= t["if_positive"] <= t["current"] <= t["if_negative"] <= 1
        )
        assert t["value"] > 0


def test_intervals_bracket_the_point_estimate(kb) -> None:
    result = assess(
        Case(findings={"single_leg_stance_30s": "positive", "trendelenburg_sign": "positive"}), kb
    )
    for c in result.conditions:
        lo, hi = c.interval
        assert 0.0 <= lo <= hi <= 1.0
        assert lo - 0.05 <= c.probability <= hi + 0.05


def test_every_assessment_carries_versions(kb) -> None:
    v = assess(Case(), kb).to_dict()["versions"]
    assert v["engine"] and v["kb"] == kb.version and len(v["kb_manifest_sha256"]) == 64


def test_recorded_mri_is_used_not_reordered(kb) -> None:
    case = Case(
        findings={"abductor_weakness": "positive", "resisted_hip_abduction_pain": "positive"},
        imaging={"mri_tear_thickness": "partial"},
    )
    img = assess(case, kb).imaging
    assert img["modality"] == "none"
    assert "already" in img["recommendation"]
    assert any("Gluteal tendon tear thickness on MRI" in r["text"] for r in img["reasons"])
    # ultrasound recorded does not stand in for an MRI that is advised
    case_us = Case(
        findings={"abductor_weakness": "positive", "resisted_hip_abduction_pain": "positive"},
        imaging={"us_tear": "positive"},
    )
    assert assess(case_us, kb).imaging["modality"] == "mri"


def test_failed_conservative_care_of_any_kind_leads_to_imaging(kb) -> None:
    case = Case(
        findings={"lateral_hip_pain": "positive", "symptom_duration_over_3_months": "positive"},
        treatments_tried=[{"id": "conservative_care_unspecified", "response": "none"}],
    )
    img = assess(case, kb).imaging
    assert img["modality"] == "mri"
    assert "conservative care (type not recorded)" in img["reasons"][0]["text"]
