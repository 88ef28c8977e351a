"""Video front end: BlazePose landmarks from a phone video, estimated in a web browser.

One pipeline for the web app and the command line. The pose model (the BlazePose landmark models
of the npm package ``@mediapipe/pose``, with its WebAssembly runtime and detector) runs in a
browser through ``web/pose_video.js``: in the clinician's browser on the movement page, or in
headless Chromium (driven by Playwright) for ``glutemed motion VIDEO.mp4``. Both produce the
MediaPipe JSON layout that :func:`glutemed.motion.read_mediapipe` reads, so both give the same
landmarks and the same measures. Nothing is downloaded at run time: the model files are installed
with ``npm ci --prefix src/glutemed/motion/web`` (see the README) and served from this package.

Filming for frontal-plane measures: one camera in front of (or behind) the person, at hip height,
3-5 m away, the whole body in view, 60 fps if the phone offers it (25-30 fps also works).
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import mimetypes
import shutil
import tempfile
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glutemed.errors import MotionDataError, Problem
from glutemed.motion._analysis import MotionResult, analyse_file
from glutemed.motion._kinematics import pelvic_obliquity_deg, side_up, trunk_vector
from glutemed.motion._settings import MotionSettings
from glutemed.motion._trial import Trial

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

#: Folder of the browser pose files (``pose_video.js`` and ``node_modules/@mediapipe/pose``);
#: the web app serves it under ``/static/pose/``.
BROWSER_ASSETS_DIR = Path(__file__).resolve().parent / "web"
_POSE_PACKAGE = BROWSER_ASSETS_DIR / "node_modules" / "@mediapipe" / "pose"
#: Model names accepted by :func:`pose_from_video` -> BlazePose model complexity.
POSE_MODELS: dict[str, int] = {"lite": 0, "full": 1, "heavy": 2}
_ORIGIN = "http://glutemed-pose.invalid"
#: Largest still picture accepted (pixels): a 4K frame.
_MAX_STILL_PX = 3840 * 2160
_RUNNER_HTML = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<input type="file" id="video-file"><video id="video" muted playsinline></video>
<canvas id="canvas"></canvas>
<script src="/static/pose/node_modules/@mediapipe/pose/pose.js"></script>
<script src="/static/pose/pose_video.js"></script></body></html>"""


def filming_guidance(settings: MotionSettings) -> list[str]:
    """How to film a movement test with a phone, in plain words (movement page and handout).

    The frame rates and the number of steps come from the knowledge base
    (``motion_recommended_frame_rate_hz``, ``motion_min_frame_rate_hz``,
    ``motion_min_strides``); a front or back view at hip height follows the camera guidance
    in the project's software landscape (Zhao et al. 2026; Samani et al. 2026); the distance
    is a practical suggestion so that the whole body stays in the picture, not a number from
    a study.
    """
    fps = f"{settings.recommended_frame_rate_hz:g}"
    usual = ("; the usual 30 frames per second also works"
             if settings.min_frame_rate_hz <= 30 else "")
    return [
        "Film from the front or from behind, not from the side.",
        "Hold the phone at hip height and keep it still, or stand it on a shelf.",
        "Put the phone far enough away that the whole body, head to feet, is in the picture all "
        "the time (often 3 to 5 metres; a practical tip, not a rule).",
        f"Set the camera to {fps} frames per second if it can (look for {fps} fps in the video "
        f"settings){usual}.",
        "Wear shorts or tight clothes so the hips and knees can be seen, and film in good light.",
        "Walking: walk towards the phone and back at your usual speed. Take at least "
        f"{settings.min_strides} steps with each leg before you turn.",
        "Standing on one leg: stand on one leg for 30 seconds, then on the other. Have someone "
        "near you in case you lose your balance.",
    ]


def _fail(where: str, expected: str, found: str, hint: str) -> MotionDataError:
    return MotionDataError(f"{where}: video pose estimation is not possible",
                           [Problem(where, expected, found, hint)])


