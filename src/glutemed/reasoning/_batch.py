"""Vectorised posteriors for many cases at once (point estimates; no intervals or explanations).

The same network and the same exact inference as :func:`glutemed.reasoning.assess`, with the
evidence of many cases assembled as array operations: findings are encoded as a matrix of +1
(positive), -1 (negative) and 0 (not recorded), ordinal findings as level codes. Negative
noisy-OR findings and single-parent positives are absorbed by matrix products; positive
multi-cause findings and multi-cause latent constructs become the exact-sum factors, with the
cases grouped by their number of such factors. A test checks that both paths agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from glutemed.knowledge import AGE_BANDS, KnowledgeBase
from glutemed.reasoning._network import CompiledNetwork, Evidence, clamp_absent, infer, take_rows
from glutemed.reasoning._shared import any_present, group_columns

__all__ = ["BatchModel", "build_batch_model"]

FloatArray = NDArray[np.float64]

#: Code of a finding observed "not recorded" in the value matrix
#: (:meth:`CompiledNetwork.unrecorded_sites`).
NOT_RECORDED = -2


@dataclass(frozen=True)
class BatchModel:
    """Point-estimate arrays of the network for one knowledge base.

    ``finding_ids`` are the columns of the value matrix; ``conditions`` the output columns
    (tendon states, tendon aggregates, yes/no conditions).
    """

    net: CompiledNetwork
    finding_ids: tuple[str, ...]
    conditions: tuple[str, ...]
    ordinal_levels: dict[str, tuple[str, ...]]
    tables: _Tables

    def encode(self, rows: Sequence[dict[str, str]]) -> NDArray[np.int8]:
        """Encode finding values (``positive``/``negative``/level) as the value matrix."""
        col = {f: i for i, f in enumerate(self.finding_ids)}
        out = np.zeros((len(rows), len(self.finding_ids)), dtype=np.int8)
        for r, row in enumerate(rows):
            # "not done" is not recorded: a derived finding sets it absent, as in the single case
            values = {f: v for f, v in row.items() if v != "not_done"}
            for implied in self.net.implied_absent(values).values():
                values.update(dict.fromkeys(implied, "negative"))
            for implied_fid in self.net.implied_present(values):
                values.pop(implied_fid, None)  # made certain by another: no evidence of its own
            # ... but it is not left out of the record either
            kept = {**{f: v for f, v in row.items() if v == "not_done"}, **values}
            for fid in self.net.unrecorded_sites(kept):
                j = col.get(fid)
                if j is not None:
                    out[r, j] = NOT_RECORDED
            for fid, val in values.items():
                j = col.get(fid)
                if j is None:
                    continue
                levels = self.ordinal_levels.get(fid)
                if levels is not None:
                    if val in levels:
                        out[r, j] = levels.index(val) + 1
                elif val == "positive":
                    out[r, j] = 1
                elif val == "negative":
                    out[r, j] = -1
        return out

    def encode_columns(self, columns: dict[str, Sequence[str]], n: int) -> NDArray[np.int8]:
        """Encode table columns (finding id -> text values, "" when not recorded), vectorised.

        The same codes as :meth:`encode`; a derived finding (a normal radiograph, a complete pain
        map) sets its listed findings negative where they are not recorded.
        """
        codes: dict[str, NDArray[np.int8]] = {}
        not_done: dict[str, NDArray[np.bool_]] = {}
        for fid, v in columns.items():
            vals = np.char.strip(np.asarray(v, dtype=object).astype(str).astype("U"))
            not_done[fid] = vals == "not_done"
            code = np.zeros(n, dtype=np.int8)
            levels = self.ordinal_levels.get(fid)
            if levels is not None:
                for k, level in enumerate(levels):
                    code[vals == level] = k + 1
            else:
                code[vals == "positive"] = 1
                code[vals == "negative"] = -1
            codes[fid] = code
        return self.encode_codes(codes, n, not_done)

    def encode_codes(
        self,
        codes: Mapping[str, NDArray[np.int8]],
        n: int,
        not_done: Mapping[str, NDArray[np.bool_]] | None = None,
    ) -> NDArray[np.int8]:
        """Place per-column codes (+1 / -1 / 0, ordinal level index + 1) into the value matrix.

        Columns the network does not use are ignored; a positive derived finding (a normal
        radiograph, a complete pain map) sets its listed findings negative where they are not
        recorded. Then the findings whose absence from a record is evidence
        (:meth:`CompiledNetwork.unrecorded_sites`) get :data:`NOT_RECORDED` where another of
        them is positive and they are neither recorded nor, by ``not_done`` (finding id -> rows
        recorded "not done"), not done.
        """
        out = np.zeros((n, len(self.finding_ids)), dtype=np.int8)
        col = {f: i for i, f in enumerate(self.finding_ids)}
        for fid, code in codes.items():
            j = col.get(fid)
            if j is not None:
                out[:, j] = code
        for fid, extra in self.net.expands.items():
            if fid not in codes:
                continue
            normal = codes[fid] == 1
            for neg in extra:
                j = col[neg]
                out[normal & (out[:, j] == 0), j] = -1
        for fid, listed in self.net.implies.items():
            if fid not in codes or fid not in col:
                continue
            certain = out[:, col[fid]] == 1
            for implied in listed:
                out[certain, col[implied]] = 0  # made certain by another: no evidence of its own
        sites = [col[f] for f in self.net.unrecorded]
        if sites:
            described = (out[:, sites] == 1).any(axis=1)
            for fid, j in zip(self.net.unrecorded, sites, strict=True):
                left_out = described & (out[:, j] == 0)
                if not_done is not None and fid in not_done:
                    left_out &= ~not_done[fid]
                out[left_out, j] = NOT_RECORDED
        return out

    def posteriors(
        self,
        values: NDArray[np.int8],
        setting: str | Sequence[str] | NDArray[np.object_],
        age_years: NDArray[np.float64] | None = None,
        sex: Sequence[str] | NDArray[np.object_] | None = None,
        chunk: int = 50_000,
        pretest: Sequence[dict[str, float]] | None = None,
    ) -> FloatArray:
        """Return an ``(n_cases, n_conditions)`` array of post-test probabilities.

        Parameters
        ----------
        values
            ``(n_cases, n_findings)`` int8 matrix in the order of :attr:`finding_ids`: +1
            positive, -1 negative, 0 not recorded; ordinal findings hold level index + 1.
        setting
            One care setting for all cases, or one per case.
        age_years, sex
            Per-case demographics (NaN / "unknown" when not recorded).
        pretest
            Per-case clinician's pre-test estimates (condition id -> probability), or None.
        chunk
            Rows processed at a time (bounds memory).
        """
        return self._run(values, setting, age_years, sex, chunk, pretest, shared=False)[0]

    def posteriors_and_shared(
        self,
        values: NDArray[np.int8],
        setting: str | Sequence[str] | NDArray[np.object_],
        age_years: NDArray[np.float64] | None = None,
        sex: Sequence[str] | NDArray[np.object_] | None = None,
        chunk: int = 50_000,
        pretest: Sequence[dict[str, float]] | None = None,
    ) -> tuple[FloatArray, NDArray[np.bool_]]:
        """:meth:`posteriors`, and for each group of :attr:`shared_groups` whether P(at least one
        member) reaches the group's threshold (``(n_cases, n_groups)`` booleans), as in
        :func:`glutemed.reasoning.assess`. The exact probability is computed only for rows
        where the members' sum reaches the threshold (below it, P(any) cannot)."""
        return self._run(values, setting, age_years, sex, chunk, pretest, shared=True)

    def _run(
        self,
        values: NDArray[np.int8],
        setting: str | Sequence[str] | NDArray[np.object_],
        age_years: NDArray[np.float64] | None,
        sex: Sequence[str] | NDArray[np.object_] | None,
        chunk: int,
        pretest: Sequence[dict[str, float]] | None,
        *,
        shared: bool,
    ) -> tuple[FloatArray, NDArray[np.bool_]]:
        n = values.shape[0]
        settings = np.full(n, setting, dtype=object) if isinstance(setting, str) else setting
        ages = np.full(n, np.nan) if age_years is None else np.asarray(age_years, dtype=float)
        sexes = np.full(n, "unknown", dtype=object) if sex is None else sex
        out = np.empty((n, len(self.conditions)))
        flags = np.zeros((n, len(self.shared_groups)), dtype=bool)
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            pre = None if pretest is None else list(pretest[a:b])
            out[a:b] = self._block(
                values[a:b],
                settings[a:b],
                ages[a:b],
                sexes[a:b],
                pre,
                flags[a:b] if shared else None,
            )
        return out, flags

    @property
    def shared_groups(self) -> tuple[tuple[str, tuple[int, ...], float], ...]:
        """(group id, member positions among the yes/no conditions, threshold) per group."""
        return tuple(
            (g.id, tuple(cols), g.threshold)
            for g, cols in zip(self.net.spec.shared_rule_out, group_columns(self.net), strict=True)
        )

    # ------------------------------------------------------------------ internals

    def _block(
        self,
        v: NDArray[np.int8],
        settings: Sequence[str] | NDArray[np.object_],
        ages: FloatArray,
        sexes: Sequence[str] | NDArray[np.object_],
        pretest: Sequence[dict[str, float]] | None,
        shared_out: NDArray[np.bool_] | None = None,
    ) -> FloatArray:
        net = self.net
        groups = self.shared_groups
        n = v.shape[0]
        n_s = net.n_states
        n_b = len(net.binaries)
        pt = np.empty((n, n_s))
        pb = np.empty((n, n_b))
        setting_of = np.asarray(settings, dtype=object)
        for s in set(setting_of.tolist()):
            rows = setting_of == s
            pt[rows] = net.prior_t[s][0]
            pb[rows] = net.prior_b[s][0]
        mult_t = np.ones((n, n_s))
        mult_b = np.ones((n, n_b))
        bands = np.full(n, -1)
        for i, (_, lower) in enumerate(AGE_BANDS):
            bands[ages >= lower] = i
        for i, (name, _) in enumerate(AGE_BANDS):
            rows = bands == i
            mult_t[rows] *= net.demo_t[f"age:{name}"][0]
            mult_b[rows] *= net.demo_b[f"age:{name}"][0]
        for s in set(setting_of.tolist()):
            rows = (setting_of == s) & (bands >= 0)
            mult_t[rows] *= net.age_rescale_t[s][0]
            mult_b[rows] *= net.age_rescale_b[s][0]
        sex_of = np.asarray(sexes, dtype=object)
        for sx in ("female", "male"):
            rows = sex_of == sx
            mult_t[rows] *= net.demo_t[f"sex:{sx}"][0]
            mult_b[rows] *= net.demo_b[f"sex:{sx}"][0]
        w_t = pt * mult_t
        w_t /= w_t.sum(axis=1, keepdims=True)
        odds = pb / (1.0 - pb) * mult_b
        w_b1 = odds / (1.0 + odds)
        w_b0 = 1.0 - w_b1
        for r, pre in enumerate(pretest or []):
            if pre:
                _apply_pretest(net, pre, w_t[r : r + 1], w_b0[r : r + 1], w_b1[r : r + 1])
        log_wt = np.log(np.maximum(w_t, 1e-300))
        log_b0 = np.log(w_b0)
        log_b1 = np.log(w_b1)

        t = self.tables
        neg = (v[:, t.cols] == -1).astype(np.float64)
        pos = (v[:, t.cols] == 1).astype(np.float64)
        log_wt += neg @ t.lq_t
        log_b1 += neg @ t.lq_b
        soft = (v[:, t.soft_cols] == NOT_RECORDED).astype(np.float64)
        log_wt += soft @ t.soft_lq_t
        log_b1 += soft @ t.soft_lq_b
        log_wt += pos[:, t.single_t] @ t.lp_t
        log_b0 += pos[:, t.single_b] @ t.lp_b0
        log_b1 += pos[:, t.single_b] @ t.lp_b1
        for j, parent, probs in t.tables.values():
            codes = v[:, j].astype(int)
            rows = codes > 0
            if not rows.any():
                continue
            col = probs[codes[rows] - 1]  # (r, S or 2)
            if parent == -1:
                log_wt[rows] += np.log(col)
            else:
                log_b0[rows, parent] += np.log(col[:, 0])
                log_b1[rows, parent] += np.log(col[:, 1])
        # latent constructs
        lat_alpha: list[FloatArray] = []
        lat_beta: list[FloatArray] = []
        lat_idx: list[int] = []
        for li, (cols, p1, p0, leak, q_t, _q_b, single_t) in enumerate(t.latents):
            mv = v[:, cols]
            seen = (mv != 0).any(axis=1)
            c1 = np.prod(np.where(mv == 1, p1, np.where(mv == -1, 1 - p1, 1.0)), axis=1)
            c0 = np.prod(np.where(mv == 1, p0, np.where(mv == -1, 1 - p0, 1.0)), axis=1)
            alpha = c1
            beta = -(c1 - c0) * (1.0 - leak)
            if single_t:
                log_wt[seen] += np.log(
                    np.maximum(alpha[seen, None] + beta[seen, None] * q_t[None, :], 1e-300)
                )
            else:
                a_full = np.where(seen, alpha, 1.0)
                b_full = np.where(seen, beta, 0.0)
                lat_alpha.append(a_full)
                lat_beta.append(b_full)
                lat_idx.append(li)
        # exact-sum factors: positive multi-cause findings (+ multi-cause latents when observed)
        multi = pos[:, t.multi]
        k_case = multi.sum(axis=1).astype(int)
        lat_seen = (
            np.stack([np.abs(b) > 0 for b in lat_beta], axis=1)
            if lat_beta
            else np.zeros((n, 0), dtype=bool)
        )
        k_case = k_case + lat_seen.sum(axis=1)
        w_t_all = np.exp(log_wt)
        w_b0_all = np.exp(log_b0)
        w_b1_all = np.exp(log_b1)
        post_t = np.empty((n, n_s))
        post_b = np.empty((n, n_b))
        for k in np.unique(k_case):
            rows = np.nonzero(k_case == k)[0]
            m = len(rows)
            alpha = np.ones((m, k))
            beta = np.zeros((m, k))
            lq_t = np.zeros((m, k, n_s))
            lq_b = np.zeros((m, k, n_b))
            if k:
                sub = multi[rows] > 0
                slot_of = np.cumsum(sub, axis=1) - 1
                r_idx, f_idx = np.nonzero(sub)
                slot = slot_of[r_idx, f_idx]
                beta[r_idx, slot] = -(1.0 - t.m_leak[f_idx])
                lq_t[r_idx, slot] = t.m_lq_t[f_idx]
                lq_b[r_idx, slot] = t.m_lq_b[f_idx]
                n_pos = sub.sum(axis=1)
                # multi-cause latents fill the remaining slots
                for slot_l, li in enumerate(lat_idx):
                    seen_l = lat_seen[rows, slot_l]
                    if not seen_l.any():
                        continue
                    r_idx = np.nonzero(seen_l)[0]
                    slot = n_pos[r_idx]
                    alpha[r_idx, slot] = lat_alpha[slot_l][rows[r_idx]]
                    beta[r_idx, slot] = lat_beta[slot_l][rows[r_idx]]
                    lq_t[r_idx, slot] = t.l_lq_t[li]
                    lq_b[r_idx, slot] = t.l_lq_b[li]
                    n_pos[r_idx] += 1
            ev = Evidence(
                w_t_all[rows],
                w_b0_all[rows],
                w_b1_all[rows],
                alpha,
                beta,
                lq_t,
                lq_b,
                np.zeros(m),
            )
            res = infer(ev)
            post_t[rows] = res.post_t
            post_b[rows] = res.post_b
            if shared_out is not None:
                for g, (_, members, threshold) in enumerate(groups):
                    idx = list(members)
                    cand = np.nonzero(res.post_b[:, idx].sum(axis=1) >= threshold)[0]
                    if not cand.size:
                        continue
                    sub = take_rows(ev, cand)
                    clamped = infer(clamp_absent(sub, idx))
                    p_any = any_present(res.log_pe[cand], clamped.log_pe, res.post_b[cand][:, idx])
                    shared_out[rows[cand], g] = p_any >= threshold
        cols_out = []
        for cid in self.conditions:
            kind, i = net.index(cid)
            if kind == "t":
                cols_out.append(post_t[:, i])
            elif kind == "agg":
                cols_out.append(post_t[:, list(net.aggregates[cid])].sum(axis=1))
            else:
                cols_out.append(post_b[:, i])
        return np.stack(cols_out, axis=1)


