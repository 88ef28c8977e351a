"""Benchmark of the server under hostile and heavy traffic: refused bodies, then a bounded soak.

What it does
------------
1. Starts the app as ``glutemed serve`` does (:func:`glutemed.server.run`, one uvicorn worker on
   127.0.0.1, SQLite in a temporary folder), creates a clinician and logs in over HTTP.
2. **Refused bodies.** Sends each oversized body of the table below over a raw socket (the
   client never holds the body in memory; it sends 64 kB chunks until the server answers or
   closes) and reads the server process's memory from ``/proc``: resident memory before, and
   the peak during the request (``VmHWM`` after resetting it through ``clear_refs``). Growth =
   peak - before. Target (issue 14): under 20 MB for any refused body.
3. **Soak.** ``--clients`` concurrent clients (one keep-alive connection each) for
   ``--seconds`` seconds mix reads (patient list, one patient, its visits; 80 %) and writes
   (create a patient, change a patient; 20 %). Prints requests, errors (any status >= 500, or an
   unexpected 4xx), p50/p99 latency and the server's peak memory.

Loopback only, fixed duration; prints a table and one JSON line (``{"benchmark": "hardening",
...}``).

Measured (2026-12-01, 2 CPUs shared with other work, Python 3.11, SQLite, one worker; "before"
is the code of release 0.1 run by this same script)::

    refused body               before: status  growth MB    after: status  growth MB
    anonymous JSON 200 MB              400        400.8            401          0.0
    JSON 200 MB declared               400        399.7            413          0.1
    JSON 200 MB chunked                400        399.2            413          0.3
    FHIR 200 MB chunked                422        399.2            413          3.8
    FHIR 200 MB chunked x4             422       1022.0            413         17.4
    upload 1 GiB declared              422          1.8            413          0.0
    upload 1 GiB chunked               422          0.5            413          1.5

Before, every body was read to its end (1 GiB uploads spooled to disk, 2.5-3 s) before the
answer; now the server reads nothing (declared sizes, no login) or stops at the route's limit
(1 MB JSON, 4 MB FHIR, 50 MB uploads spooled to disk).

Soak, 50 clients for 15 s, old and new code run back to back on the same loaded machine (load
average ~7 on 2 CPUs): before 237 req/s, p50 174 ms, p99 610 ms, peak RSS 316 MB (after the
refused bodies); after 160-170 req/s, p50 275 ms, p99 620-810 ms, peak RSS 139 MB; 0 errors in
both. The lower throughput is the price of two deliberate changes: every request checks its
session in the database (logout takes effect at once on every worker; with the old 5 s cache the
same run gives 208 req/s) and every patient view writes an audit event.

Usage::

    .venv/bin/python benchmarks/hardening_benchmark.py                # defaults below
    .venv/bin/python benchmarks/hardening_benchmark.py --seconds 10 --clients 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from app_benchmark import _free_port, _pct, wait_ready  # the benchmarks folder is on sys.path

PASSWORD = "benchmark password 1234"
CHUNK = 64 * 1024
MB = 1024 * 1024


def start_server(port: int, data_dir: Path, url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "GLUTEMED_SECRET_KEY": secrets.token_urlsafe(48),
            "GLUTEMED_ENV": "production",
            "GLUTEMED_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "XDG_DATA_HOME": str(data_dir),
        }
    )
    code = (
        f"from glutemed.server import run; run('127.0.0.1', {port}, {url!r}, 1, log_level='error')"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


async def send_body(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    total: int,
    chunked: bool,
    prefix: bytes = b"",
) -> tuple[int, int]:
    """Send ``total`` filler bytes; return (status, bytes the server took before answering)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    if prefix:
        writer.write(f"{len(prefix):x}\r\n".encode() + prefix + b"\r\n" if chunked else prefix)
    sent = len(prefix)
    chunk = b"[" * CHUNK
    framed = f"{CHUNK:x}\r\n".encode() + chunk + b"\r\n"

    async def sender() -> None:
        nonlocal sent
        try:
            while sent < total:
                writer.write(framed if chunked else chunk)
                await writer.drain()
                sent += CHUNK
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    task = asyncio.create_task(sender())
    status = 0
    try:
        line = await asyncio.wait_for(reader.readline(), timeout=600)
        if line:
            status = int(line.split()[1])
    finally:
        task.cancel()
        writer.close()
    return status, sent


async def refused_bodies(port: int, pid: int, cookie: str, csrf: str) -> list[dict[str, Any]]:
    auth = {"Cookie": cookie, "X-CSRF-Token": csrf}
    json_h = {"Content-Type": "application/json"}
    # a well-formed multipart start, so the upload is refused for its size, not its syntax
    part = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="walk.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n"
    )
    cases: list[tuple[str, str, dict[str, str], int, bool, int]] = [
        ("anonymous JSON 200 MB", "/api/v1/patients", json_h, 200 * MB, False, 1),
        ("JSON 200 MB declared", "/api/v1/patients", {**json_h, **auth}, 200 * MB, False, 1),
        ("JSON 200 MB chunked", "/api/v1/patients", {**json_h, **auth}, 200 * MB, True, 1),
        ("FHIR 200 MB chunked", "/fhir", {**json_h, **auth}, 200 * MB, True, 1),
        ("FHIR 200 MB chunked x4", "/fhir", {**json_h, **auth}, 200 * MB, True, 4),
        (
            "upload 1 GiB declared",
            "/api/v1/visits/1/movement",
            {"Content-Type": "multipart/form-data; boundary=b", **auth},
            1024 * MB,
            False,
            1,
        ),
        (
            "upload 1 GiB chunked",
            "/api/v1/visits/1/movement",
            {"Content-Type": "multipart/form-data; boundary=b", **auth},
            1024 * MB,
            True,
            1,
        ),
    ]
    rows = []
    for name, path, headers, total, chunked, parallel in cases:
        await asyncio.sleep(0.5)
        before = _status_kb(pid, "VmRSS")
        reset_peak(pid)
        t0 = time.perf_counter()
        prefix = part if "multipart" in headers.get("Content-Type", "") else b""
        results = await asyncio.gather(
            *(
                send_body(port, "POST", path, headers, total, chunked, prefix)
                for _ in range(parallel)
            )
        )
        seconds = time.perf_counter() - t0
        peak = _status_kb(pid, "VmHWM")
        rows.append(
            {
                "case": name,
                "status": sorted({s for s, _ in results}),
                "sent_mb": round(max(b for _, b in results) / MB, 1),
                "seconds": round(seconds, 2),
                "rss_before_mb": round(before / 1024, 1),
                "growth_mb": round(max(peak - before, 0) / 1024, 1),
            }
        )
    return rows


