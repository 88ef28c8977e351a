"""Readers: synthetic TRC, OpenPose (BODY_25, COCO), MediaPipe (CSV, JSON), generic CSV; errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from glutemed.errors import InputValueError, MotionDataError
from glutemed.motion import (
    BODY_25,
    COCO_18,
    MEDIAPIPE_33,
    canonical_name,
    read_c3d,
    read_generic_csv,
    read_mediapipe,
    read_openpose,
    read_trc,
    read_trial,
)

from ._helpers import _write_c3d
from .conftest import DATA_DIR

# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("A22:LASI", "left_asis"),
        ("RPSI", "right_psis"),
        ("SACR", "sacrum"),
        ("L.ASIS_study", "left_asis"),
        ("r_calc_study", "right_heel"),
        ("LHip", "left_hip"),
        ("RBigToe", "right_toe"),
        ("left_foot_index", "left_toe"),
        ("LHJC", "left_hip_joint"),
        ("LPelvisAngles", None),
        ("KD1", None),
    ],
)
def test_canonical_names(label: str, expected: str | None) -> None:
    assert canonical_name(label) == expected


# --------------------------------------------------------------------------- TRC


def _write_trc(path: Path, rate: float, labels: list[str], data: np.ndarray, units: str) -> None:
    n = data.shape[0]
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame"
        "\tOrigNumFrames",
        f"{rate:g}\t{rate:g}\t{n}\t{len(labels)}\t{units}\t{rate:g}\t1\t{n}",
        "Frame#\tTime\t" + "\t\t\t".join(labels),
        "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(len(labels))),
        "",
    ]
    for i in range(n):
        cells = ["" if not np.isfinite(v) else f"{v:.4f}" for v in data[i]]
        lines.append(f"{i + 1}\t{i / rate:.4f}\t" + "\t".join(cells))
    path.write_text("\n".join(lines) + "\n")


def test_trc_y_up_mm_is_converted_to_z_up_metres(tmp_path: Path) -> None:
    # OpenSim convention: X forward, Y up, Z right. Left ASIS is at Z = -125 mm.
    labels = ["LASI", "RASI", "SACR", "LANK", "RANK", "Unknown1"]
    pos = {
        "LASI": (100.0, 950.0, -125.0),
        "RASI": (100.0, 950.0, 125.0),
        "SACR": (-80.0, 980.0, 0.0),
        "LANK": (0.0, 80.0, -100.0),
        "RANK": (0.0, 80.0, 100.0),
        "Unknown1": (0.0, 0.0, 0.0),
    }
    data = np.tile(np.concatenate([pos[k] for k in labels]), (10, 1))
    data[3, 0:3] = np.nan  # a missing LASI sample
    path = tmp_path / "walk.trc"
    _write_trc(path, 100.0, labels, data, "mm")
    trial = read_trc(path)
    assert trial.sampling_rate_hz == 100.0
    assert trial.n_frames == 10
    assert trial.units == "m" and trial.frame == "lab"
    assert np.allclose(trial.landmarks["left_asis"][0], [0.1, 0.125, 0.95])
    assert np.allclose(trial.landmarks["right_asis"][0], [0.1, -0.125, 0.95])
    assert np.isnan(trial.landmarks["left_asis"][3]).all()
    assert "Unknown1" in trial.unmapped_labels
    assert trial.source_labels["sacrum"] == "SACR"


def test_trc_truncated_names_file(tmp_path: Path) -> None:
    labels = ["LASI", "RASI"]
    path = tmp_path / "cut.trc"
    _write_trc(path, 60.0, labels, np.zeros((5, 6)) + 1.0, "m")
    text = path.read_text().splitlines()
    text[2] = text[2].replace("\t5\t", "\t50\t", 1)  # header announces 50 frames
    path.write_text("\n".join(text))
    with pytest.raises(MotionDataError, match=r"cut\.trc") as exc:
        read_trc(path)
    assert "50 frames" in str(exc.value)


def test_trc_without_header_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.trc"
    path.write_text("hello\nworld\n")
    with pytest.raises(MotionDataError, match="PathFileType"):
        read_trc(path)


# --------------------------------------------------------------------------- OpenPose


def _openpose_folder(tmp_path: Path, names: tuple[str, ...], n_frames: int) -> Path:
    folder = tmp_path / f"openpose_{len(names)}"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n_frames):
        kps = []
        for j, _ in enumerate(names):
            kps += [100.0 + 10 * j + i, 200.0 + 5 * j, 0.9]
        people = [{"person_id": [-1], "pose_keypoints_2d": kps}]
        if i == 2:  # a second, far-away and less confident person
            other = [float(v) for v in rng.uniform(1500, 1600, size=3 * len(names))]
            other[2::3] = [0.5] * len(names)
            people.append({"person_id": [-1], "pose_keypoints_2d": other})
        if i == 3:  # a missed keypoint (OpenPose writes zeros)
            people[0]["pose_keypoints_2d"][3 * names.index("left_hip") : 3 * names.index(
                "left_hip") + 3] = [0.0, 0.0, 0.0]
        doc = {"version": 1.3, "people": people}
        (folder / f"walk_{i:012d}_keypoints.json").write_text(json.dumps(doc))
    return folder


@pytest.mark.parametrize("names", [BODY_25, COCO_18], ids=["body_25", "coco_18"])
def test_openpose_folder(tmp_path: Path, names: tuple[str, ...]) -> None:
    folder = _openpose_folder(tmp_path, names, 6)
    trial = read_openpose(folder, sampling_rate_hz=30.0)
    assert trial.frame == "image" and trial.units == "px" and trial.n_frames == 6
    j = names.index("left_hip")
    # x = pixel column, z = -pixel row
    assert np.allclose(trial.landmarks["left_hip"][0], [100.0 + 10 * j, 0.0, -(200.0 + 5 * j)])
    assert np.allclose(trial.landmarks["left_hip"][2, 0], 102.0 + 10 * j)  # the tracked person
    assert np.isnan(trial.landmarks["left_hip"][3]).all()
    assert trial.confidence["left_hip"][3] == 0.0
    assert ("left_heel" in trial.landmarks) == (names is BODY_25)


def test_openpose_needs_a_frame_rate(tmp_path: Path) -> None:
    folder = _openpose_folder(tmp_path, BODY_25, 2)
    with pytest.raises(InputValueError, match="frame rate"):
        read_openpose(folder)


def test_openpose_wrong_json_names_file(tmp_path: Path) -> None:
    folder = tmp_path / "op"
    folder.mkdir()
    (folder / "f_000000000000_keypoints.json").write_text(json.dumps({"landmarks": []}))
    with pytest.raises(MotionDataError) as exc:
        read_openpose(folder, sampling_rate_hz=30)
    assert "f_000000000000_keypoints.json" in str(exc.value)
    assert "people" in str(exc.value)


def test_openpose_truncated_json(tmp_path: Path) -> None:
    folder = tmp_path / "op"
    folder.mkdir()
    (folder / "f_000000000000_keypoints.json").write_text('{"people": [{"pose_keypo')
    with pytest.raises(MotionDataError, match="valid JSON"):
        read_trial(folder, sampling_rate_hz=30)


def test_openpose_unknown_keypoint_count(tmp_path: Path) -> None:
    folder = tmp_path / "op"
    folder.mkdir()
    doc = {"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.9] * 20}]}
    (folder / "f_000000000000_keypoints.json").write_text(json.dumps(doc))
    with pytest.raises(MotionDataError, match="20 keypoints"):
        read_openpose(folder, sampling_rate_hz=30)


# --------------------------------------------------------------------------- MediaPipe


def _mp_frames(n: int) -> list[list[dict[str, float]]]:
    frames = []
    for i in range(n):
        frames.append([
            {"x": 0.4 + 0.001 * j + 0.01 * i, "y": 0.5 + 0.002 * j, "z": 0.0, "visibility": 0.95}
            for j in range(33)
        ])
    return frames


def test_mediapipe_json_with_image_size(tmp_path: Path) -> None:
    frames = _mp_frames(4)
    doc = {"fps": 60, "image_width": 1920, "image_height": 1080,
           "frames": [{"timestamp_ms": 1000 * i / 60, "landmarks": lms}
                      for i, lms in enumerate(frames)]}
    doc["frames"][2]["landmarks"] = []  # no detection in frame 2
    path = tmp_path / "pose.json"
    path.write_text(json.dumps(doc))
    trial = read_trial(path)
    assert trial.units == "px" and trial.image_size_px == (1920, 1080)
    assert trial.sampling_rate_hz == pytest.approx(60.0)
    j = MEDIAPIPE_33.index("left_hip")
    assert np.allclose(trial.landmarks["left_hip"][0], [(0.4 + 0.001 * j) * 1920, 0.0,
                                                        -(0.5 + 0.002 * j) * 1080])
    assert np.isnan(trial.landmarks["left_hip"][2]).all()
    assert "left_toe" in trial.landmarks  # left_foot_index


def test_mediapipe_json_without_size_stays_normalised(tmp_path: Path) -> None:
    path = tmp_path / "pose.json"
    path.write_text(json.dumps([{"landmarks": [lms]} for lms in _mp_frames(3)]))
    trial = read_mediapipe(path, sampling_rate_hz=30)
    assert trial.units == "normalised"


def test_mediapipe_json_wrong_structure(tmp_path: Path) -> None:
    path = tmp_path / "pose.json"
    path.write_text(json.dumps({"frames": [{"keypoints": []}]}))
    with pytest.raises(MotionDataError, match="landmarks"):
        read_mediapipe(path, sampling_rate_hz=30)
    path.write_text(json.dumps({"frames": [{"landmarks": [{"x": 0.1, "y": 0.2}] * 17}]}))
    with pytest.raises(MotionDataError, match="33 MediaPipe"):
        read_mediapipe(path, sampling_rate_hz=30)


def test_mediapipe_long_csv(tmp_path: Path) -> None:
    rows = ["frame,timestamp_ms,landmark,x,y,z,visibility"]
    for i, lms in enumerate(_mp_frames(3)):
        for j, lm in enumerate(lms):
            rows.append(f"{i},{i * 1000 / 30:.3f},{j},{lm['x']},{lm['y']},0,0.9")
    path = tmp_path / "pose_long.csv"
    path.write_text("\n".join(rows))
    trial = read_trial(path, image_size_px=(1280, 720))
    assert trial.sampling_rate_hz == pytest.approx(30.0, rel=1e-3)
    assert trial.n_frames == 3
    assert trial.landmarks["nose"][1, 0] == pytest.approx(0.41 * 1280)


def test_mediapipe_wide_csv_with_names(tmp_path: Path) -> None:
    names = ["left_hip", "right_hip", "left_foot_index"]
    header = ["time_s"] + [f"{n}_{a}" for n in names for a in ("x", "y", "z", "visibility")]
    rows = [",".join(header)]
    for i in range(5):
        vals = [f"{i / 50:.3f}"]
        for k, _ in enumerate(names):
            vals += [f"{0.3 + 0.1 * k}", "0.5", "0", "0.2" if i == 1 else "0.9"]
        rows.append(",".join(vals))
    path = tmp_path / "pose_wide.csv"
    path.write_text("\n".join(rows))
    trial = read_trial(path, image_size_px=(1000, 1000))
    assert trial.sampling_rate_hz == pytest.approx(50.0)
    assert trial.landmarks["left_toe"][0, 0] == pytest.approx(500.0)
    assert trial.confidence["right_hip"][1] == pytest.approx(0.2)


# --------------------------------------------------------------------------- generic CSV


def test_generic_csv_3d_with_units_row(tmp_path: Path) -> None:
    path = tmp_path / "generic.csv"
    path.write_text(
        "# glutemed motion csv\n"
        "time_s,LASI_x,LASI_y,LASI_z,right_asis_x,right_asis_y,right_asis_z,sacrum_x,sacrum_y,"
        "sacrum_z,left_ankle_x,left_ankle_y,left_ankle_z\n"
        "units,mm,mm,mm,mm,mm,mm,mm,mm,mm,mm,mm,mm\n"
        "0.00,100,125,950,100,-125,950,-80,0,980,0,100,80\n"
        "0.01,101,125,950,,,,-79,0,980,1,100,80\n"
    )
    trial = read_generic_csv(path)
    assert trial.sampling_rate_hz == pytest.approx(100.0)
    assert np.allclose(trial.landmarks["left_asis"][0], [0.1, 0.125, 0.95])
    assert np.isnan(trial.landmarks["right_asis"][1]).all()


def test_generic_csv_header_options_and_2d(tmp_path: Path) -> None:
    path = tmp_path / "keypoints.csv"
    path.write_text(
        "# units: px\n# sampling_rate_hz: 25\n"
        "time_s,left_hip_x,left_hip_y,right_hip_x,right_hip_y,left_hip_confidence\n"
        "0,520,400,400,410,0.8\n0.04,521,401,401,409,0.9\n"
    )
    trial = read_trial(path)
    assert trial.frame == "image" and trial.units == "px"
    assert trial.sampling_rate_hz == 25.0
    assert np.allclose(trial.landmarks["left_hip"][0], [520.0, 0.0, -400.0])
    assert trial.confidence["left_hip"][1] == pytest.approx(0.9)


def test_generic_csv_errors(tmp_path: Path) -> None:
    path = tmp_path / "nocolumns.csv"
    path.write_text("frame,a,b\n1,2,3\n")
    with pytest.raises(MotionDataError, match="time_s"):
        read_trial(path)
    path = tmp_path / "ragged.csv"
    path.write_text("time_s,left_asis_x,left_asis_y,left_asis_z\n0,1,2,3\n0.01,1,2\n")
    with pytest.raises(MotionDataError, match=r"ragged\.csv:3"):
        read_trial(path)
    path = tmp_path / "units.csv"
    path.write_text("# units: furlong\ntime_s,left_asis_x,left_asis_y,left_asis_z\n0,1,2,3\n")
    with pytest.raises(MotionDataError, match="furlong"):
        read_trial(path)


def test_committed_sample_files_read() -> None:
    trial = read_trial(DATA_DIR / "generic_sls.csv")
    assert trial.frame == "lab" and trial.n_frames > 100
    openpose = read_trial(DATA_DIR / "openpose_body25", sampling_rate_hz=30)
    assert openpose.frame == "image" and "left_hip" in openpose.landmarks


# --------------------------------------------------------------------------- C3D and dispatch


@pytest.mark.reference_data
def test_c3d_reader_strips_prefixes_and_reads_events(c3d_dir: Path) -> None:
    pig = read_c3d(c3d_dir / "gait-pig.c3d")
    assert pig.sampling_rate_hz == 50.0
    assert pig.source_labels["left_asis"] == "LASI"
    assert "LPelvisAngles" in pig.unmapped_labels and "left_pelvisangles" not in pig.landmarks
    kinds = [(e.side, e.kind) for e in pig.events]
    assert kinds.count(("left", "foot_strike")) == 3 and kinds.count(("right", "foot_off")) == 2
    assert pig.events[0].time_s == pytest.approx(0.57, abs=1e-4)
    raw = read_c3d(c3d_dir / "gait-raw.c3d")
    lasi = raw.landmarks["left_asis"]
    assert 0.5 < np.nanmedian(lasi[:, 2]) < 1.5  # metres, z up
    assert np.isnan(lasi[114:]).all() and np.isfinite(lasi[:114]).all()  # residual < 0
    assert not raw.has("left_heel")  # present in the file but never reconstructed


@pytest.mark.reference_data
def test_truncated_c3d_names_file_and_frames(c3d_dir: Path, tmp_path: Path) -> None:
    data = (c3d_dir / "gait-raw.c3d").read_bytes()
    cut = tmp_path / "gait.c3d"
    cut.write_bytes(data[:30000])
    with pytest.raises(MotionDataError) as exc:
        read_c3d(cut)
    assert "gait.c3d" in str(exc.value) and "142 frames" in str(exc.value)
    cut.write_bytes(data[:500])
    with pytest.raises(MotionDataError, match=r"gait\.c3d"):
        read_trial(cut)


def test_not_a_c3d(tmp_path: Path) -> None:
    path = tmp_path / "fake.c3d"
    path.write_text("not a c3d file")
    with pytest.raises(MotionDataError, match=r"fake\.c3d"):
        read_trial(path)


def test_unknown_extension_and_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "walk.mp4"
    path.write_bytes(b"\x00")
    with pytest.raises(MotionDataError, match="mp4"):
        read_trial(path)
    with pytest.raises(MotionDataError, match="no such"):
        read_trial(tmp_path / "absent.c3d")


def test_single_openpose_file_points_to_its_folder(tmp_path: Path) -> None:
    src = _openpose_folder(tmp_path, BODY_25, 1)
    one = next(src.glob("*.json"))
    target = tmp_path / "single.json"
    shutil.copy(one, target)
    with pytest.raises(MotionDataError, match="folder"):
        read_trial(target)


# --------------------------------------------------------------------------- C3D engines


def _assert_same_trial(a: object, b: object) -> None:
    from glutemed.motion import Trial

    assert isinstance(a, Trial) and isinstance(b, Trial)
    assert a.landmarks.keys() == b.landmarks.keys()
    for name in a.landmarks:
        assert np.allclose(a.landmarks[name], b.landmarks[name], equal_nan=True, atol=1e-9), name
    assert a.events == b.events
    assert a.sampling_rate_hz == b.sampling_rate_hz
    assert a.start_time_s == b.start_time_s
    assert a.unmapped_labels == b.unmapped_labels


@pytest.mark.reference_data
@pytest.mark.parametrize("name", ["gait-raw.c3d", "gait-pig.c3d"])
def test_numpy_c3d_reader_matches_ezc3d_on_dec_files(c3d_dir: Path, name: str) -> None:
    _assert_same_trial(read_c3d(c3d_dir / name, engine="ezc3d"),
                       read_c3d(c3d_dir / name, engine="numpy"))


def test_numpy_c3d_reader_matches_ezc3d_on_intel_float_file(tmp_path: Path) -> None:
    n = 40
    xyz = np.zeros((3, 3, n))
    xyz[:, 0] = np.array([100.0, 125.0, 950.0])[:, None] + np.arange(n)
    xyz[:, 1] = np.array([100.0, -125.0, 950.0])[:, None]
    xyz[:, 2] = np.array([-80.0, 0.0, 980.0])[:, None]
    xyz[:, 1, 5] = 0.0  # a zeroed (missing) sample
    path = _write_c3d(tmp_path / "intel.c3d", ["Sub:LASI", "Sub:RASI", "Sub:SACR"], xyz, 120.0)
    a, b = read_c3d(path, engine="ezc3d"), read_c3d(path, engine="numpy")
    _assert_same_trial(a, b)
    assert np.isnan(b.landmarks["right_asis"][5]).all()
    assert np.allclose(b.landmarks["left_asis"][3], [0.103, 0.128, 0.953])
    with pytest.raises(InputValueError, match="engine"):
        read_c3d(path, engine="btk")  # type: ignore[arg-type]


def test_pelvis_reference_falls_back_per_frame_without_a_step() -> None:
    from glutemed.motion import Trial
    from glutemed.motion._kinematics import pelvis_centre

    n = 50
    x = np.linspace(0.0, 1.2, n)
    lm = {"left_asis": np.stack([x + 0.1, np.full(n, 0.12), np.full(n, 0.95)], axis=1),
          "right_asis": np.stack([x + 0.1, np.full(n, -0.12), np.full(n, 0.95)], axis=1),
          "sacrum": np.stack([x - 0.08, np.zeros(n), np.full(n, 0.97)], axis=1)}
    lm["sacrum"][20:30] = np.nan  # hidden sacrum marker
    centre = pelvis_centre(Trial(landmarks=lm, sampling_rate_hz=50.0, source="t.csv"))
    assert np.isfinite(centre).all()
    np.testing.assert_allclose(centre[20:30, 0], x[20:30] - 0.08, atol=1e-12)
    np.testing.assert_allclose(centre[20:30, 2], 0.97, atol=1e-12)


def test_repeated_knee_label_is_kept_as_the_medial_marker(tmp_path: Path) -> None:
    xyz = np.zeros((3, 3, 10))
    xyz[:, 0] = np.array([0.0, 60.0, 500.0])[:, None]    # medial first: nearer the right knee
    xyz[:, 1] = np.array([0.0, 160.0, 500.0])[:, None]   # lateral
    xyz[:, 2] = np.array([0.0, -110.0, 500.0])[:, None]
    path = _write_c3d(tmp_path / "knees.c3d", ["LKNE", "LKNE", "RKNE"], xyz, 100.0)
    trial = read_c3d(path, vertical_axis="+z")
    np.testing.assert_allclose(trial.landmarks["left_knee"][0], [0.0, 0.16, 0.5])
    np.testing.assert_allclose(trial.landmarks["left_knee_medial"][0], [0.0, 0.06, 0.5])
    assert [c for c, _ in trial.notes] == ["duplicate_labels"]


def test_infinite_c3d_coordinates_are_gaps_with_a_note(tmp_path: Path) -> None:
    xyz = np.zeros((3, 3, 20))
    xyz[:, 0] = np.array([100.0, 125.0, 950.0])[:, None]
    xyz[:, 1] = np.array([100.0, -125.0, 950.0])[:, None]
    xyz[:, 2] = np.array([-80.0, 0.0, 980.0])[:, None]
    xyz[1, 0, 3] = np.inf
    xyz[0, 1, 4] = np.nan  # how some writers mark a missing marker: a gap, no note
    path = _write_c3d(tmp_path / "inf.c3d", ["LASI", "RASI", "SACR"], xyz, 100.0)
    trial = read_c3d(path, vertical_axis="+z")
    assert np.isnan(trial.landmarks["left_asis"][3]).all()
    assert np.isnan(trial.landmarks["right_asis"][4]).all()
    assert np.isfinite(trial.landmarks["left_asis"][2]).all()
    assert [c for c, _ in trial.notes] == ["non_finite_values"]
    assert trial.notes[0][1].startswith("1 marker sample with")
