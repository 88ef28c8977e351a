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
from typing import Any

import numpy as np

from glutemed.knowledge import KnowledgeBase
from glutemed.reasoning._case import Case
from glutemed.reasoning._network import (
    CompiledNetwork,
    Evidence,
    InferenceResult,
    extend,
    infer_many,
    prepare,
)

__all__ = ["BURDEN", "MUST_NOT_MISS_WEIGHT", "next_tests"]

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
    done = {f for f, v in case.observed().items() if v != "not_done"}
    binary = [
        f
        for f in (*net.factors, *net.member_of)
        if f in kb.findings and f not in done and f not in net.expands
    ]
    binary = [f for f in binary if net.factors.get(f) is None or net.factors[f].kind == "noisy_or"]
    if not binary:
        return []
    age = case.patient.age_years
    sex = case.patient.sex
    point = Evidence(
        main.w_t[:1],
        main.w_b0[:1],
        main.w_b1[:1],
        main.alpha[:1],
        main.beta[:1],
        main.logq_t[:1],
        main.logq_b[:1],
        main.log_const[:1],
    )
    variants: list[Evidence] = []
    for fid in binary:
        for val in ("positive", "negative"):
            ev = extend(net, point, fid, val)
            if ev is None:
                ev = prepare(net, case.setting, age, sex, {**observed, fid: val}, pretest, 0)
            variants.append(ev)
    try:
        results = infer_many(variants)
    except ValueError:  # a variant beyond the exact limits: no ranking rather than a wrong one
        return []
    weights = np.array(
        [MUST_NOT_MISS_WEIGHT if c in net.must_not_miss else 1.0 for c in net.binaries]
    )
    now = InferenceResult(current.post_t[:1], current.post_b[:1], current.log_pe[:1])
    h_now = float(_entropy_total(now, weights)[0])
    log_pe = float(current.log_pe[0])
    out: list[dict[str, Any]] = []
    names = {
        **{s: kb.conditions[s].name for s in net.states[1:]},
        **{c: kb.conditions[c].name for c in net.binaries},
    }
    for i, fid in enumerate(binary):
        pos, neg = results[2 * i], results[2 * i + 1]
        p_pos = float(np.exp(pos.log_pe[0] - log_pe))
        p_pos = min(max(p_pos, 0.0), 1.0)
        h_after = (
            p_pos * _entropy_total(pos, weights)[0] + (1 - p_pos) * _entropy_total(neg, weights)[0]
        )
        value = h_now - float(h_after)
        # the condition whose probability the result moves most
        swing_b = np.abs(pos.post_b[0] - neg.post_b[0])
        swing_t = np.abs(pos.post_t[0, 1:] - neg.post_t[0, 1:])
        if swing_t.max(initial=0.0) >= swing_b.max(initial=0.0):
            j = int(np.argmax(swing_t)) + 1
            cid = net.states[j]
            cur, if_p, if_n = current.post_t[0, j], pos.post_t[0, j], neg.post_t[0, j]
        else:
            j = int(np.argmax(swing_b))
            cid = net.binaries[j]
            cur, if_p, if_n = current.post_b[0, j], pos.post_b[0, j], neg.post_b[0, j]
        finding = kb.findings[fid]
        burden = BURDEN["xray" if finding.modality == "xray" else finding.kind]
        rules_out = [c for c, m in net.must_not_miss.items() if fid in m.rule_out]
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
                "probability_positive": round(p_pos, 4),
                "value": round(value, 4),
                "burden": burden,
                "value_per_burden": round(value / burden, 4),
                "rules_out": rules_out,
            }
        )
    out.sort(key=lambda t: (-t["value_per_burden"], t["id"]))
    return out[:_TOP]
