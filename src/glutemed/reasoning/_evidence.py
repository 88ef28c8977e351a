"""Turn the knowledge base's accuracy rows into the likelihood ratios the engine uses.

Rules (each is a modelling choice, documented here and reported in every assessment)
-------------------------------------------------------------------------------------
1. **One row per finding and condition.** The knowledge base marks exactly one accuracy row per
   (finding, target condition) with ``use_in_model``; the others are shown, not used.
2. **LR from the row.** A positive result uses the published LR+; if only sensitivity and
   specificity are published, LR+ = sens / (1 - spec). A negative result uses LR- or
   (1 - sens) / spec. If the needed LR cannot be formed (e.g. specificity 1.0 without a published
   continuity-corrected LR+), the finding contributes nothing and the explanation says why.
3. **Shrinkage of small and case-control studies.** The log-LR is multiplied by a weight
   ``w = sqrt(min(n, 100) / 100)`` (``w = 1`` for n >= 100; n unknown counts as n = 25), and by a
   further 0.5 for case-control (spectrum-biased) designs. Shrinking on the log scale pulls the
   LR toward 1 and keeps LR+ > 1 above 1. Clusters and meta-analyses with n >= 100 are not shrunk.
4. **Dependence.** A published cluster LR (e.g. Kinsella 2024: palpation and resisted abduction)
   replaces the individual LRs of its findings when all of them are observed with the cluster's
   values. Otherwise, among findings that share a dependence group, only the one with the largest
   |log LR| (after shrinkage) is counted; the others are listed as not counted.

Uncertainty
-----------
Each LR gets a sampling distribution on the log scale: Beta distributions on sensitivity and
specificity when the 2x2 counts are published (Jeffreys prior, +0.5); a log-normal from the
published 95 % interval of the LR when one is given; Beta distributions with n/2 effective
diseased and non-diseased participants when only sensitivity, specificity and n are known; and a
log-normal with standard error 2 / sqrt(n) otherwise.

References
----------
Deeks JJ, Altman DG. Diagnostic tests 4: likelihood ratios. BMJ 2004;329:168-169.
Kinsella R, et al. J Orthop Sports Phys Ther 2024;54(1):26-49 (source dx_r7 in the knowledge base).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from glutemed.knowledge import AccuracyStudy, Estimate, FindingCluster, KnowledgeBase

__all__ = [
    "CASE_CONTROL_FACTOR",
    "SMALL_STUDY_N",
    "UNKNOWN_N",
    "LikelihoodRatio",
    "cluster_lr",
    "row_lr",
    "shrink_weight",
]

SMALL_STUDY_N = 100
UNKNOWN_N = 25
CASE_CONTROL_FACTOR = 0.5

Value = Literal["positive", "negative"]


@dataclass(frozen=True)
class LikelihoodRatio:
    """One usable likelihood ratio with its provenance and uncertainty model."""

    finding_ids: tuple[str, ...]
    value: str
    target: str
    published: float
    weight: float
    used: float
    source_id: str
    locator: str
    how: str
    n: int | None
    case_control: bool
    # uncertainty model
    counts: tuple[int, int, int, int] | None  # tp, diseased, tn, non-diseased
    log_sd: float | None
    sens_spec: tuple[float, float] | None

    @property
    def log_used(self) -> float:
        """Natural log of the LR after shrinkage."""
        return math.log(self.used)

    def sample_log(self, rng: np.random.Generator, n_draws: int) -> NDArray[np.float64]:
        """Draw shrunk log-LRs from this LR's sampling distribution."""
        log_lr: NDArray[np.float64]
        if self.counts is not None or self.sens_spec is not None:
            if self.counts is not None:
                tp, d, tn, nd = self.counts
            else:
                assert self.sens_spec is not None
                s, t = self.sens_spec
                half = (self.n or UNKNOWN_N) / 2.0
                tp, d, tn, nd = s * half, half, t * half, half  # type: ignore[assignment]
            sens = rng.beta(tp + 0.5, d - tp + 0.5, n_draws)
            spec = rng.beta(tn + 0.5, nd - tn + 0.5, n_draws)
            if self.value == "positive":
                log_lr = np.log(sens) - np.log1p(-spec)
            else:
                log_lr = np.log1p(-sens) - np.log(spec)
        else:
            sd = self.log_sd if self.log_sd is not None else 2.0 / math.sqrt(self.n or UNKNOWN_N)
            log_lr = rng.normal(math.log(self.published), sd, n_draws)
        return self.weight * log_lr


