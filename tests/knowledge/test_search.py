"""kb search finds entries by name, synonym and description."""

from __future__ import annotations

import pytest

from glutemed.knowledge import search


@pytest.mark.parametrize(
    ("query", "expected_id"),
    [
        ("trendelenburg", "trendelenburg_sign"),
        ("PRP", "prp_injection"),
        ("platelet-rich plasma", "prp_injection"),
        ("superior gluteal", "superior_gluteal_nerve"),
        ("single leg stance", "single_leg_stance_30s"),
        ("prolozone", "prolozone"),
        ("VISA-G", "visa_g"),
    ],
)
def test_top_hits(kb, query: str, expected_id: str) -> None:
    hits = search(kb, query, limit=5)
    assert expected_id in [h.id for h in hits[:3]], [h.id for h in hits]


def test_sitting_cross_legged_finds_the_risk_factor(kb) -> None:
    hits = search(kb, "sitting cross-legged", limit=5)
    assert hits and hits[0].kind in ("risk_factors", "corrections", "symptoms")
    assert any(h.kind == "risk_factors" for h in hits)


def test_kind_filter_and_empty_query(kb) -> None:
    assert all(h.kind == "treatments" for h in search(kb, "injection", kind="treatments"))
    assert search(kb, "  ") == []
    assert search(kb, "zzzzqqq") == []
