"""Left/right label swaps of 2D pose estimators, found from the continuity of the body's sides.

A single-camera pose model seeing a person from the front or the back has to decide which way
the person faces; when it changes its mind from one frame to the next it swaps every left and
right label while the points themselves stay where they were (BlazePose lite on pose2sim's
demo video swaps in about half of the frames of a near-frontal view). A real turn moves the
points continuously; a swap makes each left point jump to where the right one was. The labels
are therefore chosen, frame by frame, as the path of least movement: a two-state shortest path
(kept or swapped labels per frame) whose step cost is how far the labelled points move between
consecutive detected frames; where movement cannot tell, the model's labels relative to the
previous frame stay. Frames in which the hips and shoulders lie on top of each other (the
model's guesses while it changes its mind, or a side view) are left out of the path and get
the labels nearest to those of the closest frame on it.

Continuity alone cannot say which of two mirror-image tracks is the right one. A person
walking towards the camera shows their front, with their left side on the right of the
picture, and their feet move down the picture (nearer floor is lower in the picture of a camera
above the floor); walking away they show their back and their feet move up. When the person
clearly walks towards or away from the camera this chooses the track (an unmirrored video and
forward walking are assumed); otherwise the track whose labels the model gave in more of the
frames (weighted by how clearly the two sides are apart) is kept, and when that majority is
weak the result says that the person's facing is uncertain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from glutemed.motion._trial import FloatArray

__all__ = ["MIN_SIDE_AGREEMENT", "SideRelabelling", "apply_relabelling", "relabel_sides"]

#: Below this share of frames in which the model's own labels agree with the continuous track,
#: the person's facing is reported as uncertain. glutemed's assumption: a model that is right in
#: three frames out of four is trusted; closer to one in two it is guessing.
MIN_SIDE_AGREEMENT = 0.75
#: Frames whose two sides lie closer than this share of the trial's median distance between
#: them are not used to follow the labels (glutemed's assumption).
_MIN_APART = 0.5
#: Walking towards or away from the camera, glutemed's assumptions: the feet's speed down or up
#: the picture is fitted over one second (a stride, so that stepping averages out); frames
#: moving at least 0.2 trunk lengths per second count (about twice the scatter of a pose
#: model's foot points around that fit on pose2sim's demo videos; walking at 1 m/s 4 m from a
#: phone at hip height moves the feet several trunk lengths per second), and at least half a
#: second of them is needed.
_FEET = ("left_ankle", "right_ankle", "left_heel", "right_heel", "left_toe", "right_toe")
_APPROACH_WINDOW_S = 1.0
_MIN_APPROACH = 0.2
_MIN_MOVING_S = 0.5
#: The left-side names of the torso pairs, whose closeness marks a collapsed frame.
_TORSO = ("left_shoulder", "left_hip")
#: Largest gap between two detected frames across which continuity is used, seconds.
_MAX_LINK_S = 0.2


@dataclass(frozen=True)
class SideRelabelling:
    """Which frames had their left and right labels exchanged.

    Parameters
    ----------
    swapped
        Per frame, True where the labels were exchanged.
    agreement
        Share of the weighted frames in which the model's labels agree with the track (or
        with its mirror image, whichever is larger), in [0.5, 1]; near 0.5 the model could
        not tell a front view from a back view.
    collapsed
        Per frame, True where the hips and shoulders of the two sides lie on top of each
        other (less than half their usual distance apart): the model's guesses while it
        changes its mind, whose sideways angles are not usable.
    decided_by
        ``"movement"`` when walking towards or away from the camera chose between the track
        and its mirror image, ``"labels"`` when the model's majority did.
    """

    swapped: np.ndarray
    agreement: float
    decided_by: str
    collapsed: np.ndarray


def _pairs(names: Sequence[str]) -> list[tuple[int, int]]:
    idx = {n: j for j, n in enumerate(names)}
    return [(j, idx["right_" + n[5:]]) for n, j in idx.items()
            if n.startswith("left_") and "right_" + n[5:] in idx]


def _scale(xy: FloatArray, names: Sequence[str]) -> float:
    idx = {n: j for j, n in enumerate(names)}
    need = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    if all(n in idx for n in need):
        sh = (xy[:, idx["left_shoulder"]] + xy[:, idx["right_shoulder"]]) / 2.0
        hp = (xy[:, idx["left_hip"]] + xy[:, idx["right_hip"]]) / 2.0
        trunk = np.linalg.norm(sh - hp, axis=1)
        trunk = trunk[np.isfinite(trunk) & (trunk > 0)]
        if trunk.size:
            return float(np.median(trunk))
    span = np.nanmax(xy[..., 1], axis=1) - np.nanmin(xy[..., 1], axis=1)
    span = span[np.isfinite(span) & (span > 0)]
    return float(np.median(span)) if span.size else 1.0


def _trunk_px(xy: FloatArray, names: Sequence[str]) -> FloatArray | None:
    idx = {n: j for j, n in enumerate(names)}
    need = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    if not all(n in idx for n in need):
        return None
    sh = (xy[:, idx["left_shoulder"]] + xy[:, idx["right_shoulder"]]) / 2.0
    hp = (xy[:, idx["left_hip"]] + xy[:, idx["right_hip"]]) / 2.0
    return np.asarray(np.linalg.norm(sh - hp, axis=1), dtype=float)


def _approach_cue(xy: FloatArray, names: Sequence[str], rate_hz: float) -> FloatArray | None:
    """Per frame, how fast the feet move down the picture (trunk lengths per second; > 0 when
    the person walks towards the camera).

    A camera above the floor sees nearer floor points lower in the picture, so the lowest
    foot point moves down as the person approaches and up as they walk away; it does not
    depend on which side is called left.
    """
    idx = {nm: j for j, nm in enumerate(names)}
    feet = [idx[nm] for nm in _FEET if nm in idx]
    if not feet:
        return None
    with np.errstate(all="ignore"):
        lowest = np.nanmax(np.where(np.isfinite(xy[:, feet, 1]), xy[:, feet, 1], -np.inf),
                           axis=1)
    ok = np.isfinite(lowest)
    window = max(3, round(_APPROACH_WINDOW_S * rate_hz))
    if ok.sum() < window:
        return None
    scale = _scale(xy, names)
    t = np.arange(lowest.size) / rate_hz
    half = window // 2
    speed = np.full(lowest.size, np.nan)
    for i in np.flatnonzero(ok):
        a, b = max(0, i - half), min(lowest.size, i + half + 1)
        inside = ok[a:b]
        if inside.sum() >= max(3, (b - a) // 2):
            speed[i] = float(np.polyfit(t[a:b][inside], lowest[a:b][inside], 1)[0]) / scale
    return speed


def _links(left: FloatArray, right: FloatArray, seen: np.ndarray, t: int, p: int,
           scale: float) -> tuple[float, float]:
    """Movement from frame p to frame t with the same and with exchanged labels."""
    both = seen[t] & seen[p]
    if not both.any():
        return 0.0, 0.0
    lt, rt, lp, rp = left[t, both], right[t, both], left[p, both], right[p, both]
    same = float(np.mean(np.linalg.norm(lt - lp, axis=1) + np.linalg.norm(rt - rp, axis=1)))
    swap = float(np.mean(np.linalg.norm(lt - rp, axis=1) + np.linalg.norm(rt - lp, axis=1)))
    return same / scale, swap / scale


def relabel_sides(xy: FloatArray, names: Sequence[str], rate_hz: float) -> SideRelabelling:
    """Find the frames whose left and right labels a 2D pose model swapped.

    Parameters
    ----------
    xy
        ``(n_frames, n_keypoints, 2)`` image coordinates (column, row; rows point down), NaN
        where a keypoint is missing.
    names
        Canonical keypoint names (``left_hip``, ``right_hip`` ...), in ``xy``'s order.
    rate_hz
        Frame rate, for the longest gap continuity is followed across.

    Returns
    -------
    SideRelabelling
        The frames to swap back, how strongly the model's labels agree with the result and
        what chose between the two mirror-image tracks.
    """
    n = int(xy.shape[0])
    pairs = _pairs(names)
    none = SideRelabelling(np.zeros(n, dtype=bool), 1.0, "labels", np.zeros(n, dtype=bool))
    if not pairs or n < 2:
        return none
    left = xy[:, [a for a, _ in pairs]]
    right = xy[:, [b for _, b in pairs]]
    scale = _scale(xy, names)
    seen: np.ndarray = np.asarray(np.isfinite(left).all(axis=2) & np.isfinite(right).all(axis=2))
    detected = np.flatnonzero(seen.any(axis=1))
    if detected.size < 2:
        return none
    # how clearly the two sides are apart in each frame; where they lie on top of each other
    # (the model's transitional guesses, side views) movement cannot tell the labels
    # (the torso's: the hips and shoulders, whose sides a turn of the body exchanges)
    apart = np.where(seen, np.linalg.norm(left - right, axis=2), np.nan)
    torso = [k for k, (a, _) in enumerate(pairs) if names[a] in _TORSO] or list(range(len(pairs)))
    weight = np.zeros(n)
    with np.errstate(all="ignore"):
        weight[detected] = np.nan_to_num(
            np.nanmean(apart[detected][:, torso], axis=1) / scale, nan=0.0)
    clear = detected[weight[detected] >= _MIN_APART * float(np.median(weight[detected]))]
    if clear.size < 2:
        return none

    max_link = max(1, round(_MAX_LINK_S * rate_hz))
    # shortest path over (clear frame, state); state 1 = labels exchanged
    cost = np.zeros(2)
    back = np.zeros((clear.size, 2), dtype=int)
    for k in range(1, clear.size):
        t, p = int(clear[k]), int(clear[k - 1])
        same, swap = (0.0, 0.0) if t - p > max_link else _links(left, right, seen, t, p, scale)
        new = np.empty(2)
        for s in (0, 1):
            stay, cross = cost[s] + same, cost[1 - s] + swap
            back[k, s] = s if stay <= cross else 1 - s
            new[s] = min(stay, cross)
        cost = new
    states = np.zeros(n, dtype=int)
    states[clear[-1]] = int(np.argmin(cost))
    for k in range(clear.size - 1, 0, -1):
        states[clear[k - 1]] = back[k, states[clear[k]]]
    # frames where the sides lie together: the labels nearest the closest clear frame's
    for t in np.setdiff1d(detected, clear):
        p = int(clear[np.argmin(np.abs(clear - t))])
        if abs(p - t) <= max_link:
            same, swap = _links(left, right, seen, int(t), p, scale)
            states[t] = states[p] if same <= swap else 1 - states[p]

    # the mirror-image track is as continuous; walking towards the camera shows the front
    # (the left side on the right of the picture), walking away the back
    decided_by = "labels"
    approach = _approach_cue(xy, names, rate_hz)
    if approach is not None:
        left_x = np.nanmean(np.where(seen[..., None], left, np.nan)[..., 0], axis=1)
        right_x = np.nanmean(np.where(seen[..., None], right, np.nan)[..., 0], axis=1)
        facing = np.sign(left_x - right_x) * np.where(states == 1, -1.0, 1.0)
        moving = np.zeros(n, dtype=bool)
        moving[clear] = np.abs(np.nan_to_num(approach[clear])) >= _MIN_APPROACH
        if moving.sum() >= _MIN_MOVING_S * rate_hz:
            agree = float(np.mean(facing[moving] * np.sign(approach[moving]) > 0))
            if max(agree, 1.0 - agree) >= MIN_SIDE_AGREEMENT:
                decided_by = "movement"
                if agree < 0.5:
                    states = 1 - states
    kept = float(np.sum(weight[clear] * (states[clear] == 0)))
    total = float(np.sum(weight[clear]))
    if decided_by == "labels" and kept < total / 2.0:
        states = 1 - states
        kept = total - kept
    swapped = np.zeros(n, dtype=bool)
    swapped[detected] = states[detected].astype(bool)
    agreement = kept / total if total > 0 else 1.0
    collapsed = np.zeros(n, dtype=bool)
    collapsed[np.setdiff1d(detected, clear)] = True
    return SideRelabelling(swapped, max(agreement, 1.0 - agreement), decided_by, collapsed)


def apply_relabelling(xy: FloatArray, conf: FloatArray, names: Sequence[str],
                      relabelling: SideRelabelling) -> tuple[FloatArray, FloatArray]:
    """Exchange the left and right keypoints of the swapped frames and mark the hips and
    shoulders of the collapsed frames missing (copies)."""
    out, c = xy.copy(), conf.copy()
    swapped = relabelling.swapped
    for a, b in _pairs(names):
        out[swapped, a], out[swapped, b] = xy[swapped, b], xy[swapped, a]
        c[swapped, a], c[swapped, b] = conf[swapped, b], conf[swapped, a]
        if names[a] in _TORSO:
            c[relabelling.collapsed, a] = c[relabelling.collapsed, b] = 0.0
    return out, c