def shrink_weight(n: int | None, case_control: bool) -> float:
    """Return the log-LR shrinkage weight for a study of ``n`` participants (rule 3)."""
    size = UNKNOWN_N if n is None else n
    w = math.sqrt(min(size, SMALL_STUDY_N) / SMALL_STUDY_N)
    if case_control:
        w *= CASE_CONTROL_FACTOR
    return w


def _log_sd_from_ci(est: Estimate | None) -> float | None:
    if est is None or est.ci is None:
        return None
    lo, hi = est.ci
    if lo <= 0 or hi <= 0 or hi <= lo:
        return None
    return (math.log(hi) - math.log(lo)) / (2 * 1.959964)


def row_lr(row: AccuracyStudy, value: Value) -> tuple[float, str, float | None] | None:
    """Return ``(LR, how it was obtained, log-SD from its CI)`` or ``None`` if not formable."""
    sens = row.sensitivity.value if row.sensitivity else None
    spec = row.specificity.value if row.specificity else None
    if value == "positive":
        if row.lr_positive is not None:
            return row.lr_positive.value, "published LR+", _log_sd_from_ci(row.lr_positive)
        if sens is not None and spec is not None and spec < 1.0 and sens > 0.0:
            return sens / (1.0 - spec), "LR+ = sens / (1 - spec)", None
        return None
    if row.lr_negative is not None:
        return row.lr_negative.value, "published LR-", _log_sd_from_ci(row.lr_negative)
    if sens is not None and spec is not None and spec > 0.0 and sens < 1.0:
        return (1.0 - sens) / spec, "LR- = (1 - sens) / spec", None
    return None


def _is_case_control(row: AccuracyStudy) -> bool:
    marks = set()
    for est in (row.sensitivity, row.specificity, row.lr_positive, row.lr_negative):
        if est is not None:
            marks.update(est.marks)
    return row.design == "case_control" or "case_control" in marks


def model_row(kb: KnowledgeBase, finding_id: str, target: str) -> AccuracyStudy | None:
    """Return the accuracy row the model uses for ``finding_id`` and ``target``, if any."""
    finding = kb.findings.get(finding_id)
    if finding is None:
        return None
    for row in finding.accuracy:
        if row.use_in_model and row.target == target:
            return row
    return None


@lru_cache(maxsize=65_536)
def finding_lr(
    kb: KnowledgeBase, finding_id: str, value: Value, target: str
) -> LikelihoodRatio | None:
    """Return the LR the engine uses for one observed finding and one condition.

    Cached: a loaded knowledge base is immutable and hashed by identity.
    """
    row = model_row(kb, finding_id, target)
    if row is None:
        return None
    got = row_lr(row, value)
    if got is None:
        return None
    lr, how, log_sd = got
    cc = _is_case_control(row)
    w = shrink_weight(row.n, cc)
    counts = None
    if row.positive_counts is not None and row.negative_counts is not None:
        counts = (*row.positive_counts, *row.negative_counts)
    sens_spec = None
    if (
        counts is None
        and log_sd is None
        and row.sensitivity
        and row.specificity
        and 0.0 < row.sensitivity.value < 1.0
        and 0.0 < row.specificity.value < 1.0
    ):
        sens_spec = (row.sensitivity.value, row.specificity.value)
    return LikelihoodRatio(
        finding_ids=(finding_id,),
        value=value,
        target=target,
        published=lr,
        weight=w,
        used=math.exp(w * math.log(lr)),
        source_id=row.source.id,
        locator=row.source.locator,
        how=how,
        n=row.n,
        case_control=cc,
        counts=counts,
        log_sd=log_sd,
        sens_spec=sens_spec,
    )


def cluster_lr(cluster: FindingCluster) -> LikelihoodRatio:
    """Return the LR of a published cluster (rule 4)."""
    est = cluster.lr
    cc = "case_control" in est.marks
    n_cluster = cluster.n
    w = shrink_weight(n_cluster, cc)
    return LikelihoodRatio(
        finding_ids=tuple(cluster.findings),
        value="cluster",
        target=cluster.target,
        published=est.value,
        weight=w,
        used=math.exp(w * math.log(est.value)),
        source_id=est.source.id,
        locator=est.source.locator,
        how="published cluster LR"
        if "computed" not in est.marks
        else "cluster LR implied by the reported pre- and post-test probabilities",
        n=n_cluster,
        case_control=cc,
        counts=None,
        log_sd=_log_sd_from_ci(est),
        sens_spec=None,
    )
