"""Processing, segmentation, measures, interpretation, plots, batch and video front end."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from glutemed.errors import InputValueError, MotionDataError
from glutemed.knowledge import load_kb
from glutemed.motion import (
    Trial,
    analyse_folder,
    analyse_trial,
    classify_trendelenburg,
    compare_visits,
    fill_gaps,
    list_motion_files,
    lowpass,
    pelvic_obliquity_deg,
    plot_obliquity,
    segment_single_leg_squats,
    segment_single_leg_stance,
    settings_from_kb,
)

from .conftest import DATA_DIR, standing_trial

# --------------------------------------------------------------------------- processing


def _line_trial(values: np.ndarray, rate: float = 100.0) -> Trial:
    arr = np.stack([values, values * 2, values * 3], axis=1)
    return Trial(landmarks={"sacrum": arr}, sampling_rate_hz=rate, source="x.csv")


def test_fill_gaps_bounds_and_reports() -> None:
    t = np.arange(100) / 100.0
    x = np.sin(2 * np.pi * t)
    x[10:14] = np.nan  # 4 frames = 0.04 s: filled
    x[40:60] = np.nan  # 0.2 s: too long
    x[95:] = np.nan  # at the end: never extrapolated
    filled, gaps = fill_gaps(_line_trial(x), 0.1)
    out = filled.landmarks["sacrum"][:, 0]
    assert np.allclose(out[10:14], np.sin(2 * np.pi * t[10:14]), atol=1e-3)
    assert np.isnan(out[40:60]).all() and np.isnan(out[95:]).all()
    assert [(g.filled, round(g.duration_s, 2)) for g in gaps] == [
        (True, 0.04), (False, 0.2), (False, 0.05)]


def test_fill_gaps_linear_and_bad_input() -> None:
    x = np.linspace(0, 1, 50)
    x[20:22] = np.nan
    filled, _ = fill_gaps(_line_trial(x), 0.05, method="linear")
    assert np.allclose(filled.landmarks["sacrum"][20:22, 0], np.linspace(0, 1, 50)[20:22])
    with pytest.raises(InputValueError, match="method"):
        fill_gaps(_line_trial(x), 0.05, method="spline")  # type: ignore[arg-type]
    with pytest.raises(InputValueError, match="max_gap_s"):
        fill_gaps(_line_trial(x), -1.0)


def test_lowpass_is_zero_lag_and_removes_noise() -> None:
    rate = 100.0
    t = np.arange(400) / rate
    clean = np.sin(2 * np.pi * 1.0 * t)
    noisy = clean + 0.2 * np.sin(2 * np.pi * 30.0 * t)
    out = lowpass(_line_trial(noisy, rate), 6.0).landmarks["sacrum"][:, 0]
    core = slice(50, 350)
    assert np.max(np.abs(out[core] - clean[core])) < 0.01  # no phase lag, noise gone
    # NaN runs are respected; above Nyquist nothing changes
    noisy[200:210] = np.nan
    out = lowpass(_line_trial(noisy, rate), 6.0).landmarks["sacrum"][:, 0]
    assert np.isnan(out[200:210]).all() and np.isfinite(out[:200]).all()
    same = lowpass(_line_trial(noisy, rate), 80.0).landmarks["sacrum"][:, 0]
    assert np.array_equal(same, noisy, equal_nan=True)


# --------------------------------------------------------------------------- kinematics


def test_obliquity_sign_and_missing_pelvis() -> None:
    trial = standing_trial(lifted="right", drop_deg=10.0)
    obl = pelvic_obliquity_deg(trial)
    assert obl[300] == pytest.approx(10.0, abs=1e-6)  # right side lower = left side up
    assert obl[0] == pytest.approx(0.0, abs=1e-6)
    lm = {k: v for k, v in trial.landmarks.items() if k not in ("sacrum", "left_asis")}
    broken = trial.replace(landmarks=lm, source="gait.c3d",
                           source_labels={"right_asis": "RASI", "left_ankle": "LANK"})
    with pytest.raises(MotionDataError) as exc:
        analyse_trial(broken, "walk")
    message = str(exc.value)
    assert "gait.c3d" in message and "LASI, RASI and SACR or LPSI/RPSI" in message
    assert "RASI" in message.split("got")[-1]


# --------------------------------------------------------------------------- single-leg tasks


def test_single_leg_stance_segmentation_and_positive_call() -> None:
    trial = standing_trial(lifted="right", drop_deg=12.0)
    phases, events = segment_single_leg_stance(trial)
    assert [p.side for p in phases] == ["left"]
    assert [(e.side, e.kind) for e in events] == [("right", "foot_off"), ("right", "foot_strike")]
    assert events[0].time_s == pytest.approx(1.65, abs=0.05)  # half-way up the 0.3 s lift
    result = analyse_trial(trial, "single_leg_stance")
    cpd = result.per_side["left"]["contralateral_pelvic_drop_deg"]
    assert cpd["mean"] == pytest.approx(12.0, abs=0.2)
    assert result.per_side["left"]["trendelenburg"]["call"] == "positive"
    assert result.per_side["right"]["n_strides"] == 0
    assert result.findings == {"trendelenburg_sign": "positive"}
    lean = result.per_side["left"]["lateral_trunk_lean_deg"]
    assert lean["mean"] == pytest.approx(-12.0, abs=0.5)  # trunk tilts with the pelvis


def test_single_leg_stance_hitched_pelvis_is_negative() -> None:
    trial = standing_trial(lifted="left", drop_deg=-4.0)  # lifted side held higher
    result = analyse_trial(trial, "single-leg-stance")
    assert result.task == "single_leg_stance"
    call = result.per_side["right"]["trendelenburg"]
    assert call["mean_drop_deg"] == pytest.approx(-4.0, abs=0.2)
    assert call["uncertainty_basis"] == "mdc" and call["call"] == "negative"
    assert result.findings == {"trendelenburg_sign": "negative"}


def test_no_negative_finding_without_trunk_landmarks() -> None:
    trial = standing_trial(lifted="left", drop_deg=-4.0)
    lm = {k: v for k, v in trial.landmarks.items() if "shoulder" not in k}
    result = analyse_trial(trial.replace(landmarks=lm), "single_leg_stance")
    assert result.per_side["right"]["trendelenburg"]["call"] == "negative"
    assert result.findings == {}  # a compensatory trunk lean cannot be excluded
    assert "compensation_unchecked" in {q.code for q in result.quality}


def test_single_leg_stance_borderline_is_indeterminate_and_omitted() -> None:
    result = analyse_trial(standing_trial(lifted="right", drop_deg=6.0), "single_leg_stance")
    assert result.per_side["left"]["trendelenburg"]["call"] == "indeterminate"
    assert result.findings == {}


def test_no_lift_gives_a_quality_flag() -> None:
    trial = standing_trial(lift_window_s=(10.0, 11.0))  # never lifted
    result = analyse_trial(trial, "single_leg_stance")
    assert "no_phases" in {q.code for q in result.quality}
    assert result.findings == {}


def test_single_leg_squat_cycles() -> None:
    trial = standing_trial(lifted="left", squats=3, drop_deg=9.0, duration_s=6.0)
    phases, _ = segment_single_leg_squats(trial)
    assert len(phases) == 3 and {p.side for p in phases} == {"right"}
    result = analyse_trial(trial, "single_leg_squat")
    cpd = result.per_side["right"]["contralateral_pelvic_drop_deg"]
    assert cpd["mean"] == pytest.approx(9.0, abs=0.3) and cpd["n"] == 3
    assert result.findings == {"single_leg_squat": "positive"}
    assert result.per_side["right"]["knee_frontal_plane_projection_angle_deg"] is not None


# --------------------------------------------------------------------------- interpretation


def test_trendelenburg_rule_uses_uncertainty_from_the_kb() -> None:
    st = settings_from_kb()
    kb = load_kb()
    cpd = kb.movement_measures["contralateral_pelvic_drop_deg"]
    assert cpd.smallest_detectable_difference is not None
    assert st.cpd_sdd_deg == cpd.smallest_detectable_difference.value
    ref = kb.parameters["motion_trendelenburg_reference_drop_deg"].value
    assert st.trendelenburg_reference_deg == ref
    u = st.cpd_sdd_deg
    above = classify_trendelenburg(ref + u + 0.1, 0.5, 10, task="walk", settings=st)
    below = classify_trendelenburg(ref - u - 0.1, 0.5, 10, task="walk", settings=st)
    middle = classify_trendelenburg(ref + u - 0.1, 0.5, 10, task="walk", settings=st)
    assert (above.call, below.call, middle.call) == ("positive", "negative", "indeterminate")
    # a bare cut-off would call 'ref + 0.5' positive; glutemed does not
    assert classify_trendelenburg(ref + 0.5, 0.1, 10, task="walk", settings=st).call == (
        "indeterminate")
    # large stride-to-stride variability widens the band
    wide = classify_trendelenburg(ref + u + 0.5, 6.0, 7, task="walk", settings=st)
    assert wide.uncertainty_basis == "between_stride_ci" and wide.call == "indeterminate"
    blocked = classify_trendelenburg(20.0, 0.1, 10, task="walk", settings=st, blocked_by="x")
    assert blocked.call == "indeterminate" and blocked.reason == "x"
    assert math.isnan(classify_trendelenburg(float("nan"), 0, 0, task="walk").mean_drop_deg)


def test_compare_visits_against_the_mdc() -> None:
    before = analyse_trial(standing_trial(lifted="right", drop_deg=10.0), "single_leg_stance")
    after = analyse_trial(standing_trial(lifted="right", drop_deg=2.0), "single_leg_stance")
    small = analyse_trial(standing_trial(lifted="right", drop_deg=8.0), "single_leg_stance")
    out = compare_visits(before, after)
    assert out["left"]["interpretation"] == "drop_decreased"
    assert out["left"]["change_deg"] == pytest.approx(-8.0, abs=0.3)
    assert out["right"]["interpretation"] == "not_measured"
    assert compare_visits(before, small)["left"]["interpretation"] == "no_detectable_change"
    assert compare_visits(after.to_dict(), before.to_dict())["left"]["interpretation"] == (
        "drop_increased")
    walk_like = before.to_dict() | {"task": "walk"}
    with pytest.raises(InputValueError, match="different tasks"):
        compare_visits(before, walk_like)


# --------------------------------------------------------------------------- 2D quality gates


def _frontal_2d(n: int = 300, rate: float = 60.0, hip_dx: float = 80.0) -> Trial:
    t = np.arange(n) / rate
    bob = 5 * np.sin(2 * np.pi * t)
    lm = {
        "left_hip": np.stack([np.full(n, 500 + hip_dx / 2), np.zeros(n), -400 + bob], axis=1),
        "right_hip": np.stack([np.full(n, 500 - hip_dx / 2), np.zeros(n), -400 - bob], axis=1),
        "left_shoulder": np.stack([np.full(n, 560.0), np.zeros(n), np.full(n, -150.0)], axis=1),
        "right_shoulder": np.stack([np.full(n, 440.0), np.zeros(n), np.full(n, -150.0)], axis=1),
        "left_ankle": np.stack([np.full(n, 530.0), np.zeros(n), np.full(n, -800.0)], axis=1),
        "right_ankle": np.stack([np.full(n, 470.0), np.zeros(n), np.full(n, -800.0)], axis=1),
    }
    return Trial(landmarks=lm, sampling_rate_hz=rate, source="video.json", units="px",
                 frame="image")


def test_side_view_is_flagged_not_frontal() -> None:
    frontal = analyse_trial(_frontal_2d(), "walk")
    assert "camera_not_frontal" not in {q.code for q in frontal.quality}
    side_view = analyse_trial(_frontal_2d(hip_dx=10.0), "walk")
    flags = {q.code: q for q in side_view.quality}
    assert flags["camera_not_frontal"].blocks_interpretation
    assert side_view.findings == {}


def test_normalised_coordinates_block_interpretation() -> None:
    trial = _frontal_2d().replace(units="normalised")
    result = analyse_trial(trial, "walk")
    assert "normalised_coordinates" in {q.code for q in result.quality}


def test_low_confidence_keypoints_are_dropped() -> None:
    trial = _frontal_2d()
    conf = {k: np.full(trial.n_frames, 0.9) for k in trial.landmarks}
    conf["left_hip"][100:150] = 0.1
    result = analyse_trial(trial.replace(confidence=conf), "walk")
    assert np.isnan(result.obliquity_deg[110:140]).all()
    assert any(g.landmark == "left_hip" and not g.filled for g in result.gaps)


# --------------------------------------------------------------------------- output


def test_plots_png_and_svg(tmp_path: Path) -> None:
    result = analyse_trial(standing_trial(lifted="right", drop_deg=7.0), "single_leg_stance",
                           plot=tmp_path / "sls.png")
    png, svg = (tmp_path / "sls.png"), (tmp_path / "sls.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()[:500]
    assert result.plots == (str(png), str(svg))
    with pytest.raises(InputValueError, match="plot"):
        plot_obliquity(result, tmp_path / "x.pdf")


def test_analyse_folder_yields_results_and_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.c3d").write_text("not a c3d")
    (tmp_path / "notes.txt").write_text("ignored")
    sls = (DATA_DIR / "generic_sls.csv").read_text()
    (tmp_path / "sls.csv").write_text(sls)
    assert [p.name for p in list_motion_files(tmp_path)] == ["broken.c3d", "sls.csv"]
    items = list(analyse_folder(tmp_path, "single_leg_stance", plot=tmp_path / "plots"))
    assert items[0].result is None and isinstance(items[0].error, MotionDataError)
    assert "broken.c3d" in items[0].to_row()["error"]
    assert items[1].result is not None and items[1].error is None
    row = items[1].to_row()
    assert row["file"] == "sls.csv" and row["left_trendelenburg"] == "positive"
    assert (tmp_path / "plots" / "sls_obliquity.png").is_file()
    with pytest.raises(MotionDataError, match="folder"):
        list_motion_files(tmp_path / "absent")


def test_bad_task_names_the_options() -> None:
    with pytest.raises(InputValueError, match="task"):
        analyse_trial(standing_trial(), "run")


# --------------------------------------------------------------------------- video front end


def test_video_names_the_missing_file(tmp_path: Path) -> None:
    from glutemed.motion.video import analyse_video, pose_from_video

    with pytest.raises(MotionDataError, match="no such file"):
        pose_from_video(tmp_path / "absent.mp4")
    with pytest.raises(MotionDataError, match="lite"):
        analyse_video(tmp_path / "absent.mp4", model="tiny")


_ID = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")


def test_quality_texts_are_plain_words() -> None:
    """The clinician reads body points in words, never internal names like left_hip."""
    trial = _frontal_2d()
    n = trial.n_frames
    assert n > 40
    gap = trial.get("left_hip").copy()
    gap[:30] = np.nan  # missing at the start: stays missing
    finger = trial.get("right_shoulder") + np.array([0.0, 0.0, -200.0])
    finger[n - 40 :] = np.nan  # missing at the end
    lm = dict(trial.landmarks) | {"left_hip": gap, "right_index_finger": finger}
    for rate in (60.0, 30.0, 20.0):
        result = analyse_trial(trial.replace(landmarks=lm, sampling_rate_hz=rate), "walk")
        texts = [q.message for q in result.quality]
        assert any("right index finger" in t and "left hip" in t for t in texts), texts
        assert not [t for t in texts if _ID.search(t)], texts
