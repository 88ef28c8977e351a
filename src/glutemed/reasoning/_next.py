"""Which test to do next: expected information gain over the whole differential.

For every finding of the network not yet recorded (history questions, examination tests,
imaging, bloods and diagnostic procedures), the network is run with the finding positive and
with it negative. ``P(+ | evidence)`` comes from the same network (``P(e, +) / P(e)``), so the
dependence between findings is respected. The value of the test is the expected reduction of
the differential's entropy (bits)::

    V = H(now) - P(+) H(after +) - P(-) H(after -)

where ``H`` sums the entropy of the tendon variable and of every yes/no condition, each
must-not-miss condition weighted by :data:`MUST_NOT_MISS_WEIGHT` (a design choice: missing one
costs more than misplacing a benign diagnosis). The test that most reduces a must-not-miss
condition above its threshold is listed first with the reason. Tests are ranked by their value
divided by a relative burden of the kind of test (:data:`BURDEN`: a question or examination 1, a
radiograph or blood test 2, cross-sectional imaging 3, an injection or nerve study 4; a design
choice, shown with the result) so that a question is preferred to an MRI that tells the same.

References
----------
Sox HC, Higgins MC, Owens DK. Medical Decision Making. 2nd ed. Wiley; 2013. Chapter 5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from glutemed.knowledge import KnowledgeBase
from glutemed.reasoning._case import Case
from glutemed.reasoning._network import (
    CompiledNetwork,
    Evidence,
    InferenceResult,
    Variants,
    extend,
    infer_many,
    prepare,
    score_variants,
)

__all__ = ["BURDEN", "MUST_NOT_MISS_WEIGHT", "candidates", "next_tests", "variant_results"]

#: Weight of a must-not-miss condition's entropy in the information value (design choice).
MUST_NOT_MISS_WEIGHT = 3.0
_TOP = 6
#: Relative burden (cost, time, harm) of each kind of test: a labelled design choice.
BURDEN = {
    "history": 1.0,
    "examination": 1.0,
    "movement_measure": 1.0,
    "laboratory": 2.0,
    "xray": 2.0,
    "imaging": 3.0,
    "procedure": 4.0,
}
_KIND_LABEL = {
    "history": "question",
    "examination": "examination",
    "imaging": "imaging",
    "laboratory": "blood or fluid test",
    "procedure": "procedure",
    "movement_measure": "movement measure",
}


def _entropy_total(res: InferenceResult, weights: np.ndarray) -> np.ndarray:
    pt = np.clip(res.post_t, 1e-12, 1.0)
    h_t = -(pt * np.log2(pt)).sum(axis=1)
    pb = np.clip(res.post_b, 1e-12, 1 - 1e-12)
    h_b = -(pb * np.log2(pb) + (1 - pb) * np.log2(1 - pb))
    return np.asarray(h_t + (h_b * weights[None, :]).sum(axis=1))


#: Condition numbers of a variant's alternating sum beyond which extended precision is used,
#: and beyond which the variant is recomputed on its own (doubling sum, then extended
#: precision or enumeration as in ``_network.infer``). In double precision 1e7, 1000 times
#: ``_network.infer``'s limit for results compared with thresholds: next-test results are not
#: compared with a threshold, they stay within about 1e-9 of the one-by-one reference
#: (tested to 1e-8), and a case with eight multi-cause positive findings no longer redoes
#: most of its variants in extended precision (variant time 88 -> 20 ms over the bundled
#: examples). Extended precision: 2e10, the same error budget (condition x unit roundoff):
#: its 64-bit mantissa has 2048 times the headroom of double precision. At 2e7 every variant of
#: a published case with ten multi-cause positive findings (its own sum's condition about 1e8)
#: was recomputed on its own, 0.8 s of its assessment; at 2e10 the variants of the published
#: cases with eight or more such findings stay within 2e-10 of the one-by-one reference.
_MAX_DOUBLE_CONDITION = 1e7
_MAX_VARIANT_CONDITION = 2e10


@dataclass(frozen=True)
class _Static:
    """Next-test variants that depend on the network only: every noisy-OR finding, and every
    latent member while its construct is not yet observed (rows 2i: positive, 2i + 1: negative).
    """

    row: dict[str, int]
    variants: Variants  # scale left empty: filled per case (depends on K)


_Sub = tuple[np.ndarray, np.ndarray, np.ndarray]  # tendon, yes/no absent, yes/no present


def _reweight(
    n_s: int, n_b: int, mt: np.ndarray | None, changes: Mapping[int, tuple[float, float]]
) -> _Sub:
    """One reweighting: tendon multipliers and (column -> (m0, m1)) for the yes/no weights."""
    m0, m1 = np.ones(n_b), np.ones(n_b)
    for col, (a, b) in changes.items():
        m0[col], m1[col] = a, b
    return (np.ones(n_s) if mt is None else np.asarray(mt, dtype=float)), m0, m1


def _factor_subs(
    net: CompiledNetwork, lid: str, alpha: float, beta: float
) -> tuple[list[_Sub], list[float]]:
    """Reweightings for a new factor ``alpha + beta * prod q`` of factor ``lid``'s parents."""
    fac = net.factors[lid]
    n_s, n_b = net.n_states, len(net.binaries)
    q_t, q_b = fac.q_t[0], fac.q_b[0]
    n_par = int(fac.parents_t) + len(fac.parents_b)
    if n_par == 0:  # a factor without parents changes nothing (as in prepare)
        return [_reweight(n_s, n_b, None, {})] * 2, [1.0, 0.0]
    if n_par == 1:  # absorbed into the weights of its one parent
        if fac.parents_t:
            return [_reweight(n_s, n_b, alpha + beta * q_t, {})] * 2, [1.0, 0.0]
        i = fac.parents_b[0]
        sub = _reweight(n_s, n_b, None, {i: (alpha + beta, alpha + beta * q_b[i])})
        return [sub] * 2, [1.0, 0.0]
    q_sub = _reweight(n_s, n_b, q_t, {i: (1.0, q_b[i]) for i in fac.parents_b})
    return [_reweight(n_s, n_b, None, {}), q_sub], [alpha, beta]


