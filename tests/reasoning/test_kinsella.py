"""Reproduces Kinsella 2024: GTPS 59 % -> 14 % (both tests negative) and -> 96 % (both positive)."""

from __future__ import annotations

import pytest

from glutemed.reasoning import Case, assess


def _gtps(kb, palpation: str, abduction: str) -> float:
    case = Case(
        setting="primary_care",
        findings={
            "palpation_greater_trochanter_tenderness": palpation,
            "resisted_hip_abduction_pain": abduction,
        },
    )
    result = assess(case, kb, with_intervals=False)
    (gtps,) = [c for c in result.conditions if c.id == "gtps"]
    assert gtps.prior == pytest.approx(0.59)
    return gtps.probability


def test_both_negative(kb) -> None:
    assert _gtps(kb, "negative", "negative") == pytest.approx(0.14, abs=0.02)


def test_both_positive(kb) -> None:
    assert _gtps(kb, "positive", "positive") == pytest.approx(0.96, abs=0.02)


def test_cluster_replaces_individual_lrs(kb) -> None:
    case = Case(
        findings={
            "palpation_greater_trochanter_tenderness": "positive",
            "resisted_hip_abduction_pain": "positive",
        }
    )
    result = assess(case, kb, with_intervals=False)
    (gtps,) = [c for c in result.conditions if c.id == "gtps"]
    counted = [c for c in gtps.contributions if c.counted]
    assert len(counted) == 1 and len(counted[0].finding_ids) == 2
