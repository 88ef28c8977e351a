"""Gait events and task segmentation: walking (Zeni 2008), single-leg stance, single-leg squat."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from glutemed._checks import check_option
from glutemed.errors import MotionDataError, Problem
from glutemed.motion._kinematics import pelvis_centre, progression_frame
from glutemed.motion._processing import nan_runs
from glutemed.motion._trial import EventKind, FloatArray, GaitEvent, Side, Trial

__all__ = [
    "Phase",
    "detect_gait_events",
    "segment_single_leg_squats",
    "segment_single_leg_stance",
    "stance_phases",
    "walking_direction",
]

EventMethod = Literal["zeni", "zeni_refined"]
_SIDES: tuple[Side, Side] = ("left", "right")

# Technical constants of the detectors (not clinical thresholds).
_MIN_EVENT_SPACING_S = 0.4  # same-side events closer than this are one event
# Bound on the refinement: a foot strike moves at most this far after Zeni's peak, else Zeni's
# time is kept. On the real trials of the c3d.org samples the refinement moves strikes by at
# most 0.046 s when it helps; a longer move (0.21 s on sub_labels.c3d, 11.5 frames from the
# lab's event where plain Zeni was 1.1 off) means a velocity peak of the next swing was found.
_REFINE_WINDOW_S = 0.06
_PROMINENCE_FRACTION = 0.25  # of the signal's 5-95 % range
_OVERGROUND_SPEED_M_S = 0.2  # below this mean pelvis speed the trial is treated as treadmill
_MIN_BOUT_S = 0.5  # shortest single-leg bout / squat cycle kept
_LIFT_FRACTION = 0.05  # minimal foot lift or squat depth, as a fraction of leg length
_TRIM_FRACTION = 0.15  # transients cut from each end of a single-leg-stance bout
_STILL_FRACTION = 0.1  # 2D: a foot is still below this fraction of its 95th-percentile speed
_MIN_STILL_S = 0.1  # 2D: shortest still period counted as a stance


@dataclass(frozen=True)
class Phase:
    """A stance phase (walking), a single-leg-stance bout or a single-leg-squat cycle.

    Parameters
    ----------
    side
        The stance (supporting) limb.
    start, stop
        Frame indices, ``stop`` exclusive.
    window
        ``(start, stop)`` frame indices over which the phase's measures are taken: single-limb
        support in walking, the bout without its transients, the whole squat cycle.
    start_s, stop_s
        Times of ``start`` and ``stop - 1``.
    """

    side: Side
    start: int
    stop: int
    window: tuple[int, int]
    start_s: float
    stop_s: float

    def as_dict(self) -> dict[str, str | float]:
        """JSON-ready summary."""
        return {"side": self.side, "start_s": round(self.start_s, 4),
                "stop_s": round(self.stop_s, 4)}


# --------------------------------------------------------------------------- helpers


def _peaks(signal: FloatArray, rate: float, *, minima: bool = False) -> FloatArray:
    """Sub-frame indices of prominent local maxima (or minima) inside runs of valid samples."""
    from scipy.signal import find_peaks  # imported on use: scipy.signal is slow to import

    x = -signal if minima else signal
    valid = np.isfinite(x)
    if valid.sum() < 5:
        return np.empty(0)
    lo, hi = np.percentile(x[valid], [5, 95])
    if not hi > lo:
        return np.empty(0)
    need = _PROMINENCE_FRACTION * (hi - lo)
    spacing = max(int(_MIN_EVENT_SPACING_S * rate), 1)
    out: list[float] = []
    for a, b in nan_runs(valid):
        seg = x[a:b]
        if seg.size < 3:
            continue
        idx, _ = find_peaks(seg, distance=spacing)
        for j, i in enumerate(idx):
            # prominence on each side, up to the neighbouring peaks or the ends of the run; a
            # peak whose other side is cut by the end of the run counts on one side only
            left_stop = int(idx[j - 1]) if j > 0 else 0
            right_stop = int(idx[j + 1]) + 1 if j + 1 < len(idx) else seg.size
            left = seg[i] - seg[left_stop : i + 1].min()
            right = seg[i] - seg[i : right_stop].min()
            left_cut = j == 0 and i < spacing
            right_cut = j + 1 == len(idx) and seg.size - 1 - i < spacing
            ok = (left >= need or left_cut) and (right >= need or right_cut)
            if ok and max(left, right) >= need:
                out.append(a + _parabolic(seg, int(i)))
    return np.asarray(out, dtype=float)


def _parabolic(y: FloatArray, i: int) -> float:
    """Sub-sample position of an extremum at ``i`` from a parabola through 3 samples."""
    if i <= 0 or i >= y.size - 1:
        return float(i)
    a, b, c = float(y[i - 1]), float(y[i]), float(y[i + 1])
    denom = a - 2.0 * b + c
    if denom == 0 or not np.isfinite(denom):
        return float(i)
    return float(i + 0.5 * (a - c) / denom)


def _foot(trial: Trial, side: Side, part: Literal["heel", "toe"]) -> FloatArray | None:
    order = (
        (f"{side}_heel", f"{side}_ankle", f"{side}_toe")
        if part == "heel"
        else (f"{side}_toe", f"{side}_small_toe", f"{side}_ankle", f"{side}_heel")
    )
    for name in order:
        if trial.has(name):
            return trial.get(name)
    return None


def _time(trial: Trial, index: float) -> float:
    return float(trial.start_time_s + index / trial.sampling_rate_hz)


# --------------------------------------------------------------------------- walking


def walking_direction(trial: Trial) -> FloatArray:
    """Estimate the horizontal walking direction of a 3D trial (unit vector in the lab frame).

    Overground: the direction of the pelvis centre's mean horizontal velocity. Treadmill
    (mean pelvis speed below 0.2 m/s): the main axis of the feet's horizontal motion relative to
    the pelvis, pointing from heel/ankle to toe.

    Raises
    ------
    MotionDataError
        If neither the pelvis nor the feet allow an estimate.
    """
    centre = pelvis_centre(trial)
    ok = np.flatnonzero(np.isfinite(centre).all(axis=1))
    if ok.size >= 2:
        disp = centre[ok[-1], :2] - centre[ok[0], :2]
        dt = (ok[-1] - ok[0]) / trial.sampling_rate_hz
        if dt > 0 and np.linalg.norm(disp) / dt >= _OVERGROUND_SPEED_M_S:
            return np.asarray(np.array([disp[0], disp[1], 0.0]) / np.linalg.norm(disp))
    rel = []
    pointing = np.zeros(2)
    for side in _SIDES:
        heel, toe = _foot(trial, side, "heel"), _foot(trial, side, "toe")
        if heel is not None:
            r = (heel - centre)[:, :2]
            rel.append(r[np.isfinite(r).all(axis=1)])
        if heel is not None and toe is not None:
            d = (toe - heel)[:, :2]
            d = d[np.isfinite(d).all(axis=1)]
            if d.size:
                pointing += d.mean(axis=0)
    if not rel or sum(r.shape[0] for r in rel) < 3 or not np.any(pointing):
        raise MotionDataError(
            f"{trial.source}: the walking direction cannot be estimated",
            [Problem(trial.source, "a moving pelvis or heel/ankle and toe markers",
                     "neither", "record an overground walk or include foot markers")],
        )
    allrel = np.concatenate(rel)
    allrel = allrel - allrel.mean(axis=0)
    _, _, vt = np.linalg.svd(allrel, full_matrices=False)
    axis = vt[0]
    if axis @ pointing < 0:
        axis = -axis
    return np.asarray(np.array([axis[0], axis[1], 0.0]) / np.linalg.norm(axis))


def _forward_signal(trial: Trial, point: FloatArray, forward: FloatArray | None) -> FloatArray:
    """Forward position of a foot point relative to the pelvis (Zeni's coordinate signal)."""
    centre = pelvis_centre(trial)
    f, _, _ = progression_frame(forward if forward is not None else walking_direction(trial))
    return np.asarray((point - centre) @ f)


def _image_events(trial: Trial) -> list[GaitEvent]:
    """Foot strikes and foot offs from a fixed frontal camera: when the foot stands still.

    Seen from the front, the walking direction is the camera's depth axis, so Zeni's forward
    position is not observable. A planted foot, however, does not move in the image of a fixed
    camera: a foot strike is where the heel (ankle) keypoint's image speed falls below 10 % of
    its 95th-percentile speed for at least 0.1 s, a foot off where the toe (ankle) keypoint's
    speed rises above it. Crossings are interpolated between frames.
    """
    rate = trial.sampling_rate_hz
    events: list[GaitEvent] = []
    for side in _SIDES:
        parts: tuple[tuple[Literal["heel", "toe"], EventKind], ...] = (
            ("heel", "foot_strike"), ("toe", "foot_off"))
        for part, kind in parts:
            point = _foot(trial, side, part)
            if point is None:
                continue
            speed = np.linalg.norm(np.gradient(point[:, [0, 2]], axis=0), axis=1) * rate
            ok = np.isfinite(speed)
            if ok.sum() < 5:
                continue
            thr = _STILL_FRACTION * float(np.percentile(speed[ok], 95))
            still = (speed < thr) & ok
            for a, b in nan_runs(still):
                if (b - a) / rate < _MIN_STILL_S:
                    continue
                if kind == "foot_strike" and a > 0 and ok[a - 1]:
                    s0, s1 = speed[a - 1], speed[a]
                    x = a - 1 + (s0 - thr) / (s0 - s1) if s0 != s1 else float(a)
                    events.append(GaitEvent(side, kind, _time(trial, x)))
                elif kind == "foot_off" and b < speed.size and ok[b]:
                    s0, s1 = speed[b - 1], speed[b]
                    x = b - 1 + (thr - s0) / (s1 - s0) if s0 != s1 else float(b)
                    events.append(GaitEvent(side, kind, _time(trial, x)))
    return sorted(events, key=lambda e: e.time_s)


def detect_gait_events(
    trial: Trial,
    *,
    method: EventMethod = "zeni_refined",
    forward: FloatArray | None = None,
) -> list[GaitEvent]:
    """Detect foot strikes and foot offs of a walking trial from marker/keypoint coordinates.

    Zeni's coordinate method: along the walking direction, the heel's position relative to the
    pelvis (sacrum) peaks at foot strike and the toe's position reaches its minimum at foot off.
    Without a heel marker the ankle marker is used, without a toe marker the ankle. With
    ``method="zeni_refined"`` (default) each foot strike is then moved to the first peak
    downward velocity of the heel/ankle within 0.06 s after Zeni's peak (never further; with no
    such peak Zeni's time is kept): the foot falls fastest
    just before it lands, whereas the relative position peaks while the foot still swings
    forward (O'Connor et al. 2007 use the same landmark in their foot-velocity algorithm).
    Events are placed between frames by parabolic interpolation.

    For 2D frontal-camera keypoints, where the walking direction is the camera's depth axis,
    events are taken from when each foot stands still in the image (see ``_image_events``).

    Parameters
    ----------
    trial
        A filtered walking trial.
    method
        ``"zeni_refined"`` or ``"zeni"``.
    forward
        Walking direction (3D); default: :func:`walking_direction`.

    Returns
    -------
    list of GaitEvent
        Sorted by time, ``source="detected"``.

    References
    ----------
    Zeni JA Jr, Richards JG, Higginson JS. Two simple methods for determining gait events
    during treadmill and overground walking using kinematic data. Gait Posture
    2008;27:710-714. O'Connor CM, Thorpe SK, O'Malley MJ, Vaughan CL. Automatic detection of
    gait events using kinematic data. Gait Posture 2007;25:469-474.
    """
    check_option("method", method, ("zeni", "zeni_refined"))
    if trial.is_2d:
        return _image_events(trial)
    if forward is None:
        forward = walking_direction(trial)
    rate = trial.sampling_rate_hz
    events: list[GaitEvent] = []
    for side in _SIDES:
        heel = _foot(trial, side, "heel")
        toe = _foot(trial, side, "toe")
        if heel is None or toe is None:
            continue
        fs_signal = _forward_signal(trial, heel, forward)
        fo_signal = _forward_signal(trial, toe, forward)
        strikes = _peaks(fs_signal, rate)
        if method == "zeni_refined":
            vz = np.gradient(heel[:, 2])
            strikes = np.asarray([_refine_strike(vz, s, rate) for s in strikes])
        offs = _peaks(fo_signal, rate, minima=True)
        events += [GaitEvent(side, "foot_strike", _time(trial, s)) for s in strikes]
        events += [GaitEvent(side, "foot_off", _time(trial, s)) for s in offs]
    return sorted(events, key=lambda e: e.time_s)


def _refine_strike(vz: FloatArray, index: float, rate: float) -> float:
    """Move a Zeni foot strike to the first peak downward velocity ``vz`` that follows it."""
    start = int(np.floor(index))
    stop = min(int(np.ceil(index + _REFINE_WINDOW_S * rate)) + 1, vz.size - 1)
    for k in range(max(start, 1), stop):
        a, b, c = vz[k - 1], vz[k], vz[k + 1]
        if not (np.isfinite(a) and np.isfinite(b) and np.isfinite(c)):
            return index
        if b < 0 and b <= a and b <= c:
            return max(_parabolic(vz, k), index)
    return index


def stance_phases(trial: Trial, events: list[GaitEvent]) -> list[Phase]:
    """Pair each foot strike with the same foot's next foot off; find single-limb support.

    The measurement window of a stance phase of side S is single-limb support: from the other
    foot's foot off to its next foot strike, within the stance. When those events are missing,
    the window is 10-50 % of the gait cycle (the single-limb stance window PhysioMoCap uses)
    when the next foot strike of S is known, else the whole stance.
    """
    rate = trial.sampling_rate_hz
    n = trial.n_frames

    def idx(t: float) -> float:
        return (t - trial.start_time_s) * rate

    phases: list[Phase] = []
    for side in _SIDES:
        other: Side = "right" if side == "left" else "left"
        fs = sorted(idx(e.time_s) for e in events if e.side == side and e.kind == "foot_strike")
        fo = sorted(idx(e.time_s) for e in events if e.side == side and e.kind == "foot_off")
        ofo = sorted(idx(e.time_s) for e in events if e.side == other and e.kind == "foot_off")
        ofs = sorted(idx(e.time_s) for e in events if e.side == other and e.kind == "foot_strike")
        for k, strike in enumerate(fs):
            nxt_off = next((t for t in fo if t > strike), None)
            nxt_strike = fs[k + 1] if k + 1 < len(fs) else None
            if nxt_off is None or (nxt_strike is not None and nxt_off > nxt_strike):
                continue
            start, stop = int(np.ceil(strike)), min(int(np.floor(nxt_off)) + 1, n)
            if stop - start < 3:
                continue
            o_off = next((t for t in ofo if strike < t < nxt_off), None)
            o_strike = next((t for t in ofs if o_off is not None and o_off < t < nxt_off), None)
            if o_off is not None and o_strike is not None:
                window = (int(np.ceil(o_off)), int(np.floor(o_strike)) + 1)
            elif nxt_strike is not None:
                cycle = nxt_strike - strike
                window = (int(np.ceil(strike + 0.1 * cycle)),
                          int(np.floor(strike + 0.5 * cycle)) + 1)
            else:
                window = (start, stop)
            window = (max(window[0], start), min(window[1], stop))
            if window[1] - window[0] < 2:
                continue
            phases.append(Phase(side, start, stop, window, _time(trial, start),
                                _time(trial, stop - 1)))
    return sorted(phases, key=lambda p: p.start)


# --------------------------------------------------------------------------- single-leg tasks


def _leg_length(trial: Trial) -> float:
    lengths = []
    for side in _SIDES:
        for hip in (f"{side}_hip_joint", f"{side}_hip", f"{side}_asis"):
            if trial.has(hip, f"{side}_ankle"):
                d = np.linalg.norm(trial.get(hip) - trial.get(f"{side}_ankle"), axis=1)
                if np.isfinite(d).any():
                    lengths.append(float(np.nanmedian(d)))
                break
    return float(np.mean(lengths)) if lengths else float("nan")


def _foot_height(trial: Trial, side: Side) -> FloatArray | None:
    parts = [trial.get(n)[:, 2] for n in (f"{side}_ankle", f"{side}_heel", f"{side}_toe")
             if trial.has(n)]
    if not parts:
        return None
    stacked = np.stack(parts)
    with np.errstate(all="ignore"):
        out = np.nanmin(stacked, axis=0) if len(parts) > 1 else stacked[0]
    return np.asarray(out)


def _lift_signal(trial: Trial) -> tuple[FloatArray, float]:
    left, right = _foot_height(trial, "left"), _foot_height(trial, "right")
    if left is None or right is None:
        raise MotionDataError(
            f"{trial.source}: cannot tell which foot is lifted",
            [Problem(trial.source, "left and right ankle (or heel/toe) landmarks",
                     "landmarks of one foot or none")],
        )
    return left - right, _leg_length(trial)


def segment_single_leg_stance(trial: Trial) -> tuple[list[Phase], list[GaitEvent]]:
    """Find single-leg-stance bouts: which foot is lifted, and when.

    The lifted foot is the one whose height exceeds the other's by more than half of the
    largest height difference in the trial (and by at least 5 % of leg length). Each bout gives
    a :class:`Phase` for the supporting limb, with the first and last 15 % of the bout (lifting
    and lowering the foot) left out of its measurement window, plus a foot-off and a
    foot-strike event of the lifted foot.
    """
    diff, leg = _lift_signal(trial)
    return _bouts(trial, diff, leg, trim=_TRIM_FRACTION)


def _bouts(
    trial: Trial, diff: FloatArray, leg: float, *, trim: float
) -> tuple[list[Phase], list[GaitEvent]]:
    rate = trial.sampling_rate_hz
    valid = np.isfinite(diff)
    if valid.sum() < 3:
        return [], []
    peak = float(np.percentile(np.abs(diff[valid]), 98))
    if np.isfinite(leg) and peak < _LIFT_FRACTION * leg:
        return [], []
    threshold = 0.5 * peak
    phases: list[Phase] = []
    events: list[GaitEvent] = []
    for lifted, mask in (("left", diff > threshold), ("right", diff < -threshold)):
        stance: Side = "right" if lifted == "left" else "left"
        lifted_side: Side = "left" if lifted == "left" else "right"
        for a, b in nan_runs(mask & valid):
            if (b - a) / rate < _MIN_BOUT_S:
                continue
            cut = round(trim * (b - a))
            phases.append(Phase(stance, a, b, (a + cut, b - cut), _time(trial, a),
                                _time(trial, b - 1)))
            events.append(GaitEvent(lifted_side, "foot_off", _time(trial, a)))
            events.append(GaitEvent(lifted_side, "foot_strike", _time(trial, b - 1)))
    phases.sort(key=lambda p: p.start)
    events.sort(key=lambda e: e.time_s)
    return phases, events


def segment_single_leg_squats(trial: Trial) -> tuple[list[Phase], list[GaitEvent]]:
    """Find single-leg-squat cycles from the pelvis's vertical position.

    Each squat is a prominent minimum of the pelvis height (depth at least 5 % of leg length);
    its cycle runs from the preceding to the following local maximum (or the bout's ends). The
    supporting limb is the foot that stays down (the other foot's height exceeds it on average
    over the cycle). Cycles in which neither foot is clearly lifted are skipped.
    """
    from scipy.signal import find_peaks

    diff, leg = _lift_signal(trial)
    height = pelvis_centre(trial)[:, 2]
    valid = np.isfinite(height)
    if valid.sum() < 5:
        return [], []
    rate = trial.sampling_rate_hz
    lo, hi = np.percentile(height[valid], [2, 98])
    depth = hi - lo
    if np.isfinite(leg) and depth < _LIFT_FRACTION * leg:
        return [], []
    prominence = 0.5 * depth
    filled = np.where(valid, height, np.nanmax(height))
    mins, _ = find_peaks(-filled, prominence=prominence, distance=max(int(_MIN_BOUT_S * rate), 1))
    maxs, _ = find_peaks(filled, prominence=0.25 * depth)
    lift_valid = np.isfinite(diff)
    peak = float(np.percentile(np.abs(diff[lift_valid]), 98)) if lift_valid.any() else 0.0
    phases: list[Phase] = []
    events: list[GaitEvent] = []
    for m in mins:
        before = maxs[maxs < m]
        after = maxs[maxs > m]
        a = int(before[-1]) if before.size else 0
        b = int(after[0]) + 1 if after.size else trial.n_frames
        if (b - a) / rate < _MIN_BOUT_S:
            continue
        seg = diff[a:b]
        seg = seg[np.isfinite(seg)]
        if seg.size == 0 or abs(float(np.median(seg))) < 0.25 * peak:
            continue
        lifted: Side = "left" if np.median(seg) > 0 else "right"
        stance: Side = "right" if lifted == "left" else "left"
        phases.append(Phase(stance, a, b, (a, b), _time(trial, a), _time(trial, b - 1)))
        events.append(GaitEvent(lifted, "foot_off", _time(trial, a)))
        events.append(GaitEvent(lifted, "foot_strike", _time(trial, b - 1)))
    return phases, sorted(events, key=lambda e: e.time_s)
