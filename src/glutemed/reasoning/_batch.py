"""Vectorised posteriors for many cases at once (no intervals, no explanations).

The same rules as :func:`glutemed.reasoning.assess` expressed as array operations: findings are
encoded as a matrix of +1 (positive), -1 (negative) and 0 (not done / unknown); each condition
gets a matrix of shrunk log-LRs; published clusters replace their findings where all of them
match; within a dependence group the entry with the largest |log LR| is kept. A test checks that
both paths agree on random cases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from glutemed.knowledge import KnowledgeBase
from glutemed.reasoning._evidence import cluster_lr, finding_lr

__all__ = ["BatchModel", "build_batch_model"]


@dataclass(frozen=True)
class _ConditionTables:
    condition: str
    log_prior_odds: float
    cols: NDArray[np.intp]
    log_pos: NDArray[np.float64]
    log_neg: NDArray[np.float64]
    groups: list[NDArray[np.intp]]  # indices into cols
    clusters: list[tuple[NDArray[np.intp], NDArray[np.int8], float]]  # (cols idx, values, log LR)


@dataclass(frozen=True)
class BatchModel:
    """Precomputed tables for one knowledge base and care setting."""

    finding_ids: tuple[str, ...]
    conditions: tuple[str, ...]
    tables: tuple[_ConditionTables, ...]

    def posteriors(self, values: NDArray[np.int8], chunk: int = 200_000) -> NDArray[np.float64]:
        """Return an ``(n_cases, n_conditions)`` array of post-test probabilities.

        Parameters
        ----------
        values
            ``(n_cases, n_findings)`` int8 matrix in the order of :attr:`finding_ids`:
            +1 positive, -1 negative, 0 not done.
        chunk
            Rows processed at a time (bounds memory).
        """
        n = values.shape[0]
        out = np.empty((n, len(self.tables)), dtype=np.float64)
        for start in range(0, n, chunk):
            block = values[start : start + chunk]
            for k, t in enumerate(self.tables):
                out[start : start + chunk, k] = _posterior_block(block, t)
        return out


def _posterior_block(block: NDArray[np.int8], t: _ConditionTables) -> NDArray[np.float64]:
    v = block[:, t.cols]
    contrib = np.where(v == 1, t.log_pos, 0.0) + np.where(v == -1, t.log_neg, 0.0)
    total = np.full(block.shape[0], t.log_prior_odds)
    for idx, vals, log_lr in t.clusters:
        match = np.all(block[:, t.cols[idx]] == vals, axis=1)
        total += np.where(match, log_lr, 0.0)
        contrib[np.ix_(match, idx)] = 0.0
    for g in t.groups:
        sub = contrib[:, g]
        if g.size == 1:
            total += sub[:, 0]
        else:
            pick = np.argmax(np.abs(sub), axis=1)
            total += np.take_along_axis(sub, pick[:, None], axis=1)[:, 0]
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-total))
    return out


def build_batch_model(
    kb: KnowledgeBase, setting: str, conditions: Sequence[str] | None = None
) -> BatchModel:
    """Build the tables for ``setting`` (conditions without a sourced prior are left out)."""
    from glutemed.reasoning._engine import differential_conditions

    finding_ids = tuple(sorted(f for f, x in kb.findings.items() if x.value_type == "binary"))
    col = {f: i for i, f in enumerate(finding_ids)}
    priors = kb.priors.get(setting, {})
    wanted = list(conditions) if conditions is not None else differential_conditions(kb)
    tables: list[_ConditionTables] = []
    for cid in wanted:
        if cid not in priors:
            continue
        p = priors[cid].probability.value
        cols: list[int] = []
        log_pos: list[float] = []
        log_neg: list[float] = []
        for fid in finding_ids:
            pos = finding_lr(kb, fid, "positive", cid)
            neg = finding_lr(kb, fid, "negative", cid)
            if pos is None and neg is None:
                continue
            cols.append(col[fid])
            log_pos.append(0.0 if pos is None else pos.log_used)
            log_neg.append(0.0 if neg is None else neg.log_used)
        local = {c: i for i, c in enumerate(cols)}
        groups: dict[str, list[int]] = {}
        for c in cols:
            fid = finding_ids[c]
            group = kb.findings[fid].dependence_group or f"_own_{fid}"
            groups.setdefault(group, []).append(local[c])
        clusters: list[tuple[NDArray[np.intp], NDArray[np.int8], float]] = []
        for cl in sorted(kb.clusters.values(), key=lambda c: c.id):
            if cl.target != cid or any(f not in col for f in cl.findings):
                continue
            missing = [f for f in cl.findings if col[f] not in local]
            for f in missing:  # a cluster finding without its own LR still needs a column
                local[col[f]] = len(cols)
                cols.append(col[f])
                log_pos.append(0.0)
                log_neg.append(0.0)
            idx = np.array([local[col[f]] for f in cl.findings], dtype=np.intp)
            vals = np.array(
                [1 if v == "positive" else -1 for v in cl.findings.values()], dtype=np.int8
            )
            clusters.append((idx, vals, cluster_lr(cl).log_used))
        tables.append(
            _ConditionTables(
                condition=cid,
                log_prior_odds=math.log(p / (1.0 - p)),
                cols=np.array(cols, dtype=np.intp),
                log_pos=np.array(log_pos),
                log_neg=np.array(log_neg),
                groups=[np.array(sorted(g), dtype=np.intp) for _, g in sorted(groups.items())],
                clusters=clusters,
            )
        )
    return BatchModel(finding_ids, tuple(t.condition for t in tables), tuple(tables))
