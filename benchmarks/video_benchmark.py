"""Speed of pose estimation from a video in the browser, and the whole time to the result page.

    .venv/bin/python benchmarks/video_benchmark.py [--seconds 20] [--models lite,full]
                                                   [--page-model lite] [--video clip.mp4]

What it measures
----------------
1. Frames per second of BlazePose (``@mediapipe/pose``, served by the app) in headless Chromium
   on this machine's CPU, per model, as ``glutemed motion VIDEO.mp4`` runs it: the demo video
   ``cam01.mp4`` of pose2sim 0.10.49 (100 frames, 60 Hz, 1080 x 1920 px), fetched with pip into
   ``.cache/pose2sim`` (git-ignored) unless ``--video`` is given. Model loading is timed apart.
2. The whole time a clinician waits: from choosing a ``--seconds`` long video on the movement
   page to the result page, in a real app (uvicorn on loopback, SQLite) driven by Playwright, with
   ``--page-model``. The clip is the demo video looped to that length (ffmpeg from the
   imageio-ffmpeg package, stream copy: same frames, same 60 Hz).

Prints a table and one JSON line (``{"benchmark": "video", ...}``).

``--frame-rate`` measures instead what halving the frame rate does to the measures (the
basis of the knowledge base's ``motion_min_frame_rate_hz`` and
``motion_half_rate_obliquity_change_deg``): the project's reference gait recordings
(``../shared/data/c3d``, 3D markers at 50 Hz) and the BlazePose landmarks of pose2sim's demo
videos cached by the video tests (``.cache/pose2sim/landmarks``, 60 Hz, or ``--landmarks``
files) are analysed at their own rate and with every second frame::

    .venv/bin/python benchmarks/video_benchmark.py --frame-rate

Measured (2026-12-01, 2 CPUs shared with other jobs at a load average of 3-7, Debian Chromium
156, no GPU: WebGL runs on SwiftShader, the CPU)::

    .venv/bin/python benchmarks/video_benchmark.py --seconds 20 --models "" --page-model lite
    choosing a 20 s video -> result page (lite): 1631.8 s    (1200 frames at 60 Hz)

    model   frames  frames/s  model load s  CLI wall s
    lite       100      0.55          3.94       190.1    (load average ~6)
    lite       100      1.21          1.59        86.4    (load average ~4)
    full       100      0.87          2.09       118.8    (load average ~4)

The in-browser model is the slow part (about 0.3-0.5 s a frame for lite here); upload and
analysis of the landmarks take a few seconds. A phone or laptop with a GPU runs the same
WebGL path much faster; this machine has none.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "pose2sim"
SPEC = "pose2sim==0.10.49"
MEMBER = "Pose2Sim/Demo_SinglePerson/videos/cam01.mp4"
PASSWORD = "benchmark password 1234"


def demo_video(dest: Path) -> Path:
    """The pose2sim demo video cam01.mp4 (downloads the wheel with pip once)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = sorted(CACHE.glob("pose2sim-0.10.49-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                        str(CACHE), SPEC], check=True)
        wheels = sorted(CACHE.glob("pose2sim-0.10.49-*.whl"))
    with zipfile.ZipFile(wheels[0]) as zf:
        zf.extract(MEMBER, dest)
    return dest / MEMBER


def looped_clip(video: Path, seconds: float, dest: Path) -> Path:
    """The video repeated to ``seconds`` (stream copy, no re-encoding)."""
    import imageio_ffmpeg

    out = dest / f"clip-{seconds:g}s.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1",
                    "-i", str(video), "-t", f"{seconds}", "-c", "copy", "-an", str(out)],
                   check=True)
    return out


def model_speed(video: Path, model: str) -> dict[str, Any]:
    from glutemed.motion.video import pose_from_video

    start = time.perf_counter()
    doc = pose_from_video(video, model=model)
    wall = time.perf_counter() - start
    timing = doc["timing"]
    return {"model": model, "frames": len(doc["frames"]), "fps": timing["frames_per_s"],
            "model_load_s": timing["model_load_s"], "wall_s": round(wall, 2)}


