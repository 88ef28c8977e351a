"""BlazePose in headless Chromium on real video: pose2sim's four-camera demo recording.

The videos come from pose2sim 0.10.49; pose2sim 0.4.15 ships, for the same recording (100 frames
at 60 Hz, 1088 x 1920 px portrait images, same calibration), the OpenPose BODY_25B keypoints of
every camera and the triangulated 3D keypoints (``opensim/Balancing_for_IK.trc``). The 3D hips
reproject onto the OpenPose hips with a median error of about 10 px, which is how the TRC's axes
were matched to the calibration's world frame (world x, y, z = TRC z, x, y). Both packages are
fetched with pip at test time (see ``tests/conftest.py``).

The person balances and moves in a room rather than walking towards a camera, so these are not
frontal-plane gait tests; they check that landmarks are found, where the hips are, and what the
camera-view check and 2D pelvic obliquity make of real oblique and near-frontal views.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from glutemed.motion import Trial, analyse_file, pelvic_obliquity_deg, read_trial

pytestmark = [pytest.mark.slow]

#: BODY_25B indices (COCO order for the first 17 keypoints).
OP_SHOULDERS, OP_HIPS = (5, 6), (11, 12)
#: MediaPipe indices of left/right hip.
MP_HIPS = (23, 24)


def _rodrigues(r: list[float]) -> np.ndarray:
    v = np.asarray(r, float)
    theta = float(np.linalg.norm(v))
    k = v / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * kx @ kx


def _trc_world(path: Path) -> dict[str, np.ndarray]:
    """TRC markers in the calibration's world frame (x, y, z = TRC z, x, y), metres."""
    lines = path.read_text(encoding="utf-8").splitlines()
    names = [n for n in lines[3].split("\t")[2:] if n]
    rows = np.array([[float(v) for v in ln.split("\t")[2 : 2 + 3 * len(names)]]
                     for ln in lines[5:] if ln.strip()])
    return {n: rows[:, 3 * i : 3 * i + 3][:, [2, 0, 1]] for i, n in enumerate(names)}


class _Camera:
    def __init__(self, entry: dict[str, Any]) -> None:
        self.k = np.array(entry["matrix"])
        self.r = _rodrigues(entry["rotation"])
        self.t = np.array(entry["translation"])

    def project(self, xyz: np.ndarray) -> np.ndarray:
        uvw = (xyz @ self.r.T + self.t) @ self.k.T
        return uvw[:, :2] / uvw[:, 2:3]

    def hip_line_view_deg(self, left: np.ndarray, right: np.ndarray) -> float:
        """Median angle between the horizontal hip line and the optical axis (90 = frontal)."""
        axis = (self.r.T @ np.array([0.0, 0.0, 1.0]))[:2]
        axis /= np.linalg.norm(axis)
        line = (left - right)[:, :2]
        line /= np.linalg.norm(line, axis=1, keepdims=True)
        return float(np.median(np.degrees(np.arccos(np.abs(line @ axis)))))


@pytest.fixture(scope="module")
def reference(pose2sim_reference: Path) -> dict[str, Any]:
    calib = tomllib.loads((pose2sim_reference / "calibration" / "Calib_qualisys.toml")
                          .read_text(encoding="utf-8"))
    openpose = {}
    for cam in range(1, 5):
        files = sorted((pose2sim_reference / "pose" / f"cam{cam}_json").glob("*.json"))
        openpose[f"cam0{cam}"] = [
            [np.array(p["pose_keypoints_2d"]).reshape(-1, 3)
             for p in json.loads(f.read_text(encoding="utf-8"))["people"]] for f in files]
    return {
        "cameras": {f"cam0{i}": _Camera(calib[f"cam_0{i}"]) for i in range(1, 5)},
        "markers": _trc_world(pose2sim_reference / "opensim" / "Balancing_for_IK.trc"),
        "openpose": openpose,
    }


def _trial(doc: dict[str, Any], tmp_path: Path, cam: str) -> Trial:
    path = tmp_path / f"{cam}.landmarks.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return read_trial(path)


def _hip_errors(doc: dict[str, Any], people_frames: list[list[np.ndarray]],
                offset: int) -> list[float]:
    """Per frame: distance of the BlazePose hips to the nearest OpenPose person's hips,
    in trunk lengths (the background person is further away)."""
    w, h = doc["image_width"], doc["image_height"]
    errors = []
    for i, people in enumerate(people_frames):
        lms = doc["frames"][i + offset]["landmarks"]
        if not lms or not people:
            continue
        hips = np.array([[lms[j]["x"] * w, lms[j]["y"] * h] for j in MP_HIPS])
        best = None
        for kp in people:
            if (kp[list(OP_HIPS), 2] <= 0).any() or (kp[list(OP_SHOULDERS), 2] <= 0).any():
                continue
            dist = float(np.linalg.norm(kp[list(OP_HIPS), :2] - hips, axis=1).mean())
            trunk = float(np.linalg.norm(kp[list(OP_SHOULDERS), :2].mean(0)
                                         - kp[list(OP_HIPS), :2].mean(0)))
            if best is None or dist < best[0]:
                best = (dist, dist / trunk)
        if best:
            errors.append(best[1])
    return errors


