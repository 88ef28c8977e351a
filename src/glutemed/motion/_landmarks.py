"""Canonical landmark names and the maps from marker sets and keypoint models to them.

glutemed uses one set of lower-case landmark names for markers and keypoints alike. Names are
from the subject's point of view (``left_*`` is the subject's left side), as in Plug-in Gait,
OpenPose and MediaPipe.

Two hip names are kept apart on purpose:

``left_hip_joint`` / ``right_hip_joint``
    3D hip joint centres, estimated from pelvis markers (Davis 1991 regression) or given by a
    file (e.g. OpenCap's ``LHJC_study``).
``left_hip`` / ``right_hip``
    2D (or lifted 3D) "hip" keypoints of pose estimators (OpenPose, MediaPipe), which sit near
    the hip joint centre.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "BODY_25",
    "BODY_25B",
    "CANONICAL_LANDMARKS",
    "COCO_17",
    "COCO_18",
    "HALPE_26",
    "KEYPOINT_MODELS",
    "MEDIAPIPE_33",
    "canonical_name",
    "landmark_words",
    "side_name",
]

_SIDED = (
    "asis",
    "psis",
    "hip_joint",
    "hip",
    "thigh",
    "knee",
    "knee_medial",
    "tibia",
    "ankle",
    "ankle_medial",
    "heel",
    "toe",
    "small_toe",
    "shoulder",
    "elbow",
    "wrist",
    "eye",
    "eye_inner",
    "eye_outer",
    "ear",
    "mouth",
    "pinky",
    "index_finger",
    "thumb",
    "front_head",
    "back_head",
)

#: Every canonical landmark name glutemed knows (sorted).
CANONICAL_LANDMARKS: tuple[str, ...] = tuple(
    sorted(
        [f"{s}_{p}" for s in ("left", "right") for p in _SIDED]
        + ["sacrum", "c7", "t10", "clavicle", "sternum", "neck", "nose", "mid_hip", "head_top"]
    )
)

#: The six foot keypoints, in the order both OpenPose 25-point models end with.
_OPENPOSE_FEET = (
    "left_toe",  # LBigToe
    "left_small_toe",
    "left_heel",
    "right_toe",  # RBigToe
    "right_small_toe",
    "right_heel",
)

#: OpenPose BODY_25 keypoint order.
BODY_25: tuple[str, ...] = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "mid_hip",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
    *_OPENPOSE_FEET,
)

#: OpenPose COCO (18 keypoints) order.
COCO_18: tuple[str, ...] = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
)

#: MS-COCO (17 keypoints) order, used by many pose estimators other than OpenPose.
COCO_17: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: OpenPose BODY_25B (experimental model; what Pose2Sim's demo data holds): the 17 MS-COCO
#: keypoints, then upper neck, head top and the six foot keypoints.
BODY_25B: tuple[str, ...] = (
    *COCO_17,
    "neck",  # UpperNeck
    "head_top",
    *_OPENPOSE_FEET,
)

#: HALPE 26 (AlphaPose; RTMPose "body with feet", as Sports2D writes): the 17 MS-COCO
#: keypoints, then head, neck, hip centre and the six foot keypoints.
HALPE_26: tuple[str, ...] = (
    *COCO_17,
    "head_top",  # Head
    "neck",
    "mid_hip",  # Hip
    "left_toe",  # LBigToe
    "right_toe",
    "left_small_toe",
    "right_small_toe",
    "left_heel",
    "right_heel",
)

#: MediaPipe Pose (BlazePose) 33 landmark order, mapped to canonical names.
MEDIAPIPE_33: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "left_mouth",
    "right_mouth",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index_finger",
    "right_index_finger",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_toe",  # left_foot_index
    "right_toe",  # right_foot_index
)

#: Keypoint models by the name ``keypoint_model`` / ``--keypoints`` takes.
KEYPOINT_MODELS: dict[str, tuple[str, ...]] = {
    "body_25": BODY_25,
    "body_25b": BODY_25B,
    "coco_17": COCO_17,
    "coco_18": COCO_18,
    "halpe_26": HALPE_26,
    "mediapipe_33": MEDIAPIPE_33,
}

#: MediaPipe's own names (for CSV/JSON files that name landmarks) -> canonical names.
_MEDIAPIPE_NAMES = {
    "mouth_left": "left_mouth",
    "mouth_right": "right_mouth",
    "left_index": "left_index_finger",
    "right_index": "right_index_finger",
    "left_foot_index": "left_toe",
    "right_foot_index": "right_toe",
}

# Marker-set and keypoint aliases, written with an "L"/"R" or "left"/"right" placeholder.
# Keys are lower-case with separators removed; values are canonical names without the side.
_SIDED_ALIASES: dict[str, tuple[str, ...]] = {
    "asis": ("{s}asi", "{s}asis", "asis{s}"),
    "psis": ("{s}psi", "{s}psis", "psis{s}"),
    "hip_joint": ("{s}hjc", "{s}hipjc", "{s}hipjointcentre", "{s}hipjointcenter", "hjc{s}"),
    "hip": ("{s}hip",),
    "thigh": ("{s}thi", "{s}thigh"),
    "knee": ("{s}kne", "{s}knee", "{s}kneelat", "{s}lfe", "{s}lfc", "{s}lkn", "{s}lkne",
             "{s}femlatepi", "{s}lepi"),
    "knee_medial": ("{s}kneemed", "{s}knm", "{s}mkne", "{s}mknee", "{s}kneemedial", "{s}mfe",
                    "{s}mfc", "{s}mkn", "{s}femmedepi", "{s}mepi", "{s}kneem"),
    "tibia": ("{s}tib", "{s}tibia"),
    "ankle": ("{s}ank", "{s}ankle", "{s}lma", "{s}anklelat"),
    "ankle_medial": ("{s}mma", "{s}mmal", "{s}mankle", "{s}anklemed", "{s}anklemedial",
                     "{s}med", "{s}mmalleolus", "{s}ankm"),
    "heel": ("{s}hee", "{s}heel", "{s}cal", "{s}calc"),
    "toe": ("{s}toe", "{s}bigtoe", "{s}footindex"),
    "small_toe": ("{s}smalltoe", "{s}5meta", "{s}vmh", "{s}mt5", "{s}met5", "{s}fm5", "{s}5mt"),
    "shoulder": ("{s}sho", "{s}shoulder"),
    "elbow": ("{s}elb", "{s}elbow"),
    "wrist": ("{s}wri", "{s}wrist", "{s}wra"),
    "eye": ("{s}eye",),
    "ear": ("{s}ear",),
    "front_head": ("{s}fhd",),
    "back_head": ("{s}bhd",),
}
_UNSIDED_ALIASES: dict[str, tuple[str, ...]] = {
    "sacrum": ("sacr", "sacrum", "sac", "vsac", "vsacral", "sacral", "midpsis"),
    "c7": ("c7",),
    "t10": ("t10",),
    "clavicle": ("clav", "clavicle"),
    "sternum": ("strn", "sternum"),
    "neck": ("neck",),
    "nose": ("nose",),
    "mid_hip": ("midhip", "hipmid", "pelvis_centre"),
}


def _squash(label: str) -> str:
    return re.sub(r"[\s_.\-]", "", label.lower())


def _build_alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical in CANONICAL_LANDMARKS:
        table[_squash(canonical)] = canonical
    for part, aliases in _SIDED_ALIASES.items():
        for side, letters in (("left", ("l", "left")), ("right", ("r", "right"))):
            for alias in aliases:
                for letter in letters:
                    table.setdefault(_squash(alias.format(s=letter)), f"{side}_{part}")
    for canonical, aliases in _UNSIDED_ALIASES.items():
        for alias in aliases:
            table.setdefault(_squash(alias), canonical)
    for mp_name, canonical in _MEDIAPIPE_NAMES.items():
        table[_squash(mp_name)] = canonical
    return table


_ALIASES = _build_alias_table()


def canonical_name(label: str) -> str | None:
    """Return the canonical landmark name for a marker or keypoint label, or ``None``.

    Subject prefixes (``"A22:LASI"``), OpenCap's ``_study`` suffix, case and separators are
    ignored, so ``"A22:LASI"``, ``"L.ASIS_study"``, ``"LHip"`` and ``"left_hip"`` all map.

    Examples
    --------
    >>> canonical_name("A22:LASI")
    'left_asis'
    >>> canonical_name("r.PSIS_study")
    'right_psis'
    >>> canonical_name("LPelvisAngles") is None
    True
    """
    base = label.rsplit(":", 1)[-1].strip()
    base = re.sub(r"_study$", "", base, flags=re.IGNORECASE)
    return _ALIASES.get(_squash(base))


def side_name(side: str) -> str:
    """Return ``"left"`` or ``"right"`` for a side given as ``L``/``R``/``Left``/``right``."""
    low = side.strip().lower()
    if low in ("l", "left"):
        return "left"
    if low in ("r", "right"):
        return "right"
    return low


def mapped(labels: Iterable[str]) -> dict[str, str]:
    """Map labels to canonical names, keeping the first label for each canonical name."""
    out: dict[str, str] = {}
    for label in labels:
        name = canonical_name(label)
        if name is not None and name not in out.values():
            out[label] = name
    return out


#: Plain words for the landmark parts whose names are not words a clinician reads.
_PART_WORDS = {
    "asis": "front of the pelvis (ASIS)",
    "psis": "back of the pelvis (PSIS)",
    "hip_joint": "hip joint centre",
    "thigh": "thigh marker",
    "knee_medial": "inner knee",
    "tibia": "shin marker",
    "ankle_medial": "inner ankle",
    "toe": "toes",
    "small_toe": "little toe",
    "eye_inner": "inner corner of the eye",
    "eye_outer": "outer corner of the eye",
    "mouth": "corner of the mouth",
    "pinky": "little finger",
    "front_head": "front of the head",
    "back_head": "back of the head",
}
_UNSIDED_WORDS = {
    "c7": "base of the neck (C7)",
    "t10": "mid-back (T10)",
    "mid_hip": "middle of the hips",
    "head_top": "top of the head",
}


def landmark_words(name: str) -> str:
    """A landmark name in the words a clinician reads (``right_index_finger`` -> ``right
    index finger``, ``left_asis`` -> ``left front of the pelvis (ASIS)``)."""
    if name in _UNSIDED_WORDS:
        return _UNSIDED_WORDS[name]
    for side in ("left", "right"):
        if name.startswith(side + "_"):
            part = name[len(side) + 1 :]
            return f"{side} {_PART_WORDS.get(part, part.replace('_', ' '))}"
    return name.replace("_", " ")
