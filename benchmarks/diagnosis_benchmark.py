"""Diagnosis engine benchmark: latency, the batch through the CLI, and agreement with pgmpy.

Prints a table and one JSON line. Run from the project root::

    python benchmarks/diagnosis_benchmark.py [--cases 1000000] [--pgmpy-cases 20]

1. Single-case latency of ``assess`` in process (p50, p99) over the bundled example cases, with
   and without the uncertainty intervals; with intervals over the published cases of
   ``benchmarks/published_cases`` (each case's fastest of ``--repeats`` runs: median, mean, 90th
   percentile, slowest), whose real presentations have more findings with several causes; and
   the inference step alone (point estimate and the 256 parameter draws of the interval).
2. The CLI as a user runs it: ``glutemed assess <example> --json`` as a whole process, and
   ``glutemed assess-batch cases.parquet -o out.parquet`` on N synthetic cases drawn from the
   network itself (conditions from the setting's priors, findings from their CPDs, each finding
   then recorded with probability 0.07: about 10 a case; the published cases record 6), timed
   from the command's start to its end, with its peak memory (``ru_maxrss`` of the command,
   started from a small helper process), for two sizes (``--small-cases`` and ``--cases``): a
   streaming command has the same peak for both.
3. The same network in pgmpy (``DiscreteBayesianNetwork`` + ``VariableElimination``): every
   leaky noisy-OR finding is written exactly as a chain of two-parent OR nodes over per-parent
   activation nodes (parent divorcing), latent constructs and tables as full CPDs, the demographic
   prior as the root CPDs. The models are built once per case outside the timer (pgmpy needs the
   observed findings' sub-network); only the queries are timed, against the engine's inference on
   the same evidence. Reported: the largest absolute difference (target <= 1e-9) and the speed
   ratio (target >= 100).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from glutemed.knowledge import load_kb
from glutemed.reasoning import SETTINGS, assess, build_batch_model, load_case, network_for
from glutemed.reasoning._network import infer, prepare

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "glutemed" / "examples" / "cases"


def _latency(kb: object, with_intervals: bool, repeats: int) -> tuple[float, float]:
    cases = [load_case(p) for p in sorted(EXAMPLES.glob("*.yaml"))]
    for c in cases:
        assess(c, kb, with_intervals=with_intervals)  # type: ignore[arg-type]
    times = []
    for _ in range(repeats):
        for c in cases:
            t = time.perf_counter()
            assess(c, kb, with_intervals=with_intervals)  # type: ignore[arg-type]
            times.append(time.perf_counter() - t)
    times.sort()
    return 1000 * statistics.median(times), 1000 * times[int(0.99 * (len(times) - 1))]


def _published_latency(kb: object, repeats: int) -> dict[str, float]:
    """``assess`` with intervals on every published case (real presentations, more findings
    with several causes than the examples): median, mean, 90th percentile and slowest of each
    case's fastest of ``repeats`` runs."""
    import yaml

    from glutemed.reasoning import case_from_dict

    cases = []
    for path in sorted((ROOT / "benchmarks" / "published_cases").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8"))
        cases.append(case_from_dict(doc["case"], where=path.stem))
    per_case = []
    cpu = 0.0
    for c in cases:
        assess(c, kb)  # type: ignore[arg-type]
        best = math.inf
        for _ in range(repeats):
            c0 = time.process_time()
            t = time.perf_counter()
            assess(c, kb)  # type: ignore[arg-type]
            best = min(best, time.perf_counter() - t)
            cpu += time.process_time() - c0
        per_case.append(1000 * best)
    per_case.sort()
    return {
        "cases": len(per_case),
        # the process's CPU time (all its threads) per assessment, over every timed run
        "cpu_mean": 1000 * cpu / (len(cases) * repeats),
        "p50": statistics.median(per_case),
        "mean": statistics.fmean(per_case),
        "p90": per_case[int(0.9 * (len(per_case) - 1))],
        "max": per_case[-1],
    }


def _inference_only(kb: object, repeats: int) -> tuple[float, float]:
    net = network_for(kb)  # type: ignore[arg-type]
    evs = []
    for p in sorted(EXAMPLES.glob("*.yaml")):
        c = load_case(p)
        obs = {f: v for f, v in c.observed().items() if v != "not_done"}
        evs.append(
            (
                prepare(net, c.setting, c.patient.age_years, c.patient.sex, obs, None, 0),
                prepare(net, c.setting, c.patient.age_years, c.patient.sex, obs, None),
            )
        )
    point, draws = [], []
    for _ in range(repeats):
        for e0, ed in evs:
            t = time.perf_counter()
            infer(e0)
            point.append(time.perf_counter() - t)
            t = time.perf_counter()
            infer(ed)
            draws.append(time.perf_counter() - t)
    return 1000 * statistics.median(point), 1000 * statistics.median(draws)


def _synthetic_table(kb: object, n: int, path: Path, seed: int = 7) -> None:
    """N cases drawn from the network itself (ancestral sampling), each finding then recorded
    with probability 0.07 (about 10 findings a case; the published cases record 6 on average).

    Drawing the conditions first and the findings from their CPDs gives cases as coherent as
    the model's patients; uniformly random findings would be mostly impossible combinations.
    """
    import pandas as pd

    net = network_for(kb)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    settings = np.array([s for s in SETTINGS if s != "specialist"])
    setting = rng.choice(settings, n)
    t = np.empty(n, dtype=int)
    b = np.empty((n, len(net.binaries)), dtype=bool)
    for s in settings:
        rows = setting == s
        k = int(rows.sum())
        pt = net.prior_t[s][0]
        t[rows] = rng.choice(len(pt), k, p=pt / pt.sum())
        b[rows] = rng.random((k, len(net.binaries))) < net.prior_b[s][0]

    def noisy_or(fac: object) -> np.ndarray:
        q = fac.q_t[0][t] * np.prod(np.where(b, fac.q_b[0][None, :], 1.0), axis=1)  # type: ignore[attr-defined]
        return rng.random(n) < 1.0 - (1.0 - fac.leak[0]) * q  # type: ignore[attr-defined]

    data: dict[str, object] = {
        "case": np.char.add("c", np.arange(n).astype(str)),
        "setting": setting,
        "age_years": rng.integers(16, 95, n).astype(str),
        "sex": rng.choice(["female", "male"], n),
    }
    values: dict[str, np.ndarray] = {}
    for fid, fac in net.factors.items():
        if fac.kind == "noisy_or":
            values[fid] = noisy_or(fac)
        else:
            latent = noisy_or(fac)
            for m, (p1, p0) in fac.members.items():
                values[m] = rng.random(n) < np.where(latent, p1, p0)
    for fid, val in values.items():
        col = np.full(n, "", dtype=object)
        rec = rng.random(n) < 0.07
        col[rec & val] = "positive"
        col[rec & ~val] = "negative"
        data[fid] = col
    # row groups of 50,000 rows, as a producer writes a table meant to be streamed
    pd.DataFrame(data).to_parquet(path, index=False, row_group_size=50_000)


#: Runs one command and prints its peak RSS (KB). The CLI is started from this small process,
#: not from the benchmark: on Linux a child's ``ru_maxrss`` includes the memory of the process
#: that forked it (recorded at exec), so a CLI started from the benchmark, which holds the
#: synthetic table, would report the benchmark's size instead of its own.
_PEAK = (
    "import resource, subprocess, sys; "
    "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "sys.stderr.write(r.stderr[-2000:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
    "sys.exit(r.returncode)"
)


def _run_cli(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one CLI process, as a user runs it."""
    exe = Path(sys.executable).with_name("glutemed")
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, str(exe), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return wall, int(proc.stdout.split()[-1]) / 1024


def _batch_run(kb: object, n: int) -> tuple[float, float, float]:
    """Generate N synthetic cases, then time ``glutemed assess-batch`` on them as a user runs
    it: (generation s, wall s, peak RSS MB of the command)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "cases.parquet"
        t = time.perf_counter()
        _synthetic_table(kb, n, src)
        gen = time.perf_counter() - t
        wall, peak = _run_cli(["assess-batch", str(src), "-o", str(Path(tmp) / "out.parquet")])
    return gen, wall, peak


# --------------------------------------------------------------------------- pgmpy


def _pgmpy_model(net: object, setting: str, age: float | None, sex: str, obs: dict[str, str]):  # type: ignore[no-untyped-def]
    """The network restricted to the observed findings, written exactly in pgmpy."""
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    ev0 = prepare(net, setting, age, sex, {}, None, 0)  # type: ignore[arg-type]
    edges: list[tuple[str, str]] = []
    cpds = []
    n_s = net.n_states  # type: ignore[attr-defined]
    w = ev0.w_t[0] / ev0.w_t[0].sum()
    cpds.append(TabularCPD("T", n_s, w.reshape(n_s, 1)))
    for i, c in enumerate(net.binaries):  # type: ignore[attr-defined]
        p = ev0.w_b1[0, i] / (ev0.w_b0[0, i] + ev0.w_b1[0, i])
        cpds.append(TabularCPD(c, 2, [[1 - p], [p]]))
    evidence: dict[str, int] = {}
    nodes = {"T", *net.binaries}  # type: ignore[attr-defined]

    def noisy_or(name: str, fac: object) -> str:
        """Chain of OR nodes over activations; returns the node that equals the finding."""
        leak = float(fac.leak[0])  # type: ignore[attr-defined]
        cur = f"{name}__leak"
        cpds.append(TabularCPD(cur, 2, [[1 - leak], [leak]]))
        nodes.add(cur)
        parents: list[tuple[str, np.ndarray]] = []
        if fac.parents_t:  # type: ignore[attr-defined]
            parents.append(("T", fac.q_t[0]))  # type: ignore[attr-defined]
        for j in fac.parents_b:  # type: ignore[attr-defined]
            parents.append((net.binaries[j], np.array([1.0, fac.q_b[0][j]])))  # type: ignore[attr-defined]
        for k, (par, q) in enumerate(parents):
            act = f"{name}__a{k}"
            card = len(q)
            cpds.append(
                TabularCPD(act, 2, [list(q), list(1 - q)], evidence=[par], evidence_card=[card])
            )
            edges.append((par, act))
            nxt = f"{name}__or{k}"
            cpds.append(
                TabularCPD(
                    nxt, 2, [[1, 0, 0, 0], [0, 1, 1, 1]], evidence=[cur, act], evidence_card=[2, 2]
                )
            )
            edges.extend([(cur, nxt), (act, nxt)])
            nodes.update({act, nxt})
            cur = nxt
        return cur

    latent_obs: dict[str, list[tuple[str, str]]] = {}
    implied = net.implied_present(obs)  # type: ignore[attr-defined]
    for fid, val in obs.items():
        if fid in implied:  # made certain by another finding: the same observation
            continue
        if fid in net.member_of:  # type: ignore[attr-defined]
            latent_obs.setdefault(net.member_of[fid], []).append((fid, val))  # type: ignore[attr-defined]
        elif fid in net.tables:  # type: ignore[attr-defined]
            tab = net.tables[fid]  # type: ignore[attr-defined]
            par = "T" if tab.parent == -1 else net.binaries[tab.parent]  # type: ignore[attr-defined]
            probs = tab.probs[0]
            cpds.append(
                TabularCPD(
                    fid, probs.shape[0], probs, evidence=[par], evidence_card=[probs.shape[1]]
                )
            )
            edges.append((par, fid))
            nodes.add(fid)
            evidence[fid] = tab.levels.index(val)
        else:
            out = noisy_or(fid, net.factors[fid])  # type: ignore[attr-defined]
            evidence[out] = 1 if val == "positive" else 0
    # a pain site left out of a record that names another: "the site is recorded" is absent
    for fid in net.unrecorded_sites(obs):  # type: ignore[attr-defined]
        out = noisy_or(f"{fid}__recorded", net.unrecorded[fid])  # type: ignore[attr-defined]
        evidence[out] = 0
    for lid, members in latent_obs.items():
        fac = net.factors[lid]  # type: ignore[attr-defined]
        lat = noisy_or(lid, fac)
        for fid, val in members:
            p1, p0 = fac.members[fid]
            cpds.append(
                TabularCPD(fid, 2, [[1 - p0, 1 - p1], [p0, p1]], evidence=[lat], evidence_card=[2])
            )
            edges.append((lat, fid))
            nodes.add(fid)
            evidence[fid] = 1 if val == "positive" else 0
    model = DiscreteBayesianNetwork(edges)
    model.add_nodes_from(nodes)
    model.add_cpds(*cpds)
    return model, evidence


def _pgmpy_compare(kb: object, n_cases: int) -> dict[str, float]:
    from pgmpy.inference import VariableElimination

    net = network_for(kb)  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    model = build_batch_model(kb)  # type: ignore[arg-type]
    binary = [f for f in model.finding_ids if f not in model.ordinal_levels]
    max_diff = 0.0
    t_ours = 0.0
    t_pgm = 0.0
    for _ in range(n_cases):
        obs = {
            f: ("positive" if rng.random() < 0.5 else "negative")
            for f in rng.choice(binary, size=10, replace=False)
        }
        setting = str(rng.choice(["primary_care", "physiotherapy", "sports_medicine", "spine"]))
        age = float(rng.integers(18, 90))
        sex = str(rng.choice(["female", "male"]))
        pm, evidence = _pgmpy_model(net, setting, age, sex, obs)
        ve = VariableElimination(pm)
        ev = prepare(net, setting, age, sex, obs, None, 0)
        t = time.perf_counter()
        res = infer(ev)
        t_ours += time.perf_counter() - t
        t = time.perf_counter()
        q = ve.query(["T", *net.binaries], evidence=evidence, joint=False, show_progress=False)
        t_pgm += time.perf_counter() - t
        diff_t = np.abs(q["T"].values - res.post_t[0]).max()
        diff_b = max(abs(q[c].values[1] - res.post_b[0, i]) for i, c in enumerate(net.binaries))
        max_diff = max(max_diff, float(diff_t), float(diff_b))
    return {
        "cases": n_cases,
        "max_abs_diff": max_diff,
        "engine_ms_per_case": 1000 * t_ours / n_cases,
        "pgmpy_ms_per_case": 1000 * t_pgm / n_cases,
        "ratio": t_pgm / t_ours,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument(
        "--small-cases", type=int, default=100_000, help="second batch size (constant memory)"
    )
    ap.add_argument("--pgmpy-cases", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    kb = load_kb()
    p50_i, p99_i = _latency(kb, True, args.repeats)
    p50_n, p99_n = _latency(kb, False, args.repeats)
    pub = _published_latency(kb, args.repeats)
    inf_point, inf_draws = _inference_only(kb, 20)
    cli_single, _ = _run_cli(["assess", "tendinopathy", "--json"])
    gen_small, small_wall, small_peak = _batch_run(kb, args.small_cases)
    gen, batch_wall, batch_peak = _batch_run(kb, args.cases)
    pg = _pgmpy_compare(kb, args.pgmpy_cases)
    rows = [
        ("assess, one case, with intervals: p50 / p99 (ms)", f"{p50_i:.1f} / {p99_i:.1f}", ""),
        ("assess, one case, no intervals: p50 / p99 (ms)", f"{p50_n:.1f} / {p99_n:.1f}", ""),
        (
            f"assess, {pub['cases']} published cases: p50 / mean / p90 / max (ms)",
            f"{pub['p50']:.1f} / {pub['mean']:.1f} / {pub['p90']:.0f} / {pub['max']:.0f}",
            "<= 1",
        ),
        (
            "assess, published cases: process CPU per case, all threads (ms)",
            f"{pub['cpu_mean']:.1f}",
            "<= 1",
        ),
        (
            "inference only: point / point + 256 draws (ms)",
            f"{inf_point:.3f} / {inf_draws:.3f}",
            "<= 1",
        ),
        ("CLI `glutemed assess tendinopathy --json` (s, whole process)", f"{cli_single:.2f}", ""),
        (
            f"CLI assess-batch, {args.cases:,} cases (s, whole process)",
            f"{batch_wall:.1f}",
            "<= 60",
        ),
        (
            f"CLI assess-batch, {args.small_cases:,} cases (s, whole process)",
            f"{small_wall:.1f}",
            "",
        ),
        (
            f"CLI assess-batch peak memory (MB): {args.small_cases:,} / {args.cases:,} cases",
            f"{small_peak:.0f} / {batch_peak:.0f}",
            "constant",
        ),
        (
            f"pgmpy exact VE, {pg['cases']} cases: max |difference|",
            f"{pg['max_abs_diff']:.2e}",
            "<= 1e-9",
        ),
        ("pgmpy / engine time per case (inference only)", f"{pg['ratio']:.0f}x", ">= 100x"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>18}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>18}  {target}")
    print(
        f"(synthetic tables generated in {gen_small:.1f} s and {gen:.1f} s, not timed; "
        f"cores: {os.cpu_count()})"
    )
    print(
        json.dumps(
            {
                "assess_ms_p50_intervals": round(p50_i, 2),
                "assess_ms_p99_intervals": round(p99_i, 2),
                "assess_ms_p50": round(p50_n, 2),
                "assess_published_ms": {k: round(v, 2) for k, v in pub.items()},
                "inference_ms_point": round(inf_point, 4),
                "inference_ms_with_draws": round(inf_draws, 4),
                "cli_assess_s": round(cli_single, 3),
                "batch_cases": args.cases,
                "batch_cli_s": round(batch_wall, 2),
                "batch_cli_peak_mb": round(batch_peak, 1),
                "batch_small_cases": args.small_cases,
                "batch_small_cli_s": round(small_wall, 2),
                "batch_small_cli_peak_mb": round(small_peak, 1),
                "pgmpy": pg,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