def pose_assets_missing() -> str | None:
    """Say what is missing for in-browser pose estimation, or None if the model is installed."""
    needed = ("pose.js", "pose_solution_simd_wasm_bin.wasm", "pose_landmark_full.tflite",
              "pose_solution_packed_assets.data")
    missing = [n for n in needed if not (_POSE_PACKAGE / n).is_file()]
    if missing:
        return ("the pose model files are not installed (" + ", ".join(missing) + "); run "
                "npm ci --prefix src/glutemed/motion/web in the source folder")
    return None


def _chromium_path(chromium: str | Path | None) -> str:
    if chromium is not None:
        path = Path(chromium)
        if not path.is_file():
            raise _fail("chromium", "the path of a Chromium executable", str(path.name),
                        "install Chromium (Debian: apt-get install chromium) or pass its path")
        return str(path)
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise _fail("chromium", "a Chromium browser on the PATH", "none found",
                "install Chromium (Debian: apt-get install chromium) or pass its path")


def pose_from_video(
    video: str | Path,
    *,
    model: str = "full",
    max_duration_s: float | None = None,
    chromium: str | Path | None = None,
    timeout_s: float = 3600.0,
) -> dict[str, Any]:
    """Estimate BlazePose landmarks on every frame of a video in headless Chromium.

    Runs the same ``pose_video.js`` and model files as the web app's movement page.

    Parameters
    ----------
    video
        A video file Chromium can play (H.264 MP4, WebM).
    model
        ``"lite"``, ``"full"`` or ``"heavy"`` BlazePose landmark model.
    max_duration_s
        Analyse only the first seconds of the video.
    chromium
        Path of the Chromium executable; default the first ``chromium`` on the PATH.
    timeout_s
        Give up after this long.

    Returns
    -------
    dict
        The MediaPipe JSON document (``fps``, ``image_width``, ``image_height``, ``frames`` with
        33 landmarks in image-normalised coordinates, ``pose_model``, ``timing``).

    Raises
    ------
    MotionDataError
        Missing video, model files, Chromium or Playwright, or a video the browser cannot play.
    """
    if model not in POSE_MODELS:
        raise _fail("model", "one of " + ", ".join(POSE_MODELS), repr(model)[:40],
                    "choose lite (fastest), full or heavy (most accurate)")
    video_path = Path(video)
    if not video_path.is_file():
        raise _fail(video_path.name or "video", "an existing video file", "no such file",
                    "check the path")
    missing = pose_assets_missing()
    if missing:
        raise _fail("pose model", "the installed @mediapipe/pose package", missing,
                    "run npm ci --prefix src/glutemed/motion/web (see the README)")
    if importlib.util.find_spec("playwright") is None:
        raise _fail("playwright", "the Python package playwright", "not installed",
                    'pip install "glutemed[video]"')
    executable = _chromium_path(chromium)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Route, sync_playwright

    root = BROWSER_ASSETS_DIR.resolve()

    def serve(route: Route) -> None:
        path = route.request.url[len(_ORIGIN):].split("?", 1)[0]
        if path == "/":
            route.fulfill(body=_RUNNER_HTML, content_type="text/html")
            return
        target = (root / path.removeprefix("/static/pose/")).resolve()
        if not path.startswith("/static/pose/") or root not in target.parents or not (
                target.is_file()):
            route.fulfill(status=404, body="not found")
            return
        kind = "application/wasm" if target.suffix == ".wasm" else (
            mimetypes.guess_type(target.name)[0] or "application/octet-stream")
        route.fulfill(body=target.read_bytes(), content_type=kind)

    options = {"modelComplexity": POSE_MODELS[model], "maxDurationS": max_duration_s}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable,
                                     args=["--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page()
            page.set_default_timeout(timeout_s * 1000.0)
            page.route(f"{_ORIGIN}/**", serve)
            page.goto(f"{_ORIGIN}/")
            page.set_input_files("#video-file", str(video_path))
            doc: dict[str, Any] = page.evaluate(
                """async (options) => {
                  const file = document.getElementById('video-file').files[0];
                  return await GlutemedPose.estimate(file, Object.assign({
                    video: document.getElementById('video'),
                    canvas: document.getElementById('canvas')}, options));
                }""",
                options,
            )
        except PlaywrightError as exc:
            raise _fail(video_path.name, "a video the browser can decode and analyse",
                        str(exc).splitlines()[0][:160],
                        "re-encode the video as H.264 MP4 and try again") from None
        finally:
            browser.close()
    return doc


def analyse_video(
    video: str | Path,
    task: str = "walk",
    *,
    model: str = "full",
    max_duration_s: float | None = None,
    landmarks_out: str | Path | None = None,
    plot: str | Path | None = None,
    **options: Any,
) -> MotionResult:
    """Estimate poses with :func:`pose_from_video` and analyse them like a MediaPipe JSON file.

    ``landmarks_out`` keeps the landmarks (the same JSON the web page uploads); other keyword
    arguments go to :func:`glutemed.motion.analyse_file`.
    """
    doc = pose_from_video(video, model=model, max_duration_s=max_duration_s)
    name = Path(video).stem + ".landmarks.json"
    with tempfile.TemporaryDirectory(prefix="glutemed-video-") as tmp:
        path = Path(landmarks_out) if landmarks_out else Path(tmp) / name
        path.write_text(json.dumps(doc), encoding="utf-8")
        result = analyse_file(path, task, plot=plot, **options)
    return result


# --------------------------------------------------------------------------- still frame


@dataclass(frozen=True)
class PeakFrame:
    """The frame of the largest contralateral pelvic drop over all stance phases.

    Parameters
    ----------
    frame
        Frame index in the trial.
    time_s
        Time of that frame in the video.
    side
        The stance limb whose opposite side drops.
    pelvic_drop_deg
        Contralateral pelvic drop in that frame.
    """

    frame: int
    time_s: float
    side: str
    pelvic_drop_deg: float


def peak_pelvic_drop(trial: Trial, result: Mapping[str, Any]) -> PeakFrame | None:
    """Find the frame at peak contralateral pelvic drop, within the phases of ``result``.

    ``result`` is :meth:`MotionResult.to_dict` of the same trial; the phase with the largest
    drop is chosen and, inside it, the frame whose drop is nearest the phase's value. None
    without phases.
    """
    phases = [p for p in result.get("phases", [])
              if isinstance(p.get("contralateral_pelvic_drop_deg"), int | float)
              and math.isfinite(p["contralateral_pelvic_drop_deg"])]
    if not phases or not trial.is_2d:
        return None
    best = max(phases, key=lambda p: float(p["contralateral_pelvic_drop_deg"]))
    side = str(best["side"])
    drop = side_up(pelvic_obliquity_deg(trial), "left" if side == "left" else "right")
    times = trial.start_time_s + np.arange(trial.n_frames) / trial.sampling_rate_hz
    inside = (times >= float(best["start_s"]) - 1e-9) & (times <= float(best["stop_s"]) + 1e-9)
    inside &= np.isfinite(drop)
    if not inside.any():
        return None
    # the frame whose drop is nearest the phase's value (the maximum over its measurement
    # window for walking and squats, the mean for single-leg stance), so that transients at the
    # phase's ends are not picked
    target = float(best["contralateral_pelvic_drop_deg"])
    frame = int(np.flatnonzero(inside)[np.argmin(np.abs(drop[inside] - target))])
    return PeakFrame(frame, float(times[frame]), side, float(drop[frame]))


def annotate_still(image: bytes, trial: Trial, peak: PeakFrame) -> bytes:
    """Draw the pelvis line, a horizontal reference and the trunk line on one video frame.

    Parameters
    ----------
    image
        JPEG or PNG of the frame at ``peak.time_s`` (any size; scaled to the trial's image).
    trial
        The 2D trial in pixels of the full video frame.
    peak
        From :func:`peak_pelvic_drop`.

    Returns
    -------
    bytes
        PNG with the lines and their angles written in words.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as opened:
            if opened.format not in ("JPEG", "PNG") or opened.width * opened.height > _MAX_STILL_PX:
                raise ValueError(f"{opened.format} {opened.width}x{opened.height}")
            picture = np.asarray(opened.convert("RGB"))
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise MotionDataError(
            "still frame: not a usable picture",
            [Problem("still frame", f"a JPEG or PNG image of at most {_MAX_STILL_PX:,} pixels",
                     str(exc)[:60] or type(exc).__name__, "take the still picture again")],
        ) from None
    height_px, width_px = picture.shape[0], picture.shape[1]
    full_w, full_h = trial.image_size_px or (width_px, height_px)
    sx, sy = width_px / full_w, height_px / full_h

    def point(name: str) -> tuple[float, float] | None:
        if not trial.has(name):
            return None
        xyz = trial.get(name)[peak.frame]
        if not np.isfinite(xyz).all():
            return None
        return float(xyz[0]) * sx, float(-xyz[2]) * sy

    left_hip, right_hip = point("left_hip"), point("right_hip")
    fig = plt.figure(figsize=(width_px / 100.0, height_px / 100.0), dpi=100)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(picture)
    ax.set_axis_off()
    lw = max(2.0, width_px / 250.0)
    other = "right" if peak.side == "left" else "left"
    lines = [f"Time {peak.time_s:.2f} s: {peak.side} leg stance, pelvis "
             + (f"{peak.pelvic_drop_deg:.1f}° lower on the {other} side"
                if peak.pelvic_drop_deg >= 0
                else f"{-peak.pelvic_drop_deg:.1f}° higher on the {other} side (no drop)")]
    if left_hip and right_hip:
        ax.plot([left_hip[0], right_hip[0]], [left_hip[1], right_hip[1]], color="#ffcc00",
                lw=lw, label="pelvis (hip to hip)")
        mid = ((left_hip[0] + right_hip[0]) / 2, (left_hip[1] + right_hip[1]) / 2)
        half = abs(left_hip[0] - right_hip[0])
        ax.plot([mid[0] - half, mid[0] + half], [mid[1], mid[1]], color="white", lw=lw / 2,
                ls="--", label="horizontal")
        trunk = trunk_vector(trial)
        if trunk is not None and np.isfinite(trunk[peak.frame]).all():
            tx, ty = float(trunk[peak.frame][0]) * sx, float(-trunk[peak.frame][2]) * sy
            ax.plot([mid[0], mid[0] + tx], [mid[1], mid[1] + ty], color="#00d0ff", lw=lw,
                    label="trunk (mid-hip to mid-shoulder)")
            ax.plot([mid[0], mid[0]], [mid[1], mid[1] + ty], color="white", lw=lw / 2,
                    ls=":", label="vertical")
            lean = math.degrees(math.atan2(abs(tx), abs(ty))) if ty else 0.0
            lines.append(f"trunk {lean:.1f}° from vertical")
        ax.legend(loc="lower left", fontsize=max(8.0, width_px / 90.0), framealpha=0.8)
    size = max(8.0, width_px / 80.0)
    width_chars = max(20, int(width_px / (size * 0.62 * 100.0 / 72.0)))
    text = "\n".join(textwrap.fill(line, width_chars) for line in lines)
    ax.text(0.01, 0.99, text, transform=ax.transAxes, va="top", ha="left",
            fontsize=size, color="black",
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    ax.set_xlim(0, width_px)
    ax.set_ylim(height_px, 0)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out.getvalue()