def _member_factor(net: CompiledNetwork, fid: str, val: str) -> tuple[float, float]:
    """The member's probabilities of its result with the construct present / absent."""
    p1, p0 = net.factors[net.member_of[fid]].members[fid]
    return (p1, p0) if val == "positive" else (1.0 - p1, 1.0 - p0)


def _static(net: CompiledNetwork) -> _Static:
    """The network-only variants, built once per compiled network."""
    cached = net.cache.get("next_tests")
    if isinstance(cached, _Static):
        return cached
    n_s, n_b = net.n_states, len(net.binaries)
    noisy = [f for f, fac in net.factors.items() if fac.kind == "noisy_or"]
    subs: list[list[_Sub]] = []
    coefs: list[list[float]] = []
    log_add: list[float] = []
    for fid in noisy:
        fac = net.factors[fid]
        one_minus_leak = 1.0 - float(fac.leak[0])
        pos = _factor_subs(net, fid, 1.0, -one_minus_leak)
        subs.append(pos[0])
        coefs.append(pos[1])
        log_add.append(0.0)
        neg = _reweight(n_s, n_b, fac.q_t[0], {i: (1.0, fac.q_b[0][i]) for i in fac.parents_b})
        subs.append([neg, neg])
        coefs.append([1.0, 0.0])
        log_add.append(float(np.log(one_minus_leak)))
    members = list(net.member_of)
    for fid in members:  # the first observed member of its construct: a new factor
        leak = float(net.factors[net.member_of[fid]].leak[0])
        for val in ("positive", "negative"):
            cm1, cm0 = _member_factor(net, fid, val)
            got = _factor_subs(net, net.member_of[fid], cm1, -(cm1 - cm0) * (1.0 - leak))
            subs.append(got[0])
            coefs.append(got[1])
            log_add.append(0.0)
    static = _Static(
        {f: i for i, f in enumerate([*noisy, *members])},
        _stack_variants(subs, coefs, log_add, 0),
    )
    net.cache["next_tests"] = static
    return static


def _stack_variants(
    subs: list[list[_Sub]], coefs: list[list[float]], log_add: list[float], m: int
) -> Variants:
    v = len(subs)
    return Variants(
        mt=np.array([[s[0] for s in pair] for pair in subs]).reshape(v, 2, -1),
        m0=np.array([[s[1] for s in pair] for pair in subs]).reshape(v, 2, -1),
        m1=np.array([[s[2] for s in pair] for pair in subs]).reshape(v, 2, -1),
        scale=np.ones((v, 2, m)),
        coef=np.array(coefs, dtype=float).reshape(v, 2),
        log_add=np.array(log_add, dtype=float),
    )


