"""The Bayesian differential for lateral hip and buttock pain (Diagnosis v2).

Model
-----
One Bayesian network (``knowledge/data/network.yaml``, compiled by :mod:`._network`) over the
whole differential: the nested gluteal-tendon states as one variable, every mimic and
must-not-miss condition as its own yes/no variable, each finding a child of the conditions that
produce it. Exact inference gives every condition's posterior; the nested probabilities are
coherent by construction (P(full-thickness tear) <= P(any tear) <= P(tendinopathy or worse) <=
P(GTPS)). The same network serves the single case, the batch, the explanation (each finding's
effect is the change when it is left out), the next test (expected information gain over the
whole differential) and the must-not-miss checks (each condition against its test threshold).
The differential is never withheld: a must-not-miss condition above its threshold is shown with
its action and urgency beside the ranked list.

Uncertainty: every number of the network carries its study size (or a small effective n for an
assumption); the 95 % interval is the 2.5th-97.5th percentile of the posterior over seeded draws
of all parameters (:data:`N_DRAWS`), computed in the same batch as the point estimate.

References
----------
Heckerman D. A tractable inference algorithm for diagnosing multiple diseases. UAI 1989.
Sox HC, Higgins MC, Owens DK. Medical Decision Making. 2nd ed. Wiley; 2013 (information value).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glutemed.errors import CaseValidationError, Problem
from glutemed.knowledge import KnowledgeBase, load_kb, lower_first, short_citation
from glutemed.reasoning._advice import urgency_rank
from glutemed.reasoning._blas import one_blas_thread
from glutemed.reasoning._case import Case, validate_case
from glutemed.reasoning._network import (
    N_DRAWS,
    CompiledNetwork,
    InferenceResult,
    compile_network,
    infer_draws_with_absent,
    infer_many,
    prepare,
    take_rows,
)
from glutemed.reasoning._percent import percent
from glutemed.reasoning._shared import SharedRuleOut, group_columns, shared_rule_out

__all__ = [
    "FULL_ASSESSMENT_BRANCHES",
    "N_DRAWS",
    "Assessment",
    "ConditionResult",
    "Contribution",
    "assess",
    "network_for",
    "observed_values",
    "short_citation",
]

#: Above this many positive multi-cause findings (K) only the exact point estimate is computed:
#: the intervals (257 parameter sets), reasons (one variant per finding) and next tests (two
#: variants per candidate) would each cost 2^K per variant.
FULL_ASSESSMENT_BRANCHES = 12

_NETWORKS: weakref.WeakKeyDictionary[KnowledgeBase, CompiledNetwork] = weakref.WeakKeyDictionary()


def network_for(kb: KnowledgeBase) -> CompiledNetwork:
    """Return the compiled network of a knowledge base (compiled once per knowledge base)."""
    net = _NETWORKS.get(kb)
    if net is None:
        net = compile_network(kb)
        _NETWORKS[kb] = net
    return net


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


@dataclass(frozen=True)
class Contribution:
    """How one finding moved one condition: the probability without it and with it."""

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
    assumption: bool = False

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
            "assumption": self.assumption,
            "explanation": self.sentence,
        }


@dataclass(frozen=True)
class ConditionResult:
    """The posterior of one condition (a tendon state, a tendon aggregate or a yes/no condition)."""

    id: str
    name: str
    prior: float | None
    prior_source: str
    probability: float | None
    interval: tuple[float, float] | None
    combined_lr: float
    contributions: list[Contribution]
    note: str = ""
    role: str = ""
    group: str = ""
    prior_is_assumption: bool = False
    prior_source_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "group": self.group,
            "prior": _round(self.prior),
            "prior_source": self.prior_source,
            "prior_is_assumption": self.prior_is_assumption,
            "prior_source_id": self.prior_source_id,
            "probability": _round(self.probability),
            "interval": None if self.interval is None else [_round(x) for x in self.interval],
            "combined_lr": _round(self.combined_lr),
            "contributions": [c.to_dict() for c in self.contributions],
            "note": self.note,
        }


@dataclass(frozen=True)
class Assessment:
    """The result of :func:`assess`. ``to_dict()`` gives the documented JSON.

    ``conditions`` holds every condition sorted by probability (tendon aggregates included);
    ``differential`` ranks the network's variables (the tendon variable by P(GTPS), labelled with
    its most probable state); ``must_not_miss`` lists each must-not-miss condition against its
    test threshold; ``red_flags`` the ones above it (with their action).
    """

    conditions: list[ConditionResult]
    unranked: list[ConditionResult]
    red_flags: list[dict[str, Any]]
    next_tests: list[dict[str, Any]]
    imaging: dict[str, Any]
    severity: dict[str, Any]
    notes: list[str]
    versions: dict[str, str]
    method: dict[str, Any] = field(default_factory=dict)
    differential: list[dict[str, Any]] = field(default_factory=list)
    must_not_miss: list[dict[str, Any]] = field(default_factory=list)
    referral: dict[str, Any] = field(default_factory=dict)

    @property
    def differential_withheld(self) -> bool:
        """Always False: the differential is shown beside any must-not-miss alert."""
        return False

    def probability(self, condition_id: str) -> float | None:
        """Return the posterior probability of a condition id (None if unknown)."""
        for c in self.conditions:
            if c.id == condition_id:
                return c.probability
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "conditions": [c.to_dict() for c in self.conditions],
            "differential": self.differential,
            "unranked_conditions": [c.to_dict() for c in self.unranked],
            "differential_withheld": False,
            "must_not_miss": self.must_not_miss,
            "red_flags": self.red_flags,
            "next_tests": self.next_tests,
            "imaging": self.imaging,
            "referral": self.referral,
            "severity": self.severity,
            "notes": self.notes,
            "method": self.method,
            "versions": self.versions,
            "disclaimer": (
                "Decision support for a clinician: probabilities come from a model built on "
                "published studies (most of them small) and on labelled assumptions where no "
                "study exists; they do not replace clinical judgement."
            ),
        }


# --------------------------------------------------------------------------- helpers


def observed_values(case: Case, net: CompiledNetwork) -> dict[str, str]:
    """Return the findings of a case that the network uses, with the finding that the side
    stands for (:meth:`Case.observed_with_side`).

    "not_done" is dropped, except for the findings whose absence from the record is evidence
    (:attr:`CompiledNetwork.unrecorded`): there it says the finding was not asked, so that it
    is not counted as left out.
    """
    used = set(net.model_findings())
    values = case.observed_with_side()
    done = {f: v for f, v in values.items() if v != "not_done"}
    # a complete pain map settles every site, "not done" ones included
    settled = {f for listed in net.implied_absent(done).values() for f in listed}
    # a finding made certain by another (a Trendelenburg gait makes the gait abnormal) is the
    # same observation: it is not evidence of its own
    implied = net.implied_present(done)
    return {
        f: v
        for f, v in values.items()
        if f in used
        and f not in implied
        and (v != "not_done" or (f in net.unrecorded and f not in settled))
    }


def _marginals(net: CompiledNetwork, res: InferenceResult) -> dict[str, np.ndarray]:
    """Posterior of every condition id (states, aggregates, binaries), shape (N,)."""
    out: dict[str, np.ndarray] = {}
    for i, s in enumerate(net.states[1:], start=1):
        out[s] = res.post_t[:, i]
    for agg, idx in net.aggregates.items():
        out[agg] = res.post_t[:, list(idx)].sum(axis=1)
    for i, c in enumerate(net.binaries):
        out[c] = res.post_b[:, i]
    return out


def _pretest(case: Case, net: CompiledNetwork) -> dict[str, float]:
    known = {*net.states[1:], *net.binaries, "gtps"}
    return {k: v for k, v in case.pretest.items() if k in known}


def _group(net: CompiledNetwork, cid: str, kb: KnowledgeBase) -> str:
    if cid in net.states or cid in net.aggregates:
        return "gluteal_tendon"
    if cid in net.must_not_miss:
        return "must_not_miss"
    return "mimic"


def _value_text(kb: KnowledgeBase, fid: str, value: str) -> str:
    f = kb.findings[fid]
    if f.value_type == "ordinal":
        return f"{f.name}: {value.replace('_', ' ')}"
    return f"{f.name} {'present' if value == 'positive' else 'absent'}"


#: the value of a reason for findings a record leaves out (:attr:`CompiledNetwork.unrecorded`)
NOT_RECORDED = "not_recorded"


def _reason_text(kb: KnowledgeBase, finding_ids: Sequence[str], value: str) -> str:
    """What a reason is about: one finding and its value, or the findings not recorded."""
    if value != NOT_RECORDED:
        return _value_text(kb, finding_ids[0], value)
    first, *rest = [kb.findings[f].name for f in finding_ids]
    rest = [lower_first(n) for n in rest]
    listed = ", ".join([first, *rest[:-1]]) + " and " + rest[-1] if rest else first
    return f"{listed} not among the recorded pain sites"


# --------------------------------------------------------------------------- assess


def assess(
    case: Case, kb: KnowledgeBase | None = None, *, with_intervals: bool = True
) -> Assessment:
    """Assess one case: the whole differential, must-not-miss checks, next tests and advice.

    Parameters
    ----------
    case
        The clinical case (see :class:`~glutemed.reasoning.Case`).
    kb
        The knowledge base (default: the bundled one).
    with_intervals
        Compute the 95 % uncertainty intervals (seeded parameter draws, reproducible).

    Returns
    -------
    Assessment

    Raises
    ------
    CaseValidationError
        When the case does not fit the knowledge base (every problem listed).
    """
    with one_blas_thread():
        return _assess(case, kb, with_intervals)


def _assess(case: Case, kb: KnowledgeBase | None, with_intervals: bool) -> Assessment:
    from glutemed.reasoning._advice import imaging_advice, referral_advice, severity
    from glutemed.reasoning._next import next_tests

    kb = kb or load_kb()
    validate_case(case, kb)
    net = network_for(kb)
    observed = observed_values(case, net)
    age = case.patient.age_years
    sex = case.patient.sex
    pretest = _pretest(case, net)
    params: slice | int = slice(None) if with_intervals else 0

    main = prepare(net, case.setting, age, sex, observed, pretest, params)
    base = prepare(net, case.setting, age, sex, {}, pretest, 0)
    heavy = main.n_branches > FULL_ASSESSMENT_BRANCHES
    if heavy and with_intervals:
        # the cost grows as 2^K per evidence variant: only the point estimate is affordable
        with_intervals = False
        main = prepare(net, case.setting, age, sex, observed, pretest, 0)
    loo_keys = [] if heavy else sorted(f for f, v in observed.items() if v != "not_done")
    # each finding left out as "not done", so that a derived finding (a complete pain map) does
    # not fill it back in as absent, and with the same findings "not recorded" as the record:
    # the reason compares the finding with not knowing it
    unrecorded = main.unrecorded
    loo = [
        prepare(net, case.setting, age, sex, {**observed, j: "not_done"}, pretest, 0, unrecorded)
        for j in loo_keys
    ]
    if unrecorded and not heavy:  # the record's silence on those findings, as one reason
        loo.append(prepare(net, case.setting, age, sex, observed, pretest, 0, ()))
    try:
        # the point estimates in the reference arithmetic; the parameter draws of the interval
        # (rows 1..) and the leave-one-out variants behind the reasons (not compared with a
        # threshold) with the faster doubling sum (the same to about 1e-13)
        results = infer_many([take_rows(main, slice(0, 1)), base])
        results += infer_many(loo, fast=True)
        draws_none = None
        if with_intervals:
            # the draws and, from the same subset terms, each shared group's P(e, none present)
            draws, draws_none = infer_draws_with_absent(
                take_rows(main, slice(1, None)), group_columns(net)
            )
            results[0] = InferenceResult(
                np.concatenate([results[0].post_t, draws.post_t]),
                np.concatenate([results[0].post_b, draws.post_b]),
                np.concatenate([results[0].log_pe, draws.log_pe]),
            )
    except ValueError as exc:  # beyond both exact methods' limits
        raise CaseValidationError(
            "the case has more positive findings with several possible causes than exact "
            "inference can combine",
            [Problem("case findings", "fewer positive findings with several causes", str(exc))],
        ) from None
    post = _marginals(net, results[0])
    prior = _marginals(net, results[1])
    without = [_marginals(net, r) for r in results[2:]]

    conditions: list[ConditionResult] = []
    ids = (*net.states[1:], *net.aggregates, *net.binaries)
    bounds = (
        np.percentile(np.stack([post[c][1:] for c in ids], axis=1), [2.5, 97.5], axis=0)
        if with_intervals
        else None
    )
    for n_cond, cid in enumerate(ids):
        cond = kb.conditions[cid]
        p = float(post[cid][0])
        interval = None
        if bounds is not None:
            lo, hi = bounds[0, n_cond], bounds[1, n_cond]
            interval = (float(min(lo, p)), float(max(hi, p)))
        p0 = float(prior[cid][0])
        prior_src, prior_assumed, prior_sid = _prior_source(kb, net, case, cid)
        contribs = _contributions(kb, net, cid, observed, loo_keys, without, p, unrecorded)
        combined = (p / (1 - p)) / (p0 / (1 - p0)) if 0 < p < 1 and 0 < p0 < 1 else math.nan
        conditions.append(
            ConditionResult(
                id=cid,
                name=cond.name,
                prior=p0,
                prior_source=prior_src,
                probability=p,
                interval=interval,
                combined_lr=combined,
                contributions=contribs,
                role=cond.role,
                group=_group(net, cid, kb),
                prior_is_assumption=prior_assumed,
                prior_source_id=prior_sid,
            )
        )
    conditions.sort(key=lambda r: (-(r.probability or 0.0), r.id))
    by_id = {c.id: c for c in conditions}
    differential = _differential(kb, net, by_id)
    shared = shared_rule_out(net, main, results[0], post, draws_none)
    mnm = _must_not_miss(kb, net, by_id, observed, shared)
    flags = [m["flag"] for m in mnm if m["above_threshold"] and m["flag"] is not None]
    for m in mnm:
        m.pop("flag")
    sev = severity(kb, case)
    notes = _notes(kb, case, sev, by_id)
    recorded = {f: v for f, v in case.observed_with_side().items() if v != "not_done"}
    implied = net.implied_present(recorded)
    unused = sorted(
        kb.findings[f].name
        for f, v in case.observed().items()
        if v != "not_done" and f not in observed and f in kb.findings and f not in implied
    )
    for fid, listed in sorted(net.implies.items()):
        same = sorted(kb.findings[f].name for f in listed if f in recorded)
        if recorded.get(fid) == "positive" and same:
            notes.append(
                f"{'; '.join(same)}: implied by {lower_first(kb.findings[fid].name)}, the same "
                "observation, so not counted again."
            )
    if unused:
        notes.append(
            "Recorded but not used by the diagnosis model (it gives these no weight): "
            + "; ".join(unused)
            + "."
        )
    nxt = [] if heavy else next_tests(kb, net, case, observed, main, results[0], pretest)
    if heavy:
        notes.append(
            f"{main.n_branches} positive findings with several possible causes: the probabilities "
            "are exact, but their intervals, the finding-by-finding reasons and the next-test "
            "ranking are not computed for so many."
        )
    imaging = imaging_advice(kb, case, flags, by_id, sev, differential)
    referral = referral_advice(kb, case, flags, by_id, sev)
    return Assessment(
        conditions=conditions,
        unranked=[],
        red_flags=flags,
        next_tests=nxt,
        imaging=imaging,
        severity=sev,
        notes=notes,
        versions=kb.versions(),
        method={
            "model": (
                "Bayesian network: nested gluteal-tendon variable, every other condition a "
                "yes/no variable; leaky noisy-OR findings, latent constructs for tests of one "
                "construct, tables for graded imaging findings"
            ),
            "inference": "exact (Quickscore over positive multi-cause findings)",
            "interval": f"2.5th-97.5th percentile over {N_DRAWS} seeded draws of every parameter"
            if with_intervals
            else "not computed",
            "shrinkage": "study values shrunk by their own study size: (x + 0.5) / (n + 1)",
            "setting": case.setting,
            "setting_description": net.setting_descriptions.get(case.setting, ""),
            "findings_used": sum(v != "not_done" for v in observed.values()),
            "network_version": net.version,
        },
        differential=differential,
        must_not_miss=mnm,
        referral=referral,
    )


def _prior_source(
    kb: KnowledgeBase, net: CompiledNetwork, case: Case, cid: str
) -> tuple[str, bool, str | None]:
    """(text, is an assumption, source id) of a condition's prior in the case's setting."""
    if cid in case.pretest:
        return "clinician's pre-test estimate", False, None
    pars = net.prior_params.get(case.setting, {})
    key = cid if cid in pars else ("gtps" if cid in net.states or cid in net.aggregates else cid)
    par = pars.get(key)
    extra = ""
    if case.patient.age_years is not None or case.patient.sex in ("female", "male"):
        extra = "; adjusted for age and sex"
    if par is None:
        return "network prior" + extra, True, None
    setting = case.setting.replace("_", " ")
    if par.is_assumption:
        return f"labelled assumption for the {setting} setting" + extra, True, None
    return (
        f"{short_citation(kb, par.source_id or '')} ({par.locator})" + extra,
        False,
        par.source_id,
    )


def _contributions(
    kb: KnowledgeBase,
    net: CompiledNetwork,
    cid: str,
    observed: Mapping[str, str],
    keys: list[str],
    without: list[dict[str, np.ndarray]],
    p: float,
    unrecorded: tuple[str, ...] = (),
) -> list[Contribution]:
    """One reason per observed finding (``without[j]``: the posteriors with ``keys[j]`` left
    out) and, when ``without`` has one more entry, one for the findings ``unrecorded``."""
    out: list[Contribution] = []
    name = kb.conditions[cid].name
    items: list[tuple[tuple[str, ...], str]] = [((f,), observed[f]) for f in keys]
    if len(without) > len(keys):
        items.append((unrecorded, NOT_RECORDED))
    for j, (fids, value) in enumerate(items):
        p_without = float(without[j][cid][0])
        ratio = None
        if 0 < p < 1 and 0 < p_without < 1:
            ratio = (p / (1 - p)) / (p_without / (1 - p_without))
        # a finding counts when it moves the probability or (near 0 or 1) the odds noticeably
        if abs(p - p_without) < 0.005 and (ratio is None or abs(math.log(ratio)) < 0.1):
            continue
        verb = "raised" if p > p_without else "lowered"
        before, after = _pct_pair(p_without, p)
        if before == after:  # both far below 0.1 %: a movement no percentage shows
            continue
        # "not recorded" rests on the assumed probability that a site is recorded
        src, loc, assumed = (
            _finding_source(net, fids[0], cid) if value != NOT_RECORDED else (None, None, True)
        )
        sentence = (
            f"{_reason_text(kb, fids, value)}: {verb} {name} from {before} to {after}"
            + (
                f" ({short_citation(kb, src)})"
                if src
                else " (labelled assumption)"
                if assumed
                else ""
            )
            + "."
        )
        out.append(
            Contribution(
                fids,
                value,
                True,
                None,
                ratio,
                src,
                loc,
                p_without,
                p,
                sentence,
                assumed,
            )
        )
    out.sort(key=lambda c: -abs(math.log(c.lr_used)) if c.lr_used else 0.0)
    return out


def _pct(p: float) -> str:
    """A percentage with enough digits to show a change near 0 or 100 %."""
    if 0.01 <= p <= 0.99:
        return f"{p:.0%}"
    if 0.001 <= p <= 0.999:
        return f"{p:.1%}"
    return "under 0.1 %" if p < 0.5 else "over 99.9 %"


def _pct_pair(before: float, after: float) -> tuple[str, str]:
    """Two percentages with as many decimals (up to 3) as it takes to show that they differ:
    a small change near 0 reads "from 0.31% to 0.28%", not "from 0.3% to 0.3%"."""
    a, b = _pct(before), _pct(after)
    digits = 1
    while a == b and digits <= 3:
        a, b = f"{before:.{digits}%}", f"{after:.{digits}%}"
        digits += 1
    return a, b


def _finding_source(
    net: CompiledNetwork, fid: str, cid: str
) -> tuple[str | None, str | None, bool]:
    """The source of the number linking a finding to a condition, if any.

    A derived finding (a normal radiograph, a complete pain map) acts through the findings it
    sets absent: it has no source of its own, and is an assumption if any of theirs is.
    """
    if fid in net.expands:
        parts = [_finding_source(net, f, cid) for f in net.expands[fid]]
        return None, None, any(assumed for _, _, assumed in parts)
    fac = net.factors.get(net.member_of.get(fid, fid))
    if fac is not None:
        par = fac.params.get(cid)
        if par is None and cid in net.aggregates:
            states = [net.states[i] for i in net.aggregates[cid]]
            par = next((fac.params[s] for s in states if s in fac.params), None)
        if par is None:
            par = fac.params.get("leak")
        if par is not None:
            return par.source_id, par.locator or None, par.is_assumption
    tab = net.tables.get(fid)
    if tab is not None:
        return tab.param.source_id, tab.param.locator or None, tab.param.is_assumption
    return None, None, False


def _differential(
    kb: KnowledgeBase, net: CompiledNetwork, by_id: Mapping[str, ConditionResult]
) -> list[dict[str, Any]]:
    """Rank the variables: the tendon variable by P(GTPS), labelled with its likeliest state."""
    states = [by_id[s] for s in net.states[1:]]
    best = max(states, key=lambda r: r.probability or 0.0)
    gtps = by_id["gtps"]
    entries = [
        {
            "id": best.id,
            "name": best.name,
            "variable": "gluteal_tendon",
            "probability": _round(gtps.probability),
            "interval": None if gtps.interval is None else [_round(x) for x in gtps.interval],
            "label": f"{gtps.name}: most likely {lower_first(best.name)}",
            "state_probability": _round(best.probability),
            "must_not_miss": False,
        }
    ]
    for cid in net.binaries:
        r = by_id[cid]
        entries.append(
            {
                "id": cid,
                "name": r.name,
                "variable": cid,
                "probability": _round(r.probability),
                "interval": None if r.interval is None else [_round(x) for x in r.interval],
                "label": r.name,
                "state_probability": _round(r.probability),
                "must_not_miss": cid in net.must_not_miss,
            }
        )
    entries.sort(key=_rank_key)
    for i, e in enumerate(entries, start=1):
        e["rank"] = i
    return entries


def _rank_key(entry: Mapping[str, Any]) -> tuple[float, str]:
    return (-float(entry["probability"] or 0.0), str(entry["id"]))


def _must_not_miss(
    kb: KnowledgeBase,
    net: CompiledNetwork,
    by_id: Mapping[str, ConditionResult],
    observed: Mapping[str, str],
    shared: Mapping[str, SharedRuleOut],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    group_of = {c: g for g in shared.values() for c in g.members}

    def own_above(c: str) -> bool:
        return bool((by_id[c].probability or 0.0) >= net.must_not_miss[c].threshold)

    # A group fires when P(any member) reaches its threshold and no member already flags on its
    # own (that member's flag and test stand). It then raises ONE flag, under its most probable
    # member (condition-keyed consumers such as the care pathway need a condition id).
    fires = {
        g.id: g.above_threshold and not any(own_above(c) for c in g.members)
        for g in shared.values()
    }
    lead_of_group = {
        g.id: max(g.members, key=lambda c: by_id[c].probability or 0.0)
        for g in shared.values()
        if fires[g.id]
    }
    for cid, m in net.must_not_miss.items():
        r = by_id[cid]
        p = r.probability or 0.0
        own = own_above(cid)
        group = group_of.get(cid)
        # every member of a group above its threshold is to be ruled out by the shared test
        via_group = group is not None and group.above_threshold and not own
        above = own or via_group
        tests = [
            {
                "id": t,
                "name": kb.findings[t].name,
                "result": observed.get(t, "not done"),
            }
            for t in m.rule_out
        ]
        drivers = [c for c in r.contributions if (c.alone_to or 0) > (c.alone_from or 0)][:3]
        upto = f" (95 % interval up to {percent(r.interval[1], 1)})" if r.interval else ""
        reason = (
            f"probability {percent(p, 1)}{upto} is "
            + ("above" if own else "below")
            + f" its test threshold of {m.threshold:.0%}"
        )
        if drivers:
            reason += "; raised by " + ", ".join(
                lower_first(_reason_text(kb, c.finding_ids, c.value)) for c in drivers
            )
        action = m.action
        urgency = m.urgency
        flag_reason = reason
        if group is not None:
            g_upto = (
                f" (95 % interval up to {percent(group.interval[1], 1)})" if group.interval else ""
            )
            reason += (
                f"; the probability of {group.name} is {percent(group.probability, 1)}{g_upto}, "
                + ("above" if group.above_threshold else "below")
                + f" the {group.threshold:.0%} threshold for the test that rules them out together"
            )
            if own and group.above_threshold:
                names = [lower_first(by_id[c].name) for c in group.members if c != cid]
                others = " and ".join(
                    [", ".join(names[:-1]), names[-1]] if len(names) > 1 else names
                )
                test = group.test.rstrip(".")
                action = (
                    f"{m.action} One test also covers {others} (any of them: "
                    f"{percent(group.probability, 1)}): {test}."
                )
            if via_group:
                action = group.test
                # the group's urgency is its most urgent member's, whatever their probabilities
                urgency = min(
                    (net.must_not_miss[c].urgency for c in group.members),
                    key=urgency_rank,
                )
                parts = ", ".join(
                    f"{by_id[c].name} {percent((by_id[c].probability or 0.0), 1)}"
                    for c in group.members
                )
                flag_reason = (
                    f"probability {percent(group.probability, 1)}{g_upto} is above the "
                    f"{group.threshold:.0%} threshold of the one test that rules them all out; "
                    f"each alone is below its own threshold ({parts}); urgency of its most "
                    "urgent member"
                )
        entry = {
            "id": cid,
            "name": r.name,
            "probability": _round(p),
            "interval": None if r.interval is None else [_round(x) for x in r.interval],
            "threshold": m.threshold,
            "threshold_basis": "labelled assumption: "
            + kb.network.must_not_miss_basis.reason.strip()
            if kb.network is not None
            else "",
            "above_threshold": above,
            "urgency": urgency,
            "action": action,
            "rule_out_tests": tests,
            "reason": reason,
            "sources": [s.id for s in m.sources],
            "shared_rule_out": None
            if group is None
            else {
                "id": group.id,
                "name": group.name,
                "members": list(group.members),
                "probability": _round(group.probability),
                "interval": None if group.interval is None else [_round(x) for x in group.interval],
                "threshold": group.threshold,
                "above_threshold": group.above_threshold,
                "fires": fires[group.id],
                "test": group.test,
            },
        }
        entry["flag"] = None
        if own:
            entry["flag"] = {
                "id": cid,
                "name": r.name,
                "group": None,
                "urgency": urgency,
                "action": action,
                "imaging": action,
                "suspected": [cid],
                "reason": reason,
                "triggers": [c.finding_ids[0] for c in drivers],
                "context_factors": [],
                "sources": [s.id for s in m.sources],
                "probability": _round(p),
                "threshold": m.threshold,
            }
        elif group is not None and lead_of_group.get(group.id) == cid:
            sources = list(
                dict.fromkeys(s.id for c in group.members for s in net.must_not_miss[c].sources)
            )
            entry["flag"] = {
                "id": cid,
                "name": group.name[:1].upper() + group.name[1:],
                "group": group.id,
                "urgency": urgency,
                "action": action,
                "imaging": action,
                "suspected": list(group.members),
                "reason": flag_reason,
                "triggers": [c.finding_ids[0] for c in drivers],
                "context_factors": [],
                "sources": sources,
                "probability": _round(group.probability),
                "threshold": group.threshold,
            }
        out.append(entry)
    out.sort(key=lambda e: (not e["above_threshold"], -(e["probability"] or 0.0)))
    return out


def _notes(
    kb: KnowledgeBase, case: Case, sev: Mapping[str, Any], by_id: Mapping[str, ConditionResult]
) -> list[str]:
    notes: list[str] = []
    for tried in case.treatments_tried:
        if tried.id == "corticosteroid_injection" and tried.response in ("none", "worse"):
            notes.append(
                "No response to a corticosteroid injection: practice guidance says to suspect a "
                "tear or another diagnosis (Australian Therapeutic Guidelines, eTG). No accuracy "
                "figure is published for this, so it changes the imaging advice, not the "
                "probabilities."
            )
            break
    assumed = [c for c in by_id.values() if c.prior_is_assumption and (c.probability or 0) >= 0.1]
    if assumed:
        notes.append(
            "Some pre-test probabilities are labelled assumptions (no published case-mix study): "
            + ", ".join(sorted({c.name for c in assumed}))
            + ". Enter your own estimate as a pre-test probability to override them."
        )
    return notes
