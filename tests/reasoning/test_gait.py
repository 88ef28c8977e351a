"""Abnormal gait on observation is evidence; a recorded Trendelenburg gait implies it
(network.yaml ``implies``), so the two are one observation, counted once."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from tests.knowledge._helpers import edit_kb_file, kb_problems

from glutemed.knowledge import load_kb
from glutemed.reasoning import Case, assess, build_batch_model, network_for
from glutemed.reasoning._engine import observed_values
from glutemed.reasoning._network import infer, prepare
from glutemed.reasoning._next import candidates, variant_results

KB = load_kb()
NET = network_for(KB)
PATIENT = {"age_years": 71, "sex": "female"}


def _case(findings: dict[str, str]) -> Case:
    return Case(setting="primary_care", patient=PATIENT, findings=findings)


def _probs(findings: dict[str, str]) -> dict[str, float]:
    """Every condition's point probability (no intervals)."""
    conditions = assess(_case(findings), KB, with_intervals=False).conditions
    return {c.id: c.probability or 0.0 for c in conditions}


def test_an_abnormal_gait_raises_the_painful_bone_and_joint_conditions() -> None:
    base = {"groin_pain": "positive"}
    without = _probs(base)
    limp = _probs({**base, "gait_observation": "positive"})
    normal = _probs({**base, "gait_observation": "negative"})
    for cid in ("hip_fracture", "femoral_neck_stress_fracture", "avascular_necrosis"):
        assert normal[cid] < without[cid] < limp[cid], cid
    # a limp is weak evidence against the conditions that seldom cause one
    assert limp["meralgia_paraesthetica"] < without["meralgia_paraesthetica"]
    res = assess(_case({**base, "gait_observation": "positive"}), KB, with_intervals=False)
    oa = next(c for c in res.conditions if c.id == "hip_osteoarthritis")
    assert any(r.finding_ids == ("gait_observation",) for r in oa.contributions)


def test_a_recorded_trendelenburg_gait_implies_the_abnormal_gait() -> None:
    base = {"lateral_hip_pain": "positive", "trendelenburg_gait": "positive"}
    both = {**base, "gait_observation": "positive"}
    assert _probs(both) == _probs(base)
    assert "gait_observation" not in observed_values(_case(both), NET)
    res = assess(_case(both), KB, with_intervals=False)
    assert not any("not used by the diagnosis model" in n for n in res.notes)
    assert any("implied by trendelenburg gait" in n.lower() for n in res.notes)
    assert "gait_observation" not in candidates(KB, NET, _case(both))
    assert "gait_observation" not in {t["id"] for t in res.next_tests}
    # without the Trendelenburg gait the same observation counts, and can be asked next
    assert "gait_observation" in candidates(KB, NET, _case({"lateral_hip_pain": "positive"}))
    # recorded absent, the Trendelenburg gait implies nothing: an antalgic limp still counts
    antalgic = {"lateral_hip_pain": "positive", "trendelenburg_gait": "negative"}
    assert _probs({**antalgic, "gait_observation": "positive"}) != _probs(antalgic)


def test_asking_for_a_trendelenburg_gait_after_a_limp_drops_the_limp() -> None:
    case = _case({"lateral_hip_pain": "positive", "gait_observation": "positive"})
    observed = observed_values(case, NET)
    main = prepare(NET, case.setting, 71, "female", observed, {}, 0)
    binary = candidates(KB, NET, case)
    fast = variant_results(NET, case, observed, main, {}, binary)
    ref = variant_results(NET, case, observed, main, {}, binary, one_by_one=True)
    for got, want in zip(fast, ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)
    # the positive answer is the evidence without the limp, which it implies
    row = 2 * binary.index("trendelenburg_gait")
    implied = {"lateral_hip_pain": "positive", "trendelenburg_gait": "positive"}
    alone = prepare(NET, case.setting, 71, "female", implied, {}, 0)
    assert math.isclose(fast[2][row], float(infer(alone).log_pe[0]), abs_tol=1e-9)


def test_batch_agrees_with_the_single_case() -> None:
    rows = [
        {"groin_pain": "positive", "gait_observation": "positive"},
        {"trendelenburg_gait": "positive", "gait_observation": "positive"},
        {"trendelenburg_gait": "negative", "gait_observation": "positive"},
        {"trendelenburg_gait": "positive", "gait_observation": "negative"},
    ]
    model = build_batch_model(KB)
    values = model.encode(rows)
    columns = {f: [row.get(f, "") for row in rows] for f in {f for row in rows for f in row}}
    for got in (values, model.encode_columns(columns, len(rows))):
        ages = [71.0] * len(rows)
        batch = model.posteriors(got, "primary_care", ages, ["female"] * len(rows))
        for i, row in enumerate(rows):
            single = _probs(row)
            for k, cid in enumerate(model.conditions):
                assert math.isclose(batch[i, k], single[cid], abs_tol=1e-9), (i, cid)


def test_an_implication_must_name_a_noisy_or_finding(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        # abductor weakness is a member of a latent construct, not a noisy-OR finding
        data["implies"]["trendelenburg_gait"]["positive"] = ["abductor_weakness"]

    edit_kb_file(kb_copy, "network.yaml", bad)
    problems = kb_problems(kb_copy)
    assert any("implies.trendelenburg_gait" in p and "abductor_weakness" in p for p in problems)


def test_an_implied_finding_cannot_imply_another(kb_copy: Path) -> None:
    def cycle(data: dict[str, Any]) -> None:
        chained = {"positive": ["limited_walking_distance"], "reason": "a chain"}
        data["implies"]["gait_observation"] = chained

    edit_kb_file(kb_copy, "network.yaml", cycle)
    problems = kb_problems(kb_copy)
    assert any("implies.trendelenburg_gait" in p and "implies nothing" in p for p in problems)
