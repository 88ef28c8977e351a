"""The Bayesian differential for lateral hip pain.

Model
-----
Each condition in the differential is a separate yes/no question, because the conditions of
lateral hip pain coexist (tendinopathy with a tear, GTPS with hip osteoarthritis). For condition
``c`` with pre-test probability ``p0`` (the care setting's sourced prior, or the clinician's own
estimate), the post-test odds are::

    odds(c | findings) = odds(p0) * prod_k LR_k(c)

over the likelihood ratios that survive the dependence rules of :mod:`._evidence`. Probabilities
of different conditions therefore do not sum to 1. A condition with no sourced prior and no
clinician's estimate is not given a probability: its combined LR is shown instead.

Red flags short-circuit the differential: when a red-flag trigger is positive, the ranked list is
withheld and the urgent action is returned with its reason.

References
----------
Sox HC, Higgins MC, Owens DK. Medical Decision Making. 2nd ed. Wiley; 2013 (odds form of Bayes'
theorem, information value of tests).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.reasoning._case import Case, validate_case
from glutemed.reasoning._evidence import (
    CASE_CONTROL_FACTOR,
    SMALL_STUDY_N,
    UNKNOWN_N,
    LikelihoodRatio,
    cluster_lr,
    finding_lr,
)

__all__ = [
    "N_DRAWS",
    "Assessment",
    "ConditionResult",
    "Contribution",
    "assess",
    "condition_evidence",
    "differential_conditions",
    "posterior",
    "short_citation",
]

#: Monte Carlo draws for the uncertainty interval; the generator is seeded, so results repeat.
N_DRAWS = 4000
_SEED = 20_261_123


_AUTHOR_START = re.compile(r"^[A-Z][A-Za-z'\-]+ [A-Z]{1,3}[ ,.]")


def short_citation(kb: KnowledgeBase, source_id: str) -> str:
    """Return a short citation for display.

    'Surname Year' for author-led citations (e.g. 'Grimaldi 2017'), 'seed page 000' for the
    seed pages, otherwise the start of the title with the year.
    """
    src = kb.sources.get(source_id)
    if src is None:
        return source_id
    if src.kind == "seed_page":
        return f"seed page {source_id.removeprefix('seed_')}"
    if _AUTHOR_START.match(src.citation):
        surname = src.citation.split(" ", 1)[0]
        return f"{surname} {src.year}" if src.year else surname
    title = src.citation.split(". ")[0].split(" http")[0]
    if len(title) > 60:
        title = title[:57].rsplit(" ", 1)[0] + "..."
    return f"{title} ({src.year})" if src.year else title


def _odds(p: float) -> float:
    return p / (1.0 - p)


def _prob(odds: float) -> float:
    return odds / (1.0 + odds)


@dataclass(frozen=True)
class Contribution:
    """How one finding (or cluster) moved one condition."""

    finding_ids: tuple[str, ...]
    value: str
    counted: bool
    lr_published: float | None
    lr_used: float | None
    source_id: str | None
    locator: str | None
    alone_from: float | None
    alone_to: float | None
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": list(self.finding_ids),
            "value": self.value,
            "counted": self.counted,
            "lr_published": _round(self.lr_published),
            "lr_used": _round(self.lr_used),
            "source": self.source_id,
            "locator": self.locator,
            "probability_alone": None
            if self.alone_from is None
            else [_round(self.alone_from), _round(self.alone_to)],
            "explanation": self.sentence,
        }


@dataclass(frozen=True)
class ConditionResult:
    """The posterior of one condition."""

    id: str
    name: str
    prior: float | None
    prior_source: str
    probability: float | None
    interval: tuple[float, float] | None
    combined_lr: float
    contributions: list[Contribution]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prior": _round(self.prior),
            "prior_source": self.prior_source,
            "probability": _round(self.probability),
            "interval": None if self.interval is None else [_round(x) for x in self.interval],
            "combined_lr": _round(self.combined_lr),
            "contributions": [c.to_dict() for c in self.contributions],
            "note": self.note,
        }


@dataclass(frozen=True)
class Assessment:
    """The result of :func:`assess`. ``to_dict()`` gives the documented JSON."""

    conditions: list[ConditionResult]
    unranked: list[ConditionResult]
    red_flags: list[dict[str, Any]]
    next_tests: list[dict[str, Any]]
    imaging: dict[str, Any]
    severity: dict[str, Any]
    notes: list[str]
    versions: dict[str, str]
    method: dict[str, Any] = field(default_factory=dict)

    @property
    def differential_withheld(self) -> bool:
        """True when a red flag withheld the ranked differential."""
        return bool(self.red_flags)

    def to_dict(self) -> dict[str, Any]:
        return {
            "conditions": [c.to_dict() for c in self.conditions],
            "unranked_conditions": [c.to_dict() for c in self.unranked],
            "differential_withheld": self.differential_withheld,
            "red_flags": self.red_flags,
            "next_tests": self.next_tests,
            "imaging": self.imaging,
            "severity": self.severity,
            "notes": self.notes,
            "method": self.method,
            "versions": self.versions,
            "disclaimer": (
                "Decision support for a clinician: probabilities come from published accuracy "
                "studies, most of them small; they do not replace clinical judgement."
            ),
        }


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def differential_conditions(kb: KnowledgeBase) -> list[str]:
    """Return the ids of the conditions the engine ranks."""
    return [c.id for c in kb.conditions.values() if c.in_differential and c.role != "red_flag"]


def _binary_observed(case: Case, kb: KnowledgeBase) -> dict[str, str]:
    observed = {
        fid: v
        for fid, v in case.observed().items()
        if v in ("positive", "negative") and fid in kb.findings
    }
    age = case.patient.age_years
    if "age_60_or_over" in kb.findings and "age_60_or_over" not in observed and age is not None:
        observed["age_60_or_over"] = "positive" if age >= 60 else "negative"
    return observed


def condition_evidence(
    kb: KnowledgeBase, observed: Mapping[str, str], target: str
) -> tuple[list[LikelihoodRatio], list[tuple[LikelihoodRatio | None, str, str, str]]]:
    """Apply rules 1-4 for one condition.

    Returns
    -------
    counted
        The likelihood ratios that enter the product.
    not_counted
        ``(lr or None, finding id, value, reason)`` for observed findings that do not count.
    """
    candidates: dict[str, LikelihoodRatio] = {}
    not_counted: list[tuple[LikelihoodRatio | None, str, str, str]] = []
    for fid, value in observed.items():
        finding = kb.findings[fid]
        rows = [r for r in finding.accuracy if r.use_in_model and r.target == target]
        if not rows:
            continue
        lr = finding_lr(kb, fid, value, target)
        if lr is None:
            need = "LR+" if value == "positive" else "LR-"
            not_counted.append(
                (None, fid, value, f"no {need} can be formed from the published numbers")
            )
            continue
        candidates[fid] = lr
    counted: list[LikelihoodRatio] = []
    for cluster in sorted(kb.clusters.values(), key=lambda c: c.id):
        if cluster.target != target:
            continue
        if all(observed.get(f) == v for f, v in cluster.findings.items()):
            clr = cluster_lr(cluster)
            counted.append(clr)
            for f in cluster.findings:
                if f in candidates:
                    not_counted.append(
                        (
                            candidates.pop(f),
                            f,
                            observed[f],
                            f"combined in the published cluster {cluster.id}",
                        )
                    )
    groups: dict[str, list[LikelihoodRatio]] = {}
    for fid, lr in candidates.items():
        group = kb.findings[fid].dependence_group or f"_own_{fid}"
        groups.setdefault(group, []).append(lr)
    for group, lrs in sorted(groups.items()):
        lrs.sort(key=lambda x: (-abs(x.log_used), x.finding_ids))
        counted.append(lrs[0])
        for other in lrs[1:]:
            not_counted.append(
                (
                    other,
                    other.finding_ids[0],
                    other.value,
                    f"measures the same construct as {lrs[0].finding_ids[0]} "
                    f"(dependence group {group}); only the strongest is counted",
                )
            )
    counted.sort(key=lambda x: x.finding_ids)
    return counted, not_counted


def posterior(prior: float, lrs: list[LikelihoodRatio]) -> float:
    """Post-test probability from a prior and the counted LRs."""
    log_odds = math.log(_odds(prior)) + sum(lr.log_used for lr in lrs)
    return 1.0 / (1.0 + math.exp(-log_odds))


def _prior(
    kb: KnowledgeBase, case: Case, cid: str
) -> tuple[float | None, str, tuple[float, float] | None]:
    if cid in case.pretest:
        return case.pretest[cid], "clinician's pre-test estimate", None
    entry = kb.priors.get(case.setting, {}).get(cid)
    if entry is None:
        return None, f"no sourced prior for the {case.setting} setting", None
    est = entry.probability
    return (
        est.value,
        f"{short_citation(kb, est.source.id)} ({est.source.id}; {est.source.locator})",
        est.ci,
    )


def _interval(
    prior: float,
    prior_ci: tuple[float, float] | None,
    lrs: list[LikelihoodRatio],
    rng: np.random.Generator,
) -> tuple[float, float]:
    if prior_ci is not None and prior_ci[0] < prior < prior_ci[1]:
        sd = (prior_ci[1] - prior_ci[0]) / (2 * 1.959964)
        k = max(prior * (1 - prior) / (sd * sd) - 1.0, 2.0)
        prior_draws = rng.beta(prior * k, (1 - prior) * k, N_DRAWS)
    else:
        prior_draws = np.full(N_DRAWS, prior)
    log_odds = np.log(prior_draws) - np.log1p(-prior_draws)
    for lr in lrs:
        log_odds = log_odds + lr.sample_log(rng, N_DRAWS)
    p = 1.0 / (1.0 + np.exp(-log_odds))
    lo, hi = np.percentile(p, [2.5, 97.5])
    return float(lo), float(hi)


def _sentence(
    kb: KnowledgeBase, cname: str, lr: LikelihoodRatio, prior: float | None
) -> tuple[str, float | None, float | None]:
    names = " + ".join(kb.findings[f].name for f in lr.finding_ids)
    val = "as in the published cluster" if lr.value == "cluster" else lr.value
    shrink = ""
    if abs(lr.used - lr.published) > 1e-9:
        why = []
        if lr.n is None or lr.n < SMALL_STUDY_N:
            why.append(f"n = {lr.n if lr.n is not None else 'not reported'}")
        if lr.case_control:
            why.append("case-control design")
        shrink = f", shrunk from {lr.published:.3g} ({', '.join(why)})"
    cite = f"{short_citation(kb, lr.source_id)}, {lr.locator}"
    if prior is None:
        return f"{names} {val}: LR {lr.used:.3g}{shrink} [{cite}].", None, None
    to = posterior(prior, [lr])
    direction = "raises" if lr.used > 1 else "lowers"
    return (
        f"{names} {val}: LR {lr.used:.3g}{shrink} [{cite}]; on its own it {direction} "
        f"{cname} from {prior:.0%} to {to:.0%}.",
        prior,
        to,
    )


def assess(
    case: Case, kb: KnowledgeBase | None = None, *, with_intervals: bool = True
) -> Assessment:
    """Assess one case: red flags, the ranked differential, next tests, imaging advice, severity.

    Parameters
    ----------
    case
        The clinical case (see :class:`~glutemed.reasoning.Case`).
    kb
        The knowledge base (default: the bundled one).
    with_intervals
        Compute the 95 % uncertainty intervals by Monte Carlo (seeded, reproducible).

    Returns
    -------
    Assessment

    Raises
    ------
    CaseValidationError
        When the case does not fit the knowledge base (every problem listed).
    """
    from glutemed.reasoning._advice import imaging_advice, red_flags, severity
    from glutemed.reasoning._next import next_tests

    kb = kb or load_kb()
    validate_case(case, kb)
    observed = _binary_observed(case, kb)
    flags = red_flags(kb, case)
    notes: list[str] = []
    results: list[ConditionResult] = []
    unranked: list[ConditionResult] = []
    rng = np.random.default_rng(_SEED)
    if not flags:
        for cid in differential_conditions(kb):
            res = _condition(kb, case, observed, cid, rng, with_intervals)
            (results if res.probability is not None else unranked).append(res)
        results.sort(key=lambda r: (-(r.probability or 0.0), r.id))
        unranked.sort(key=lambda r: r.id)
    else:
        notes.append(
            "Red flag present: the differential is withheld until the red flag is dealt with."
        )
    for tried in case.treatments_tried:
        if tried.id == "corticosteroid_injection" and tried.response in ("none", "worse"):
            notes.append(
                "No response to a corticosteroid injection: practice guidance says to suspect a "
                "tear or another diagnosis (Australian Therapeutic Guidelines, tx_r18). No "
                "likelihood ratio is published for this, so it changes the imaging advice, not "
                "the probabilities."
            )
    sev = severity(kb, case)
    if sev["grade"] in ("partial_tear", "full_thickness_tear") and not flags:
        notes.append(
            "Imaging reports a tear; its grade is shown under severity. The tear probability does "
            "not count the MRI or ultrasound tear reading itself: published accuracy for it varies "
            "widely (MRI sensitivity 0.33-1.00, Westacott 2011; half of the tears found at hip "
            "replacement had been missed on MRI), so no single likelihood ratio is defensible."
        )
    return Assessment(
        conditions=results,
        unranked=unranked,
        red_flags=flags,
        next_tests=[]
        if flags
        else next_tests(
            kb,
            case,
            observed,
            [
                (r.id, r.prior, r.probability)
                for r in results
                if r.prior is not None and r.probability is not None
            ],
        ),
        imaging=imaging_advice(kb, case, flags, [(r.id, r.prior, r.probability) for r in results]),
        severity=sev,
        notes=notes,
        versions=kb.versions(),
        method={
            "model": "independent Bayesian update per condition (odds x likelihood ratios)",
            "dependence": (
                "published cluster LR where all its findings are observed; otherwise the "
                "strongest finding per dependence group"
            ),
            "shrinkage": (
                f"log-LR x sqrt(min(n, {SMALL_STUDY_N}) / {SMALL_STUDY_N}) "
                f"(n unknown = {UNKNOWN_N}); x {CASE_CONTROL_FACTOR} for case-control designs"
            ),
            "interval": f"2.5th-97.5th percentile of {N_DRAWS} seeded Monte Carlo draws"
            if with_intervals
            else "not computed",
            "setting": case.setting,
        },
    )


def _condition(
    kb: KnowledgeBase,
    case: Case,
    observed: Mapping[str, str],
    cid: str,
    rng: np.random.Generator,
    with_intervals: bool,
) -> ConditionResult:
    cond = kb.conditions[cid]
    prior, prior_source, prior_ci = _prior(kb, case, cid)
    counted, not_counted = condition_evidence(kb, observed, cid)
    contributions: list[Contribution] = []
    for lr in sorted(counted, key=lambda x: -abs(x.log_used)):
        sentence, a, b = _sentence(kb, cond.name, lr, prior)
        contributions.append(
            Contribution(
                lr.finding_ids,
                lr.value,
                True,
                lr.published,
                lr.used,
                lr.source_id,
                lr.locator,
                a,
                b,
                sentence,
            )
        )
    for other, fid, value, reason in not_counted:
        name = kb.findings[fid].name
        contributions.append(
            Contribution(
                (fid,),
                value,
                False,
                None if other is None else other.published,
                None,
                None if other is None else other.source_id,
                None if other is None else other.locator,
                None,
                None,
                f"{name} {value}: not counted, {reason}.",
            )
        )
    combined = math.exp(sum(lr.log_used for lr in counted))
    if prior is None:
        return ConditionResult(
            cid,
            cond.name,
            None,
            prior_source,
            None,
            None,
            combined,
            contributions,
            note="No sourced pre-test probability for this setting: enter your own estimate "
            "under 'pretest' to get a probability. The combined likelihood ratio is shown.",
        )
    prob = posterior(prior, counted)
    interval = _interval(prior, prior_ci, counted, rng) if with_intervals else None
    return ConditionResult(
        cid, cond.name, prior, prior_source, prob, interval, combined, contributions
    )
