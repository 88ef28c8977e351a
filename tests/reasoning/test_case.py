"""Case validation reports every problem at once, with suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest

from glutemed.errors import CaseValidationError, DataFileError
from glutemed.reasoning import Case, assess, case_from_dict, load_case, validate_case


def test_every_problem_is_reported_with_suggestions(kb) -> None:
    case = Case(
        findings={
            "trendelenberg_sign": "positive",
            "palpation_greater_trochanter_tenderness": "yes",
        },
        imaging={"mri_tear_thickness": "massive"},
        pretest={"lumbar_radiculopathy": 1.5},
        treatments_tried=[{"id": "cortisone_shot", "response": "none"}],
    )
    with pytest.raises(CaseValidationError) as info:
        validate_case(case, kb)
    text = str(info.value)
    assert "findings.trendelenberg_sign" in text and "did you mean trendelenburg_sign" in text
    assert (
        "palpation_greater_trochanter_tenderness" in text and "positive, negative, not_done" in text
    )
    assert "imaging.mri_tear_thickness" in text and "massive" in text
    assert "pretest.lumbar_radiculopathy" in text
    assert "treatments_tried[0].id" in text
    assert len(info.value.problems) == 5


def test_contradiction_full_thickness_signs_without_tear(kb) -> None:
    case = Case(imaging={"mri_tear_thickness": "none", "mri_tendon_retraction": "positive"})
    with pytest.raises(CaseValidationError) as info:
        validate_case(case, kb)
    assert "retracted tendon implies a full-thickness tear" in str(info.value)


def test_imaging_finding_in_wrong_section(kb) -> None:
    with pytest.raises(CaseValidationError, match="move it to imaging"):
        validate_case(Case(findings={"mri_bald_facet": "positive"}), kb)


def test_structure_errors_name_the_field() -> None:
    with pytest.raises(CaseValidationError) as info:
        case_from_dict({"setting": "hospital", "patient": {"age_years": -3}})
    text = str(info.value)
    assert "setting" in text and "patient.age_years" in text


def test_unparseable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("findings: [unclosed\n", "utf-8")
    with pytest.raises(DataFileError, match=r"bad\.yaml"):
        load_case(bad)
    with pytest.raises(DataFileError, match=r"missing\.yaml"):
        load_case(tmp_path / "missing.yaml")


def test_booleans_are_accepted_as_positive_negative(kb) -> None:
    case = case_from_dict({"findings": {"trendelenburg_sign": True, "hip_lag_sign": False}})
    assert case.findings == {"trendelenburg_sign": "positive", "hip_lag_sign": "negative"}
    validate_case(case, kb)


def test_age_sets_the_age_finding(kb) -> None:
    young = assess(Case(patient={"age_years": 45}), kb, with_intervals=False)
    old = assess(Case(patient={"age_years": 70}), kb, with_intervals=False)
    p_young = {c.id: c.probability for c in young.conditions}["hip_osteoarthritis"]
    p_old = {c.id: c.probability for c in old.conditions}["hip_osteoarthritis"]
    assert p_young < p_old
