"""Short citations and names inside sentences, as a clinician reads them."""

from __future__ import annotations

import pytest

from glutemed.knowledge import KnowledgeBase, lower_first, short_citation


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Groin (anterior hip) pain present", "groin (anterior hip) pain present"),
        ("Mass or marrow replacement on MRI present", "mass or marrow replacement on MRI present"),
        ("NSAIDs or paracetamol", "NSAIDs or paracetamol"),
        ("MRI fracture line", "MRI fracture line"),
        ("ADD-R test present", "ADD-R test present"),
        ("T2 signal", "T2 signal"),
        (
            "Trendelenburg sign (static single-leg stance) present",
            "Trendelenburg sign (static single-leg stance) present",
        ),
        ("Ober test", "Ober test"),
        ("", ""),
    ],
)
def test_lower_first(name: str, expected: str) -> None:
    assert lower_first(name) == expected


def test_short_citations(kb: KnowledgeBase) -> None:
    assert short_citation(kb, "ozenbas_2025_ifi_groin") == "Ozenbas 2025"
    assert short_citation(kb, "hsu_2014_inguinal_abscess") == "Hsu 2014"
    assert short_citation(kb, "sacral_tumours_1982") == "Sacral tumors: a hidden problem (1982)"
    assert short_citation(kb, "no_such_source") == "no_such_source"


def test_failed_treatment_names_keep_their_acronyms(kb: KnowledgeBase) -> None:
    """The imaging reason after failed care names the treatments inside its sentence."""
    from glutemed.reasoning import assess, case_from_dict

    case = case_from_dict(
        {
            "setting": "primary_care",
            "patient": {"age_years": 55, "sex": "female"},
            "findings": {"lateral_hip_pain": "positive"},
            "treatments_tried": [{"id": "nsaids_paracetamol", "response": "none"}],
        }
    )
    texts = [r["text"] for r in assess(case, kb).imaging["reasons"]]
    failed = [t for t in texts if t.startswith("No response to")]
    assert failed, texts
    assert "No response to oral NSAIDs or paracetamol" in failed[0], failed[0]