async def soak(
    base: str, pid: int, cookies: httpx.Cookies, csrf: str, clients: int, seconds: float, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    patients: list[tuple[int, int]] = []
    conns = [
        httpx.AsyncClient(
            base_url=base,
            cookies=cookies,
            headers={"X-CSRF-Token": csrf},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=60,
        )
        for _ in range(clients)
    ]
    for i in range(20):
        r = await conns[0].post(
            "/api/v1/patients", json={"family_name": f"Soak{i}", "sex": "female"}
        )
        patients.append((r.json()["id"], r.json()["version"]))
    reset_peak(pid)
    stop_at = time.perf_counter() + seconds
    counter = 0

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal counter
        while time.perf_counter() < stop_at:
            counter += 1
            roll = rng.random()
            pid_, version = rng.choice(patients)
            t = time.perf_counter()
            if roll < 0.3:
                r = await client.get("/api/v1/patients", params={"q": "soak"})
                ok = r.status_code == 200
            elif roll < 0.55:
                r = await client.get(f"/api/v1/patients/{pid_}")
                ok = r.status_code == 200
            elif roll < 0.8:
                r = await client.get(f"/api/v1/patients/{pid_}/visits")
                ok = r.status_code == 200
            elif roll < 0.9:
                r = await client.post(
                    "/api/v1/patients", json={"family_name": f"New{counter}", "sex": "male"}
                )
                ok = r.status_code == 201
            else:
                r = await client.patch(
                    f"/api/v1/patients/{pid_}", json={"notes": f"n{counter}", "version": version}
                )
                ok = r.status_code in (200, 409)  # 409: another client changed it first
            latencies.append(time.perf_counter() - t)
            if not ok:
                key = str(r.status_code)
                errors[key] = errors.get(key, 0) + 1

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(c) for c in conns))
        wall = time.perf_counter() - t0
    finally:
        for c in conns:
            await c.aclose()
    lat = sorted(x * 1000 for x in latencies)
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(lat),
        "errors": errors,
        "throughput_rps": round(len(lat) / wall, 1),
        "p50_ms": round(_pct(lat, 50), 1),
        "p99_ms": round(_pct(lat, 99), 1),
        "peak_rss_mb": round(_status_kb(pid, "VmHWM") / 1024, 1),
        "mean_ms": round(statistics.fmean(lat), 1) if lat else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--skip-soak", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        url = f"sqlite:///{data / 'bench.sqlite3'}"
        env = dict(os.environ, XDG_DATA_HOME=str(data))
        subprocess.run(
            [sys.executable, "-c", "from glutemed.cli import main; main()", "users", "create",
             "bench", "--admin", "--password", PASSWORD, "--database-url", url],
            check=True, env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        port = _free_port()
        proc = start_server(port, data, url)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, proc)
            with httpx.Client(base_url=base) as c:
                r = c.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD})
                r.raise_for_status()
                csrf = r.json()["csrf_token"]
                cookies = c.cookies
                cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            rows = asyncio.run(refused_bodies(port, proc.pid, cookie, csrf))
            soak_result = (
                None
                if args.skip_soak
                else asyncio.run(
                    soak(base, proc.pid, cookies, csrf, args.clients, args.seconds, args.seed)
                )
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print("refused bodies (server memory growth; target < 20 MB)")
    print(f"{'case':<26} {'status':>8} {'sent MB':>8} {'s':>7} {'RSS MB':>8} {'growth MB':>10}")
    for row in rows:
        status = ",".join(str(s) for s in row["status"])
        print(
            f"{row['case']:<26} {status:>8} {row['sent_mb']:>8} {row['seconds']:>7} "
            f"{row['rss_before_mb']:>8} {row['growth_mb']:>10}"
        )
    if soak_result:
        s = soak_result
        print(
            f"\nsoak: {s['clients']} clients, {s['seconds']} s, {s['requests']} requests "
            f"({s['throughput_rps']} req/s), errors {s['errors'] or 0}, p50 {s['p50_ms']} ms, "
            f"p99 {s['p99_ms']} ms, peak RSS {s['peak_rss_mb']} MB"
        )
    print(
        json.dumps(
            {
                "benchmark": "hardening",
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "refused_bodies": rows,
                "max_growth_mb": max(r["growth_mb"] for r in rows),
                "soak": soak_result,
            }
        )
    )


if __name__ == "__main__":
    main()
