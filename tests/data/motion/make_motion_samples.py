"""Regenerate the small motion test files in this folder.

    .venv/bin/python tests/data/motion/make_motion_samples.py            # synthetic samples
    .venv/bin/python tests/data/motion/make_motion_samples.py --expected # stored gait-raw result

The synthetic files are made by code (no person was recorded). ``--expected`` re-pins the
stored-result test to the current output for ../shared/data/c3d/gait-raw.c3d: only do this for a
deliberate change, and note it in CHANGELOG.md under "Clinical changes" with its size.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from tests.motion.conftest import C3D_DIR, standing_trial  # noqa: E402

from glutemed.motion import BODY_25, analyse_file  # noqa: E402

TOLERANCES = {
    "contralateral_pelvic_drop_deg": 0.05,
    "hip_adduction_deg": 0.05,
    "lateral_trunk_lean_deg": 0.05,
    "knee_frontal_plane_projection_angle_deg": 0.05,
    "step_width_m": 0.001,
    "cadence_steps_per_min": 0.1,
}


def write_generic_sls() -> None:
    """Single-leg stance on the left (right foot lifted 1.5-4.5 s), contralateral drop 12 deg."""
    trial = standing_trial(rate=50.0, duration_s=5.0, lifted="right", drop_deg=12.0)
    names = sorted(trial.landmarks)
    header = ["time_s"] + [f"{n}_{a}" for n in names for a in "xyz"]
    lines = ["# glutemed generic motion CSV (synthetic; see README.md)", "# units: mm",
             ",".join(header)]
    for i, t in enumerate(trial.time_s):
        vals = [f"{t:.2f}"] + [f"{1000 * v:.1f}" for n in names for v in trial.landmarks[n][i]]
        lines.append(",".join(vals))
    (HERE / "generic_sls.csv").write_text("\n".join(lines) + "\n")


def write_openpose() -> None:
    """Five BODY_25 frames of a standing figure seen from the front (pixels)."""
    folder = HERE / "openpose_body25"
    folder.mkdir(exist_ok=True)
    base = {
        "nose": (960, 200), "neck": (960, 300), "right_shoulder": (880, 300),
        "left_shoulder": (1040, 300), "right_elbow": (860, 420), "left_elbow": (1060, 420),
        "right_wrist": (850, 530), "left_wrist": (1070, 530), "mid_hip": (960, 560),
        "right_hip": (915, 560), "left_hip": (1005, 560), "right_knee": (915, 760),
        "left_knee": (1005, 760), "right_ankle": (915, 950), "left_ankle": (1005, 950),
        "right_eye": (945, 185), "left_eye": (975, 185), "right_ear": (925, 195),
        "left_ear": (995, 195), "left_toe": (1010, 990), "left_small_toe": (1030, 985),
        "left_heel": (1000, 965), "right_toe": (910, 990), "right_small_toe": (890, 985),
        "right_heel": (920, 965),
    }
    for i in range(5):
        kps: list[float] = []
        for name in BODY_25:
            x, y = base[name]
            kps += [float(x), float(y + (2 * i if name == "left_hip" else 0)), 0.9]
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": kps}]}
        (folder / f"standing_{i:012d}_keypoints.json").write_text(json.dumps(doc) + "\n")


def write_expected() -> None:
    result = analyse_file(C3D_DIR / "gait-raw.c3d", task="walk").to_dict()
    per_side = {}
    for side, entry in result["per_side"].items():
        out: dict[str, object] = {"n_strides": entry["n_strides"]}
        for mid in TOLERANCES:
            if entry[mid] is not None:
                out[mid] = {"mean": entry[mid]["mean"], "n": entry[mid]["n"]}
        out["trendelenburg"] = entry["trendelenburg"]["call"]
        per_side[side] = out
    doc = {
        "source": "../shared/data/c3d/gait-raw.c3d, task walk, default settings",
        "generated_by": "tests/data/motion/make_motion_samples.py --expected",
        "tolerances": TOLERANCES,
        "per_side": per_side,
        "findings": result["findings"],
        "quality_codes": sorted({q["code"] for q in result["quality"]}),
    }
    (HERE / "gait_raw_expected.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    if "--expected" in sys.argv:
        write_expected()
    else:
        np.random.seed(0)
        write_generic_sls()
        write_openpose()
