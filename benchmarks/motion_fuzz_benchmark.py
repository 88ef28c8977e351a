"""Hostile movement files: how glutemed's readers answer seeded mutations of real files.

    .venv/bin/python benchmarks/motion_fuzz_benchmark.py [--n 1000] [--seed 0]

Mutates real and realistic files with the fuzz suite's seeded mutators (tests/motion/
test_motion_fuzz.py: bytes flipped, extreme values, truncation, count bytes set high, zeroed
blocks for C3D; bad numbers, dropped lines, truncation and junk for TRC/CSV) and reads each
mutant with ``glutemed.motion.read_trial``, as the CLI and the upload route do. A worker
process reads the mutants one after another; if it dies (a crash of native code) the input is
counted as a crash and a new worker takes over. Per format it prints how many mutants gave a
Trial (and how many of those kept infinite coordinates), a typed glutemed error, another
exception (untyped) or a crash, the slowest read and
the worker's peak memory (ru_maxrss) over the run, then a JSON line.

C3D seeds: ../shared/data/c3d/gait-raw.c3d and three c3d.org samples (Intel float, SGI int,
SIMI). TRC: the fuzz suite's standing-subject TRC. CSV: tests/data/motion/generic_sls.csv.
MediaPipe JSON (the fuzz suite's 4-frame document) and OpenPose folders (tests/data/motion/
openpose_body25/): one node of one file replaced by a wrong type, a non-finite or huge number
or a nested list (30 Hz passed as the frame rate).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.motion.test_motion_fuzz import (  # noqa: E402
    C3D_SEEDS,
    DATA,
    _csv_text,
    _mediapipe_doc,
    _mutate_bytes,
    _mutate_text,
    _replace_random_node,
    _trc_text,
)

#: Values a mutated JSON node takes: wrong types, non-finite and huge numbers, deep nesting.
_JSON_VALUES: list[object] = [None, True, "x", "", [], {}, [1, 2], {"x": 1}, -1, 0, 10**30,
                              1e308, float("inf"), float("nan"), [[[[[[[[1]]]]]]]], "1e309"]


def _json_mutant(doc: object, rng: np.random.Generator) -> str:
    value = _JSON_VALUES[int(rng.integers(len(_JSON_VALUES)))]
    return json.dumps(_replace_random_node(json.loads(json.dumps(doc)), value, rng))

_WORKER = r"""
import json, resource, sys, time
import numpy as np
from glutemed.errors import GlutemedError
from glutemed.motion import read_trial
for line in sys.stdin:
    path = line.strip()
    t0 = time.perf_counter()
    try:
        trial = read_trial(path, sampling_rate_hz=30.0 if not path.endswith(
            (".c3d", ".trc", ".csv")) else None)
        bad = any(np.isinf(a).any() for a in trial.landmarks.values())
        status = "trial_inf" if bad else "trial"
    except GlutemedError:
        status = "typed"
    except Exception as exc:  # counted, not hidden: this is what the benchmark measures
        status = "untyped:" + type(exc).__name__
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"status": status, "s": time.perf_counter() - t0, "rss_kb": rss}),
          flush=True)
"""


def _run(paths: list[Path]) -> list[dict[str, object]]:
    """Read every path in a worker; a worker that dies marks its current input a crash."""
    results: list[dict[str, object]] = []
    i = 0
    while i < len(paths):
        proc = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdin is not None and proc.stdout is not None
        while i < len(paths):
            proc.stdin.write(f"{paths[i]}\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                results.append({"status": "crash", "s": 0.0, "rss_kb": 0})
                i += 1
                break
            results.append(json.loads(line))
            i += 1
        proc.stdin.close()
        proc.wait()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="mutants per format")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    seeds = [p for p in C3D_SEEDS if p.is_file()]
    if not seeds:
        print("no C3D seed files under ../shared/data/", file=sys.stderr)
        return 1
    summary: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        formats: dict[str, list[Path]] = {"c3d": [], "trc": [], "csv": [], "mediapipe": [],
                                          "openpose": []}
        texts = {"trc": _trc_text(), "csv": _csv_text()}
        openpose = [json.loads(f.read_text(encoding="utf-8"))
                    for f in sorted((DATA / "openpose_body25").glob("*.json"))]
        for k in range(args.n):
            seed = seeds[k % len(seeds)].read_bytes()
            p = Path(tmp) / f"m{k}.c3d"
            p.write_bytes(_mutate_bytes(seed, rng))
            formats["c3d"].append(p)
            for ext, text in texts.items():
                q = Path(tmp) / f"m{k}.{ext}"
                q.write_text(_mutate_text(text, rng), encoding="utf-8")
                formats[ext].append(q)
            mp = Path(tmp) / f"m{k}.json"
            mp.write_text(_json_mutant(_mediapipe_doc(), rng), encoding="utf-8")
            formats["mediapipe"].append(mp)
            folder = Path(tmp) / f"op{k}"
            folder.mkdir()
            hit = int(rng.integers(len(openpose)))
            for i, doc in enumerate(openpose):
                text = _json_mutant(doc, rng) if i == hit else json.dumps(doc)
                (folder / f"f_{i:012d}_keypoints.json").write_text(text, encoding="utf-8")
            formats["openpose"].append(folder)
        for name, paths in formats.items():
            t0 = time.perf_counter()
            res = _run(paths)
            counts: dict[str, int] = {}
            for r in res:
                key = str(r["status"]).split(":")[0]
                counts[key] = counts.get(key, 0) + 1
            untyped = sorted({str(r["status"]).split(":", 1)[1] for r in res
                              if str(r["status"]).startswith("untyped")})
            summary[name] = {
                "inputs": len(res), "trial": counts.get("trial", 0) + counts.get("trial_inf", 0),
                "trial_with_inf": counts.get("trial_inf", 0),
                "typed": counts.get("typed", 0), "untyped": counts.get("untyped", 0),
                "crash": counts.get("crash", 0), "untyped_kinds": untyped,
                "slowest_read_s": round(max(float(str(r["s"])) for r in res), 3),
                "peak_rss_mb": round(max(int(str(r["rss_kb"])) for r in res) / 1024, 1),
                "wall_s": round(time.perf_counter() - t0, 1),
            }
    print(f"{'format':<10}{'inputs':>8}{'trial':>8}{'w/ inf':>8}{'typed':>8}{'untyped':>9}"
          f"{'crash':>7}{'slowest s':>11}{'peak MB':>9}  untyped kinds")
    for name, s in summary.items():
        print(f"{name:<10}{s['inputs']:>8}{s['trial']:>8}{s['trial_with_inf']:>8}"
              f"{s['typed']:>8}{s['untyped']:>9}"
              f"{s['crash']:>7}{s['slowest_read_s']:>11}{s['peak_rss_mb']:>9}  "
              f"{', '.join(s['untyped_kinds']) or '-'}")  # type: ignore[arg-type]
    print(json.dumps({"benchmark": "motion_fuzz", "n": args.n, "seed": args.seed, **summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
