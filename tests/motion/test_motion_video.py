"""Video front end: peak pelvic drop frame and the annotated still, on synthetic landmarks.

The in-browser pose model itself is exercised on real video in ``tests/e2e`` and
``test_motion_video_demo.py``; here the landmarks are synthetic with a known pelvic drop.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from glutemed.motion import analyse_file, read_trial
from glutemed.motion.video import annotate_still, peak_pelvic_drop
from tests.motion._helpers import mediapipe_stance_doc, solid_jpeg


@pytest.fixture
def stance_file(tmp_path: Path) -> Path:
    path = tmp_path / "stance.landmarks.json"
    path.write_text(json.dumps(mediapipe_stance_doc(drop_deg=8.0)), encoding="utf-8")
    return path


def test_peak_is_inside_the_stance_bout_at_the_drop(stance_file: Path) -> None:
    result = analyse_file(stance_file, "single_leg_stance").to_dict()
    assert [p["side"] for p in result["phases"]] == ["left"]
    peak = peak_pelvic_drop(read_trial(stance_file), result)
    assert peak is not None
    assert peak.side == "left"
    assert peak.pelvic_drop_deg == pytest.approx(8.0, abs=0.05)
    assert 1.8 <= peak.time_s <= 4.2
    assert peak.frame == round(peak.time_s * 30.0)


def test_no_peak_without_phases(stance_file: Path) -> None:
    trial = read_trial(stance_file)
    assert peak_pelvic_drop(trial, {"phases": []}) is None


def test_still_has_the_pelvis_line_where_the_hips_are(stance_file: Path) -> None:
    trial = read_trial(stance_file)
    result = analyse_file(stance_file, "single_leg_stance").to_dict()
    peak = peak_pelvic_drop(trial, result)
    assert peak is not None
    png = annotate_still(solid_jpeg(360, 640), trial, peak)  # half the video's size
    assert png.startswith(b"\x89PNG")
    image = plt.imread(io.BytesIO(png))
    assert image.shape[:2] == (640, 360)
    # on the pelvis line, 3/4 of the way from the mid-hip (180, 320) to the left hip (209.7,
    # 315.8) in this half-size picture (the trunk line starts at the mid-hip)
    r, g, b = image[317, 202, :3]
    assert r > 0.9 and 0.7 < g < 0.9 and b < 0.2, (r, g, b)  # the yellow pelvis line
    assert np.allclose(image[40, 340, :3], 0.3, atol=0.05)  # far from the lines: the frame


def test_still_rejects_what_is_not_an_image(stance_file: Path) -> None:
    from glutemed.errors import MotionDataError

    trial = read_trial(stance_file)
    result = analyse_file(stance_file, "single_leg_stance").to_dict()
    peak = peak_pelvic_drop(trial, result)
    assert peak is not None
    with pytest.raises(MotionDataError, match="JPEG or PNG"):
        annotate_still(b"not an image", trial, peak)
