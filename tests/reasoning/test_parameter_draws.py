"""The parameter draws behind the intervals: one stream per number, stratified."""

from __future__ import annotations

import dataclasses

import numpy as np

from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.reasoning import network_for
from glutemed.reasoning._network import N_DRAWS, _normal_strata, compile_network

KB = load_kb()
NET = network_for(KB)  # the compiled network the other tests share


def _with_extra_cause(
    kb: KnowledgeBase, finding: str, condition: str, value: float
) -> KnowledgeBase:
    spec = kb.network
    assert spec is not None
    findings = [
        f.model_copy(update={"causes": {**f.causes, condition: value}})
        if f.finding == finding
        else f
        for f in spec.findings
    ]
    return dataclasses.replace(kb, network=spec.model_copy(update={"findings": findings}))


def test_adding_a_number_leaves_the_other_numbers_draws_unchanged() -> None:
    """A new cause of one finding draws from its own stream; every other number keeps its draws,
    so unrelated intervals do not move when the knowledge base grows."""
    changed = compile_network(
        _with_extra_cause(KB, "groin_pain", "proximal_hamstring_tendinopathy", 0.1)
    )
    j = NET.binaries.index("proximal_hamstring_tendinopathy")
    assert not np.allclose(
        changed.factors["groin_pain"].q_b[:, j], NET.factors["groin_pain"].q_b[:, j]
    )
    for fid, fac in NET.factors.items():
        other = changed.factors[fid]
        np.testing.assert_array_equal(other.leak, fac.leak)
        np.testing.assert_array_equal(other.q_t, fac.q_t)
        if fid != "groin_pain":
            np.testing.assert_array_equal(other.q_b, fac.q_b)
    cols = [i for i in range(len(NET.binaries)) if i != j]
    np.testing.assert_array_equal(
        changed.factors["groin_pain"].q_b[:, cols], NET.factors["groin_pain"].q_b[:, cols]
    )
    for setting, prior in NET.prior_b.items():
        np.testing.assert_array_equal(changed.prior_b[setting], prior)
        np.testing.assert_array_equal(changed.prior_t[setting], NET.prior_t[setting])


def test_each_probability_is_drawn_once_from_every_stratum() -> None:
    """A Latin hypercube sample: on the logit scale the draws of a number are its point estimate
    plus its spread times the normal strata, in some order."""
    leak = NET.factors["groin_pain"].leak
    logit = np.log(leak / (1.0 - leak))
    z = np.sort(logit[1:] - logit[0])
    strata = _normal_strata(N_DRAWS)
    sd = z[-1] / strata[-1]
    assert sd > 0
    np.testing.assert_allclose(z, sd * strata, rtol=1e-9, atol=1e-12)
    # two numbers are paired at random, not stratum by stratum
    other = NET.factors["buttock_pain"].leak
    r = np.corrcoef(np.argsort(np.argsort(leak[1:])), np.argsort(np.argsort(other[1:])))[0, 1]
    assert abs(r) < 0.3
