"""Optional video front end (MediaPipe Pose Landmarker with a user-supplied model file).

>>> from glutemed.motion.video import analyse_video
>>> analyse_video("walk.mp4", "pose_landmarker_full.task")   # doctest: +SKIP

Nothing is downloaded: ``mediapipe`` must be installed and the model file supplied; otherwise a
:class:`~glutemed.errors.MotionDataError` says what is missing.
"""

from glutemed.motion._video import analyse_video, pose_from_video

__all__ = ["analyse_video", "pose_from_video"]
