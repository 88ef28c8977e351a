"""Video front end: BlazePose landmarks estimated in a browser (the web page or headless Chromium).

>>> from glutemed.motion.video import analyse_video
>>> analyse_video("walk.mp4", task="walk", model="lite")   # doctest: +SKIP

Nothing is downloaded at run time: the model comes with ``npm ci --prefix
src/glutemed/motion/web`` (see the README) and runs in Chromium through Playwright; a missing
piece raises :class:`~glutemed.errors.MotionDataError` saying what to install.
"""

from glutemed.motion._video import (
    BROWSER_ASSETS_DIR,
    POSE_MODELS,
    PeakFrame,
    analyse_video,
    annotate_still,
    filming_guidance,
    peak_pelvic_drop,
    pose_assets_missing,
    pose_from_video,
)

__all__ = [
    "BROWSER_ASSETS_DIR",
    "POSE_MODELS",
    "PeakFrame",
    "analyse_video",
    "annotate_still",
    "filming_guidance",
    "peak_pelvic_drop",
    "pose_assets_missing",
    "pose_from_video",
]
