"""Keypoint models: named, detected from the layout, refused when the layout does not fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from glutemed.errors import InputValueError, MotionDataError
from glutemed.motion import (
    BODY_25,
    BODY_25B,
    HALPE_26,
    KEYPOINT_MODELS,
    analyse_trial,
    keypoint_layout_score,
    read_openpose,
)

DATA = Path(__file__).parents[1] / "data" / "motion"
POSE2SIM = DATA / "pose2sim_body25b_cam1"  # real BODY_25B output (Pose2Sim demo, BSD-3)


def _frames(folder: Path) -> list[dict[str, object]]:
    return [json.loads(f.read_text(encoding="utf-8")) for f in sorted(folder.glob("*.json"))]


def _write(folder: Path, docs: list[dict[str, object]]) -> Path:
    folder.mkdir()
    for i, doc in enumerate(docs):
        (folder / f"f_{i:012d}_keypoints.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def _reorder(docs: list[dict[str, object]], src: tuple[str, ...], dst: tuple[str, ...],
             ) -> list[dict[str, object]]:
    """Rewrite each person's keypoints from model ``src`` into model ``dst``'s order."""
    out = []
    for doc in docs:
        people = []
        for person in doc["people"]:  # type: ignore[attr-defined]
            kp = np.asarray(person["pose_keypoints_2d"], dtype=float).reshape(-1, 3)
            new = np.zeros((len(dst), 3))
            for j, name in enumerate(dst):
                if name in src:
                    new[j] = kp[src.index(name)]
            people.append({"pose_keypoints_2d": new.ravel().tolist()})
        out.append({"people": people})
    return out


def test_real_body_25b_output_is_detected_and_read_in_its_own_order() -> None:
    trial = read_openpose(POSE2SIM, sampling_rate_hz=60)
    kp = np.asarray(_frames(POSE2SIM)[0]["people"][0]["pose_keypoints_2d"]).reshape(-1, 3)
    np.testing.assert_allclose(trial.landmarks["left_hip"][0], [kp[11, 0], 0.0, -kp[11, 1]])
    assert [code for code, _ in trial.notes] == ["keypoint_model_detected"]
    assert "BODY_25B" in trial.notes[0][1]


def test_a_wrong_claimed_model_is_refused_with_the_right_one_named() -> None:
    """BODY_25B read as BODY_25 makes a wrist a hip (obliquity 24-27 deg, no flag, before)."""
    with pytest.raises(MotionDataError) as exc:
        read_openpose(POSE2SIM, sampling_rate_hz=60, keypoint_model="body_25")
    assert "body_25b" in str(exc.value) and "BODY_25" in str(exc.value)
    trial = read_openpose(POSE2SIM, sampling_rate_hz=60, keypoint_model="body_25b")
    assert trial.notes == ()


def test_layout_scores_separate_the_two_25_point_models() -> None:
    docs = _frames(POSE2SIM)
    xy = np.array([np.asarray(d["people"][0]["pose_keypoints_2d"]).reshape(-1, 3)[:, :2]
                   for d in docs])
    right, _ = keypoint_layout_score(xy, BODY_25B)
    wrong, worst = keypoint_layout_score(xy, BODY_25)
    assert right > 0.9 > 0.7 > wrong
    assert "%" in worst


def test_body_25_and_halpe_26_files_are_read_in_their_order(tmp_path: Path) -> None:
    docs = _frames(POSE2SIM)
    for model, names in (("body_25", BODY_25), ("halpe_26", HALPE_26)):
        folder = _write(tmp_path / model, _reorder(docs, BODY_25B, names))
        trial = read_openpose(folder, sampling_rate_hz=60)
        reference = read_openpose(POSE2SIM, sampling_rate_hz=60)
        for name in ("left_hip", "right_knee", "left_heel", "nose"):
            np.testing.assert_allclose(trial.landmarks[name], reference.landmarks[name])
        if model == "body_25":  # two 25-point models: the layout decides
            assert "read as BODY_25," in trial.notes[0][1]
        else:  # the only 26-point model
            assert [m for m, v in KEYPOINT_MODELS.items() if len(v) == 26] == ["halpe_26"]
            assert trial.notes == ()


def test_an_upside_down_layout_blocks_interpretation(tmp_path: Path) -> None:
    docs = _frames(POSE2SIM)
    for doc in docs:
        for person in doc["people"]:  # type: ignore[attr-defined]
            kp = person["pose_keypoints_2d"]
            kp[1::3] = [2000.0 - y for y in kp[1::3]]  # rows flipped: feet above the head
    folder = _write(tmp_path / "flipped", docs)
    trial = read_openpose(folder, sampling_rate_hz=60, keypoint_model="body_25b")
    assert "keypoints_implausible" in [code for code, _ in trial.notes]
    result = analyse_trial(trial, "single_leg_stance")
    flag = next(q for q in result.quality if q.code == "keypoints_implausible")
    assert flag.blocks_interpretation


def test_keypoint_model_option_is_checked(tmp_path: Path) -> None:
    with pytest.raises(InputValueError, match="keypoint_model"):
        read_openpose(POSE2SIM, sampling_rate_hz=60, keypoint_model="body25")
    with pytest.raises(MotionDataError, match="26 keypoints"):
        read_openpose(POSE2SIM, sampling_rate_hz=60, keypoint_model="halpe_26")


# --------------------------------------------------------------------------- camera view


def test_oblique_camera_is_flagged_with_its_distortion() -> None:
    """Camera 1 of Pose2Sim's demo films the pelvis about 54 deg off the front (from its
    calibration); the hip width (0.34 trunk lengths) passed the old frontal check. Standing
    task: the view is judged from the nose."""
    trial = read_openpose(POSE2SIM, sampling_rate_hz=60)
    result = analyse_trial(trial, "single_leg_stance")
    flag = next(q for q in result.quality if q.code == "camera_not_frontal")
    assert flag.blocks_interpretation
    assert "times too large" in flag.message and "°" in flag.message


def test_near_frontal_camera_is_not_flagged() -> None:
    """Camera 4 of the same recording films about 11 deg off the front."""
    trial = read_openpose(DATA / "pose2sim_body25b_cam4", sampling_rate_hz=60)
    result = analyse_trial(trial, "single_leg_stance")
    assert "camera_not_frontal" not in {q.code for q in result.quality}
