"""`glutemed motion VIDEO.mp4`: pose estimation in headless Chromium from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from glutemed.cli import app

pytestmark = pytest.mark.slow


def test_motion_video_gives_the_landmarks_the_browser_gives(
    tmp_path: Path, pose2sim_videos: dict[str, Path], demo_landmarks: dict[str, dict[str, Any]]
) -> None:
    out = tmp_path / "cam04.landmarks.json"
    result = CliRunner().invoke(app, [
        "motion", str(pose2sim_videos["cam04"]), "--model", "lite", "--max-duration", "0.25",
        "--landmarks-out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["sampling_rate_hz"] == 60 and data["n_frames"] == 15
    assert data["data"] == {"dimensions": 2, "units": "px", "frame": "image"}
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["pose_model"]["model"] == "pose_landmark_lite"
    full = demo_landmarks["cam04"]["frames"]
    for mine, theirs in zip(doc["frames"], full[:15], strict=True):  # the same first frames
        assert mine["timestamp_ms"] == theirs["timestamp_ms"]
        assert max(abs(a["x"] - b["x"]) + abs(a["y"] - b["y"])
                   for a, b in zip(mine["landmarks"], theirs["landmarks"], strict=True)) < 1e-3


def test_motion_video_names_what_is_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["motion", str(tmp_path / "absent.mp4")])
    assert result.exit_code != 0
    assert "no such file" in result.output
