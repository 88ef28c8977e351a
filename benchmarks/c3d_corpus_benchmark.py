"""How glutemed reads the real C3D corpus, compared with ezc3d.

    .venv/bin/python benchmarks/c3d_corpus_benchmark.py [--corpus DIR] [--engine auto]

For every ``.c3d`` file under ``../shared/data/c3d-corpus/`` (54 files from c3d.org's sample set,
many vendors and processor types) it runs, each in its own subprocess so that a crash of native
code is counted instead of ending the run:

* ``glutemed.motion.read_c3d(path)``, as ``glutemed motion`` does: ``read`` (a Trial came back),
  ``typed`` (a ``glutemed.errors`` error, the message is kept) or ``crash`` (any other exception,
  a signal, or more than 60 s);
* ezc3d on the same file: ``read`` or ``error`` / ``crash``;
* where both read, whether the 3D point arrays agree: same shape (frames x points) and every
  valid sample within 1e-4 of the file's units (a sample is valid when its residual is >= 0
  in both readers).

Prints a table (one row per file) and a JSON line with the counts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "c3d-corpus"
TIMEOUT_S = 60.0

_GLUTEMED = r"""
import json, sys, numpy as np
from glutemed.errors import GlutemedError
from glutemed.motion import read_c3d
path, out, engine = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    trial = read_c3d(path, engine=engine)
except GlutemedError as exc:
    print(json.dumps({"status": "typed", "message": str(exc).splitlines()[-1].strip()}))
    sys.exit(0)
info = {"status": "read", "frames": trial.n_frames, "landmarks": len(trial.landmarks),
        "rate_hz": trial.sampling_rate_hz}
try:
    from glutemed.motion._c3d import read_c3d_content
    content = read_c3d_content(open(path, "rb").read(), name=path)
    pts = np.where((content.residuals < 0)[..., None], np.nan, content.points)
    np.save(out, pts)
except Exception:  # the arrays are compared only where the raw reader exists and reads
    pass
print(json.dumps(info))
"""

_EZC3D = r"""
import json, sys, numpy as np, ezc3d
path, out = sys.argv[1], sys.argv[2]
try:
    c = ezc3d.c3d(path)
except Exception as exc:
    print(json.dumps({"status": "error", "message": str(exc)[:100]}))
    sys.exit(0)
pts = np.asarray(c["data"]["points"], dtype=float)
res = c["data"]["meta_points"]["residuals"]
if pts.ndim == 3 and pts.shape[1] > 0:
    xyz = np.transpose(pts[:3], (2, 1, 0))
    bad = np.asarray(res, dtype=float)[0].T < 0
    np.save(out, np.where(bad[..., None], np.nan, xyz))
print(json.dumps({"status": "read", "frames": int(pts.shape[-1]) if pts.ndim == 3 else 0}))
"""


def _run(code: str, *args: str) -> dict[str, object]:
    try:
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "crash", "message": f"no answer within {TIMEOUT_S:g} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"status": "crash", "message": last[:100]}
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _compare(a_path: Path, b_path: Path) -> str:
    import numpy as np

    if not a_path.is_file() or not b_path.is_file():
        return "-"
    a, b = np.load(a_path), np.load(b_path)
    if a.shape != b.shape:
        return f"shape {a.shape[:2]} vs {b.shape[:2]}"
    both = np.isfinite(a) & np.isfinite(b)
    only = int((np.isfinite(a) != np.isfinite(b)).any(axis=2).sum())
    diff = float(np.max(np.abs(a[both] - b[both]))) if both.any() else 0.0
    if diff <= 1e-4 and only == 0:
        return "identical"
    return f"max diff {diff:.3g}, validity differs in {only} samples"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--engine", default="auto")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.corpus.rglob("*") if p.suffix.lower() == ".c3d")
    if not files:
        print(f"no C3D files under {args.corpus}", file=sys.stderr)
        return 1
    counts = {"files": len(files), "read": 0, "typed": 0, "crash": 0, "ezc3d_read": 0,
              "ezc3d_crash": 0, "ezc3d_read_but_glutemed_not": 0, "identical": 0,
              "different": 0}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(files):
            ours, theirs = Path(tmp) / f"g{i}.npy", Path(tmp) / f"e{i}.npy"
            g = _run(_GLUTEMED, str(f), str(ours), args.engine)
            e = _run(_EZC3D, str(f), str(theirs))
            counts[str(g["status"])] += 1
            if e["status"] == "read":
                counts["ezc3d_read"] += 1
                if g["status"] != "read":
                    counts["ezc3d_read_but_glutemed_not"] += 1
            elif e["status"] == "crash":
                counts["ezc3d_crash"] += 1
            agree = _compare(ours, theirs)
            if agree == "identical":
                counts["identical"] += 1
            elif agree != "-":
                counts["different"] += 1
            detail = str(g.get("message", f"{g.get('frames')} frames, "
                                          f"{g.get('landmarks')} landmarks"))
            rows.append((str(f.relative_to(args.corpus)), str(g["status"]), str(e["status"]),
                         agree, detail))
    width = max(len(r[0]) for r in rows)
    print(f"{'file':<{width}}  glutemed  ezc3d   arrays vs ezc3d               detail")
    for name, gs, es, agree, detail in rows:
        print(f"{name:<{width}}  {gs:<8}  {es:<6}  {agree:<28}  {detail[:110]}")
    print()
    for key, value in counts.items():
        print(f"{key:<30} {value}")
    print(json.dumps({"benchmark": "c3d_corpus", "engine": args.engine, **counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
