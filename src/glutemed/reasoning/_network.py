"""The diagnosis network compiled to arrays, and exact inference on it.

Model
-----
One categorical variable ``T`` holds the nested gluteal-tendon states (index 0 = none); every
other condition ``B_v`` is a yes/no variable. A priori the variables are independent given the
care setting, age band and sex (priors from the setting, multiplied on the odds scale by the
demographic likelihood ratios). Each finding is a child of the conditions that produce it:

* leaky noisy-OR: ``P(f+ | x) = 1 - (1 - leak) * prod_v q_v(x_v)`` with ``q_v = 1`` for an absent
  parent and ``q_v = (1 - s_v) / (1 - leak)`` for a present one, where ``s_v`` is the knowledge
  base's P(finding | that condition alone) (a sensitivity, or a frequency in case series);
* a latent construct ``L`` (noisy-OR child of its conditions) whose member tests are its
  children: the observed members give ``P(obs | x) = c1 - (c1 - c0) * (1 - leak) * prod_v q_v``,
  with ``c1``/``c0`` the probability of the observed member results when ``L`` is present/absent;
* a single-parent table for ordinal findings.

Every likelihood factor therefore has the form ``alpha + beta * prod_v q_v(x_v)``. A factor with
one parent variable (or ``alpha = 0``) is absorbed into that variable's weights; the others are
summed exactly over their subsets (Heckerman's Quickscore)::

    P(e, x_u) = sum_S prod_{k in S} beta_k prod_{k not in S} alpha_k * prod_v z_v(S)

where ``z_v(S) = sum_x w_v(x) prod_{k in S} q_kv(x)``. The cost is ``2^K`` for ``K`` positive
multi-cause factors, linear in everything else; all cases, parameter draws and evidence variants
are evaluated together as one batch.

References
----------
Heckerman D. A tractable inference algorithm for diagnosing multiple diseases. Proc. Fifth
Conference on Uncertainty in Artificial Intelligence (UAI 1989), 163-171.
Henrion M. Some practical issues in constructing belief networks. UAI 1987 (leaky noisy-OR).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from glutemed.errors import KnowledgeBaseError, Problem
from glutemed.knowledge import (
    AGE_BANDS,
    KnowledgeBase,
    NetParam,
    NetworkSpec,
    Param,
    age_band,
    resolve_param,
)

__all__ = [
    "MAX_BRANCHES",
    "MAX_ENUMERATED",
    "N_DRAWS",
    "CompiledNetwork",
    "Evidence",
    "InferenceResult",
    "compile_network",
    "infer",
    "take_rows",
]

#: Parameter draws for the uncertainty interval (seeded, so results repeat).
N_DRAWS = 256
_SEED = 20_261_201
#: Largest number of positive multi-cause factors summed exactly in one case (2^K terms).
MAX_BRANCHES = 18
#: Largest number of yes/no conditions enumerated jointly when K exceeds MAX_BRANCHES.
MAX_ENUMERATED = 22
#: Widest spread (SD on the logit scale) given to a probability, whatever its n.
_MAX_LOGIT_SD = 1.5
_EPS = 1e-6
#: Rows per Quickscore chunk: about this many elements (rows x 2^K subsets x columns). 1e6
#: (8 MB arrays) rather than 4e6: the intermediate arrays stay in cache and are not page-faulted
#: afresh, which halved the interval draws of an eight-finding case (19.8 -> 10.5 ms) and made
#: a 200,000-case batch 10 % faster at the same peak memory.
_CHUNK_ELEMENTS = 1_000_000
#: Rows still ill-conditioned in extended precision are enumerated exactly only when the
#: factors involve at most this many yes/no conditions (2^12 joint states, about a millisecond).
_MAX_ENUMERATED_REFINE = 12
#: Largest condition number (sum of |terms| / |sum|) accepted from the alternating Quickscore
#: sum in double precision: beyond it about 1e-12 of relative accuracy is no longer assured.
_MAX_CONDITION = 1e4
#: The same limit for the parameter draws of an interval (``infer(fast=True)``). The rounding
#: error of the alternating sum is at most about condition x 2^K x 1.1e-16 (relative to
#: P(evidence)), so at 1e8 a drawn posterior is within 3e-6 for K = 8 and, in the worst case,
#: 3e-3 at the Quickscore limit of K = 18: below the Monte Carlo error of a 2.5th or 97.5th
#: percentile of 256 draws. Rows beyond it are redone in extended precision as before. (At
#: 1e4 most draws of a case with eight multi-cause positive findings were redone in extended
#: precision, which took 80 % of that case's assessment time.)
_MAX_CONDITION_DRAWS = 1e8

FloatArray = NDArray[np.float64]


def _logit(p: FloatArray) -> FloatArray:
    return np.log(p) - np.log1p(-p)


def _point(par: Param, clip: bool = True) -> float:
    """Point estimate: study values shrunk by their study's size, others as stated."""
    v = par.value
    if par.basis == "study" and clip and v <= 1.0:
        v = (v * par.n + 0.5) / (par.n + 1.0)
    return float(v)


def _rng(path: str) -> np.random.Generator:
    """The random stream of one number, seeded by its place in network.yaml.

    Each number draws from its own stream, so adding, removing or reordering other numbers
    leaves its draws (and the intervals that depend only on it) unchanged.
    """
    digest = hashlib.sha256(path.encode("utf-8")).digest()
    return np.random.default_rng([_SEED, int.from_bytes(digest[:8], "little")])


@functools.cache
def _normal_strata(size: int) -> FloatArray:
    """The midpoints of ``size`` equal-probability strata of the standard normal."""
    inv = NormalDist().inv_cdf
    return np.array([inv((j + 0.5) / size) for j in range(size)])


def _standard_normal(rng: np.random.Generator, size: int) -> FloatArray:
    """``size`` standard normal draws, one from each equal-probability stratum in random order.

    A Latin hypercube sample: each number's draws cover its distribution evenly and are paired
    with the other numbers' at random. On the bundled examples the interval bounds then vary
    about 40 % less between random streams (SD of the upper bound 1.5 against 2.5 points over
    six streams) than with independent draws, for the same number of draws and no bias in
    their mean.
    """
    return _normal_strata(size)[rng.permutation(size)]


def _draw_prob(par: Param, rng: np.random.Generator, size: int) -> FloatArray:
    """Point estimate followed by ``size`` draws of a probability (logit-normal)."""
    p = min(max(_point(par), _EPS), 1.0 - _EPS)
    out = np.empty(size + 1)
    out[0] = p
    if par.basis == "logic":
        out[1:] = p
        return out
    sd = min(_MAX_LOGIT_SD, 1.0 / math.sqrt(par.n * p * (1.0 - p)))
    z = math.log(p / (1.0 - p)) + sd * _standard_normal(rng, size)
    out[1:] = 1.0 / (1.0 + np.exp(-z))
    return out


def _draw_ratio(par: Param, rng: np.random.Generator, size: int) -> FloatArray:
    """Point estimate followed by draws of a likelihood ratio (log-normal)."""
    out = np.empty(size + 1)
    out[0] = par.value
    sd = 0.0 if par.basis == "logic" else min(_MAX_LOGIT_SD, 2.0 / math.sqrt(par.n))
    out[1:] = par.value * np.exp(sd * _standard_normal(rng, size))
    return out


@dataclass(frozen=True)
class Factor:
    """One finding's likelihood structure (noisy-OR or latent), with per-draw parameters."""

    finding: str
    kind: str  # "noisy_or" | "latent"
    leak: FloatArray  # (P,)
    q_t: FloatArray  # (P, S) 1 - activation by tendon state; 1 for the 'none' state
    q_b: FloatArray  # (P, B)
    parents_t: bool
    parents_b: tuple[int, ...]
    latent: str = ""
    members: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    params: Mapping[str, Param] = field(default_factory=dict)


