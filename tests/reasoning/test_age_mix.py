"""Age ratios are rescaled to each setting's age mix, so a setting's prior stays its own average."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.knowledge._helpers import edit_kb_file, kb_problems

from glutemed.knowledge import AGE_BANDS, load_kb
from glutemed.reasoning import Case, assess, network_for
from glutemed.reasoning._network import prepare

KB = load_kb()
NET = network_for(KB)
BANDS = [b for b, _ in AGE_BANDS]
#: one age in each band
AGES = {"under_35": 25.0, "35_to_49": 42.0, "50_to_64": 57.0, "65_and_over": 75.0}


def _mix(setting: str) -> dict[str, float]:
    spec = NET.spec
    assert spec.age_mix is not None
    by = {s.setting: s for s in spec.settings}
    src = by[setting].same_as or setting
    return dict(spec.age_mix.shares[src])


def _odds_multipliers(setting: str) -> np.ndarray:
    """Per age band, P(condition)/(1 - P(condition)) over the setting's prior odds (point)."""
    base = prepare(NET, setting, None, "unknown", {}, None, 0)
    p0 = base.w_b1[0] / (base.w_b0[0] + base.w_b1[0])
    rows = []
    for band in BANDS:
        ev = prepare(NET, setting, AGES[band], "unknown", {}, None, 0)
        p = ev.w_b1[0] / (ev.w_b0[0] + ev.w_b1[0])
        rows.append((p / (1 - p)) / (p0 / (1 - p0)))
    return np.array(rows)  # (bands, conditions)


def test_reference_setting_keeps_the_published_ratios() -> None:
    spec = NET.spec
    assert spec.age_mix is not None
    ref = spec.age_mix.reference
    mult = _odds_multipliers(ref)
    for i, band in enumerate(BANDS):
        np.testing.assert_allclose(mult[i], NET.demo_b[f"age:{band}"][0], rtol=1e-12)


@pytest.mark.parametrize("setting", sorted({s.setting for s in NET.spec.settings}))
def test_mean_age_ratio_over_a_setting_equals_the_reference_mean(setting: str) -> None:
    """Averaged over the setting's own age mix, the age ratios applied in that setting equal
    their average over the reference mix: the setting's prior stays its patients' average (on
    the odds scale, the scale the ratios act on)."""
    spec = NET.spec
    assert spec.age_mix is not None
    ref_mix = spec.age_mix.shares[spec.age_mix.reference]
    want = sum(ref_mix[b] * NET.demo_b[f"age:{b}"][0] for b in BANDS)
    mult = _odds_multipliers(setting)
    mix = _mix(setting)
    got = sum(mix[b] * mult[i] for i, b in enumerate(BANDS))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_a_young_clinic_does_not_raise_a_condition_of_the_young_twice() -> None:
    """FAI's sports-medicine prior already describes a young clinic: there every age band gets
    less than the primary-care ratio for FAI (one factor below 1), and more than it for hip
    osteoarthritis, a condition of the old, whose prior there describes few old patients."""
    mult = _odds_multipliers("sports_medicine")
    for cid, below in (("fai_labral_tear", True), ("hip_osteoarthritis", False)):
        i = NET.binaries.index(cid)
        ratios = [NET.demo_b[f"age:{b}"][0, i] for b in BANDS]
        factor = mult[:, i] / np.array(ratios)
        np.testing.assert_allclose(factor, factor[0], rtol=1e-10)  # one factor for every band
        assert (factor[0] < 1.0) if below else (factor[0] > 1.0), (cid, factor[0])


def test_batch_and_single_case_apply_the_same_rescaling() -> None:
    """Mixed settings and ages in one table, with an unknown age (no ratio, no rescaling)."""
    from glutemed.reasoning import build_batch_model

    model = build_batch_model(KB)
    settings = ["sports_medicine", "spine", "primary_care", "emergency_department", "specialist"]
    rows = [(s, a) for s in settings for a in (25.0, 75.0, None)]
    values = model.encode([{} for _ in rows])
    ages = np.array([np.nan if a is None else a for _, a in rows])
    batch = model.posteriors(values, [s for s, _ in rows], ages, ["female"] * len(rows))
    for i, (setting, age) in enumerate(rows):
        single = assess(
            Case(setting=setting, patient={"age_years": age, "sex": "female"}),
            KB,
            with_intervals=False,
        )
        probs = {c.id: c.probability for c in single.conditions}
        for k, cid in enumerate(model.conditions):
            assert batch[i, k] == pytest.approx(probs[cid], abs=1e-9), (setting, age, cid)


def test_an_age_mix_that_does_not_sum_to_one_is_named(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        data["age_mix"]["shares"]["spine"]["under_35"] = 0.5

    edit_kb_file(kb_copy, "network.yaml", bad)
    problems = kb_problems(kb_copy)
    assert any("age_mix.shares.spine" in p and "summing to 1" in p for p in problems), problems


def test_a_setting_without_an_age_mix_is_named(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        del data["age_mix"]["shares"]["physiotherapy"]

    edit_kb_file(kb_copy, "network.yaml", bad)
    problems = kb_problems(kb_copy)
    assert any("age mix for every setting" in p and "physiotherapy" in p for p in problems), (
        problems
    )