def _observed_member_variants(net: CompiledNetwork, point: Evidence, fid: str) -> Variants | None:
    """The two variants (positive, negative) of a member of an already observed construct, or
    None when they are not reweightings of ``point`` (then they are computed one by one)."""
    lid = net.member_of[fid]
    fac = net.factors[lid]
    one_minus_leak = 1.0 - float(fac.leak[0])
    n_s, n_b = net.n_states, len(net.binaries)
    m = 1 << point.n_branches
    slot, c1, c0 = point.latents[lid]
    a_old, b_old = c1, -(c1 - c0) * one_minus_leak
    n_par = int(fac.parents_t) + len(fac.parents_b)
    subs: list[list[_Sub]] = []
    scales = np.ones((2, 2, m))
    for n_val, val in enumerate(("positive", "negative")):
        cm1, cm0 = _member_factor(net, fid, val)
        a_new, b_new = c1 * cm1, -(c1 * cm1 - c0 * cm0) * one_minus_leak
        if n_par == 0:
            sub = _reweight(n_s, n_b, None, {})
        elif n_par == 1:  # the absorbed factor changes: divide the old one out
            if fac.parents_t:
                old = a_old + b_old * fac.q_t[0]
                if np.any(old == 0.0):
                    return None
                sub = _reweight(n_s, n_b, (a_new + b_new * fac.q_t[0]) / old, {})
            else:
                i = fac.parents_b[0]
                o0, o1 = a_old + b_old, a_old + b_old * fac.q_b[0][i]
                if o0 == 0.0 or o1 == 0.0:
                    return None
                ch = {i: ((a_new + b_new) / o0, (a_new + b_new * fac.q_b[0][i]) / o1)}
                sub = _reweight(n_s, n_b, None, ch)
        else:  # the factor in its slot: terms without it scale by a'/a, with it by b'/b
            if a_old == 0.0 or b_old == 0.0:
                return None
            has = ((np.arange(m) >> slot) & 1).astype(bool)
            scales[n_val] = np.where(has, b_new / b_old, a_new / a_old)[None, :]
            sub = _reweight(n_s, n_b, None, {})
        subs.append([sub, sub])
    var = _stack_variants(subs, [[1.0, 0.0], [1.0, 0.0]], [0.0, 0.0], m)
    var.scale[:] = scales
    return var


def _concat(parts: list[Variants]) -> Variants:
    return Variants(
        mt=np.concatenate([p.mt for p in parts]),
        m0=np.concatenate([p.m0 for p in parts]),
        m1=np.concatenate([p.m1 for p in parts]),
        scale=np.concatenate([p.scale for p in parts]),
        coef=np.concatenate([p.coef for p in parts]),
        log_add=np.concatenate([p.log_add for p in parts]),
    )


def candidates(kb: KnowledgeBase, net: CompiledNetwork, case: Case) -> list[str]:
    """The findings of the network not yet recorded that can be the next test."""
    recorded = {f: v for f, v in case.observed_with_side().items() if v != "not_done"}
    done = set(recorded)
    for implied in net.implied_absent(recorded).values():
        done.update(implied)  # set absent by a normal radiograph or a complete pain map
    done.update(net.implied_present(recorded))  # made certain by another finding
    binary = [
        f
        for f in (*net.factors, *net.member_of)
        if f in kb.findings and f not in done and f not in net.expands
    ]
    return [f for f in binary if net.factors.get(f) is None or net.factors[f].kind == "noisy_or"]


def next_tests(
    kb: KnowledgeBase,
    net: CompiledNetwork,
    case: Case,
    observed: Mapping[str, str],
    main: Evidence,
    current: InferenceResult,
    pretest: Mapping[str, float],
) -> list[dict[str, Any]]:
    """Rank the findings not yet recorded by expected information gain (see the module doc)."""
    binary = candidates(kb, net, case)
    if not binary:
        return []
    try:
        post_t, post_b, log_pe = variant_results(net, case, observed, main, pretest, binary)
    except ValueError:  # a variant beyond the exact limits: no ranking rather than a wrong one
        return []
    return _rank(kb, net, binary, current, post_t, post_b, log_pe)


