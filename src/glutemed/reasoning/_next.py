"""Which test to do next: expected information gain.

For a test not yet done and each ranked condition ``c`` with current probability ``p``, the
engine computes the probability after a positive (``p+``) and after a negative (``p-``) result by
re-running the full model (so dependence rules apply), and the chance of a positive result
``P(+) = p * sens + (1 - p) * (1 - spec)`` from the sensitivity and specificity implied by the
shrunk LR+ and LR- the model would use::

    spec = (LR+ - 1) / (LR+ - LR-)        sens = LR+ * (1 - spec)

The value of the test is the expected reduction of entropy summed over conditions (bits):
``sum_c H(p) - P(+) H(p+) - P(-) H(p-)``. Tests whose LR+ and LR- are not both available are
left out, because the chance of each result cannot be formed. Only history and examination
items are ranked here: whether to image is answered by the imaging advice, which follows
guideline rules rather than information value.

References
----------
Sox HC, Higgins MC, Owens DK. Medical Decision Making. 2nd ed. Wiley; 2013. Chapter 5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from glutemed.knowledge import KnowledgeBase
from glutemed.reasoning._case import Case
from glutemed.reasoning._evidence import finding_lr

__all__ = ["next_tests"]

_TOP = 5


def _entropy(p: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def next_tests(
    kb: KnowledgeBase,
    case: Case,
    observed: Mapping[str, str],
    ranked_conditions: Sequence[tuple[str, float, float]],
) -> list[dict[str, Any]]:
    """Rank the tests not yet done by expected information gain (see the module doc).

    ``ranked_conditions`` holds ``(condition id, prior, current probability)`` for the conditions
    the assessment ranked.
    """
    from glutemed.reasoning._engine import condition_evidence, differential_conditions, posterior

    order = {cid: i for i, cid in enumerate(differential_conditions(kb))}
    ranked_conditions = sorted(ranked_conditions, key=lambda c: order[c[0]])

    trigger_ids = {t for f in kb.red_flags.values() for t in (*f.triggers, *f.context_factors)}
    done = {f for f, v in case.observed().items() if v != "not_done"} | set(observed)
    conds = [(cid, prior) for cid, prior, _ in ranked_conditions]
    current = {cid: p for cid, _, p in ranked_conditions}
    ranked: list[dict[str, Any]] = []
    for fid, finding in kb.findings.items():
        if fid in done or fid in trigger_ids or finding.value_type != "binary":
            continue
        if finding.kind not in ("history", "examination"):
            continue
        if fid == "age_60_or_over":
            continue
        value = 0.0
        best: tuple[float, str, float, float] | None = None
        for cid, prior in conds:
            pos = finding_lr(kb, fid, "positive", cid)
            neg = finding_lr(kb, fid, "negative", cid)
            if pos is None or neg is None or not pos.used > 1.0 > neg.used:
                continue
            spec = (pos.used - 1.0) / (pos.used - neg.used)
            sens = pos.used * (1.0 - spec)
            p = current[cid]
            p_pos = posterior(prior, condition_evidence(kb, {**observed, fid: "positive"}, cid)[0])
            p_neg = posterior(prior, condition_evidence(kb, {**observed, fid: "negative"}, cid)[0])
            chance_pos = p * sens + (1.0 - p) * (1.0 - spec)
            gain = _entropy(p) - chance_pos * _entropy(p_pos) - (1.0 - chance_pos) * _entropy(p_neg)
            gain = max(gain, 0.0)
            value += gain
            if best is None or gain > best[0]:
                best = (gain, cid, p_pos, p_neg)
        if best is None or value <= 1e-9:
            continue
        _, cid, p_pos, p_neg = best
        ranked.append(
            {
                "id": fid,
                "name": finding.name,
                "kind": finding.kind,
                "condition": cid,
                "current": round(current[cid], 4),
                "if_positive": round(p_pos, 4),
                "if_negative": round(p_neg, 4),
                "value": round(value, 4),
                "value_unit": "expected information gain, bits (summed over conditions)",
                "how_to_perform": finding.how_to_perform,
            }
        )
    ranked.sort(key=lambda t: (-t["value"], t["id"]))
    return ranked[:_TOP]
