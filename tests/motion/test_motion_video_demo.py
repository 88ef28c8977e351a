"""BlazePose in headless Chromium on real video: pose2sim's four-camera demo recording.

The videos come from pose2sim 0.10.49; pose2sim 0.4.15 ships, for the same recording (100 frames
at 60 Hz, 1088 x 1920 px portrait images, same calibration), the OpenPose BODY_25B keypoints of
every camera and the triangulated 3D keypoints (``opensim/Balancing_for_IK.trc``). The 3D hips
reproject onto the OpenPose hips with a median error of about 10 px, which is how the TRC's axes
were matched to the calibration's world frame (world x, y, z = TRC z, x, y). Both packages are
fetched with pip at test time (see ``tests/conftest.py``).

The person balances and moves about 0.7 m across the room (towards cam02, away from cam04),
so these are not frontal-plane gait tests; they check that landmarks are found, where the hips
are, that left/right label swaps are corrected, what the camera-view check makes of real oblique
and near-frontal views, and how close 2D pelvic obliquity comes to the 3D reference.

What is compared with what: the 2D obliquity is the angle to the picture's horizontal of the
line between BlazePose's two hip landmarks (after the pipeline's side-swap correction and 6 Hz
filter); the reference is the same angle of the triangulated 3D hip keypoints (OpenPose
BODY_25B hips, hip-joint keypoints of a pose model, not ASIS markers) projected into the same
camera with its calibration. Both are hip-keypoint lines seen by one camera, so the difference
is the 2D pose estimate's error, not the view's distortion of the true 3D obliquity.
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


def _image(reference: dict[str, Any], cam: str, name: str) -> np.ndarray:
    """A 3D marker projected into the camera, as (x right, 0, z up) image coordinates."""
    uv = reference["cameras"][cam].project(reference["markers"][name])
    return np.stack([uv[:, 0], np.zeros(len(uv)), -uv[:, 1]], axis=1)


def _projected_obliquity(reference: dict[str, Any], cam: str) -> np.ndarray:
    """The 3D hips (triangulated BODY_25B hip keypoints) as that camera sees them: the same
    two points, in the same picture, that the 2D obliquity is measured from."""
    trial = Trial(landmarks={"left_hip": _image(reference, cam, "LHip"),
                             "right_hip": _image(reference, cam, "RHip")},
                  sampling_rate_hz=60.0, source=f"{cam}-3d", units="px", frame="image")
    return pelvic_obliquity_deg(trial)


def _views(reference: dict[str, Any]) -> dict[str, float]:
    m = reference["markers"]
    return {cam: c.hip_line_view_deg(m["LHip"], m["RHip"])
            for cam, c in reference["cameras"].items()}


def _walking_path_deg(reference: dict[str, Any]) -> dict[str, float]:
    """Angle between the pelvis's horizontal path (a line fitted over the trial) and each
    camera's optical axis, from the calibration."""
    pelvis = (reference["markers"]["LHip"] + reference["markers"]["RHip"]) / 2.0
    t = np.arange(len(pelvis)) / 60.0
    velocity = np.array([np.polyfit(t, pelvis[:, k], 1)[0] for k in range(2)])
    out = {}
    for cam, c in reference["cameras"].items():
        axis = (c.r.T @ np.array([0.0, 0.0, 1.0]))[:2]
        cos = abs(float(velocity @ axis)) / float(np.linalg.norm(velocity) * np.linalg.norm(axis))
        out[cam] = float(np.degrees(np.arccos(min(1.0, cos))))
    return out


def _pipeline(doc: dict[str, Any], tmp_path: Path, cam: str) -> tuple[Trial, Any]:
    path = tmp_path / f"{cam}.landmarks.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return read_trial(path), analyse_file(path, "walk")


def _obliquity_rmse(doc: dict[str, Any], reference: dict[str, Any], tmp_path: Path,
                    cam: str) -> float:
    """RMSE of the pipeline's pelvic obliquity (side swaps corrected, filtered at 6 Hz: what
    the clinician gets) against the 3D hips seen by the same camera."""
    offset = _offset(doc, reference["openpose"][cam])
    two_d = _pipeline(doc, tmp_path, cam)[1].obliquity_deg[offset : offset + 100]
    err = two_d - _projected_obliquity(reference, cam)
    ok = np.isfinite(err)
    return float(np.sqrt(np.mean(err[ok] ** 2)))


def test_frontal_views_see_the_hips_from_the_front(reference: dict[str, Any]) -> None:
    views = _views(reference)
    print("hip line to optical axis (90 = frontal):",
          {c: round(v) for c, v in sorted(views.items())})
    assert {c for c, v in views.items() if v >= 60} == {"cam02", "cam04"}
    assert {c for c, v in views.items() if v <= 45} == {"cam01", "cam03"}


def test_side_swaps_are_corrected(demo_landmarks: dict[str, Any],
                                  reference: dict[str, Any], tmp_path: Path) -> None:
    """BlazePose lite calls the person's left hip right in about half the frames of cam02;
    after the correction the left hip is on the correct side of the picture (the side the
    3D left hip projects to) in nearly every frame of every camera."""
    for cam, doc in demo_landmarks.items():
        offset = _offset(doc, reference["openpose"][cam])
        raw = np.array([f["landmarks"][23]["x"] - f["landmarks"][24]["x"]
                        for f in doc["frames"]])[offset : offset + 100]
        trial = _pipeline(doc, tmp_path, cam)[0]
        fixed = (trial.get("left_hip")[:, 0] - trial.get("right_hip")[:, 0])[offset : offset + 100]
        truth = (_image(reference, cam, "LHip") - _image(reference, cam, "RHip"))[:, 0]
        ok = np.isfinite(fixed)
        before = float(np.mean(np.sign(raw) == np.sign(truth)))
        after = float(np.mean(np.sign(fixed[ok]) == np.sign(truth[ok])))
        print(f"{cam}: left hip on the correct side in {100 * before:.0f} % of frames as "
              f"estimated, {100 * after:.0f} % after the correction ({int(ok.sum())} frames)")
        assert after >= 0.95, (cam, before, after)


