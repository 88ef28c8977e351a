"""The interval draws' P(evidence, no member of a shared rule-out group) from one pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.reasoning._cases import case_of

from glutemed.knowledge import load_kb
from glutemed.reasoning import Case, load_case, network_for
from glutemed.reasoning._engine import observed_values
from glutemed.reasoning._network import (
    clamp_absent,
    infer,
    infer_draws_with_absent,
    prepare,
    take_rows,
)
from glutemed.reasoning._shared import group_columns

CASES = Path(__file__).resolve().parents[2] / "src" / "glutemed" / "examples" / "cases"
KB = load_kb()
NET = network_for(KB)
FINDINGS = sorted(f for f in NET.model_findings() if f in KB.findings and f not in NET.tables)


def _draws_agree_with_separate_clamped_inference(case: Case) -> None:
    observed = observed_values(case, NET)
    age, sex = case.patient.age_years, case.patient.sex
    draws = take_rows(prepare(NET, case.setting, age, sex, observed, case.pretest), slice(1, None))
    groups = group_columns(NET)
    res, none = infer_draws_with_absent(draws, groups)
    ref = infer(draws, fast=True)
    np.testing.assert_allclose(res.post_t, ref.post_t, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.post_b, ref.post_b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.log_pe, ref.log_pe, rtol=1e-12)
    for gi, cols in enumerate(groups):
        want = infer(clamp_absent(draws, cols), fast=True).log_pe
        # the values enter P(any member) = 1 - exp(log_none - log_pe): compare that, to the
        # precision of draws (sums with condition numbers up to 1e8 are accepted in double
        # precision, where the separate inference may have switched to extended precision)
        got_any = -np.expm1(none[:, gi] - res.log_pe)
        want_any = -np.expm1(want - ref.log_pe)
        np.testing.assert_allclose(got_any, want_any, rtol=0, atol=1e-6)


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_group_draws_from_the_shared_pass_equal_the_separate_inference(path: Path) -> None:
    """P(evidence, no member of a shared rule-out group present) of the interval draws, taken
    from the draws' own subset terms, equals inference on the clamped evidence."""
    _draws_agree_with_separate_clamped_inference(load_case(path))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    findings=st.dictionaries(
        st.sampled_from(FINDINGS), st.sampled_from(["positive", "negative"]), max_size=9
    ),
    setting=st.sampled_from(["primary_care", "sports_medicine", "emergency_department"]),
    age=st.integers(16, 95),
)
def test_group_draws_agree_on_random_cases(
    findings: dict[str, str], setting: str, age: int
) -> None:
    _draws_agree_with_separate_clamped_inference(case_of(KB, findings, setting, age))
