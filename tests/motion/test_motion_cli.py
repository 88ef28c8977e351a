"""The CLI's motion options: --keypoints and --vertical-axis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from glutemed.cli import app
from glutemed.motion import read_c3d

from ._helpers import _write_c3d

DATA = Path(__file__).parents[1] / "data" / "motion"
runner = CliRunner()


def test_keypoints_option_names_the_model(tmp_path: Path) -> None:
    folder = str(DATA / "pose2sim_body25b_cam1")
    wrong = runner.invoke(app, ["motion", folder, "--rate", "60", "--task", "single-leg-stance",
                                "--keypoints", "body_25", "--json"])
    assert wrong.exit_code == 2
    assert "--keypoints body_25b" in wrong.output
    right = runner.invoke(app, ["motion", folder, "--rate", "60", "--task", "single-leg-stance",
                                "--keypoints", "body_25b", "--json"])
    assert right.exit_code == 0, right.output
    codes = {q["code"] for q in json.loads(right.output)["quality"]}
    assert "keypoint_model_detected" not in codes


def _y_up_standing(tmp_path: Path) -> Path:
    """A Y-up C3D without POINT:Y_SCREEN: pelvis at 0.95 m on y, feet on the floor."""
    n = 60
    pts = {"LASI": (100, 950, 125), "RASI": (100, 950, -125), "SACR": (-80, 960, 0),
           "LANK": (0, 80, 100), "RANK": (0, 80, -100), "LTOE": (150, 30, 100),
           "RTOE": (150, 30, -100), "LHEE": (-50, 40, 100), "RHEE": (-50, 40, -100)}
    xyz = np.zeros((3, len(pts), n))
    for j, p in enumerate(pts.values()):
        xyz[:, j] = np.asarray(p, dtype=float)[:, None]
    return _write_c3d(tmp_path / "yup.c3d", list(pts), xyz, 100.0)


def test_vertical_axis_is_detected_and_can_be_overridden(tmp_path: Path) -> None:
    """Before, a Y-up file without Y_SCREEN gave obliquity -89.8 deg with no flag."""
    path = _y_up_standing(tmp_path)
    trial = read_c3d(path)
    assert [c for c, _ in trial.notes] == ["vertical_axis_detected"]
    np.testing.assert_allclose(np.nanmean(trial.landmarks["sacrum"][:, 2]), 0.96)
    forced = read_c3d(path, vertical_axis="+z")
    assert forced.notes == ()
    np.testing.assert_allclose(np.nanmean(forced.landmarks["sacrum"][:, 2]), 0.0)
    out = runner.invoke(app, ["motion", str(path), "--task", "single-leg-stance",
                              "--vertical-axis", "+q", "--json"])
    assert out.exit_code == 2 and "vertical_axis" in out.output


def test_text_output_names_measures_in_words() -> None:
    """The table a clinician reads shows measure names and units, never field names."""
    folder = str(DATA / "pose2sim_body25b_cam1")
    res = runner.invoke(app, ["motion", folder, "--rate", "60", "--task", "single-leg-stance",
                              "--keypoints", "body_25b"])
    assert res.exit_code == 0, res.output
    assert "Contralateral pelvic drop (CPD) (°)" in res.output
    assert "_deg" not in res.output and "n_strides" not in res.output
    assert "{" not in res.output.split("findings for the diagnosis engine:")[1]