def _offset(doc: dict[str, Any], people_frames: list[list[np.ndarray]]) -> int:
    """Video frame of the reference's first frame: 0 when the counts match, else the shift
    that brings the hips closest to the OpenPose ones."""
    extra = len(doc["frames"]) - len(people_frames)
    if extra <= 0:
        return 0
    return min(range(extra + 1),
               key=lambda k: float(np.median(_hip_errors(doc, people_frames, k) or [np.inf])))


def test_same_recording_and_frame_count(demo_landmarks: dict[str, Any],
                                        reference: dict[str, Any]) -> None:
    assert sorted(demo_landmarks) == ["cam01", "cam02", "cam03", "cam04"]
    for cam, doc in demo_landmarks.items():
        assert doc["fps"] == 60, cam  # the browser's measured rate snaps to the true 60 Hz
        assert doc["image_height"] == 1920 and doc["image_width"] in (1080, 1088), cam
        people = reference["openpose"][cam]
        assert len(people) == 100 and len(doc["frames"]) >= 100, cam
        print(f"{cam}: {len(doc['frames'])} video frames, reference starts at video frame "
              f"{_offset(doc, people)}")


def test_landmarks_in_every_frame_the_person_is_visible(demo_landmarks: dict[str, Any],
                                                        reference: dict[str, Any]) -> None:
    for cam, doc in demo_landmarks.items():
        people = reference["openpose"][cam]
        offset = _offset(doc, people)
        missed = [i for i, p in enumerate(people)
                  if p and not doc["frames"][i + offset]["landmarks"]]
        assert not missed, f"{cam}: no landmarks in frames {missed[:10]}"
        assert all(f["landmarks"] for f in doc["frames"]), cam  # the person is always in view


def test_hips_close_to_openpose(demo_landmarks: dict[str, Any],
                                reference: dict[str, Any]) -> None:
    for cam, doc in demo_landmarks.items():
        people = reference["openpose"][cam]
        errors = _hip_errors(doc, people, _offset(doc, people))
        assert len(errors) >= 90, cam
        # median hip distance under a quarter of the trunk length (BlazePose and BODY_25B place
        # the hip joint differently)
        print(f"{cam}: hips {np.median(errors):.2f} trunk lengths from OpenPose (median)")
        assert float(np.median(errors)) < 0.25, (cam, float(np.median(errors)))


def _projected_obliquity(reference: dict[str, Any], cam: str) -> np.ndarray:
    camera = reference["cameras"][cam]
    m = reference["markers"]

    def image(name: str) -> np.ndarray:
        uv = camera.project(m[name])
        return np.stack([uv[:, 0], np.zeros(len(uv)), -uv[:, 1]], axis=1)

    trial = Trial(landmarks={"left_hip": image("LHip"), "right_hip": image("RHip")},
                  sampling_rate_hz=60.0, source=f"{cam}-3d", units="px", frame="image")
    return pelvic_obliquity_deg(trial)


def _views(reference: dict[str, Any]) -> dict[str, float]:
    m = reference["markers"]
    return {cam: c.hip_line_view_deg(m["LHip"], m["RHip"])
            for cam, c in reference["cameras"].items()}


def _obliquity_rmse(demo_landmarks: dict[str, Any], reference: dict[str, Any],
                    tmp_path: Path, cam: str) -> float:
    doc = demo_landmarks[cam]
    offset = _offset(doc, reference["openpose"][cam])
    two_d = pelvic_obliquity_deg(_trial(doc, tmp_path, cam))[offset : offset + 100]
    err = two_d - _projected_obliquity(reference, cam)
    ok = np.isfinite(err)
    return float(np.sqrt(np.mean(err[ok] ** 2)))


def test_frontal_views_see_the_hips_from_the_front(reference: dict[str, Any]) -> None:
    views = _views(reference)
    print("hip line to optical axis (90 = frontal):",
          {c: round(v) for c, v in sorted(views.items())})
    assert {c for c, v in views.items() if v >= 60} == {"cam02", "cam04"}
    assert {c for c, v in views.items() if v <= 45} == {"cam01", "cam03"}


@pytest.mark.xfail(strict=True, reason=(
    "measured with BlazePose lite: cam02 RMSE 37.0 deg (left and right hips swap in about half "
    "of the frames), cam04 RMSE 6.0 deg; target 2 deg"))
def test_frontal_views_obliquity_within_2_deg_of_3d(demo_landmarks: dict[str, Any],
                                                    reference: dict[str, Any],
                                                    tmp_path: Path) -> None:
    """2D pelvic obliquity in the near-frontal views against the 3D hips seen by that camera."""
    rmse = {cam: _obliquity_rmse(demo_landmarks, reference, tmp_path, cam)
            for cam in ("cam02", "cam04")}
    print("2D vs 3D pelvic obliquity RMSE (deg):", {c: round(v, 1) for c, v in rmse.items()})
    assert max(rmse.values()) < 2.0, rmse


@pytest.mark.xfail(strict=True, reason=(
    "the camera-view check flags cam02 (a near-frontal view whose BlazePose hips swap sides) "
    "and passes the oblique cam01 and cam03"))
def test_camera_view_check_tells_frontal_from_oblique(demo_landmarks: dict[str, Any],
                                                      tmp_path: Path) -> None:
    flagged = set()
    for cam, doc in demo_landmarks.items():
        path = tmp_path / f"{cam}.landmarks.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        if "camera_not_frontal" in {q.code for q in analyse_file(path, "walk").quality}:
            flagged.add(cam)
    print("flagged not frontal:", sorted(flagged))
    assert flagged == {"cam01", "cam03"}
