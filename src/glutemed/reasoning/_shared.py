"""Must-not-miss conditions that one test rules out together (``shared_rule_out`` in network.yaml).

A test threshold concerns what the test can find: one MRI of the pelvis shows a stress fracture of
the femoral neck, the pubic ramus or the sacrum, so it is worth requesting when the probability
that ANY of them is present reaches the group's threshold, even when each alone stays below its
own. That probability is exact: the joint probability of the evidence with every member absent,
divided by the probability of the evidence, is P(none of them | evidence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glutemed.reasoning._network import (
    CompiledNetwork,
    Evidence,
    InferenceResult,
    clamp_absent,
    infer,
    take_rows,
)


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


def group_columns(net: CompiledNetwork) -> list[list[int]]:
    """The yes/no columns of each shared rule-out group, in the network's group order."""
    return [[net.binaries.index(c) for c in g.members] for g in net.spec.shared_rule_out]


def any_present(
    log_pe: np.ndarray, log_pe_absent: np.ndarray, member_posteriors: np.ndarray
) -> np.ndarray:
    """P(at least one member | evidence) per row, from log P(e) and log P(e, none present).

    ``member_posteriors`` is ``(rows, members)``: the result is kept within its exact bounds
    (the largest member, the members' sum capped at 1) when the subtraction loses digits, and a
    failed evidence ratio (not finite) falls back to the sum, which is never below the true
    value: the group is then flagged rather than missed.
    """
    lower = member_posteriors.max(axis=1)
    upper = np.minimum(1.0, member_posteriors.sum(axis=1))
    p_any = -np.expm1(log_pe_absent - log_pe)
    out: np.ndarray = np.where(np.isfinite(p_any), np.clip(p_any, lower, upper), upper)
    return out


def shared_rule_out(
    net: CompiledNetwork,
    evidence: Evidence,
    result: InferenceResult,
    member_probabilities: dict[str, np.ndarray],
    draws_log_none: np.ndarray | None = None,
) -> dict[str, SharedRuleOut]:
    """Each group's probability that at least one member is present, keyed by group id.

    ``evidence``/``result`` are the case's prepared evidence and its inference (point estimate
    first, then any parameter draws); ``member_probabilities`` maps condition ids to their
    posterior for the same rows (see :func:`any_present`). ``draws_log_none`` (draws, groups):
    log P(evidence, no member present) of the parameter draws when already computed with them
    (:func:`~glutemed.reasoning._network.infer_draws_with_absent`); otherwise it is computed.
    """
    out: dict[str, SharedRuleOut] = {}
    for gi, (g, cols) in enumerate(zip(net.spec.shared_rule_out, group_columns(net), strict=True)):
        clamped = clamp_absent(evidence, cols)
        # the point estimate in the reference arithmetic (it is compared with a threshold), the
        # parameter draws with the faster doubling sum, as in assess()
        log_none = infer(take_rows(clamped, slice(0, 1))).log_pe
        if draws_log_none is not None:
            log_none = np.concatenate([log_none, draws_log_none[:, gi]])
        elif clamped.w_t.shape[0] > 1:
            log_none = np.concatenate(
                [log_none, infer(take_rows(clamped, slice(1, None)), fast=True).log_pe]
            )
        members = np.stack([member_probabilities[c] for c in g.members], axis=1)
        p_any = any_present(result.log_pe, log_none, members)
        p = float(p_any[0])
        interval = None
        if p_any.shape[0] > 1:
            lo, hi = np.percentile(p_any[1:], [2.5, 97.5])
            interval = (float(min(lo, p)), float(max(hi, p)))
        out[g.id] = SharedRuleOut(g.id, g.name, tuple(g.members), g.threshold, g.test, p, interval)
    return out
