"""Accuracy and speed of glutemed.motion on the shared reference gait files.

    .venv/bin/python benchmarks/motion_benchmark.py [--repeats 15]

Prints a table and one machine-readable JSON line with:

* pelvic obliquity from gait-raw.c3d markers vs Plug-in Gait's LPelvisAngles (RMSE, deg; goal <= 1);
* detected foot strikes / foot offs vs the EVENT group of gait-pig.c3d (median |error| in frames;
  goal <= 1), for the default ``zeni_refined`` and for plain Zeni 2008;
* the 2D path: the raw markers (Davis hip joint centres as hip keypoints) filmed by a frontal
  pinhole camera (f = 1500 px, 1920 x 1080, at hip height 2 m beyond the walkway's end), 2 px
  Gaussian keypoint noise, 2D pipeline; obliquity RMSE vs Plug-in Gait (goal <= 2 deg; seed 0 and
  the mean/max over 20 seeds) and the 2D event error;
* the time to read, process and measure a 60 s, 120 Hz trial (goal <= 0.2 s, median of repeated
  runs). The trial is synthesised from the real one: one left stride (frames 28-76) with its
  forward progression removed is tiled to 60 s, resampled to 120 Hz by cubic splines, given a
  constant walking speed again and written as a C3D file (mm) that is read back each run.

Reference files: ../shared/data/c3d/ (c3d.org sample03, Vicon Plug-in Gait).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ezc3d
import numpy as np
from scipy.interpolate import CubicSpline

from glutemed.motion import (
    Trial,
    add_hip_joint_centres,
    analyse_file,
    analyse_trial,
    fill_gaps,
    read_c3d,
)

ROOT = Path(__file__).resolve().parents[1]
C3D_DIR = ROOT.parent / "shared" / "data" / "c3d"
RATE_HZ = 50.0


def pig_point(path: Path, label: str) -> np.ndarray:
    c3d = ezc3d.c3d(str(path))
    labels = [s.rsplit(":", 1)[-1] for s in c3d["parameters"]["POINT"]["LABELS"]["value"]]
    i = labels.index(label)
    out = np.asarray(c3d["data"]["points"][:3, i, :], dtype=float).T.copy()
    out[c3d["data"]["meta_points"]["residuals"][0, i] < 0] = np.nan
    return out


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2)))


def event_errors(detected: list, reference: list) -> list[float]:
    errs = []
    for ref in reference:
        same = [e for e in detected if e.side == ref.side and e.kind == ref.kind]
        if same:
            err = min(abs(e.time_s - ref.time_s) for e in same) * RATE_HZ
            if err < 10:
                errs.append(err)
    return errs


def project_frontal(raw: Trial, noise_px: float, seed: int) -> Trial:
    filled, _ = fill_gaps(raw, 0.1)
    t3, _ = add_hip_joint_centres(filled)
    hips = (t3.get("left_hip_joint") + t3.get("right_hip_joint")) / 2.0
    cam = np.array([np.nanmax(hips[:, 0]) + 2.0, np.nanmean(hips[:, 1]), np.nanmean(hips[:, 2])])
    rng = np.random.default_rng(seed)
    names = {"left_hip": "left_hip_joint", "right_hip": "right_hip_joint"}
    names |= {f"{s}_{p}": f"{s}_{p}" for s in ("left", "right") for p in ("knee", "ankle", "toe")}
    lm = {}
    for key, src in names.items():
        p = t3.get(src)
        depth = cam[0] - p[:, 0]
        u = 960 + 1500.0 * (p[:, 1] - cam[1]) / depth + rng.normal(0, noise_px, depth.shape)
        v = 540 - 1500.0 * (p[:, 2] - cam[2]) / depth + rng.normal(0, noise_px, depth.shape)
        arr = np.stack([u, np.zeros_like(u), -v], axis=1)
        arr[~np.isfinite(arr).all(axis=1)] = np.nan
        lm[key] = arr
    return Trial(landmarks=lm, sampling_rate_hz=raw.sampling_rate_hz, source="projected",
                 units="px", frame="image", image_size_px=(1920, 1080))


def long_trial_c3d(raw: Trial, path: Path, duration_s: float = 60.0,
                   rate_hz: float = 120.0) -> int:
    start, stop = 28, 76  # one left stride (left foot strike to left foot strike)
    names = [n for n, a in raw.landmarks.items() if np.isfinite(a[start:stop + 1]).all()]
    stride = stop - start
    sac = raw.get("sacrum")
    speed = (sac[stop] - sac[start]) / stride  # m per frame, horizontal progression
    speed[2] = 0.0
    n_strides = int(np.ceil(duration_s * RATE_HZ / stride)) + 1
    t_in = np.arange(n_strides * stride) / RATE_HZ
    t_out = np.arange(int(duration_s * rate_hz)) / rate_hz
    labels, points = [], []
    for name in names:
        one = raw.get(name)[start:stop] - np.outer(np.arange(stride), speed)
        tiled = np.tile(one, (n_strides, 1))
        spline = CubicSpline(t_in, tiled, axis=0)(t_out)
        spline += np.outer(t_out * RATE_HZ, speed)
        labels.append(raw.source_labels[name])
        points.append(spline * 1000.0)
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [rate_hz]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = labels
    c3d.add_parameter("POINT", "UNITS", ["mm"])
    data = np.ones((4, len(labels), t_out.size))
    data[:3] = np.stack(points, axis=1).transpose(2, 1, 0)
    c3d["data"]["points"] = data
    c3d.write(str(path))
    return t_out.size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    raw_path, pig_path = C3D_DIR / "gait-raw.c3d", C3D_DIR / "gait-pig.c3d"
    if not raw_path.is_file() or not pig_path.is_file():
        print(f"reference files not found in {C3D_DIR}", file=sys.stderr)
        return 2
    pig_obl = pig_point(pig_path, "LPelvisAngles")[:, 1]
    reference = read_c3d(pig_path).events
    raw = read_c3d(raw_path)

    res = analyse_file(raw_path, "walk", events="detect")
    obliquity_rmse = rmse(res.obliquity_deg, pig_obl)
    errs = event_errors(list(res.events), list(reference))
    zeni = analyse_file(raw_path, "walk", events="detect", event_method="zeni")
    errs_zeni = event_errors(list(zeni.events), list(reference))

    rmses_2d, errs_2d = [], []
    for seed in range(20):
        r2 = analyse_trial(project_frontal(raw, 2.0, seed), "walk")
        rmses_2d.append(rmse(r2.obliquity_deg, pig_obl))
        errs_2d.append(float(np.median(event_errors(list(r2.events), list(reference)))))

    with tempfile.TemporaryDirectory() as tmp:
        long_path = Path(tmp) / "walk_60s_120hz.c3d"
        n_frames = long_trial_c3d(raw, long_path)
        times, strides = [], 0
        for _ in range(args.repeats + 1):
            t0 = time.perf_counter()
            long_res = analyse_file(long_path, "walk")
            times.append(time.perf_counter() - t0)
            strides = long_res.per_side["left"]["n_strides"]
        times = times[1:]  # the first run warms caches (knowledge base, imports)

    rows = [
        ("obliquity RMSE vs Plug-in Gait (3D)", obliquity_rmse, "deg", "<= 1.0"),
        ("event median |error| zeni_refined", float(np.median(errs)), "frames", "<= 1"),
        ("event max |error| zeni_refined", float(np.max(errs)), "frames", ""),
        ("events matched (of 9 in the file)", float(len(errs)), "", ""),
        ("event median |error| plain Zeni 2008", float(np.median(errs_zeni)), "frames", ""),
        ("2D obliquity RMSE, seed 0", rmses_2d[0], "deg", "<= 2.0"),
        ("2D obliquity RMSE, mean of 20 seeds", float(np.mean(rmses_2d)), "deg", ""),
        ("2D obliquity RMSE, max of 20 seeds", float(np.max(rmses_2d)), "deg", ""),
        ("2D event median |error|, mean of 20 seeds", float(np.mean(errs_2d)), "frames", ""),
        (f"read+process+measure 60 s 120 Hz ({n_frames} frames), median",
         statistics.median(times), "s", "<= 0.2"),
        ("  strides per side found in the 60 s trial", float(strides), "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>9}  {'unit':<7} goal")
    for name, value, unit, goal in rows:
        print(f"{name:<{width}}  {value:>9.3f}  {unit:<7} {goal}")
    print(json.dumps({
        "benchmark": "motion",
        "obliquity_rmse_deg": round(obliquity_rmse, 4),
        "event_median_error_frames": round(float(np.median(errs)), 4),
        "event_max_error_frames": round(float(np.max(errs)), 4),
        "events_matched": len(errs),
        "event_median_error_frames_plain_zeni": round(float(np.median(errs_zeni)), 4),
        "rmse_2d_deg_seed0": round(rmses_2d[0], 4),
        "rmse_2d_deg_mean20": round(float(np.mean(rmses_2d)), 4),
        "rmse_2d_deg_max20": round(float(np.max(rmses_2d)), 4),
        "event_median_error_frames_2d_mean20": round(float(np.mean(errs_2d)), 4),
        "time_60s_120hz_s_median": round(statistics.median(times), 4),
        "repeats": args.repeats,
        "versions": res.versions,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
