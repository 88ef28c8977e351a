"""Shared fixtures: the bundled knowledge base and the shared reference data folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from glutemed.knowledge import KnowledgeBase, data_dir, load_kb

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_kb()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared reference folder not found next to the project ({SHARED.name})")
    return SHARED


@pytest.fixture()
def kb_copy(tmp_path: Path) -> Path:
    """A copy of the bundled knowledge-base folder that a test may edit."""
    folder = tmp_path / "kb"
    shutil.copytree(data_dir(), folder)
    return folder


#: Release of the pose2sim package (PyPI) whose demo videos the video tests use: four cameras
#: filming one person (100 frames at 60 Hz, 1080/1088 x 1920 px). Fetched with pip at test time
#: into a git-ignored cache, never copied into the repository.
POSE2SIM_VIDEOS = "pose2sim==0.10.49"
#: An older release of the same package with OpenPose keypoints and the triangulated 3D TRC of
#: the same recording (100 frames, 1088 x 1920 px, same calibration).
POSE2SIM_REFERENCE = "pose2sim==0.4.15"
DEMO_CACHE = PROJECT_ROOT / ".cache" / "pose2sim"


def _pose2sim_wheel(spec: str) -> Path:
    import subprocess
    import sys

    version = spec.split("==")[1]
    DEMO_CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(DEMO_CACHE.glob(f"pose2sim-{version}-*.whl"))
    if not found:
        run = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(DEMO_CACHE),
             spec], capture_output=True, text=True, timeout=600, check=False)
        found = sorted(DEMO_CACHE.glob(f"pose2sim-{version}-*.whl"))
        if not found:
            pytest.skip(f"cannot fetch {spec} from PyPI: {run.stderr.strip()[-200:]}")
    return found[0]


def _extract(wheel: Path, prefix: str, dest: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                zf.extract(name, dest)
    return dest / prefix


@pytest.fixture(scope="session")
def pose2sim_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The four demo videos of pose2sim, by camera name (cam01 ... cam04)."""
    folder = _extract(_pose2sim_wheel(POSE2SIM_VIDEOS), "Pose2Sim/Demo_SinglePerson/videos/",
                      tmp_path_factory.mktemp("pose2sim"))
    return {p.stem: p for p in sorted(folder.glob("cam0*.mp4"))}


@pytest.fixture(scope="session")
def pose2sim_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The older release's demo folder: pose/cam*_json (OpenPose), opensim/*.trc, calibration."""
    return _extract(_pose2sim_wheel(POSE2SIM_REFERENCE), "Pose2Sim/Demo/",
                    tmp_path_factory.mktemp("pose2sim-old"))


def _demo_landmarks(videos: dict[str, Path], model: str) -> dict[str, dict[str, object]]:
    """BlazePose landmarks of each demo video, estimated in headless Chromium (CLI path)."""
    import shutil

    from glutemed.motion.video import pose_assets_missing, pose_from_video

    missing = pose_assets_missing()
    if missing:
        pytest.skip(missing)
    if shutil.which("chromium") is None:
        pytest.skip("Chromium not found on PATH (Debian package 'chromium')")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    import hashlib
    import json

    from glutemed.motion.video import BROWSER_ASSETS_DIR

    code = b"".join((BROWSER_ASSETS_DIR / name).read_bytes()
                    for name in ("pose_video.js", "package-lock.json"))
    out: dict[str, dict[str, object]] = {}
    for cam, path in videos.items():
        # cached by the script, the pinned model and the video, so reruns skip the slow part
        key = hashlib.sha256(code + path.read_bytes()).hexdigest()[:16]
        cached = DEMO_CACHE / "landmarks" / f"{cam}-{model}-{key}.json"
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(pose_from_video(path, model=model)), encoding="utf-8")
        out[cam] = json.loads(cached.read_text(encoding="utf-8"))
    return out


@pytest.fixture(scope="session")
def demo_landmarks(pose2sim_videos: dict[str, Path]) -> dict[str, dict[str, object]]:
    """BlazePose lite landmarks of each demo video, estimated in headless Chromium (CLI path)."""
    return _demo_landmarks(pose2sim_videos, "lite")


@pytest.fixture(scope="session")
def demo_landmarks_full(pose2sim_videos: dict[str, Path]) -> dict[str, dict[str, object]]:
    """BlazePose full landmarks of the two near-frontal demo videos (cam02, cam04)."""
    return _demo_landmarks({c: pose2sim_videos[c] for c in ("cam02", "cam04")}, "full")
