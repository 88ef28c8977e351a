"""Red flags, imaging advice and severity."""

from __future__ import annotations

from glutemed.reasoning import Case, assess


def test_red_flag_short_circuits_the_differential(kb) -> None:
    result = assess(
        Case(findings={"history_of_cancer": "positive", "lateral_hip_pain": "positive"}), kb
    )
    assert result.red_flags and result.differential_withheld
    assert result.conditions == [] and result.next_tests == []
    assert result.imaging["urgency"] in ("emergency_same_day", "urgent", "soon")
    assert "history" in result.red_flags[0]["reason"].lower() or result.red_flags[0]["reason"]


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