def _apply_pretest(
    net: CompiledNetwork, pre: dict[str, float], w_t: FloatArray, w_b0: FloatArray, w_b1: FloatArray
) -> None:
    from glutemed.reasoning._network import apply_pretest

    apply_pretest(net, pre, w_t, w_b0, w_b1)


@dataclass
class _Tables:
    """Point-estimate arrays indexed by the batch columns (built once per model)."""

    cols: NDArray[np.intp]
    lq_t: FloatArray
    lq_b: FloatArray
    single_t: NDArray[np.intp]
    lp_t: FloatArray
    single_b: NDArray[np.intp]
    lp_b0: FloatArray
    lp_b1: FloatArray
    multi: NDArray[np.intp]
    m_leak: FloatArray
    m_lq_t: FloatArray
    m_lq_b: FloatArray
    tables: dict[str, tuple[int, int, FloatArray]]
    latents: list[
        tuple[NDArray[np.intp], FloatArray, FloatArray, float, FloatArray, FloatArray, bool]
    ]
    l_lq_t: list[FloatArray]
    l_lq_b: list[FloatArray]
    soft_cols: NDArray[np.intp]
    soft_lq_t: FloatArray
    soft_lq_b: FloatArray


def _build_tables(net: CompiledNetwork, finding_ids: tuple[str, ...]) -> _Tables:
    col = {f: i for i, f in enumerate(finding_ids)}
    noisy = [f for f, fac in net.factors.items() if fac.kind == "noisy_or" and f in col]
    cols = np.array([col[f] for f in noisy], dtype=np.intp)
    lq_t = np.stack([np.log(np.maximum(net.factors[f].q_t[0], 1e-300)) for f in noisy])
    lq_b = np.stack([np.log(net.factors[f].q_b[0]) for f in noisy])
    single_t: list[int] = []
    single_b: list[int] = []
    multi: list[int] = []
    lp_t: list[FloatArray] = []
    lp_b0: list[FloatArray] = []
    lp_b1: list[FloatArray] = []
    n_b = len(net.binaries)
    for i, f in enumerate(noisy):
        fac = net.factors[f]
        one_minus_leak = 1.0 - fac.leak[0]
        n_par = int(fac.parents_t) + len(fac.parents_b)
        if n_par == 1 and fac.parents_t:
            single_t.append(i)
            lp_t.append(np.log(np.maximum(1.0 - one_minus_leak * fac.q_t[0], 1e-300)))
        elif n_par == 1:
            single_b.append(i)
            j = fac.parents_b[0]
            r0 = np.zeros(n_b)
            r1 = np.zeros(n_b)
            r0[j] = np.log(1.0 - one_minus_leak)
            r1[j] = np.log(1.0 - one_minus_leak * fac.q_b[0][j])
            lp_b0.append(r0)
            lp_b1.append(r1)
        elif n_par > 1:
            multi.append(i)
    n_s = net.n_states
    tables = {}
    for f, tab in net.tables.items():
        if f in col:
            tables[f] = (col[f], tab.parent, tab.probs[0])  # (levels, S or 2)
    latents = []
    l_lq_t = []
    l_lq_b = []
    for fac in net.factors.values():
        if fac.kind != "latent":
            continue
        members = [m for m in fac.members if m in col]
        latents.append(
            (
                np.array([col[m] for m in members], dtype=np.intp),
                np.array([fac.members[m][0] for m in members]),
                np.array([fac.members[m][1] for m in members]),
                float(fac.leak[0]),
                fac.q_t[0],
                fac.q_b[0],
                fac.parents_t and not fac.parents_b,
            )
        )
        l_lq_t.append(np.log(np.maximum(fac.q_t[0], 1e-300)))
        l_lq_b.append(np.log(fac.q_b[0]))
    multi_idx = np.array(multi, dtype=np.intp)
    soft = [f for f in net.unrecorded if f in col]
    return _Tables(
        cols=cols,
        lq_t=lq_t,
        lq_b=lq_b,
        single_t=np.array(single_t, dtype=np.intp),
        lp_t=np.stack(lp_t) if lp_t else np.zeros((0, n_s)),
        single_b=np.array(single_b, dtype=np.intp),
        lp_b0=np.stack(lp_b0) if lp_b0 else np.zeros((0, n_b)),
        lp_b1=np.stack(lp_b1) if lp_b1 else np.zeros((0, n_b)),
        multi=multi_idx,
        m_leak=np.array([net.factors[noisy[i]].leak[0] for i in multi]),
        m_lq_t=lq_t[multi_idx],
        m_lq_b=lq_b[multi_idx],
        tables=tables,
        latents=latents,
        l_lq_t=l_lq_t,
        l_lq_b=l_lq_b,
        soft_cols=np.array([col[f] for f in soft], dtype=np.intp),
        soft_lq_t=np.array(
            [np.log(np.maximum(net.unrecorded[f].q_t[0], 1e-300)) for f in soft]
        ).reshape(len(soft), n_s),
        soft_lq_b=np.array([np.log(net.unrecorded[f].q_b[0]) for f in soft]).reshape(
            len(soft), n_b
        ),
    )


def build_batch_model(kb: KnowledgeBase, conditions: Sequence[str] | None = None) -> BatchModel:
    """Build the batch model of a knowledge base (the same network as :func:`assess`)."""
    from glutemed.reasoning._engine import network_for

    net = network_for(kb)
    finding_ids = tuple(net.model_findings())
    finding_ids = tuple(f for f in finding_ids if f not in net.expands)
    default = (*net.states[1:], *net.aggregates, *net.binaries)
    levels = {f: tab.levels for f, tab in net.tables.items()}
    return BatchModel(
        net, finding_ids, tuple(conditions or default), levels, _build_tables(net, finding_ids)
    )
