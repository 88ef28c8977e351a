"""Optional video front end: MediaPipe Pose Landmarker on a user-supplied model file.

Nothing is downloaded. The ``mediapipe`` package (and OpenCV, which it installs) must already be
importable, and the user passes the path of a Pose Landmarker model bundle (``.task`` file).
Camera set-up for frontal-plane measures: one camera in front of (or behind) the subject, at
hip height, filming at 60 fps or more, the whole body in view.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from glutemed.errors import MotionDataError, Problem
from glutemed.motion._analysis import MotionResult, analyse_trial
from glutemed.motion._landmarks import MEDIAPIPE_33
from glutemed.motion._readers import _image_trial
from glutemed.motion._trial import Trial

__all__ = ["analyse_video", "pose_from_video"]


def _fail(where: str, expected: str, found: str, hint: str) -> MotionDataError:
    return MotionDataError(f"{where}: video pose estimation is not possible",
                           [Problem(where, expected, found, hint)])


def pose_from_video(
    video: str | Path,
    model: str | Path,
    *,
    min_pose_detection_confidence: float = 0.5,
) -> Trial:
    """Run MediaPipe Pose Landmarker on a video and return 2D keypoints as a :class:`Trial`.

    Parameters
    ----------
    video
        A video file OpenCV can read.
    model
        Path of a MediaPipe Pose Landmarker model bundle (``pose_landmarker_*.task``) that the
        user downloaded beforehand; glutemed never downloads it.
    min_pose_detection_confidence
        Passed to the landmarker.

    Returns
    -------
    Trial
        Image frame, pixels (the video's width and height are known), MediaPipe's 33 landmarks
        with their visibility as confidence.

    Raises
    ------
    MotionDataError
        If the model file or the video is missing, or ``mediapipe``/OpenCV is not installed.
    """
    model_path = Path(model)
    if model_path.suffix.lower() != ".task" or not model_path.is_file():
        raise _fail(
            model_path.name or "model",
            "an existing MediaPipe Pose Landmarker model file (.task)",
            "no such file" if not model_path.exists() else f"{model_path.suffix or 'no'} suffix",
            "download pose_landmarker_full.task from the MediaPipe model page yourself and pass "
            "its path; glutemed does not download models",
        )
    video_path = Path(video)
    if not video_path.is_file():
        raise _fail(video_path.name, "an existing video file", "no such file", "check the path")
    for package in ("mediapipe", "cv2"):
        if importlib.util.find_spec(package) is None:
            raise _fail(
                package,
                f"the optional package {package!r} to be installed",
                "not installed",
                "pip install mediapipe (it brings OpenCV); or run pose estimation elsewhere and "
                "load its OpenPose/MediaPipe output files",
            )
    mp: Any = importlib.import_module("mediapipe")
    cv2: Any = importlib.import_module("cv2")
    vision = mp.tasks.vision
    options = vision.PoseLandmarkerOptions(
        base_options=mp.tasks.BaseOptions(model_asset_path=str(model_path)),
        running_mode=vision.RunningMode.VIDEO,
        num_poses=1,
        min_pose_detection_confidence=min_pose_detection_confidence,
    )
    cap = cv2.VideoCapture(str(video_path))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    if not fps > 0 or width <= 0 or height <= 0:
        cap.release()
        raise _fail(video_path.name, "a readable video with a frame rate and size",
                    f"fps {fps:g}, size {width}x{height}", "re-encode the video (e.g. H.264 MP4)")
    xy_frames: list[np.ndarray] = []
    conf_frames: list[np.ndarray] = []
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
            found = landmarker.detect_for_video(image, round(index * 1000.0 / fps))
            xy = np.full((33, 2), np.nan)
            conf = np.zeros(33)
            if found.pose_landmarks:
                for j, lm in enumerate(found.pose_landmarks[0][:33]):
                    xy[j] = (lm.x * width, lm.y * height)
                    conf[j] = float(getattr(lm, "visibility", 1.0) or 0.0)
            xy_frames.append(xy)
            conf_frames.append(conf)
            index += 1
    cap.release()
    if not xy_frames:
        raise _fail(video_path.name, "at least one video frame", "none", "check the video")
    return _image_trial(np.stack(xy_frames), np.stack(conf_frames), MEDIAPIPE_33, rate=fps,
                        source=video_path.name, units="px", image_size_px=(width, height))


def analyse_video(
    video: str | Path,
    model: str | Path,
    task: str = "walk",
    **options: Any,
) -> MotionResult:
    """Estimate poses with :func:`pose_from_video` and analyse them like a keypoint file.

    Keyword arguments go to :func:`glutemed.motion.analyse_trial`. Returns a
    :class:`~glutemed.motion.MotionResult`.
    """
    trial = pose_from_video(video, model)
    return analyse_trial(trial, task, **options)
