"""Diagnosis engine benchmark: latency, throughput, and agreement with pgmpy exact inference.

Prints a table and one JSON line. Run from the project root::

    python benchmarks/diagnosis_benchmark.py [--cases 1000000] [--pgmpy-sample 200]

1. Single-case latency of ``assess`` (p50, p99), with and without Monte Carlo intervals, over the
   bundled example cases.
2. One million synthetic cases (each binary finding observed with probability 0.3, positive or
   negative with equal chance) through the vectorised batch model, on 2 worker processes (the
   machine's cores). Target: all posteriors, without intervals, in <= 10 s.
3. The same model in pgmpy: for each sampled case and condition, a Bayesian network
   ``D -> E_k`` with one evidence node per likelihood ratio the engine counts (after the
   dependence and shrinkage rules), CPDs ``P(E_k | D) = LR_k / max(1, LR_k)`` and
   ``P(E_k | not D) = 1 / max(1, LR_k)``, queried by exact variable elimination. Reported: the
   largest absolute difference from the engine (target <= 1e-9) and the speed ratio per case
   (target: the engine at least 100 times faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from glutemed.knowledge import load_kb
from glutemed.reasoning import Case, assess, build_batch_model, load_case
from glutemed.reasoning._engine import condition_evidence, differential_conditions

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "glutemed" / "examples" / "cases"


def _latency(with_intervals: bool, repeats: int) -> tuple[float, float]:
    kb = load_kb()
    cases = [load_case(p) for p in sorted(EXAMPLES.glob("*.yaml"))]
    times = []
    for _ in range(repeats):
        for case in cases:
            t0 = time.perf_counter()
            assess(case, kb, with_intervals=with_intervals)
            times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times) * 1e3, times[int(0.99 * (len(times) - 1))] * 1e3


def _random_block(seed: int, n: int, n_findings: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    observed = rng.random((n, n_findings)) < 0.3
    sign = np.where(rng.random((n, n_findings)) < 0.5, 1, -1)
    return (observed * sign).astype(np.int8)


def _worker(args: tuple[int, int, str]) -> tuple[float, float]:
    seed, n, setting = args
    kb = load_kb()
    model = build_batch_model(kb, setting)
    values = _random_block(seed, n, len(model.finding_ids))
    t0 = time.perf_counter()
    post = model.posteriors(values)
    elapsed = time.perf_counter() - t0
    return elapsed, float(post.mean())


def _million(n_cases: int, workers: int, setting: str) -> dict[str, float]:
    t0 = time.perf_counter()
    per = n_cases // workers
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_worker, [(i, per, setting) for i in range(workers)]))
    wall = time.perf_counter() - t0
    return {
        "cases": per * workers,
        "wall_s_including_process_start": wall,
        "compute_s_max_worker": max(r[0] for r in results),
    }


def _pgmpy_posterior(prior: float, lrs: list[float]) -> float:
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.inference import VariableElimination
    from pgmpy.models import DiscreteBayesianNetwork

    edges = [("D", f"E{k}") for k in range(len(lrs))]
    model = DiscreteBayesianNetwork(edges) if edges else DiscreteBayesianNetwork()
    model.add_node("D")
    cpds = [TabularCPD("D", 2, [[1 - prior], [prior]])]
    evidence = {}
    for k, lr in enumerate(lrs):
        scale = max(1.0, lr)
        a, b = lr / scale, 1.0 / scale  # P(E=1 | D=1), P(E=1 | D=0); a / b = lr
        cpds.append(
            TabularCPD(f"E{k}", 2, [[1 - b, 1 - a], [b, a]], evidence=["D"], evidence_card=[2])
        )
        evidence[f"E{k}"] = 1
    model.add_cpds(*cpds)
    result = VariableElimination(model).query(["D"], evidence=evidence, show_progress=False)
    return float(result.values[1])


def _pgmpy(sample: int, setting: str) -> dict[str, float]:
    kb = load_kb()
    model = build_batch_model(kb, setting)
    values = _random_block(99, sample, len(model.finding_ids))
    t0 = time.perf_counter()
    engine = model.posteriors(values)
    engine_s = time.perf_counter() - t0
    priors = {cid: kb.priors[setting][cid].probability.value for cid in model.conditions}
    max_diff = 0.0
    t0 = time.perf_counter()
    for i in range(sample):
        observed = {
            model.finding_ids[j]: ("positive" if v == 1 else "negative")
            for j, v in enumerate(values[i])
            if v != 0
        }
        for k, cid in enumerate(model.conditions):
            counted, _ = condition_evidence(kb, observed, cid)
            p = _pgmpy_posterior(priors[cid], [lr.used for lr in counted])
            max_diff = max(max_diff, abs(p - engine[i, k]))
    pgmpy_s = time.perf_counter() - t0
    return {
        "cases": sample,
        "conditions": len(model.conditions),
        "max_abs_difference": max_diff,
        "engine_s_per_case": engine_s / sample,
        "pgmpy_s_per_case": pgmpy_s / sample,
        "speed_ratio": (pgmpy_s / sample) / (engine_s / sample),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pgmpy-sample", type=int, default=200)
    parser.add_argument("--setting", default="primary_care")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    kb = load_kb()
    assert args.setting in kb.priors
    _ = assess(Case(), kb)  # warm caches

    p50, p99 = _latency(True, args.repeats)
    q50, q99 = _latency(False, args.repeats)
    million = _million(args.cases, args.workers, args.setting)
    agreement = _pgmpy(args.pgmpy_sample, args.setting)
    n_cond = len([c for c in differential_conditions(kb) if c in kb.priors[args.setting]])

    rows = [
        ("single case, with intervals: p50 / p99 (ms)", f"{p50:.1f} / {p99:.1f}"),
        ("single case, no intervals: p50 / p99 (ms)", f"{q50:.1f} / {q99:.1f}"),
        (
            f"{million['cases']:,} cases x {n_cond} conditions, "
            f"{args.workers} workers: compute (s)",
            f"{million['compute_s_max_worker']:.2f} (target <= 10)",
        ),
        (
            "  wall time incl. process start-up (s)",
            f"{million['wall_s_including_process_start']:.2f}",
        ),
        (
            f"pgmpy exact inference, {agreement['cases']} cases: max |difference|",
            f"{agreement['max_abs_difference']:.2e} (target <= 1e-9)",
        ),
        (
            "speed ratio vs pgmpy: vectorised batch engine",
            f"{agreement['speed_ratio']:.0f}x (target >= 100x)",
        ),
        (
            "speed ratio vs pgmpy: single-case assess (explanations, no intervals)",
            f"{agreement['pgmpy_s_per_case'] / (q50 / 1e3):.0f}x",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"diagnosis benchmark (setting {args.setting}, knowledge base {kb.version})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(
        json.dumps(
            {
                "benchmark": "diagnosis",
                "latency_ms": {
                    "with_intervals": {"p50": p50, "p99": p99},
                    "no_intervals": {"p50": q50, "p99": q99},
                },
                "million": million,
                "pgmpy": agreement,
                "single_case_ratio_vs_pgmpy": agreement["pgmpy_s_per_case"] / (q50 / 1e3),
                "kb_version": kb.version,
            }
        )
    )


if __name__ == "__main__":
    main()
