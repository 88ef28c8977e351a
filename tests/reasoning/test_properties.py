"""Property tests of the engine (hypothesis)."""

from __future__ import annotations

import math
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glutemed.knowledge import load_kb
from glutemed.reasoning import Case, assess, build_batch_model

KB = load_kb()
BINARY = sorted(
    f
    for f, x in KB.findings.items()
    if x.value_type == "binary" and x.kind != "imaging"
    and not any(f in (*r.triggers, *r.context_factors) for r in KB.red_flags.values())
)
SETTINGS = sorted(KB.priors)

findings_st = st.dictionaries(
    st.sampled_from(BINARY), st.sampled_from(["positive", "negative", "not_done"]), max_size=12
)
slow = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _probs(case: Case) -> dict[str, float]:
    return {c.id: c.probability for c in assess(case, KB, with_intervals=False).conditions}


@slow
@given(findings_st, st.sampled_from(SETTINGS))
def test_probabilities_stay_in_unit_interval(findings, setting) -> None:
    for p in _probs(Case(setting=setting, findings=findings)).values():
        assert 0.0 <= p <= 1.0


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


@slow
@given(findings_st, st.sampled_from(SETTINGS), st.sampled_from(BINARY))
def test_not_done_changes_nothing(findings, setting, extra) -> None:
    base = {k: v for k, v in findings.items() if k != extra}
    a = _probs(Case(setting=setting, findings=base))
    b = _probs(Case(setting=setting, findings={**base, extra: "not_done"}))
    assert a == b


@slow
@given(st.sampled_from(SETTINGS), st.sampled_from(BINARY))
def test_a_finding_with_lr_above_one_never_lowers_its_condition(setting, fid) -> None:
    from glutemed.reasoning._evidence import finding_lr

    before = _probs(Case(setting=setting))
    after = _probs(Case(setting=setting, findings={fid: "positive"}))
    for cid, p in after.items():
        lr = finding_lr(KB, fid, "positive", cid)
        if lr is not None and lr.published > 1:
            assert p >= before[cid] - 1e-12
        if lr is not None and lr.published < 1:
            assert p <= before[cid] + 1e-12


@slow
@given(
    findings_st,
    st.sampled_from(SETTINGS),
    st.sampled_from(BINARY),
    st.sampled_from(["positive", "negative"]),
)
def test_adding_a_finding_moves_each_condition_in_its_lr_direction(
    findings, setting, fid, value
) -> None:
    """With other findings present, adding one moves a condition only toward its LR's side."""
    from glutemed.reasoning._evidence import finding_lr

    base = {k: v for k, v in findings.items() if k != fid}
    before = _probs(Case(setting=setting, findings=base))
    after = _probs(Case(setting=setting, findings={**base, fid: value}))
    for cid, p in after.items():
        lr = finding_lr(KB, fid, value, cid)
        in_cluster = any(fid in c.findings and c.target == cid for c in KB.clusters.values())
        if lr is None or in_cluster:
            continue
        if lr.published > 1:
            assert p >= before[cid] - 1e-12
        elif lr.published < 1:
            assert p <= before[cid] + 1e-12


@slow
@given(st.lists(findings_st, min_size=1, max_size=8), st.sampled_from(SETTINGS))
def test_batch_model_agrees_with_single_case_engine(cases, setting) -> None:
    import numpy as np

    model = build_batch_model(KB, setting)
    col = {f: i for i, f in enumerate(model.finding_ids)}
    values = np.zeros((len(cases), len(model.finding_ids)), dtype=np.int8)
    for i, f in enumerate(cases):
        for fid, v in f.items():
            values[i, col[fid]] = {"positive": 1, "negative": -1}.get(v, 0)
    batch = model.posteriors(values)
    for i, f in enumerate(cases):
        single = _probs(Case(setting=setting, findings=f))
        for k, cid in enumerate(model.conditions):
            assert math.isclose(batch[i, k], single[cid], abs_tol=1e-12)
