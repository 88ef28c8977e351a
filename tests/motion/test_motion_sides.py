"""Left/right label swaps of a 2D pose model, corrected from the continuity of the body."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from glutemed.motion import read_mediapipe
from glutemed.motion._landmarks import MEDIAPIPE_33
from glutemed.motion._sides import relabel_sides

RATE = 60.0
#: MediaPipe indices of the left/right pairs used below.
PAIRS = {"shoulder": (11, 12), "hip": (23, 24), "knee": (25, 26), "ankle": (27, 28)}


def _walker(n: int, *, towards: bool | None, facing_camera: bool) -> np.ndarray:
    """(n, 33, 2) pixel keypoints of a person in a 1080 x 1920 picture, seen from the front
    (their left on the picture's right) or the back; walking towards the camera moves the
    feet down the picture, walking away moves them up, None stands still."""
    t = np.arange(n) / RATE
    speed = 0.0 if towards is None else (1.0 if towards else -1.0)
    scale = 1.0 + 0.15 * speed * t  # the person grows walking towards the camera
    base_y = 1100.0 + 120.0 * speed * t
    xy = np.full((n, 33, 2), np.nan)
    side = 1.0 if facing_camera else -1.0  # left side at larger x when facing the camera
    heights = {"shoulder": -520.0, "hip": -250.0, "knee": -120.0, "ankle": 0.0}
    halves = {"shoulder": 70.0, "hip": 40.0, "knee": 35.0, "ankle": 30.0}
    rng = np.random.default_rng(3)
    for part, (li, ri) in PAIRS.items():
        for idx, sgn in ((li, side), (ri, -side)):
            xy[:, idx, 0] = 540.0 + sgn * halves[part] * scale + rng.normal(0, 1.5, n)
            xy[:, idx, 1] = base_y + heights[part] * scale + rng.normal(0, 1.5, n)
    xy[:, 0, 0] = 540.0  # the nose
    xy[:, 0, 1] = base_y - 640.0 * scale
    # heels and toes with the ankles
    for a, b in ((29, 27), (30, 28), (31, 27), (32, 28)):
        xy[:, a] = xy[:, b] + np.array([0.0, 10.0])
    return xy


def _swap(xy: np.ndarray, frames: np.ndarray) -> np.ndarray:
    out = xy.copy()
    for li, ri in [(j, MEDIAPIPE_33.index("right_" + n[5:]))
                   for j, n in enumerate(MEDIAPIPE_33) if n.startswith("left_")]:
        out[frames, li], out[frames, ri] = xy[frames, ri], xy[frames, li]
    return out


def _swapped_blocks(n: int, share: float, seed: int) -> np.ndarray:
    """Blocks of 3-12 frames whose labels the 'model' swapped, about ``share`` of them."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    while mask.mean() < share:
        start = int(rng.integers(0, n - 12))
        mask[start : start + int(rng.integers(3, 13))] = True
    return mask


@pytest.mark.parametrize(("towards", "facing", "share", "decided_by"), [
    (True, True, 0.6, "movement"),  # the model gets the facing wrong in most frames
    (False, False, 0.3, "movement"),  # walking away shows the back
    (None, True, 0.2, "labels"),  # standing still: the model's majority
])
def test_swapped_frames_are_found(towards: bool | None, facing: bool, share: float,
                                  decided_by: str) -> None:
    truth = _walker(240, towards=towards, facing_camera=facing)
    swapped = _swapped_blocks(240, share, seed=int(10 * share))
    found = relabel_sides(_swap(truth, swapped), MEDIAPIPE_33, RATE)
    assert found.decided_by == decided_by
    assert np.array_equal(found.swapped, swapped)
    assert not found.collapsed.any()


def _doc(xy: np.ndarray) -> dict[str, object]:
    frames = [{"timestamp_ms": 1000.0 * i / RATE,
               "landmarks": [{"x": float(p[0]) / 1080.0, "y": float(p[1]) / 1920.0,
                              "visibility": 1.0} if np.isfinite(p).all()
                             else {"x": 0.5, "y": 0.5, "visibility": 0.0} for p in frame]}
              for i, frame in enumerate(xy)]
    return {"fps": RATE, "image_width": 1080, "image_height": 1920, "frames": frames}


def test_reader_swaps_back_and_says_so_in_words(tmp_path: Path) -> None:
    truth = _walker(120, towards=None, facing_camera=True)
    coin = _swapped_blocks(120, 0.45, seed=5)
    path = tmp_path / "video.landmarks.json"
    path.write_text(json.dumps(_doc(_swap(truth, coin))), encoding="utf-8")
    trial = read_mediapipe(path)
    notes = dict(trial.notes)
    assert "swapped back" in notes["sides_relabelled"]
    # standing still, a model at chance cannot tell front from back: the result says so
    assert "faces the camera" in notes["facing_uncertain"]
    left, right = trial.get("left_hip")[:, 0], trial.get("right_hip")[:, 0]
    order = np.sign(left - right)
    assert abs(float(np.mean(order))) == 1.0  # one consistent side throughout
