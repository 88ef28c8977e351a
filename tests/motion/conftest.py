"""Fixtures for glutemed.motion tests: the shared reference C3D files and synthetic trials."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glutemed.motion import Trial

C3D_DIR = Path(__file__).parents[2].parent / "shared" / "data" / "c3d"
DATA_DIR = Path(__file__).parents[1] / "data" / "motion"


@pytest.fixture(scope="session")
def c3d_dir() -> Path:
    """Folder of the real Vicon sample files (gait-raw.c3d, gait-pig.c3d)."""
    if not (C3D_DIR / "gait-raw.c3d").is_file() or not (C3D_DIR / "gait-pig.c3d").is_file():
        pytest.skip(f"reference C3D files not found in {C3D_DIR} (../shared/data/c3d/)")
    return C3D_DIR


def standing_trial(
    *,
    rate: float = 100.0,
    duration_s: float = 6.0,
    lifted: str = "right",
    lift_window_s: tuple[float, float] = (1.5, 4.5),
    drop_deg: float = 0.0,
    squats: int = 0,
    squat_depth_m: float = 0.15,
) -> Trial:
    """A synthetic 3D subject facing +x: single-leg stance (or single-leg squats).

    During the lift window (or the whole trial for squats) ``lifted`` foot is raised 0.15 m and
    the pelvis tilts so that the lifted side is ``drop_deg`` lower (contralateral drop).
    """
    n = int(duration_s * rate)
    t = np.arange(n) / rate
    if squats:
        lift = np.ones(n)
        ramp = np.ones(n)
        phase = np.clip(t / duration_s, 0, 1)
        height = 0.95 - squat_depth_m * 0.5 * (1 - np.cos(2 * np.pi * squats * phase))
        tilt = np.radians(drop_deg) * 0.5 * (1 - np.cos(2 * np.pi * squats * phase))
    else:
        a, b = lift_window_s
        lift = np.clip(np.minimum((t - a) / 0.3, (b - t) / 0.3), 0, 1)
        ramp = lift
        height = np.full(n, 0.95)
        tilt = np.radians(drop_deg) * ramp
    sign = 1.0 if lifted == "left" else -1.0  # obliquity left-up positive; lifted side lower
    obl = -sign * tilt
    half = 0.125
    lm: dict[str, np.ndarray] = {}

    def pelvis_point(x: float, y: float, z: float) -> np.ndarray:
        # rotate (y, z) about the x axis by obl: left (+y) rises for positive obl
        yy = y * np.cos(obl) - z * np.sin(obl)
        zz = y * np.sin(obl) + z * np.cos(obl)
        return np.stack([np.full(n, x), yy, height + zz], axis=1)

    lm["left_asis"] = pelvis_point(0.1, half, 0.0)
    lm["right_asis"] = pelvis_point(0.1, -half, 0.0)
    lm["sacrum"] = pelvis_point(-0.08, 0.0, 0.0)
    lm["left_shoulder"] = pelvis_point(0.0, 0.18, 0.5)
    lm["right_shoulder"] = pelvis_point(0.0, -0.18, 0.5)
    for side, y in (("left", 0.1), ("right", -0.1)):
        raised = lift * 0.15 if side == lifted else np.zeros(n)
        lm[f"{side}_knee"] = np.stack([np.full(n, 0.02), np.full(n, y), 0.5 + raised], axis=1)
        lm[f"{side}_ankle"] = np.stack([np.zeros(n), np.full(n, y), 0.08 + raised], axis=1)
        lm[f"{side}_toe"] = np.stack([np.full(n, 0.15), np.full(n, y), 0.03 + raised], axis=1)
    return Trial(landmarks=lm, sampling_rate_hz=rate, source="synthetic.csv")