def variant_results(
    net: CompiledNetwork,
    case: Case,
    observed: Mapping[str, str],
    main: Evidence,
    pretest: Mapping[str, float],
    binary: list[str],
    *,
    one_by_one: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posteriors and log P(evidence) with each candidate positive (row 2i) and negative (2i + 1).

    Every candidate's two results are reweightings of the current evidence (its point-estimate
    row), scored together from its Quickscore terms
    (:func:`~glutemed.reasoning._network.score_variants`): in double precision, again in
    extended precision where the alternating sum is ill-conditioned, and on their own by exact
    inference beyond that, as :func:`~glutemed.reasoning._network.infer` does. ``one_by_one``
    computes every variant on its own (the reference, for tests).

    Raises
    ------
    ValueError
        If a variant is beyond the limits of exact inference.
    """
    point = Evidence(
        main.w_t[:1],
        main.w_b0[:1],
        main.w_b1[:1],
        main.alpha[:1],
        main.beta[:1],
        main.logq_t[:1],
        main.logq_b[:1],
        main.log_const[:1],
        main.latents,
        main.unrecorded,
    )
    m = 1 << point.n_branches
    parts: list[Variants] = []
    alone: list[int] = []  # candidates computed one by one
    order: list[str] = []
    from_static: list[str] = []
    # a candidate whose positive answer would make a recorded finding certain (a Trendelenburg
    # gait after an abnormal gait) takes that finding out of the evidence: computed on its own
    implying = {f for f, listed in net.implies.items() if any(x in observed for x in listed)}
    for i, fid in enumerate(binary):
        if one_by_one or fid in implying:
            alone.append(i)
        elif fid in net.member_of and net.member_of[fid] in point.latents:
            got = _observed_member_variants(net, point, fid)
            if got is None:
                alone.append(i)
            else:
                parts.append(got)
                order.append(fid)
        else:
            from_static.append(fid)
    if from_static:
        static = _static(net)
        idx = np.array([[2 * static.row[f], 2 * static.row[f] + 1] for f in from_static])
        sel = static.variants.take(idx.ravel())
        sel.scale = np.ones((idx.size, 2, m))
        for j, fid in enumerate(from_static):
            if fid in point.unrecorded:  # the answer replaces "not recorded": divide it out
                soft = net.unrecorded[fid]
                pair = [2 * j, 2 * j + 1]
                sel.mt[pair] /= soft.q_t[0]
                sel.m1[pair] /= soft.q_b[0]
                sel.log_add[pair] -= np.log(1.0 - soft.leak[0])
        parts.insert(0, sel)
        order = from_static + order
    post_t = np.empty((2 * len(binary), net.n_states))
    post_b = np.empty((2 * len(binary), len(net.binaries)))
    log_pe = np.empty(2 * len(binary))
    position = {f: i for i, f in enumerate(binary)}
    redo: list[tuple[int, str, str]] = [
        (2 * i + j, binary[i], val) for i in alone for j, val in enumerate(("positive", "negative"))
    ]
    if order:
        every = _concat(parts)
        pt, pb, lp, cond = score_variants(point, every)
        bad = np.nonzero(~(cond < _MAX_DOUBLE_CONDITION))[0]
        if bad.size:
            pt[bad], pb[bad], lp[bad], cond[bad] = score_variants(
                point, every.take(bad), np.longdouble
            )
        rows = np.array([2 * position[f] + j for f in order for j in (0, 1)])
        post_t[rows], post_b[rows], log_pe[rows] = pt, pb, lp
        for r in bad[~(cond[bad] < _MAX_VARIANT_CONDITION)]:
            redo.append((int(rows[r]), order[r // 2], ("positive", "negative")[r % 2]))
    if redo:
        evs = []
        for _, fid, val in redo:
            own = fid in point.unrecorded or fid in implying  # not one more factor of point
            ev = None if own else extend(net, point, fid, val)
            if ev is None:
                ev = prepare(
                    net,
                    case.setting,
                    case.patient.age_years,
                    case.patient.sex,
                    {**observed, fid: val},
                    pretest,
                    0,
                    unrecorded=[f for f in point.unrecorded if f != fid],
                )
            evs.append(ev)
        # the doubling sum (next-test results are not compared with a threshold); the
        # one-by-one reference keeps the reference arithmetic
        results = infer_many(evs, fast=not one_by_one)
        for (row, _, _), res in zip(redo, results, strict=True):
            post_t[row], post_b[row], log_pe[row] = res.post_t[0], res.post_b[0], res.log_pe[0]
    # A finding observed "not recorded" that the patient has was left out of the record with
    # probability 1 - mention: that weighs its positive answer (the answer then replaces the
    # record's silence; see _rank for P(+)).
    for fid in point.unrecorded:
        if fid in position:
            log_pe[2 * position[fid]] += np.log(1.0 - net.mention[0])
    return post_t, post_b, log_pe


def _rank(
    kb: KnowledgeBase,
    net: CompiledNetwork,
    binary: list[str],
    current: InferenceResult,
    post_t: np.ndarray,
    post_b: np.ndarray,
    log_pe: np.ndarray,
) -> list[dict[str, Any]]:
    """Value of each candidate from its two results (rows 2i: positive, 2i + 1: negative)."""
    weights = np.array(
        [MUST_NOT_MISS_WEIGHT if c in net.must_not_miss else 1.0 for c in net.binaries]
    )
    now = InferenceResult(current.post_t[:1], current.post_b[:1], current.log_pe[:1])
    h_now = float(_entropy_total(now, weights)[0])
    h = _entropy_total(InferenceResult(post_t, post_b, log_pe), weights)
    # P(+) = P(e, +) / (P(e, +) + P(e, -)): P(e, +) / P(e) for a finding not yet in the
    # evidence, and right too for one observed "not recorded" (its P(e) is the record's)
    p_pos = 1.0 / (1.0 + np.exp(log_pe[1::2] - log_pe[0::2]))
    h_after = p_pos * h[0::2] + (1 - p_pos) * h[1::2]
    burden = [
        BURDEN["xray" if kb.findings[f].modality == "xray" else kb.findings[f].kind] for f in binary
    ]
    value = h_now - h_after
    ratio = value / np.asarray(burden)
    # ranked by the value per burden rounded to 4 digits, ties by id: only the candidates that
    # can reach the top after rounding (np.round and round differ by at most one unit at a
    # tie) are rounded exactly
    near = np.round(ratio, 4)
    cut = np.sort(near)[::-1][min(_TOP, len(near)) - 1] - 2e-4
    per_burden = {int(i): round(float(ratio[i]), 4) for i in np.nonzero(near >= cut)[0]}
    top = sorted(per_burden, key=lambda i: (-per_burden[i], binary[i]))[:_TOP]
    names = {
        **{s: kb.conditions[s].name for s in net.states[1:]},
        **{c: kb.conditions[c].name for c in net.binaries},
    }
    out: list[dict[str, Any]] = []
    for i in top:
        fid = binary[i]
        pos_t, neg_t = post_t[2 * i], post_t[2 * i + 1]
        pos_b, neg_b = post_b[2 * i], post_b[2 * i + 1]
        # the condition whose probability the result moves most
        swing_b = np.abs(pos_b - neg_b)
        swing_t = np.abs(pos_t[1:] - neg_t[1:])
        if swing_t.max(initial=0.0) >= swing_b.max(initial=0.0):
            j = int(np.argmax(swing_t)) + 1
            cid = net.states[j]
            cur, if_p, if_n = current.post_t[0, j], pos_t[j], neg_t[j]
        else:
            j = int(np.argmax(swing_b))
            cid = net.binaries[j]
            cur, if_p, if_n = current.post_b[0, j], pos_b[j], neg_b[j]
        finding = kb.findings[fid]
        out.append(
            {
                "id": fid,
                "name": finding.name,
                "kind": finding.kind,
                "kind_label": _KIND_LABEL.get(finding.kind, finding.kind),
                "condition": cid,
                "condition_name": names[cid],
                "current": round(float(cur), 4),
                "if_positive": round(float(if_p), 4),
                "if_negative": round(float(if_n), 4),
                "probability_positive": round(float(p_pos[i]), 4),
                "value": round(float(value[i]), 4),
                "burden": burden[i],
                "value_per_burden": per_burden[i],
                "rules_out": [c for c, mm in net.must_not_miss.items() if fid in mm.rule_out],
            }
        )
    return out
