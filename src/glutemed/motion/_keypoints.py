"""Which keypoint model a 2D file holds, and whether its layout is anatomically plausible.

Several pose estimators write 25 keypoints per person in different orders (OpenPose BODY_25
and BODY_25B), so the count alone cannot name the model: read in the wrong order a wrist
becomes a hip. Each candidate model is scored by how often its named keypoints sit in the
order of an upright body in the image (nose above the shoulders, shoulders above the hips,
hips above the knees, knees above the ankles, and the left hip on the same side as the left
shoulder), and the best-fitting model is used; a model the user names is refused when it fits
badly and another one fits.
"""

from __future__ import annotations

import numpy as np

from glutemed.errors import MotionDataError, Problem
from glutemed.motion._landmarks import KEYPOINT_MODELS
from glutemed.motion._trial import FloatArray

__all__ = ["choose_keypoint_model", "keypoint_layout_score"]

#: Share of the checks a model's layout must pass on an upright person (walking, standing on
#: one leg, squatting). glutemed's assumption, not a published value: with the right model
#: real walking and standing videos pass nearly all (> 0.95); a wrong order fails a third or
#: more, since it swaps limbs for hips and knees.
MIN_LAYOUT_SCORE = 0.8

_ABOVE = [
    ("nose", "left_shoulder"), ("nose", "right_shoulder"),
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
    ("left_hip", "left_knee"), ("right_hip", "right_knee"),
    ("left_knee", "left_ankle"), ("right_knee", "right_ankle"),
]
_WORDS = {
    "nose": "nose", "left_shoulder": "left shoulder", "right_shoulder": "right shoulder",
    "left_hip": "left hip", "right_hip": "right hip", "left_knee": "left knee",
    "right_knee": "right knee", "left_ankle": "left ankle", "right_ankle": "right ankle",
}


def keypoint_layout_score(xy: FloatArray, names: tuple[str, ...]) -> tuple[float, str]:
    """Score how anatomical a keypoint layout is, in [0, 1], and name its worst check.

    Parameters
    ----------
    xy
        ``(n_frames, n_keypoints, 2)`` image coordinates (column, row; rows point down), NaN
        where a keypoint is missing.
    names
        Canonical names of the keypoints, in the file's order.

    Returns
    -------
    tuple
        The share of frame-checks passed (NaN if nothing can be checked) and, in words, the
        check that failed most often.
    """
    idx = {n: j for j, n in enumerate(names)}
    passed = 0
    total = 0
    worst = (2.0, "")
    for upper, lower in _ABOVE:
        if upper not in idx or lower not in idx:
            continue
        a, b = xy[:, idx[upper], 1], xy[:, idx[lower], 1]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 1:
            continue
        good = int((a[ok] < b[ok]).sum())
        passed, total = passed + good, total + int(ok.sum())
        frac = good / int(ok.sum())
        if frac < worst[0]:
            worst = (frac, f"the {_WORDS[upper]} is above the {_WORDS[lower]} in "
                           f"{100 * frac:.0f} % of frames")
    if all(n in idx for n in ("left_hip", "right_hip", "left_shoulder", "right_shoulder")):
        hips = xy[:, idx["left_hip"], 0] - xy[:, idx["right_hip"], 0]
        shoulders = xy[:, idx["left_shoulder"], 0] - xy[:, idx["right_shoulder"], 0]
        ok = np.isfinite(hips) & np.isfinite(shoulders)
        if ok.any():
            good = int((np.sign(hips[ok]) == np.sign(shoulders[ok])).sum())
            passed, total = passed + good, total + int(ok.sum())
            frac = good / int(ok.sum())
            if frac < worst[0]:
                worst = (frac, f"the left hip is on the side of the left shoulder in "
                               f"{100 * frac:.0f} % of frames")
    if total == 0:
        return float("nan"), "no keypoints to check"
    return passed / total, worst[1]


def _label(model: str) -> str:
    return model.upper().replace("MEDIAPIPE", "MediaPipe")


def choose_keypoint_model(
    xy: FloatArray, claimed: str | None, source: str
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Pick the keypoint model for ``(n_frames, n_keypoints, 2)`` image coordinates.

    Parameters
    ----------
    xy
        Coordinates as in :func:`keypoint_layout_score`.
    claimed
        The model the user named (a key of ``KEYPOINT_MODELS``), or ``None`` to detect it.
    source
        File or folder name for messages.

    Returns
    -------
    tuple
        The model's name and notes for :attr:`Trial.notes` (``keypoint_model_detected``,
        ``keypoints_implausible``).

    Raises
    ------
    MotionDataError
        If no model has this many keypoints, if the claimed model has another count, or if the
        claimed model's layout is not anatomical while another model's is.
    """
    k = int(xy.shape[1])
    candidates = [m for m, names in KEYPOINT_MODELS.items() if len(names) == k]
    if claimed is not None and len(KEYPOINT_MODELS[claimed]) != k:
        raise MotionDataError(f"{source}: the keypoints do not fit {_label(claimed)}", [Problem(
            source, f"{len(KEYPOINT_MODELS[claimed])} keypoints per person ({_label(claimed)})",
            f"{k} keypoints", "pass the model the pose estimator used (--keypoints)")])
    if not candidates:
        counts = sorted({len(v) for v in KEYPOINT_MODELS.values()})
        raise MotionDataError(f"{source}: unknown keypoint model", [Problem(
            source, "a keypoint model with " + ", ".join(map(str, counts)) + " keypoints",
            f"{k} keypoints", "export BODY_25, BODY_25B, COCO, HALPE_26 or MediaPipe keypoints")])
    scores = {m: keypoint_layout_score(xy, KEYPOINT_MODELS[m]) for m in candidates}
    fitting = [m for m in candidates if scores[m][0] >= MIN_LAYOUT_SCORE]
    if claimed is not None:
        score, worst = scores[claimed]
        others = [m for m in fitting if m != claimed]
        if not score >= MIN_LAYOUT_SCORE and others:
            best = max(others, key=lambda m: scores[m][0])
            raise MotionDataError(f"{source}: the keypoints do not fit {_label(claimed)}", [
                Problem(source, f"an upright body in {_label(claimed)} order",
                        f"{worst} (anatomical in {100 * score:.0f} % of checks; "
                        f"{_label(best)} {100 * scores[best][0]:.0f} %)",
                        f"choose the {_label(best)} keypoint model (--keypoints {best})")])
        chosen = claimed
        notes: list[tuple[str, str]] = []
    else:
        chosen = max(candidates, key=lambda m: (scores[m][0] if np.isfinite(scores[m][0])
                                                else -1.0, -candidates.index(m)))
        notes = []
        if len(candidates) > 1:
            notes.append(("keypoint_model_detected",
                          f"{k} keypoints per person read as {_label(chosen)}, the layout "
                          f"that fits an upright body best ({100 * scores[chosen][0]:.0f} % of "
                          "checks)"))
    score, worst = scores[chosen]
    if np.isfinite(score) and score < MIN_LAYOUT_SCORE:
        notes.append(("keypoints_implausible",
                      f"the {_label(chosen)} keypoints do not form an upright body: {worst}; "
                      "the model may be wrong or the person is not upright"))
    return chosen, tuple(notes)