@dataclass(frozen=True)
class TableCpd:
    finding: str
    parent: int  # -1 = tendon, else binary index
    levels: tuple[str, ...]
    probs: FloatArray  # (P, levels, S or 2)
    param: Param


@dataclass
class CompiledNetwork:
    """Arrays of the network for one knowledge base (point estimate at index 0, then draws)."""

    version: str
    tendon_id: str
    states: tuple[str, ...]  # including "none" at 0
    aggregates: dict[str, tuple[int, ...]]
    binaries: tuple[str, ...]
    prior_t: dict[str, FloatArray]  # setting -> (P, S)
    prior_b: dict[str, FloatArray]  # setting -> (P, B)
    prior_params: dict[str, dict[str, Param]]
    setting_descriptions: dict[str, str]
    demo_t: dict[str, FloatArray]  # "age:<band>" / "sex:<sex>" -> (P, S)
    demo_b: dict[str, FloatArray]
    #: setting -> (P, S) / (P, B): the factor applied with an age ratio in that setting (see
    #: :func:`_age_rescaling`); 1 in the reference setting and without an age mix
    age_rescale_t: dict[str, FloatArray]
    age_rescale_b: dict[str, FloatArray]
    factors: dict[str, Factor]
    member_of: dict[str, str]  # member finding -> latent id
    tables: dict[str, TableCpd]
    expands: dict[str, tuple[str, ...]]
    #: finding -> the findings it makes certain when recorded present (see :meth:`implied_present`)
    implies: dict[str, tuple[str, ...]]
    #: finding -> the noisy-OR "the finding is recorded" (see :meth:`unrecorded_sites`)
    unrecorded: dict[str, Factor]
    must_not_miss: dict[str, Any]
    n_params: int
    spec: NetworkSpec
    #: (P,) the probability that a finding the patient has is recorded (see :attr:`unrecorded`)
    mention: FloatArray = field(default_factory=lambda: np.zeros(0))
    #: Arrays derived from the network once per process (e.g. the next-test variants).
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_states(self) -> int:
        return len(self.states)

    def index(self, condition: str) -> tuple[str, int]:
        """Return ("t", state index), ("agg", 0) or ("b", binary index) for a condition id."""
        if condition in self.states:
            return "t", self.states.index(condition)
        if condition in self.aggregates:
            return "agg", 0
        return "b", self.binaries.index(condition)

    def implied_absent(self, values: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
        """For each derived finding recorded positive (a normal radiograph, a complete pain map),
        the findings it lists that ``values`` does not record: they count as absent.

        A finding present in ``values`` keeps its value, whatever it is ("not_done" included:
        the reasons use it to leave a finding out without it being filled back in).
        """
        return {
            fid: tuple(f for f in listed if f not in values)
            for fid, listed in self.expands.items()
            if values.get(fid) == "positive"
        }

    def implied_present(self, values: Mapping[str, str]) -> set[str]:
        """The findings that another finding recorded present in ``values`` makes certain (a
        Trendelenburg gait makes the gait abnormal): they carry no evidence of their own."""
        certain = [listed for fid, listed in self.implies.items() if values.get(fid) == "positive"]
        return {f for listed in certain for f in listed}

    def unrecorded_sites(self, values: Mapping[str, str]) -> tuple[str, ...]:
        """The findings of :attr:`unrecorded` that ``values`` leaves out while it records one
        of them present: each is observed "not recorded" (weak evidence of its absence).

        ``values`` is the record with its derived absences filled in and "not_done" kept (a
        finding recorded as not done is not left out).
        """
        if not any(values.get(f) == "positive" for f in self.unrecorded):
            return ()
        return tuple(f for f in self.unrecorded if f not in values)

    def model_findings(self) -> list[str]:
        """Every finding id the network uses."""
        noisy = {f for f, fac in self.factors.items() if fac.kind == "noisy_or"}
        return sorted({*noisy, *self.member_of, *self.tables, *self.expands})


def _state_values(
    causes: Mapping[str, Any],
    block: Any,
    net: NetworkSpec,
    where: str,
) -> tuple[dict[str, Param], dict[str, Param]]:
    """Split causes into tendon-state params and binary params (aggregates spread to states)."""
    aggs = {a.id: a.states for a in net.tendon.aggregates}
    t: dict[str, Param] = {}
    b: dict[str, Param] = {}
    for cid, raw in causes.items():
        par = resolve_param(raw, block, f"{where}.causes.{cid}")
        if cid in aggs:
            for s in aggs[cid]:
                t.setdefault(s, par)
        elif cid in net.tendon.states:
            t[cid] = par
        else:
            b[cid] = par
    for cid, raw in causes.items():  # explicit states win over aggregates
        if cid in net.tendon.states:
            t[cid] = resolve_param(raw, block, f"{where}.causes.{cid}")
    return t, b


def compile_network(kb: KnowledgeBase) -> CompiledNetwork:
    """Compile ``kb.network`` into arrays (seeded parameter draws for the intervals).

    Raises
    ------
    KnowledgeBaseError
        If the knowledge base has no diagnosis network.
    """
    net = kb.network
    if net is None:
        raise KnowledgeBaseError(
            "the knowledge base has no diagnosis network",
            [Problem("network.yaml", "the diagnosis network file", "no network")],
        )
    size = N_DRAWS
    n_p = size + 1
    states = ("none", *net.tendon.states)
    n_s = len(states)
    binaries = tuple(net.conditions)
    n_b = len(binaries)
    bidx = {c: i for i, c in enumerate(binaries)}
    aggregates = {a.id: tuple(states.index(s) for s in a.states) for a in net.tendon.aggregates}

    prior_t: dict[str, FloatArray] = {}
    prior_b: dict[str, FloatArray] = {}
    prior_params: dict[str, dict[str, Param]] = {}
    descriptions: dict[str, str] = {}
    by_setting = {s.setting: s for s in net.settings}
    conditioned: dict[str, tuple[tuple[str, ...], float]] = {}
    for sn in net.settings:
        src = by_setting[sn.same_as] if sn.same_as else sn
        descriptions[sn.setting] = sn.description
        pars = {
            k: resolve_param(v, src, f"settings.{src.setting}.priors.{k}")
            for k, v in src.priors.items()
        }
        split = {
            k: resolve_param(v, src, f"settings.{src.setting}.tendon_split.{k}")
            for k, v in src.tendon_split.items()
        }
        prior_params[sn.setting] = {**pars, **{f"split:{k}": v for k, v in split.items()}}
        at = f"settings.{src.setting}"
        gtps = _draw_prob(pars["gtps"], _rng(f"{at}.priors.gtps"), size)
        af_id = net.tendon.states[-1]
        af = (
            _draw_prob(pars[af_id], _rng(f"{at}.priors.{af_id}"), size)
            if af_id in pars
            else np.zeros(n_p)
        )
        raw_split = np.stack(
            [
                _draw_prob(split[s], _rng(f"{at}.tendon_split.{s}"), size)
                for s in net.tendon.states[:-1]
            ],
            1,
        )
        raw_split /= raw_split.sum(axis=1, keepdims=True)
        pt = np.zeros((n_p, n_s))
        pt[:, 0] = 1.0 - gtps
        # a draw may put the arthroplasty state above P(any tendon state): it is then capped
        # at that draw's P(any tendon state), so no weight is ever negative and the drawn
        # P(no tendon state) is kept
        af = np.minimum(af, gtps)
        pt[:, 1:-1] = (gtps - af)[:, None] * raw_split
        pt[:, -1] = af
        prior_t[sn.setting] = pt
        prior_b[sn.setting] = np.stack(
            [_draw_prob(pars[c], _rng(f"{at}.priors.{c}"), size) for c in binaries], 1
        )
        raw_gtps = src.priors["gtps"]
        if isinstance(raw_gtps, NetParam) and raw_gtps.given:
            conditioned[sn.setting] = (tuple(raw_gtps.given), float(pt[0, 0]))

    demo_t = {f"age:{b}": np.ones((n_p, n_s)) for b, _ in AGE_BANDS}
    demo_t.update({"sex:female": np.ones((n_p, n_s)), "sex:male": np.ones((n_p, n_s))})
    demo_b = {k: np.ones((n_p, n_b)) for k in demo_t}
    for dm in net.demographics:
        targets: list[tuple[str, int]] = []
        if dm.condition in aggregates:
            targets = [("t", i) for i in aggregates[dm.condition]]
        elif dm.condition in states:
            targets = [("t", states.index(dm.condition))]
        else:
            targets = [("b", bidx[dm.condition])]
        for key, table in (("age", dm.age), ("sex", dm.sex)):
            for level, raw in table.items():
                at = f"demographics.{dm.condition}.{key}.{level}"
                par = resolve_param(raw, dm, at)
                draws = _draw_ratio(par, _rng(at), size)
                for kind, i in targets:
                    (demo_t if kind == "t" else demo_b)[f"{key}:{level}"][:, i] *= draws
    age_rescale_t, age_rescale_b = _age_rescaling(net, by_setting, demo_t, demo_b)

    factors: dict[str, Factor] = {}

    def build(
        fid: str, kind: str, block: Any, leak_raw: Any, causes: Mapping[str, Any], where: str
    ) -> tuple[FloatArray, FloatArray, FloatArray, bool, tuple[int, ...], dict[str, Param]]:
        leak_par = resolve_param(leak_raw, block, f"{where}.leak")
        leak = _draw_prob(leak_par, _rng(f"{where}.leak"), size)
        t_pars, b_pars = _state_values(causes, block, net, where)
        q_t = np.ones((n_p, n_s))
        q_b = np.ones((n_p, n_b))
        # A cause's value is P(finding | that condition alone); with the leak this is
        # 1 - (1 - leak) * q, so q = (1 - value) / (1 - leak), at most 1.
        for s, par in t_pars.items():
            q_t[:, states.index(s)] = np.minimum(
                1.0, (1.0 - _draw_prob(par, _rng(f"{where}.causes.{s}"), size)) / (1.0 - leak)
            )
            if par.basis == "logic" and par.value >= 1.0:
                q_t[:, states.index(s)] = 0.0
        for c, par in b_pars.items():
            drawn = _draw_prob(par, _rng(f"{where}.causes.{c}"), size)
            q_b[:, bidx[c]] = np.clip((1.0 - drawn) / (1.0 - leak), 1e-3, 1.0)
        params = {"leak": leak_par, **t_pars, **b_pars}
        return leak, q_t, q_b, bool(t_pars), tuple(sorted(bidx[c] for c in b_pars)), params

    for cf in net.findings:
        leak, q_t, q_b, pt_, pb_, params = build(
            cf.finding, "noisy_or", cf, cf.leak, cf.causes, f"findings.{cf.finding}"
        )
        factors[cf.finding] = Factor(
            cf.finding, "noisy_or", leak, q_t, q_b, pt_, pb_, params=params
        )
    member_of: dict[str, str] = {}
    for la in net.latents:
        leak, q_t, q_b, pt_, pb_, params = build(
            la.id, "latent", la, la.leak, la.causes, f"latents.{la.id}"
        )
        members = {m: (v.if_present, v.if_absent) for m, v in la.members.items()}
        factors[la.id] = Factor(
            la.id, "latent", leak, q_t, q_b, pt_, pb_, latent=la.id, members=members, params=params
        )
        for m in members:
            member_of[m] = la.id
    unrecorded: dict[str, Factor] = {}
    mention = np.zeros((n_p, 1))
    if net.unrecorded is not None:
        # "the finding is recorded": each cause's value and the leak times the probability
        # that a finding the patient has is recorded, drawn with the other parameters
        mention_par = resolve_param(net.unrecorded.mention, net.unrecorded, "unrecorded.mention")
        mention = _draw_prob(mention_par, _rng("unrecorded.mention"), size)[:, None]
        for fid in net.unrecorded.findings:
            fac = factors[fid]
            keep = (1.0 - fac.leak)[:, None]
            leak = mention[:, 0] * fac.leak
            den = (1.0 - leak)[:, None]
            unrecorded[fid] = Factor(
                fid,
                "noisy_or",
                leak,
                (1.0 - mention * (1.0 - keep * fac.q_t)) / den,
                (1.0 - mention * (1.0 - keep * fac.q_b)) / den,
                fac.parents_t,
                fac.parents_b,
                params={"mention": mention_par},
            )
    tables: dict[str, TableCpd] = {}
    for tb in net.tables:
        par = resolve_param(1.0, tb, f"tables.{tb.finding}")
        parent = -1 if tb.parent == net.tendon.id else bidx[tb.parent]
        cols = states if parent == -1 else ("absent", "present")
        base = np.array([tb.rows[c] for c in cols]).T  # (levels, S)
        probs = np.empty((n_p, len(tb.levels), len(cols)))
        probs[0] = base
        conc = max(par.n, 2.0) * 4.0
        rng = _rng(f"tables.{tb.finding}")
        for d in range(1, n_p):
            for j in range(len(cols)):
                probs[d, :, j] = rng.dirichlet(base[:, j] * conc + 0.05)
        tables[tb.finding] = TableCpd(tb.finding, parent, tuple(tb.levels), probs, par)
    mnm = {m.condition: m for m in net.must_not_miss}
    compiled = CompiledNetwork(
        version=net.version,
        tendon_id=net.tendon.id,
        states=states,
        aggregates=aggregates,
        binaries=binaries,
        prior_t=prior_t,
        prior_b=prior_b,
        prior_params=prior_params,
        setting_descriptions=descriptions,
        demo_t=demo_t,
        demo_b=demo_b,
        age_rescale_t=age_rescale_t,
        age_rescale_b=age_rescale_b,
        factors=factors,
        member_of=member_of,
        tables=tables,
        expands={k: tuple(v.negative) for k, v in net.expands.items()},
        implies={k: tuple(v.positive) for k, v in net.implies.items()},
        unrecorded=unrecorded,
        must_not_miss=mnm,
        n_params=n_p,
        spec=net,
        mention=mention[:, 0],
    )
    for setting, (given, p_none) in conditioned.items():
        _condition_gtps_prior(compiled, setting, given, 1.0 - p_none)
    return compiled


def _age_rescaling(
    net: NetworkSpec,
    by_setting: Mapping[str, Any],
    demo_t: Mapping[str, FloatArray],
    demo_b: Mapping[str, FloatArray],
) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """Per setting, the factor that keeps its prior the average over its own age mix.

    The age ratios are those of the reference setting's presenters (``age_mix.reference``). A
    setting's prior is the average over its patients, so in a setting with another age mix the
    ratio for an age band is multiplied by ``mean_ref(ratio) / mean_setting(ratio)`` (means over
    the age bands weighted by each mix, per parameter draw): for a condition of the young, a
    young setting's prior is then not raised a second time by the ratio for youth.
    """
    ones_t = np.ones_like(next(iter(demo_t.values())))
    ones_b = np.ones_like(next(iter(demo_b.values())))
    out_t: dict[str, FloatArray] = {}
    out_b: dict[str, FloatArray] = {}
    mix = net.age_mix

    def mean(demo: Mapping[str, FloatArray], shares: Mapping[Any, float]) -> FloatArray:
        total = np.zeros_like(demo[f"age:{AGE_BANDS[0][0]}"])
        for b, _ in AGE_BANDS:
            total += float(shares[b]) * demo[f"age:{b}"]
        return total

    for sn in net.settings:
        src = by_setting[sn.same_as] if sn.same_as else sn
        shares = None if mix is None else mix.shares.get(src.setting)
        if mix is None or shares is None or src.setting == mix.reference:
            out_t[sn.setting], out_b[sn.setting] = ones_t, ones_b
            continue
        ref = mix.shares[mix.reference]
        out_t[sn.setting] = mean(demo_t, ref) / mean(demo_t, shares)
        out_b[sn.setting] = mean(demo_b, ref) / mean(demo_b, shares)
    return out_t, out_b


def _condition_gtps_prior(
    net: CompiledNetwork, setting: str, given: tuple[str, ...], target: float
) -> None:
    """Solve the unconditional P(GTPS) so that P(GTPS | given findings) equals ``target``.

    The published prior describes people selected by a finding (e.g. Kinsella 2024: people
    reporting lateral hip pain); the network's setting prior describes everyone presenting in
    that setting. Bisection on the prior odds; the same odds ratio is applied to every draw.
    """
    base = net.prior_t[setting].copy()
    obs = dict.fromkeys(given, "positive")

    def gtps_given(p_gtps: float) -> float:
        pt = base.copy()
        rest = pt[:, 1:] / pt[:, 1:].sum(axis=1, keepdims=True)
        pt[:, 0] = 1.0 - p_gtps
        pt[:, 1:] = p_gtps * rest
        net.prior_t[setting] = pt
        # the study's population is defined by those findings alone: nothing else is "not
        # recorded"
        res = infer(prepare(net, setting, None, "unknown", obs, None, 0, ()))
        return float(1.0 - res.post_t[0, 0])

    lo, hi = 1e-4, 1.0 - 1e-4
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if gtps_given(mid) < target:
            lo = mid
        else:
            hi = mid
    solved = 0.5 * (lo + hi)
    ratio = (solved / (1.0 - solved)) / (target / (1.0 - target))
    odds = (1.0 - base[:, 0]) / base[:, 0] * ratio
    p_gtps = odds / (1.0 + odds)
    rest = base[:, 1:] / base[:, 1:].sum(axis=1, keepdims=True)
    pt = base.copy()
    pt[:, 0] = 1.0 - p_gtps
    pt[:, 1:] = p_gtps[:, None] * rest
    net.prior_t[setting] = pt


# --------------------------------------------------------------------------- evidence


@dataclass
class Evidence:
    """One evidence set prepared for inference (all parameter sets stacked on axis 0).

    ``w_t`` (P, S), ``w_b0``/``w_b1`` (P, B): the variables' weights after the priors, the
    demographic ratios and every absorbed factor. ``alpha``/``beta`` (P, K) and ``logq_t``
    (P, K, S), ``logq_b`` (P, K, B): the K factors summed exactly. ``log_const`` (P,): the constant
    factors dropped from the weights (needed for P(evidence)).
    """

    w_t: FloatArray
    w_b0: FloatArray
    w_b1: FloatArray
    alpha: FloatArray
    beta: FloatArray
    logq_t: FloatArray
    logq_b: FloatArray
    log_const: FloatArray
    #: Observed latent constructs: id -> (slot among the K factors or -1 when absorbed or without
    #: parents, c1, c0 of the point estimate). Filled by :func:`prepare` only.
    latents: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    #: The findings observed "not recorded" (absorbed like negatives). Filled by :func:`prepare`.
    unrecorded: tuple[str, ...] = ()

    @property
    def n_branches(self) -> int:
        return int(self.alpha.shape[1])


def prepare(
    net: CompiledNetwork,
    setting: str,
    age_years: float | None,
    sex: str,
    observed: Mapping[str, str],
    pretest: Mapping[str, float] | None = None,
    params: slice | int = slice(None),
    unrecorded: Sequence[str] | None = None,
) -> Evidence:
    """Turn a case's setting, demographics and observed findings into weights and factors.

    ``observed`` maps finding ids to ``"positive"``, ``"negative"``, an ordinal level or
    ``"not_done"`` (no evidence); findings the network does not use are ignored (the caller
    validates ids). ``params`` selects the parameter sets (``0`` = point estimate only,
    ``slice(None)`` = point and every draw). ``unrecorded``: the findings observed "not
    recorded"; by default :meth:`CompiledNetwork.unrecorded_sites` of the record (a caller
    leaving one finding out of a record passes the full record's, so that the comparison
    changes that finding only).
    """
    sel = params if isinstance(params, slice) else slice(params, params + 1)
    pt = net.prior_t[setting][sel].copy()
    pb = net.prior_b[setting][sel].copy()
    mult_t = np.ones_like(pt)
    mult_b = np.ones_like(pb)
    if age_years is not None:
        key = f"age:{age_band(age_years)}"
        mult_t *= net.demo_t[key][sel] * net.age_rescale_t[setting][sel]
        mult_b *= net.demo_b[key][sel] * net.age_rescale_b[setting][sel]
    if sex in ("female", "male"):
        mult_t *= net.demo_t[f"sex:{sex}"][sel]
        mult_b *= net.demo_b[f"sex:{sex}"][sel]
    w_t = pt * mult_t
    w_t /= w_t.sum(axis=1, keepdims=True)
    odds = pb / (1.0 - pb) * mult_b
    w_b1 = odds / (1.0 + odds)
    w_b0 = 1.0 - w_b1
    apply_pretest(net, pretest or {}, w_t, w_b0, w_b1)
    n_p = w_t.shape[0]
    log_const = np.zeros(n_p)
    alphas: list[FloatArray] = []
    betas: list[FloatArray] = []
    lq_t: list[FloatArray] = []
    lq_b: list[FloatArray] = []

    values = dict(observed)
    for implied in net.implied_absent(observed).values():
        values.update(dict.fromkeys(implied, "negative"))
    for implied_fid in net.implied_present(values):
        values.pop(implied_fid, None)  # the same observation as the finding that implies it
    soft = net.unrecorded_sites(values) if unrecorded is None else tuple(unrecorded)
    for fid in soft:
        if fid in values:
            continue
        recorded = net.unrecorded[fid]
        # not recorded: the negative of "the finding is recorded", absorbed exactly
        log_const += np.log(1.0 - recorded.leak[sel])
        w_t = w_t * recorded.q_t[sel]
        w_b1 = w_b1 * recorded.q_b[sel]

    latent_obs: dict[str, list[tuple[str, str]]] = {}
    for fid, val in sorted(values.items()):  # a fixed order: results do not depend on input order
        if val not in ("positive", "negative") and fid not in net.tables:
            continue
        if fid in net.member_of:
            latent_obs.setdefault(net.member_of[fid], []).append((fid, val))
            continue
        tab = net.tables.get(fid)
        if tab is not None:
            if val not in tab.levels:
                continue
            col = tab.probs[sel][:, tab.levels.index(val), :]
            if tab.parent == -1:
                w_t = w_t * col
            else:
                w_b0 = w_b0.copy()
                w_b1 = w_b1.copy()
                w_b0[:, tab.parent] *= col[:, 0]
                w_b1[:, tab.parent] *= col[:, 1]
            continue
        fac = net.factors.get(fid)
        if fac is None or fac.kind != "noisy_or":
            continue
        one_minus_leak = 1.0 - fac.leak[sel]
        if val == "negative":
            # 1 - P(f+ | x) = (1 - leak) prod q: absorbed exactly into every parent
            log_const += np.log(one_minus_leak)
            w_t = w_t * fac.q_t[sel]
            w_b1 = w_b1 * fac.q_b[sel]
            continue
        alpha = np.ones(n_p)
        beta = -one_minus_leak
        w_t, w_b0, w_b1, kept = _absorb_or_keep(fac, sel, alpha, beta, w_t, w_b0, w_b1)
        if kept:
            alphas.append(alpha)
            betas.append(beta)
            lq_t.append(np.log(np.maximum(fac.q_t[sel], 1e-300)))
            lq_b.append(np.log(fac.q_b[sel]))
    latents: dict[str, tuple[int, float, float]] = {}
    for lid, obs in latent_obs.items():
        fac = net.factors[lid]
        c1 = np.ones(n_p)
        c0 = np.ones(n_p)
        for fid, val in obs:
            p1, p0 = fac.members[fid]
            c1 = c1 * (p1 if val == "positive" else 1.0 - p1)
            c0 = c0 * (p0 if val == "positive" else 1.0 - p0)
        alpha = c1
        beta = -(c1 - c0) * (1.0 - fac.leak[sel])
        w_t, w_b0, w_b1, kept = _absorb_or_keep(fac, sel, alpha, beta, w_t, w_b0, w_b1)
        latents[lid] = (len(alphas) if kept else -1, float(c1[0]), float(c0[0]))
        if kept:
            alphas.append(alpha)
            betas.append(beta)
            lq_t.append(np.log(np.maximum(fac.q_t[sel], 1e-300)))
            lq_b.append(np.log(fac.q_b[sel]))
    n_s = w_t.shape[1]
    n_b = w_b1.shape[1]
    k = len(alphas)
    return Evidence(
        w_t=w_t,
        w_b0=w_b0,
        w_b1=w_b1,
        alpha=np.stack(alphas, 1) if k else np.ones((n_p, 0)),
        beta=np.stack(betas, 1) if k else np.ones((n_p, 0)),
        logq_t=np.stack(lq_t, 1) if k else np.zeros((n_p, 0, n_s)),
        logq_b=np.stack(lq_b, 1) if k else np.zeros((n_p, 0, n_b)),
        log_const=log_const,
        latents=latents,
        unrecorded=tuple(f for f in soft if f not in values),
    )


def apply_pretest(
    net: CompiledNetwork,
    pretest: Mapping[str, float],
    w_t: FloatArray,
    w_b0: FloatArray,
    w_b1: FloatArray,
) -> None:
    """Replace priors by a clinician's pre-test estimates, in place.

    A tendon state's estimate sets that state and rescales the others; ``gtps`` sets
    P(any tendon state) and keeps the split between the states.
    """
    for cid, p in pretest.items():
        kind, i = net.index(cid)
        if kind == "b":
            w_b1[:, i] = p
            w_b0[:, i] = 1.0 - p
        elif kind == "agg" and cid == "gtps":
            rest = w_t[:, 1:] / w_t[:, 1:].sum(axis=1, keepdims=True)
            w_t[:, 0] = 1.0 - p
            w_t[:, 1:] = p * rest
        elif kind == "t":
            others = [j for j in range(w_t.shape[1]) if j != i]
            w_t[:, others] *= (1.0 - p) / w_t[:, others].sum(axis=1, keepdims=True)
            w_t[:, i] = p


def _absorb_or_keep(
    fac: Factor,
    sel: slice,
    alpha: FloatArray,
    beta: FloatArray,
    w_t: FloatArray,
    w_b0: FloatArray,
    w_b1: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, bool]:
    """Absorb ``alpha + beta * prod q`` into the weights when it has a single parent variable."""
    n_parents = int(fac.parents_t) + len(fac.parents_b)
    if n_parents == 0:
        return w_t, w_b0, w_b1, False
    if n_parents > 1:
        return w_t, w_b0, w_b1, True
    if fac.parents_t:
        w_t = w_t * (alpha[:, None] + beta[:, None] * fac.q_t[sel])
    else:
        i = fac.parents_b[0]
        w_b0 = w_b0.copy()
        w_b1 = w_b1.copy()
        w_b0[:, i] *= alpha + beta
        w_b1[:, i] *= alpha + beta * fac.q_b[sel][:, i]
    return w_t, w_b0, w_b1, False


# --------------------------------------------------------------------------- inference


@dataclass
class InferenceResult:
    """Posterior marginals for a batch: ``post_t`` (N, S), ``post_b`` (N, B), ``log_pe`` (N,)."""

    post_t: FloatArray
    post_b: FloatArray
    log_pe: FloatArray


_BITS: dict[int, FloatArray] = {}


def _bits(k: int) -> FloatArray:
    if k not in _BITS:
        m = np.arange(2**k)[:, None]
        _BITS[k] = ((m >> np.arange(k)[None, :]) & 1).astype(np.float64)
    return _BITS[k]


def infer(ev: Evidence, *, fast: bool = False) -> InferenceResult:
    """Exact posterior marginals of every variable for a batch with a common K.

    Quickscore (``2^K`` terms) up to :data:`MAX_BRANCHES` factors; beyond that, exact
    enumeration over the tendon states and the yes/no conditions that the factors involve
    (:func:`_infer_enumerate`), which is cheaper when many factors share few causes.

    ``fast=True`` builds the subset terms by doubling (:func:`_quickscore_fast`): the same sum
    to about 1e-13, several times faster, used where results are not compared with a threshold
    (the parameter draws of the intervals). The default keeps the reference arithmetic, so
    that a probability lying exactly on a threshold (a prior of 0.01 against a must-not-miss
    threshold of 0.01) falls on the same side in the single case and the batch as before.

    Raises
    ------
    ValueError
        If both exact methods would exceed their limits (more than :data:`MAX_ENUMERATED`
        conditions involved in more than :data:`MAX_BRANCHES` factors).
    """
    k = ev.n_branches
    if k > MAX_BRANCHES:
        return _infer_enumerate(ev)
    n = ev.w_t.shape[0]
    if k == 0:
        zt = ev.w_t.sum(axis=1)
        zb = ev.w_b0 + ev.w_b1
        log_pe = np.log(zt) + np.log(zb).sum(axis=1) + ev.log_const
        return InferenceResult(ev.w_t / zt[:, None], ev.w_b1 / zb, log_pe)
    bits = _bits(k)
    n_s = ev.w_t.shape[1]
    n_b = ev.w_b1.shape[1]
    step = _chunk_rows(ev)
    post_t = np.empty((n, n_s))
    post_b = np.empty((n, n_b))
    log_pe = np.empty(n)
    cond = np.empty(n)
    for a in range(0, n, step):
        b = min(n, a + step)
        post_t[a:b], post_b[a:b], log_pe[a:b], cond[a:b] = (
            _quickscore_fast(ev, a, b) if fast else _quickscore(ev, a, b, bits, np.float64)
        )
    # The alternating sum loses digits when P(evidence) is tiny next to its terms: such rows are
    # recomputed exactly by enumeration (all terms positive), or in extended precision.
    bad = np.nonzero(~(cond < (_MAX_CONDITION_DRAWS if fast else _MAX_CONDITION)))[0]
    if bad.size:
        # first in extended precision (64-bit mantissa: ~2000 times more headroom), vectorised
        sub = take_rows(ev, bad)
        if fast:
            pt, pb, lp, cd = _quickscore_fast(sub, 0, len(bad), np.longdouble)
        else:
            lbits = bits.astype(np.longdouble)
            pt, pb, lp, cd = _quickscore(sub, 0, len(bad), lbits, np.longdouble)
        post_t[bad], post_b[bad], log_pe[bad] = pt, pb, lp
        for j in np.nonzero(~(cd < _MAX_CONDITION * 2000))[0]:
            one = take_rows(sub, np.array([j]))
            if _coupled(one) > _MAX_ENUMERATED_REFINE:
                continue  # extended precision stands: enumeration would cost too much
            res = _infer_enumerate(one)
            r = bad[j]
            post_t[r], post_b[r], log_pe[r] = res.post_t[0], res.post_b[0], res.log_pe[0]
    np.clip(post_t, 0.0, 1.0, out=post_t)
    np.clip(post_b, 0.0, 1.0, out=post_b)
    return InferenceResult(post_t, post_b, log_pe)


#: stands in for zero in clamped prior weights (exact enumeration takes their logarithms)
ABSENT_WEIGHT = 1e-300


def clamp_absent(ev: Evidence, columns: Sequence[int] | NDArray[np.intp]) -> Evidence:
    """The evidence with the given yes/no conditions' prior weights clamped to (nearly) zero:
    its P(evidence) is then P(evidence, none of them present)."""
    w_b1 = ev.w_b1.copy()
    w_b1[:, list(columns)] = ABSENT_WEIGHT
    return replace(ev, w_b1=w_b1)


def infer_draws_with_absent(
    ev: Evidence, groups: Sequence[Sequence[int]]
) -> tuple[InferenceResult, FloatArray]:
    """``infer(ev, fast=True)`` and, per group of yes/no conditions, log P(evidence, none of
    the group present) for every row, (N, groups), for the parameter draws of an interval.

    Both come from one pass over the subset terms; a row whose sum for a group is
    ill-conditioned (or that needs extended precision or enumeration for the evidence itself)
    gets that group's value as before, from the clamped evidence (:func:`clamp_absent`) on its
    own.
    """
    cols = [np.asarray(g, dtype=np.intp) for g in groups]
    n = ev.w_t.shape[0]
    k = ev.n_branches
    if not cols or k == 0 or k > MAX_BRANCHES:
        res = infer(ev, fast=True)
        none = np.empty((n, len(cols)))
        for gi, g in enumerate(cols):
            none[:, gi] = infer(clamp_absent(ev, g), fast=True).log_pe
        return res, none
    n_s = ev.w_t.shape[1]
    n_b = ev.w_b1.shape[1]
    step = _chunk_rows(ev)
    post_t = np.empty((n, n_s))
    post_b = np.empty((n, n_b))
    log_pe = np.empty(n)
    cond = np.empty(n)
    none = np.empty((n, len(cols)))
    cond_none = np.empty((n, len(cols)))
    for a in range(0, n, step):
        b = min(n, a + step)
        (post_t[a:b], post_b[a:b], log_pe[a:b], cond[a:b], none[a:b], cond_none[a:b]) = (
            _quickscore_fast(ev, a, b, absent=cols)
        )
    bad = np.nonzero(~(cond < _MAX_CONDITION_DRAWS))[0]
    if bad.size:
        redo = infer(take_rows(ev, bad), fast=True)
        post_t[bad], post_b[bad], log_pe[bad] = redo.post_t, redo.post_b, redo.log_pe
        cond_none[bad] = np.inf
    np.clip(post_t, 0.0, 1.0, out=post_t)
    np.clip(post_b, 0.0, 1.0, out=post_b)
    for gi, g in enumerate(cols):
        rows = np.nonzero(~(cond_none[:, gi] < _MAX_CONDITION_DRAWS))[0]
        if rows.size:
            none[rows, gi] = infer(clamp_absent(take_rows(ev, rows), g), fast=True).log_pe
    return InferenceResult(post_t, post_b, log_pe), none


def _chunk_rows(ev: Evidence) -> int:
    """Rows per Quickscore chunk: about :data:`_CHUNK_ELEMENTS` elements each."""
    per_row = (1 << ev.n_branches) * (int(ev.w_t.shape[1]) + 2 * int(ev.w_b1.shape[1]))
    return max(1, _CHUNK_ELEMENTS // per_row)


def _coupled(ev: Evidence) -> int:
    """Number of yes/no conditions that the exact-sum factors of a one-row evidence involve."""
    return int(np.count_nonzero(np.any(ev.logq_b[0] != 0.0, axis=0)))


def take_rows(ev: Evidence, rows: np.ndarray | slice) -> Evidence:
    """The evidence of some rows (parameter sets or cases) of a batch."""
    return Evidence(
        ev.w_t[rows],
        ev.w_b0[rows],
        ev.w_b1[rows],
        ev.alpha[rows],
        ev.beta[rows],
        ev.logq_t[rows],
        ev.logq_b[rows],
        ev.log_const[rows],
        ev.latents,
        ev.unrecorded,
    )


def _subset_products(first: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Products over every subset of the factors, built by doubling.

    ``first`` (n, X) is the value of the empty subset, ``factors`` (n, K, X) the multiplier of
    each factor; returns (n, 2^K, X) where subset ``m`` holds factor ``k`` when bit ``k`` of
    ``m`` is set (the order of :func:`_bits`). 2^K * X products, no logarithms.
    """
    n, k, x = factors.shape
    out = np.empty((n, 1 << k, x), dtype=factors.dtype)
    out[:, 0] = first
    for j in range(k):
        h = 1 << j
        np.multiply(out[:, :h], factors[:, j, None, :], out=out[:, h : 2 * h])
    return out


def _subset_coefficients(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """(n, 2^K): the product of ``beta`` over each subset and of ``alpha`` over the rest."""
    n, k = alpha.shape
    coef = np.empty((n, 1 << k), dtype=alpha.dtype)
    coef[:, 0] = 1.0
    for j in range(k):
        h = 1 << j
        np.multiply(coef[:, :h], beta[:, j, None], out=coef[:, h : 2 * h])
        coef[:, :h] *= alpha[:, j, None]
    return coef


def _coupled_columns(logq_b: FloatArray) -> NDArray[np.intp]:
    """The yes/no conditions that some exact-sum factor involves (for any row)."""
    return np.nonzero(np.any(logq_b != 0.0, axis=(0, 1)))[0]


def _quickscore_fast(
    ev: Evidence,
    a: int,
    b: int,
    dtype: Any = np.float64,
    absent: Sequence[NDArray[np.intp]] = (),
) -> tuple[FloatArray, ...]:
    """Quickscore for rows a:b by doubling (see :func:`infer`); the sum of :func:`_quickscore`
    to about 1e-13.

    With ``absent`` (groups of yes/no condition columns) it also returns, from the same subset
    terms, log P(evidence, no condition of the group present) and that sum's condition number,
    each (n, groups): a group's conditions contribute their "absent" weight to every term.

    ``P(e) = sum_S prod_{k in S} beta_k prod_{k not in S} alpha_k * z_T(S) * prod_v z_v(S)``.
    The subset terms are built by doubling (products of the factors' q, no logarithms), and
    the yes/no conditions that no factor involves are taken out of the sum: their weight is the
    same in every term, so their posterior is their weight and they enter P(evidence) as one
    constant. ``dtype`` np.longdouble gives the extended-precision pass.
    """
    w_t = ev.w_t[a:b].astype(dtype)
    w_b0 = ev.w_b0[a:b].astype(dtype)
    w_b1 = ev.w_b1[a:b].astype(dtype)
    used = _coupled_columns(ev.logq_b[a:b])
    et = _subset_products(w_t, np.exp(ev.logq_t[a:b].astype(dtype)))  # (n, m, S)
    eb = _subset_products(w_b1[:, used], np.exp(ev.logq_b[a:b][:, :, used].astype(dtype)))
    coef = _subset_coefficients(ev.alpha[a:b].astype(dtype), ev.beta[a:b].astype(dtype))
    zb = w_b0[:, None, used] + eb  # (n, m, U)
    g = coef * np.prod(zb, axis=2)  # (n, m)
    terms = g * et.sum(axis=2)
    total = terms.sum(axis=1)
    cond = np.abs(terms).sum(axis=1) / np.abs(total)
    safe = np.where(total > 0, total, np.nan)
    num_t = np.matmul(g[:, None, :], et)[:, 0]
    post_b = w_b1 / (w_b0 + w_b1)
    free = np.ones(w_b0.shape[1], dtype=bool)
    free[used] = False
    log_free = np.log(w_b0[:, free] + w_b1[:, free]).sum(axis=1)
    extra: list[FloatArray] = []
    if absent:
        position = {int(c): j for j, c in enumerate(used)}
        log_none = np.empty((b - a, len(absent)))
        cond_none = np.empty((b - a, len(absent)))
        for gi, cols in enumerate(absent):
            inside = [position[int(c)] for c in cols if int(c) in position]
            outside = [int(c) for c in cols if int(c) not in position]
            terms_g = terms
            if inside:
                terms_g = terms * np.prod(w_b0[:, None, used[inside]] / zb[:, :, inside], axis=2)
            total_g = terms_g.sum(axis=1)
            cond_none[:, gi] = (np.abs(terms_g).sum(axis=1) / np.abs(total_g)).astype(np.float64)
            safe_g = np.where(total_g > 0, total_g, np.nan)
            free_g = log_free - np.log(w_b0[:, outside] + w_b1[:, outside]).sum(axis=1)
            free_g = free_g + np.log(w_b0[:, outside]).sum(axis=1)
            log_none[:, gi] = (np.log(safe_g) + free_g + ev.log_const[a:b]).astype(np.float64)
        extra = [log_none, cond_none]
    if used.size:
        eb /= zb
        post_b[:, used] = np.matmul(terms[:, None, :], eb)[:, 0] / safe[:, None]
    return (
        (num_t / safe[:, None]).astype(np.float64),
        post_b.astype(np.float64),
        (np.log(np.abs(safe)) + log_free + ev.log_const[a:b]).astype(np.float64),
        cond.astype(np.float64),
        *extra,
    )


def _quickscore(
    ev: Evidence, a: int, b: int, bits: np.ndarray, dtype: Any
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Quickscore for rows a:b: posteriors, log P(evidence) and the sum's condition number."""
    lt = np.einsum("mk,nks->nms", bits, ev.logq_t[a:b].astype(dtype))  # (n, m, S)
    lb = np.einsum("mk,nkb->nmb", bits, ev.logq_b[a:b].astype(dtype))  # (n, m, B)
    # coefficient of each subset: prod beta over S, prod alpha over the rest
    al = ev.alpha[a:b].astype(dtype)[:, None, :]
    be = ev.beta[a:b].astype(dtype)[:, None, :]
    coef = np.prod(np.where(bits[None] > 0, be, al), axis=2)  # (n, m)
    et = ev.w_t[a:b].astype(dtype)[:, None, :] * np.exp(lt)  # (n, m, S)
    zt = et.sum(axis=2)  # (n, m)
    eb = ev.w_b1[a:b].astype(dtype)[:, None, :] * np.exp(lb)  # (n, m, B)
    zb = ev.w_b0[a:b].astype(dtype)[:, None, :] + eb  # (n, m, B)
    prod_b = np.prod(zb, axis=2)  # (n, m)
    terms = coef * zt * prod_b
    total = terms.sum(axis=1)  # (n,)
    cond = np.abs(terms).sum(axis=1) / np.abs(total)
    num_t = np.einsum("nm,nms->ns", coef * prod_b, et)
    num_b = np.einsum("nm,nmb->nb", terms, eb / zb)
    safe = np.where(total > 0, total, np.nan)
    return (
        (num_t / safe[:, None]).astype(np.float64),
        (num_b / safe[:, None]).astype(np.float64),
        (np.log(np.abs(safe)) + ev.log_const[a:b]).astype(np.float64),
        cond.astype(np.float64),
    )


def _infer_enumerate(ev: Evidence) -> InferenceResult:
    """Exact marginals by enumerating the conditions coupled by the exact-sum factors.

    The yes/no conditions that no factor involves stay independent (their weights are their
    posteriors); the others (set U) are enumerated jointly with the tendon variable, in chunks.
    """
    n, n_s = ev.w_t.shape
    n_b = ev.w_b1.shape[1]
    post_t = np.empty((n, n_s))
    post_b = np.empty((n, n_b))
    log_pe = np.empty(n)
    for r in range(n):
        lq_b = ev.logq_b[r]  # (K, B)
        lq_t = ev.logq_t[r]  # (K, S)
        used = np.nonzero(np.any(lq_b != 0.0, axis=0))[0]
        u = len(used)
        if u > MAX_ENUMERATED:
            raise ValueError(
                f"{ev.n_branches} positive findings with several causes involve {u} conditions: "
                f"beyond the exact limits ({MAX_BRANCHES} findings or {MAX_ENUMERATED} conditions)"
            )
        alpha, beta = ev.alpha[r], ev.beta[r]
        w0, w1 = ev.w_b0[r], ev.w_b1[r]
        acc_t = np.zeros(n_s)
        acc_b = np.zeros(u)
        total = 0.0
        step = 1 << min(u, 16)
        for start in range(0, 1 << u, step):
            codes = np.arange(start, min(start + step, 1 << u))
            x = ((codes[:, None] >> np.arange(u)[None, :]) & 1).astype(np.float64)  # (C, U)
            log_w = (x * np.log(w1[used]) + (1 - x) * np.log(w0[used])).sum(axis=1)  # (C,)
            lq = x @ lq_b[:, used].T  # (C, K)
            # factor product for every (config, tendon state): (C, S)
            fac = np.ones((len(codes), n_s))
            for k in range(ev.n_branches):
                fac *= alpha[k] + beta[k] * np.exp(lq[:, k : k + 1] + lq_t[k][None, :])
            joint = np.exp(log_w)[:, None] * ev.w_t[r][None, :] * fac  # (C, S)
            total += float(joint.sum())
            acc_t += joint.sum(axis=0)
            acc_b += (x * joint.sum(axis=1, keepdims=True)).sum(axis=0)
        rest = np.ones(n_b, dtype=bool)
        rest[used] = False
        zb_rest = (w0 + w1)[rest]
        post_t[r] = acc_t / total
        post_b[r] = w1 / (w0 + w1)
        post_b[r, used] = acc_b / total
        log_pe[r] = np.log(total) + np.log(zb_rest).sum() + ev.log_const[r]
    np.clip(post_t, 0.0, 1.0, out=post_t)
    np.clip(post_b, 0.0, 1.0, out=post_b)
    return InferenceResult(post_t, post_b, log_pe)


def stack(evidences: Sequence[Evidence]) -> Evidence:
    """Stack evidence sets with the same K into one batch."""
    return Evidence(
        w_t=np.concatenate([e.w_t for e in evidences]),
        w_b0=np.concatenate([e.w_b0 for e in evidences]),
        w_b1=np.concatenate([e.w_b1 for e in evidences]),
        alpha=np.concatenate([e.alpha for e in evidences]),
        beta=np.concatenate([e.beta for e in evidences]),
        logq_t=np.concatenate([e.logq_t for e in evidences]),
        logq_b=np.concatenate([e.logq_b for e in evidences]),
        log_const=np.concatenate([e.log_const for e in evidences]),
    )


def infer_many(evidences: Sequence[Evidence], *, fast: bool = False) -> list[InferenceResult]:
    """Infer every evidence set, batching those with the same K; results in input order.

    ``fast`` as in :func:`infer` (the doubling sum, for results not compared with a threshold).
    """
    groups: dict[int, list[int]] = {}
    for i, e in enumerate(evidences):
        groups.setdefault(e.n_branches, []).append(i)
    out: list[InferenceResult | None] = [None] * len(evidences)
    for idx in groups.values():
        res = infer(stack([evidences[i] for i in idx]), fast=fast)
        row = 0
        for i in idx:
            n = evidences[i].w_t.shape[0]
            out[i] = InferenceResult(
                res.post_t[row : row + n], res.post_b[row : row + n], res.log_pe[row : row + n]
            )
            row += n
    return [r for r in out if r is not None]


def extend(net: CompiledNetwork, ev: Evidence, fid: str, val: str) -> Evidence | None:
    """Return the point-estimate evidence ``ev`` with one more noisy-OR finding, or None.

    Cheaper than :func:`prepare` for the next-test variants; None when the finding is not a
    noisy-OR factor (latent members and tables go through :func:`prepare`).
    """
    fac = net.factors.get(fid)
    if fac is None or fac.kind != "noisy_or" or val not in ("positive", "negative"):
        return None
    sel = slice(0, 1)
    one_minus_leak = 1.0 - fac.leak[sel]
    if val == "negative":
        return Evidence(
            ev.w_t * fac.q_t[sel],
            ev.w_b0,
            ev.w_b1 * fac.q_b[sel],
            ev.alpha,
            ev.beta,
            ev.logq_t,
            ev.logq_b,
            ev.log_const + np.log(one_minus_leak),
        )
    alpha = np.ones(1)
    beta = -one_minus_leak
    w_t, w_b0, w_b1, kept = _absorb_or_keep(fac, sel, alpha, beta, ev.w_t, ev.w_b0, ev.w_b1)
    if not kept:
        return Evidence(w_t, w_b0, w_b1, ev.alpha, ev.beta, ev.logq_t, ev.logq_b, ev.log_const)
    return Evidence(
        w_t,
        w_b0,
        w_b1,
        np.concatenate([ev.alpha, alpha[:, None]], axis=1),
        np.concatenate([ev.beta, beta[:, None]], axis=1),
        np.concatenate([ev.logq_t, np.log(np.maximum(fac.q_t[sel], 1e-300))[:, None, :]], axis=1),
        np.concatenate([ev.logq_b, np.log(fac.q_b[sel])[:, None, :]], axis=1),
        ev.log_const,
    )


# --------------------------------------------------------------------------- reweighted variants


@dataclass
class Variants:
    """Evidence variants of one evidence row that keep its K exact-sum factors.

    Each variant is ``coef[0] * A + coef[1] * B`` of two reweightings A and B of the row: a
    reweighting multiplies the tendon weights by ``mt`` (S,), the yes/no weights by ``m0`` /
    ``m1`` (B,) and the term of each subset by ``scale`` (2^K,). This covers one more finding:
    a negative finding, a positive single-cause finding and a changed latent factor are
    reweightings; a new positive multi-cause factor ``alpha + beta * prod q`` is
    ``alpha * (row) + beta * (row reweighted by q)``. ``log_add`` is the constant factor dropped
    from the weights (as ``Evidence.log_const``).
    """

    mt: FloatArray  # (V, 2, S)
    m0: FloatArray  # (V, 2, B)
    m1: FloatArray  # (V, 2, B)
    scale: FloatArray  # (V, 2, 2^K)
    coef: FloatArray  # (V, 2)
    log_add: FloatArray  # (V,)

    def take(self, rows: NDArray[np.intp]) -> Variants:
        """The variants of some rows."""
        return Variants(
            self.mt[rows],
            self.m0[rows],
            self.m1[rows],
            self.scale[rows],
            self.coef[rows],
            self.log_add[rows],
        )


#: Above this many elements (variants x subsets x involved columns) the reweighted columns
#: are handled column by column, below it all at once.
_DENSE_VARIANT_ELEMENTS = 200_000


def score_variants(
    ev: Evidence, var: Variants, dtype: Any = np.float64
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Posteriors of evidence variants from the Quickscore terms of one evidence row.

    The row's subset terms are computed once; a variant then costs 2^K * (S + C) products
    (C = the reweighted yes/no columns that the factors involve) instead of a Quickscore of its
    own; a reweighted column that no factor involves has the same weight in every term and
    costs one product. Returns ``post_t`` (V, S), ``post_b`` (V, B), ``log_pe`` (V,) and the
    condition number of each variant's alternating sum (the caller recomputes ill-conditioned
    variants in extended precision, ``dtype=np.longdouble``, or exactly).
    """
    k = ev.n_branches
    used = _coupled_columns(ev.logq_b[:1])
    free = np.ones(ev.w_b0.shape[1], dtype=bool)
    free[used] = False
    w_t = ev.w_t[0].astype(dtype)
    w_b0 = ev.w_b0[0].astype(dtype)
    w_b1 = ev.w_b1[0].astype(dtype)
    et = _subset_products(w_t[None], np.exp(ev.logq_t[:1].astype(dtype)))[0]  # (M, S)
    ebt = np.ascontiguousarray(  # (U, M)
        _subset_products(w_b1[None, used], np.exp(ev.logq_b[:1, :, used].astype(dtype)))[0].T
    )
    coef = _subset_coefficients(ev.alpha[:1].astype(dtype), ev.beta[:1].astype(dtype))[0]
    zbt = w_b0[used, None] + ebt
    v = var.mt.shape[0]
    mt = var.mt.astype(dtype).reshape(2 * v, -1)
    m0 = var.m0.astype(dtype).reshape(2 * v, -1)
    m1 = var.m1.astype(dtype).reshape(2 * v, -1)
    # the columns no factor involves: one factor per variant, posterior m1 w1 / (m0 w0 + m1 w1)
    z_new = m0[:, free] * w_b0[free] + m1[:, free] * w_b1[free]
    scal = np.prod(z_new / (w_b0[free] + w_b1[free]), axis=1)  # (2V,)
    h = (coef * np.prod(zbt, axis=0))[None, :] * var.scale.astype(dtype).reshape(2 * v, -1)
    h *= scal[:, None]
    # the columns the factors involve: per subset, for the variants that reweight them
    u0, u1 = m0[:, used], m1[:, used]
    ratios: list[tuple[Any, int, np.ndarray]] = []
    is_dense = 2 * v * used.size * (1 << k) <= _DENSE_VARIANT_ELEMENTS
    if is_dense:
        zb_new = u0[:, :, None] * w_b0[used][None, :, None] + u1[:, :, None] * ebt[None]
        h *= np.prod(zb_new / zbt[None], axis=1)
        dense = u1[:, :, None] * ebt[None] / zb_new  # (2V, U, M)
    else:
        for j in range(used.size):
            rows = np.nonzero((u0[:, j] != 1.0) | (u1[:, j] != 1.0))[0]
            if not rows.size:
                continue
            zb_j = u0[rows, j, None] * w_b0[used[j]] + u1[rows, j, None] * ebt[j]
            h[rows] *= zb_j / zbt[j]
            ratios.append((rows, j, u1[rows, j, None] * ebt[j] / zb_j))
    terms = h * (mt @ et.T)
    sums = terms.sum(axis=1)
    num_t = (h @ et) * mt
    num_b = np.empty((2 * v, w_b0.shape[0]), dtype=dtype)
    num_b[:, free] = sums[:, None] * m1[:, free] * w_b1[free] / z_new
    if used.size and is_dense:
        num_b[:, used] = (terms[:, None, :] * dense).sum(axis=2)
    elif used.size:
        num_b[:, used] = terms @ (ebt / zbt).T
        for rows, j, ratio in ratios:
            num_b[rows, used[j]] = (terms[rows] * ratio).sum(axis=1)
    c2 = var.coef.astype(dtype)
    total = (c2 * sums.reshape(v, 2)).sum(axis=1)
    abs_sum = (np.abs(c2) * np.abs(terms).sum(axis=1).reshape(v, 2)).sum(axis=1)
    num_t = (c2[:, :, None] * num_t.reshape(v, 2, -1)).sum(axis=1)
    num_b = (c2[:, :, None] * num_b.reshape(v, 2, -1)).sum(axis=1)
    safe = np.where(total > 0, total, np.nan)
    post_t = np.clip((num_t / safe[:, None]).astype(np.float64), 0.0, 1.0)
    post_b = np.clip((num_b / safe[:, None]).astype(np.float64), 0.0, 1.0)
    log_free = np.log(w_b0[free] + w_b1[free]).sum()
    log_pe = (np.log(np.abs(safe)) + log_free + ev.log_const[0] + var.log_add).astype(np.float64)
    return post_t, post_b, log_pe, (abs_sum / np.abs(total)).astype(np.float64)
