"""Helpers for the motion tests: Plug-in Gait outputs, a frontal pinhole camera, C3D writing,
MediaPipe JSON."""

from __future__ import annotations

from pathlib import Path

import ezc3d
import numpy as np

from glutemed.motion import MEDIAPIPE_33, Trial, add_hip_joint_centres, fill_gaps, read_c3d


def pig_point(path: Path, label: str) -> np.ndarray:
    """A Plug-in Gait model output (e.g. ``LPelvisAngles``) as (n_frames, 3), NaN where invalid."""
    c3d = ezc3d.c3d(str(path))
    labels = [s.rsplit(":", 1)[-1] for s in c3d["parameters"]["POINT"]["LABELS"]["value"]]
    i = labels.index(label)
    out = np.asarray(c3d["data"]["points"][:3, i, :], dtype=float).T.copy()
    out[c3d["data"]["meta_points"]["residuals"][0, i] < 0] = np.nan
    return out


def rmse(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """RMSE over frames where both are finite, and the number of such frames."""
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))), int(ok.sum())


def project_frontal(
    raw: Trial,
    *,
    focal_px: float = 1500.0,
    size_px: tuple[int, int] = (1920, 1080),
    distance_beyond_m: float = 2.0,
    noise_px: float = 2.0,
    seed: int = 0,
) -> Trial:
    """Film a 3D walking trial with a pinhole camera in front of the walker, at hip height.

    The camera stands ``distance_beyond_m`` beyond the furthest pelvis position along the walking
    direction (+x in the reference trial), looks back along -x, and sees the subject's left on
    the image's right. Hip keypoints are the Davis hip joint centres of the unfiltered markers;
    knees, ankles and toes are their markers. Gaussian noise of ``noise_px`` is added to every
    keypoint coordinate (seeded).
    """
    filled, _ = fill_gaps(raw, 0.1)
    with_hjc, _ = add_hip_joint_centres(filled)
    hips = (with_hjc.get("left_hip_joint") + with_hjc.get("right_hip_joint")) / 2.0
    cam = np.array([np.nanmax(hips[:, 0]) + distance_beyond_m, np.nanmean(hips[:, 1]),
                    np.nanmean(hips[:, 2])])
    w, h = size_px
    rng = np.random.default_rng(seed)
    names = {"left_hip": "left_hip_joint", "right_hip": "right_hip_joint"}
    for side in ("left", "right"):
        for part in ("knee", "ankle", "toe"):
            names[f"{side}_{part}"] = f"{side}_{part}"
    lm = {}
    for key, src in names.items():
        p = with_hjc.get(src)
        depth = cam[0] - p[:, 0]
        u = w / 2 + focal_px * (p[:, 1] - cam[1]) / depth
        v = h / 2 - focal_px * (p[:, 2] - cam[2]) / depth
        u = u + rng.normal(0.0, noise_px, u.shape)
        v = v + rng.normal(0.0, noise_px, v.shape)
        arr = np.stack([u, np.zeros_like(u), -v], axis=1)
        arr[~np.isfinite(arr).all(axis=1)] = np.nan
        lm[key] = arr
    return Trial(landmarks=lm, sampling_rate_hz=raw.sampling_rate_hz, source="projected.json",
                 units="px", frame="image", image_size_px=size_px)


def raw_trial(c3d_dir: Path) -> Trial:
    return read_c3d(c3d_dir / "gait-raw.c3d")


def _write_c3d(path: Path, labels: list[str], xyz_mm: np.ndarray, rate_hz: float) -> Path:
    """Write an Intel float C3D with ezc3d; ``xyz_mm`` is (3, n_points, n_frames)."""
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [rate_hz]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = labels
    c3d.add_parameter("POINT", "UNITS", ["mm"])
    pts = np.ones((4, *xyz_mm.shape[1:]))
    pts[:3] = xyz_mm
    c3d["data"]["points"] = pts
    c3d.write(str(path))
    return path


def mediapipe_stance_doc(
    *,
    drop_deg: float = 8.0,
    rate_hz: float = 30.0,
    duration_s: float = 6.0,
    lift_window_s: tuple[float, float] = (1.5, 4.5),
    size_px: tuple[int, int] = (720, 1280),
) -> dict[str, object]:
    """A synthetic frontal-view single-leg stance as the movement page uploads it.

    MediaPipe JSON (33 landmarks, image-normalised, y down): the person faces the camera (their
    left is on the image's right), lifts the right foot during ``lift_window_s`` and the pelvis
    tilts so that the right (lifted) side is ``drop_deg`` lower in the image.
    """
    width, height = size_px
    n = int(duration_s * rate_hz)
    index = {name: i for i, name in enumerate(MEDIAPIPE_33)}
    frames = []
    a, b = lift_window_s
    for k in range(n):
        t = k / rate_hz
        lift = min(max(min((t - a) / 0.3, (b - t) / 0.3), 0.0), 1.0)
        tilt = np.radians(drop_deg) * lift
        cx, hip_y, half = 360.0, 640.0, 60.0
        pts: dict[str, tuple[float, float]] = {}
        # pelvis rotated in the image: right hip (image left) goes down when tilt > 0
        pts["left_hip"] = (cx + half * np.cos(tilt), hip_y - half * np.sin(tilt))
        pts["right_hip"] = (cx - half * np.cos(tilt), hip_y + half * np.sin(tilt))
        # trunk follows the pelvis tilt (rigid), shoulders 300 px above the hips
        for side, sx in (("left", 1.0), ("right", -1.0)):
            x0, y0 = sx * 90.0, -300.0
            pts[f"{side}_shoulder"] = (cx + x0 * np.cos(tilt) + y0 * np.sin(tilt),
                                       hip_y - x0 * np.sin(tilt) + y0 * np.cos(tilt))
            raised = 60.0 * lift if side == "right" else 0.0
            pts[f"{side}_knee"] = (cx + sx * 55.0, 890.0 - raised)
            pts[f"{side}_ankle"] = (cx + sx * 50.0, 1130.0 - raised)
            pts[f"{side}_heel"] = (cx + sx * 50.0, 1150.0 - raised)
            pts[f"{side}_foot_index"] = (cx + sx * 60.0, 1160.0 - raised)
        nose = (cx, 240.0)
        lms = []
        for name in MEDIAPIPE_33:
            x, y = pts.get(name, nose)
            lms.append({"x": x / width, "y": y / height, "z": 0.0, "visibility": 0.99})
        assert len(lms) == len(index)
        frames.append({"timestamp_ms": round(1000.0 * t, 3), "landmarks": lms})
    return {"fps": rate_hz, "image_width": width, "image_height": height, "frames": frames,
            "pose_model": {"package": "@mediapipe/pose", "version": "0.5.1675469404",
                           "model": "pose_landmark_full"}}


def solid_jpeg(width: int, height: int, grey: float = 0.3) -> bytes:
    """A plain grey JPEG of the given size (a stand-in for a video frame)."""
    import io

    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    fig.figimage(np.full((height, width, 3), grey))
    out = io.BytesIO()
    fig.savefig(out, format="jpeg", dpi=100)
    plt.close(fig)
    return out.getvalue()