def _server(tmp: Path) -> tuple[str, Any, threading.Thread]:
    import uvicorn

    import glutemed.store as store
    from glutemed.server import Settings, create_app

    url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    store.create_user("bench", PASSWORD, role="clinician", clinic="Bench", database_url=url)
    settings = Settings(database_url=url, environment="test", secret_key="bench-" + "x7Qp2" * 8,
                        cookie_secure=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                        log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", srv, thread


def page_to_result(clip: Path, model: str, tmp: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    base, srv, thread = _server(tmp)
    complexity = {"lite": "0", "full": "1", "heavy": "2"}[model]
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"))
            page = browser.new_page()
            page.goto(f"{base}/patients")
            page.fill("#username", "bench")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.click("text=New patient")
            page.fill("#family_name", "Bench")
            page.click("button:has-text('Save')")
            page.click("text=New visit")
            page.click("button:has-text('Save and assess')")
            page.click("text=Measure from a phone video")
            page.select_option("#model", complexity)
            start = time.perf_counter()
            page.set_input_files("#video-file", str(clip))
            page.click("#start")
            page.wait_for_url(re.compile(r".*/movement/\d+$"), timeout=6 * 3600 * 1000)
            page.locator("h1").wait_for()
            total = time.perf_counter() - start
            browser.close()
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
    return {"model": model, "clip_s": None, "to_result_page_s": round(total, 1)}


def _halved(trial: Any) -> Any:
    return trial.replace(
        landmarks={n: a[::2] for n, a in trial.landmarks.items()},
        confidence={n: a[::2] for n, a in trial.confidence.items()} if trial.confidence else None,
        sampling_rate_hz=trial.sampling_rate_hz / 2.0, events=())


def frame_rate_check(c3d_files: list[Path], landmark_files: list[Path]) -> list[dict[str, Any]]:
    """Per file: the change of the measures when every second frame is dropped."""
    import numpy as np

    from glutemed.motion import analyse_trial, read_trial

    rows: list[dict[str, Any]] = []
    for path in c3d_files:
        trial = read_trial(path)
        full, half = (analyse_trial(t, "walk", events="detect") for t in (trial, _halved(trial)))
        change = []
        for side in ("left", "right"):
            a = full.per_side[side]["contralateral_pelvic_drop_deg"]
            b = half.per_side[side]["contralateral_pelvic_drop_deg"]
            if a and b:
                change.append(abs(a["mean"] - b["mean"]))
        shifts = [min(abs(e.time_s - h.time_s) for h in half.events
                      if (h.side, h.kind) == (e.side, e.kind))
                  for e in full.events
                  if any((h.side, h.kind) == (e.side, e.kind) for h in half.events)]
        # an event the halved trial has no counterpart for within a step is reported apart
        near = [x for x in shifts if x < 0.3]
        rows.append({"file": path.name, "kind": "3D markers", "rate_hz": trial.sampling_rate_hz,
                     "cpd_mean_change_deg": round(max(change), 3) if change else None,
                     "event_shift_median_ms": round(1000 * float(np.median(near)), 1)
                     if near else None,
                     "events_unmatched": len(full.events) - len(near)})
    for path in landmark_files:
        trial = read_trial(path)
        full, half = (analyse_trial(t, "walk") for t in (trial, _halved(trial)))
        diff = half.obliquity_deg - full.obliquity_deg[::2][: half.obliquity_deg.size]
        rows.append({"file": path.name, "kind": "BlazePose 2D", "rate_hz": trial.sampling_rate_hz,
                     "obliquity_rms_change_deg": round(float(np.sqrt(np.nanmean(diff ** 2))), 2)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length for the page")
    parser.add_argument("--models", default="lite,full", help="models for the speed table")
    parser.add_argument("--page-model", default="lite", choices=["lite", "full", "heavy"])
    parser.add_argument("--video", type=Path, help="a video instead of the pose2sim demo")
    parser.add_argument("--frame-rate", action="store_true",
                        help="measure the effect of halving the frame rate instead")
    parser.add_argument("--landmarks", type=Path, nargs="*", help="landmark JSON files for "
                        "--frame-rate (default: the video tests' cached ones)")
    args = parser.parse_args()
    if args.frame_rate:
        c3d = sorted((ROOT.parent / "shared" / "data" / "c3d").glob("gait-*.c3d"))
        marks = args.landmarks or sorted((CACHE / "landmarks").glob("cam0*.json"))
        rows = frame_rate_check(c3d, marks)
        print(f"{'file':<36}{'kind':<14}{'Hz':>5}  change when every second frame is dropped")
        for r in rows:
            what = (f"mean pelvic drop {r['cpd_mean_change_deg']} deg, events "
                    f"{r['event_shift_median_ms']} ms (median), {r['events_unmatched']} "
                    "unmatched" if r["kind"] == "3D markers"
                    else f"pelvic obliquity {r['obliquity_rms_change_deg']} deg RMS")
            print(f"{r['file']:<36}{r['kind']:<14}{r['rate_hz']:>5g}  {what}")
        print(json.dumps({"benchmark": "video_frame_rate", "rows": rows}))
        return
    with tempfile.TemporaryDirectory(prefix="glutemed-video-bench-") as tmp_name:
        tmp = Path(tmp_name)
        video = args.video or demo_video(tmp)
        speeds = [model_speed(video, m) for m in args.models.split(",") if m]
        clip = looped_clip(video, args.seconds, tmp)
        page = page_to_result(clip, args.page_model, tmp)
        page["clip_s"] = args.seconds
    print(f"{'model':<8}{'frames':>8}{'frames/s':>10}{'model load s':>14}{'CLI wall s':>12}")
    for s in speeds:
        print(f"{s['model']:<8}{s['frames']:>8}{s['fps']:>10.2f}{s['model_load_s']:>14.2f}"
              f"{s['wall_s']:>12.1f}")
    print(f"choosing a {args.seconds:g} s video -> result page ({args.page_model}): "
          f"{page['to_result_page_s']:.1f} s")
    print(json.dumps({"benchmark": "video", "video": video.name, "speed": speeds,
                      "page": page}))


if __name__ == "__main__":
    main()