def test_frontal_views_obliquity_against_3d(demo_landmarks: dict[str, Any],
                                            reference: dict[str, Any],
                                            tmp_path: Path) -> None:
    """2D pelvic obliquity in the near-frontal views against the 3D hips seen by that camera:
    37.0 deg (cam02) and 6.0 deg (cam04) RMSE before the side-swap correction."""
    rmse = {cam: _obliquity_rmse(demo_landmarks[cam], reference, tmp_path, cam)
            for cam in ("cam02", "cam04")}
    print("2D (lite) vs 3D pelvic obliquity RMSE (deg):",
          {c: round(v, 1) for c, v in rmse.items()})
    assert max(rmse.values()) < 7.0, rmse


def test_full_model_swaps_sides_too(demo_landmarks_full: dict[str, Any],
                                    reference: dict[str, Any], tmp_path: Path) -> None:
    """The full model is not free of side swaps either: the correction is needed with it."""
    swapped = {}
    for cam, doc in demo_landmarks_full.items():
        trial = _pipeline(doc, tmp_path, cam)[0]
        swapped[cam] = dict(trial.notes).get("sides_relabelled", "")
    rmse = {cam: _obliquity_rmse(doc, reference, tmp_path, cam)
            for cam, doc in demo_landmarks_full.items()}
    print("2D (full) vs 3D pelvic obliquity RMSE (deg):",
          {c: round(v, 1) for c, v in rmse.items()}, swapped)
    assert swapped["cam02"], swapped
    assert max(rmse.values()) < 9.0, rmse


def test_reference_agrees_with_its_own_keypoints_only_to_about_3_deg(
        reference: dict[str, Any]) -> None:
    """The 3D hips were triangulated from the OpenPose keypoints of the four cameras; seen
    again by one camera they differ from that camera's own OpenPose hips by about 3 deg of
    obliquity RMSE. A 2D estimate from another model cannot be expected to agree with this
    reference more closely than its own source keypoints do: the 2 deg target is below the
    reference's resolution."""
    floor = {}
    for cam in ("cam02", "cam04"):
        projected = _projected_obliquity(reference, cam)
        lh, rh = _image(reference, cam, "LHip"), _image(reference, cam, "RHip")
        errors = []
        for i, people in enumerate(reference["openpose"][cam]):
            best = min(people, key=lambda kp: float(np.linalg.norm(kp[OP_HIPS[0], :2]
                                                                    - [lh[i, 0], -lh[i, 2]])),
                       default=None)
            if best is None or (best[list(OP_HIPS), 2] <= 0).any():
                continue
            left, right = best[OP_HIPS[0]], best[OP_HIPS[1]]
            two_d = np.degrees(np.arctan2(right[1] - left[1], abs(left[0] - right[0])))
            errors.append(two_d - projected[i])
        floor[cam] = float(np.sqrt(np.mean(np.square(errors))))
        assert len(errors) >= 90 and np.isfinite(rh).all(), cam
    print("OpenPose 2D vs its own triangulated 3D, obliquity RMSE (deg):",
          {c: round(v, 1) for c, v in floor.items()})
    assert min(floor.values()) > 2.0, floor


@pytest.mark.xfail(strict=True, reason=(
    "issue 12 check 1, not met: after the side-swap correction the pipeline's 2D obliquity is "
    "6.0 deg (cam02) and 5.8 deg (cam04) RMSE from the 3D hips with BlazePose lite, 4.7 and "
    "8.1 deg with full; the reference itself agrees with its own OpenPose keypoints only to "
    "2.9-3.2 deg (test_reference_agrees_with_its_own_keypoints_only_to_about_3_deg)"))
def test_frontal_views_obliquity_within_2_deg_of_3d(demo_landmarks: dict[str, Any],
                                                    reference: dict[str, Any],
                                                    tmp_path: Path) -> None:
    """2D pelvic obliquity in the near-frontal views against the 3D hips seen by that camera."""
    rmse = {cam: _obliquity_rmse(demo_landmarks[cam], reference, tmp_path, cam)
            for cam in ("cam02", "cam04")}
    assert max(rmse.values()) < 2.0, rmse


def test_camera_view_check_tells_frontal_from_oblique(demo_landmarks: dict[str, Any],
                                                      reference: dict[str, Any],
                                                      tmp_path: Path) -> None:
    """The check flags exactly the cameras whose calibration puts them more than 30 deg off
    the front or back of the pelvis, and its estimate of the walking path's angle to the line
    of sight is within 20 deg of the calibration's."""
    from glutemed.motion._analysis import _walking_view_deg

    truth_oblique = {c for c, v in _views(reference).items() if 90.0 - v > 30.0}
    path_truth = _walking_path_deg(reference)
    flagged = set()
    for cam, doc in demo_landmarks.items():
        trial, result = _pipeline(doc, tmp_path, cam)
        if "camera_not_frontal" in {q.code for q in result.quality}:
            flagged.add(cam)
        estimate = _walking_view_deg(trial)
        assert estimate is not None, cam
        print(f"{cam}: walking path {estimate[0]:.0f} deg from the line of sight "
              f"(calibration {path_truth[cam]:.0f} deg)")
        assert abs(estimate[0] - path_truth[cam]) < 20.0, cam
    print("flagged not frontal:", sorted(flagged))
    assert truth_oblique == {"cam01", "cam03"}
    assert flagged == truth_oblique
