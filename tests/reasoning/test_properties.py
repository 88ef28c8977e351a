"""Property tests of the engine (hypothesis): the network's probabilities behave as a Bayesian
network's must, the single case and the batch agree, and the nested states stay coherent."""

from __future__ import annotations

import math
import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glutemed.knowledge import load_kb
from glutemed.reasoning import SETTINGS, Case, assess, build_batch_model, network_for

KB = load_kb()
NET = network_for(KB)
BINARY = sorted(
    f
    for f in NET.model_findings()
    if f in KB.findings
    and KB.findings[f].value_type == "binary"
    and KB.findings[f].kind in ("history", "examination")
    and f not in NET.expands
)
#: derived findings (a complete pain map): each sets the findings it lists absent where they
#: are not recorded, so the batch and the single case must agree on them too
DERIVED = sorted(f for f in NET.expands if KB.findings[f].kind in ("history", "examination"))
IMAGING = sorted(
    f
    for f in NET.model_findings()
    if f in KB.findings
    and KB.findings[f].value_type == "binary"
    and KB.findings[f].kind in ("imaging", "laboratory", "procedure")
    and f not in NET.expands
)
DERIVED_IMAGING = sorted(f for f in NET.expands if f not in DERIVED)  # a normal radiograph

findings_st = st.dictionaries(
    st.sampled_from(BINARY + DERIVED),
    st.sampled_from(["positive", "negative", "not_done"]),
    max_size=12,
)
imaging_st = st.dictionaries(
    st.sampled_from(IMAGING + DERIVED_IMAGING),
    st.sampled_from(["positive", "negative"]),
    max_size=4,
)
patient_st = st.fixed_dictionaries(
    {
        "age_years": st.one_of(st.none(), st.integers(16, 95)),
        "sex": st.sampled_from(["female", "male", "unknown"]),
    }
)
slow = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _probs(case: Case) -> dict[str, float]:
    return {c.id: c.probability or 0.0 for c in assess(case, KB, with_intervals=False).conditions}


def _parents(fid: str) -> set[str]:
    """Condition ids whose probability a finding can raise (its causes in the network)."""
    fac = NET.factors.get(NET.member_of.get(fid, fid))
    assert fac is not None
    out = {NET.binaries[i] for i in fac.parents_b}
    if fac.parents_t:
        out.add("gtps")
    return out


@slow
@given(findings_st, imaging_st, st.sampled_from(SETTINGS), patient_st)
def test_probabilities_stay_in_unit_interval_and_nested(
    findings, imaging, setting, patient
) -> None:
    p = _probs(Case(setting=setting, findings=findings, imaging=imaging, patient=patient))
    assert all(0.0 <= v <= 1.0 for v in p.values())
    eps = 1e-9
    assert p["gluteal_tendon_full_thickness_tear"] <= p["gluteal_tendon_tear"] + eps
    assert p["gluteal_tendon_tear"] <= p["gluteal_tendinopathy"] + eps
    assert p["gluteal_tendinopathy"] <= p["gtps"] + eps


@slow
@given(findings_st, st.sampled_from(SETTINGS), st.randoms(use_true_random=False))
def test_order_of_findings_does_not_matter(findings, setting, rnd: random.Random) -> None:
    items = list(findings.items())
    rnd.shuffle(items)
    a = _probs(Case(setting=setting, findings=findings))
    b = _probs(Case(setting=setting, findings=dict(items)))
    assert a.keys() == b.keys()
    for k in a:
        assert math.isclose(a[k], b[k], rel_tol=0, abs_tol=1e-12)


#: findings whose absence from a record that names another of them is evidence (left blank:
#: "not recorded"; "not done": not asked, no evidence)
UNRECORDED = sorted(NET.unrecorded)


@slow
@given(findings_st, st.sampled_from(SETTINGS), st.sampled_from(BINARY))
def test_not_done_changes_nothing(findings, setting, extra) -> None:
    """Recording a finding as not done is the same as not recording it, except for a pain site
    left out of a record that names another: there blank is weak evidence and "not done" none
    (tested in test_unrecorded.py)."""
    base = {k: v for k, v in findings.items() if k != extra}
    if extra in UNRECORDED:
        base = {**base, **{s: "not_done" for s in UNRECORDED if s not in base}}
    a = _probs(Case(setting=setting, findings=base))
    b = _probs(Case(setting=setting, findings={**base, extra: "not_done"}))
    assert a == b


@slow
@given(st.sampled_from(SETTINGS), st.sampled_from(BINARY + IMAGING))
def test_a_positive_finding_alone_raises_its_causes_and_leaves_the_others(setting, fid) -> None:
    """Alone, a positive finding raises every condition that causes it and no other condition
    moves (the conditions are independent a priori); a negative finding lowers its causes."""
    # a pain site's other sites not asked: left blank, they would be "not recorded" evidence
    others = {s: "not_done" for s in UNRECORDED if s != fid} if fid in UNRECORDED else {}
    before = _probs(Case(setting=setting, findings=others))
    section = "findings" if KB.findings[fid].kind in ("history", "examination") else "imaging"
    pos = _probs(Case(setting=setting, **{section: {fid: "positive", **others}}))
    neg = _probs(Case(setting=setting, **{section: {fid: "negative", **others}}))
    parents = _parents(fid)
    for cid in (*NET.binaries, "gtps"):
        if cid in parents:
            assert pos[cid] >= before[cid] - 1e-12
            assert neg[cid] <= before[cid] + 1e-12
        else:
            assert math.isclose(pos[cid], before[cid], abs_tol=1e-12)
            assert math.isclose(neg[cid], before[cid], abs_tol=1e-12)


