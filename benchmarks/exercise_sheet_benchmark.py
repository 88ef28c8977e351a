"""Benchmark of the exercise sheet: the CLI command a user runs, as a whole process.

What it does
------------
Runs ``glutemed programme sheet PROGRAMME --stage STAGE -o FILE`` in a fresh process ``--runs``
times for an HTML and for a PDF file (the PDF through WeasyPrint), and times the same rendering
in-process after a warm-up (``glutemed.report.exercise_sheet_html`` on one prescription), so the
start-up cost of a process is visible separately. Prints a table (min / median / max in ms and
the file size) and one JSON line (``{"benchmark": "exercise_sheet", ...}``). No target was set
in the issue; this reports what a clinician waits for.

Usage::

    .venv/bin/python benchmarks/exercise_sheet_benchmark.py
    .venv/bin/python benchmarks/exercise_sheet_benchmark.py --runs 3 --stage leap_week_1

Measured (2026-12-01, 2 CPUs shared with other work, Python 3.11, knowledge base 2026.12.1,
LEAP weeks 3-8, 3 runs)::

    what                            min ms  median ms    max ms     bytes
    CLI process, HTML               1587.4     1753.6    1809.7     68633
    CLI process, PDF                4396.8     4649.8    6080.6     44162
    in-process HTML render            14.1       21.1      28.0     68633

The sheet itself renders in about 20 ms; the CLI's time is process start-up, imports and loading
the knowledge base (HTML) plus WeasyPrint's layout (PDF).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("glutemed")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "glutemed.cli"]


def _time_process(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programme", default="prog_leap_edx")
    ap.add_argument("--stage", default="leap_weeks_3_8")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in ("html", "pdf"):
            path = Path(tmp) / f"sheet.{suffix}"
            cmd = [*_cli(), "programme", "sheet", args.programme, "--stage", args.stage]
            times = _time_process([*cmd, "-o", str(path)], args.runs)
            rows.append((f"CLI process, {suffix.upper()}", times, path.stat().st_size))

        from glutemed.knowledge import load_kb
        from glutemed.pathway import prescribe
        from glutemed.report import exercise_sheet_html

        kb = load_kb()
        rx = prescribe(args.programme, args.stage, kb=kb)
        exercise_sheet_html(rx, kb)  # warm-up (templates, fonts)
        times = []
        for _ in range(max(args.runs, 20)):
            t0 = time.perf_counter()
            html = exercise_sheet_html(rx, kb)
            times.append((time.perf_counter() - t0) * 1000)
        rows.append(("in-process HTML render", times, len(html.encode("utf-8"))))

    print(
        f"exercise sheet: {args.programme} / {args.stage}, {args.runs} runs, Python "
        f"{platform.python_version()}"
    )
    print(f"{'what':28} {'min ms':>9} {'median ms':>10} {'max ms':>9} {'bytes':>9}")
    result = {"benchmark": "exercise_sheet", "programme": args.programme, "stage": args.stage}
    for name, times, size in rows:
        print(
            f"{name:28} {min(times):9.1f} {statistics.median(times):10.1f} "
            f"{max(times):9.1f} {size:9d}"
        )
        key = name.lower().replace(",", "").replace(" ", "_")
        result[key] = {
            "min_ms": round(min(times), 1),
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "bytes": size,
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
