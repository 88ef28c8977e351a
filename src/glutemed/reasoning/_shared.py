"""Must-not-miss conditions that one test rules out together (``shared_rule_out`` in network.yaml).

A test threshold concerns what the test can find: one MRI of the pelvis shows a stress fracture of
the femoral neck, the pubic ramus or the sacrum, so it is worth requesting when the probability
that ANY of them is present reaches the group's threshold, even when each alone stays below its
own. That probability is exact: the joint probability of the evidence with every member absent,
divided by the probability of the evidence, is P(none of them | evidence).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from glutemed.reasoning._network import (
    CompiledNetwork,
    Evidence,
    InferenceResult,
    infer,
    take_rows,
)

#: stands in for zero in the clamped weights (exact enumeration takes logarithms of them)
_ABSENT = 1e-300


@dataclass(frozen=True)
class SharedRuleOut:
    """P(at least one member | evidence) for one group, with its 95 % interval if computed."""

    id: str
    name: str
    members: tuple[str, ...]
    threshold: float
    test: str
    probability: float
    interval: tuple[float, float] | None

    @property
    def above_threshold(self) -> bool:
        return self.probability >= self.threshold


def shared_rule_out(
    net: CompiledNetwork,
    evidence: Evidence,
    result: InferenceResult,
    member_probabilities: dict[str, np.ndarray],
) -> dict[str, SharedRuleOut]:
    """Each group's probability that at least one member is present, keyed by group id.

    ``evidence``/``result`` are the case's prepared evidence and its inference (point estimate
    first, then any parameter draws); ``member_probabilities`` maps condition ids to their
    posterior for the same rows (used only to keep the result within its exact bounds when the
    subtraction loses digits: at least the largest member, at most the sum of the members).
    """
    out: dict[str, SharedRuleOut] = {}
    for g in net.spec.shared_rule_out:
        idx = [net.binaries.index(c) for c in g.members]
        w_b1 = evidence.w_b1.copy()
        w_b1[:, idx] = _ABSENT
        clamped = replace(evidence, w_b1=w_b1)
        # the point estimate in the reference arithmetic (it is compared with a threshold), the
        # parameter draws with the faster doubling sum, as in assess()
        log_none = infer(take_rows(clamped, slice(0, 1))).log_pe
        if clamped.w_t.shape[0] > 1:
            log_none = np.concatenate(
                [log_none, infer(take_rows(clamped, slice(1, None)), fast=True).log_pe]
            )
        members = np.stack([member_probabilities[c] for c in g.members], axis=0)
        lower, upper = members.max(axis=0), np.minimum(1.0, members.sum(axis=0))
        p_any = -np.expm1(log_none - result.log_pe)
        # a failed evidence ratio (not finite) falls back to the members' sum, which is never
        # below the true value: the group is then flagged rather than missed
        p_any = np.where(np.isfinite(p_any), np.clip(p_any, lower, upper), upper)
        p = float(p_any[0])
        interval = None
        if p_any.shape[0] > 1:
            lo, hi = np.percentile(p_any[1:], [2.5, 97.5])
            interval = (float(min(lo, p)), float(max(hi, p)))
        out[g.id] = SharedRuleOut(g.id, g.name, tuple(g.members), g.threshold, g.test, p, interval)
    return out