@slow
@given(
    st.lists(st.tuples(findings_st, imaging_st, patient_st), min_size=1, max_size=8),
    st.sampled_from(SETTINGS),
)
def test_batch_model_agrees_with_single_case_engine(cases, setting) -> None:
    model = build_batch_model(KB)
    rows = [{**f, **i} for f, i, _ in cases]
    values = model.encode(rows)
    ages = np.array([np.nan if p["age_years"] is None else p["age_years"] for _, _, p in cases])
    batch = model.posteriors(values, setting, ages, [p["sex"] for _, _, p in cases])
    for i, (f, img, pat) in enumerate(cases):
        single = _probs(Case(setting=setting, findings=f, imaging=img, patient=pat))
        for k, cid in enumerate(model.conditions):
            assert math.isclose(batch[i, k], single[cid], abs_tol=1e-9)


def test_batch_honours_pretest_estimates() -> None:
    model = build_batch_model(KB)
    findings = {"straight_leg_raise": "positive", "slump_test": "positive"}
    case = Case(findings=findings, pretest={"lumbar_radiculopathy": 0.3})
    batch = model.posteriors(
        model.encode([findings]), "primary_care", pretest=[{"lumbar_radiculopathy": 0.3}]
    )
    single = _probs(case)
    for k, cid in enumerate(model.conditions):
        assert math.isclose(batch[0, k], single[cid], abs_tol=1e-9)


def test_every_drawn_prior_is_a_probability_distribution() -> None:
    """Each parameter draw's tendon prior is non-negative and sums to one, in every setting
    (a draw once put the arthroplasty state above P(any tendon state), giving negative weights
    and undefined intervals)."""
    for setting in SETTINGS:
        pt = NET.prior_t[setting]
        assert np.all(pt >= 0.0), setting
        assert np.allclose(pt.sum(axis=1), 1.0), setting
        assert np.all((NET.prior_b[setting] > 0.0) & (NET.prior_b[setting] < 1.0)), setting


@slow
@given(findings_st, imaging_st, st.sampled_from(SETTINGS), patient_st)
def test_intervals_are_finite_and_contain_the_estimate(findings, imaging, setting, patient) -> None:
    res = assess(Case(setting=setting, findings=findings, imaging=imaging, patient=patient), KB)
    for c in res.conditions:
        if c.interval is None:
            continue
        lo, hi = c.interval
        assert math.isfinite(lo) and math.isfinite(hi), c.id
        assert lo <= hi, c.id


@slow
@given(findings_st, imaging_st, st.sampled_from(SETTINGS), patient_st)
def test_shared_rule_out_probability_is_exact(findings, imaging, setting, patient) -> None:
    """P(at least one member) from the evidence ratio equals the chain of conditional marginals
    P(no A) P(no B | no A) P(no C | no A, no B), computed by clamping one member at a time."""
    from dataclasses import replace

    from glutemed.reasoning._engine import observed_values
    from glutemed.reasoning._network import _coupled, _infer_enumerate, infer, prepare
    from glutemed.reasoning._shared import shared_rule_out

    case = Case(setting=setting, findings=findings, imaging=imaging, patient=patient)
    obs = observed_values(case, NET)
    ev = prepare(NET, setting, case.patient.age_years, case.patient.sex, obs, None, 0)
    res = infer(ev)
    post = {c: res.post_b[:, i] for i, c in enumerate(NET.binaries)}
    got = shared_rule_out(NET, ev, res, post)
    for g in NET.spec.shared_rule_out:
        p_none = 1.0
        w_b1 = ev.w_b1.copy()
        for c in g.members:
            i = NET.binaries.index(c)
            step = infer(replace(ev, w_b1=w_b1))
            p_none *= 1.0 - float(step.post_b[0, i])
            w_b1 = w_b1.copy()
            w_b1[:, i] = 1e-300
        assert math.isclose(got[g.id].probability, 1.0 - p_none, rel_tol=1e-6, abs_tol=1e-9)
        # and by Bayes' rule with exact enumeration (no Quickscore, no clamping):
        # P(none | e) = P(e | none) P(none) / P(e), where P(e | none) comes from a model whose
        # members are absent by a clinician's pre-test estimate of ~0, and the members are
        # independent a priori
        if _coupled(ev) <= 12:
            age, sex = case.patient.age_years, case.patient.sex
            pre = {c: 1e-12 for c in g.members}
            ev0 = prepare(NET, setting, age, sex, obs, pre, 0)
            base = prepare(NET, setting, age, sex, {}, None, 0)
            idx = [NET.binaries.index(c) for c in g.members]
            prior_none = float(np.prod(base.w_b0[0, idx] / (base.w_b0[0, idx] + base.w_b1[0, idx])))
            p_none_enum = prior_none * math.exp(
                float(_infer_enumerate(ev0).log_pe[0]) - float(_infer_enumerate(ev).log_pe[0])
            )
            assert math.isclose(
                got[g.id].probability, 1.0 - p_none_enum, rel_tol=1e-5, abs_tol=1e-9
            )
