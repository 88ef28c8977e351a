"""Layer 2: objective movement measures from motion capture and video keypoints.

Read a marker or keypoint file into one canonical :class:`Trial`, fill short gaps, low-pass
filter, find gait events (Zeni 2008) or single-leg-stance / squat phases, and measure pelvic
obliquity, contralateral pelvic drop, hip adduction, lateral trunk lean, step width, cadence and
the knee frontal-plane projection angle, per side with quality flags. The Trendelenburg call
uses the measurement uncertainty from the knowledge base (never a bare cut-off) and is emitted
as a finding the diagnosis engine accepts.

>>> from glutemed.motion import analyse_file
>>> result = analyse_file("gait.c3d", task="walk")      # doctest: +SKIP
>>> result.to_dict()["findings"]                         # doctest: +SKIP
{}

The optional video front end lives in :mod:`glutemed.motion.video`.
"""

from glutemed.motion._analysis import (
    BatchItem,
    MotionResult,
    QualityFlag,
    analyse_file,
    analyse_folder,
    analyse_trial,
    list_motion_files,
)
from glutemed.motion._events import (
    Phase,
    detect_gait_events,
    segment_single_leg_squats,
    segment_single_leg_stance,
    stance_phases,
    walking_direction,
)
from glutemed.motion._interpret import TrendelenburgCall, classify_trendelenburg, compare_visits
from glutemed.motion._keypoints import keypoint_layout_score
from glutemed.motion._kinematics import (
    add_hip_joint_centres,
    hip_adduction_deg,
    knee_fppa_deg,
    lateral_trunk_lean_deg,
    pelvic_obliquity_deg,
    pelvis_frame,
)
from glutemed.motion._landmarks import (
    BODY_25,
    BODY_25B,
    CANONICAL_LANDMARKS,
    COCO_17,
    COCO_18,
    HALPE_26,
    KEYPOINT_MODELS,
    MEDIAPIPE_33,
    canonical_name,
)
from glutemed.motion._plots import plot_obliquity
from glutemed.motion._processing import Gap, fill_gaps, lowpass
from glutemed.motion._readers import (
    read_c3d,
    read_generic_csv,
    read_mediapipe,
    read_openpose,
    read_trc,
    read_trial,
)
from glutemed.motion._settings import MotionSettings, settings_from_kb
from glutemed.motion._trial import GaitEvent, Trial

__all__ = [
    "BODY_25",
    "BODY_25B",
    "CANONICAL_LANDMARKS",
    "COCO_17",
    "COCO_18",
    "HALPE_26",
    "KEYPOINT_MODELS",
    "MEDIAPIPE_33",
    "BatchItem",
    "GaitEvent",
    "Gap",
    "MotionResult",
    "MotionSettings",
    "Phase",
    "QualityFlag",
    "TrendelenburgCall",
    "Trial",
    "add_hip_joint_centres",
    "analyse_file",
    "analyse_folder",
    "analyse_trial",
    "canonical_name",
    "classify_trendelenburg",
    "compare_visits",
    "detect_gait_events",
    "fill_gaps",
    "hip_adduction_deg",
    "keypoint_layout_score",
    "knee_fppa_deg",
    "lateral_trunk_lean_deg",
    "list_motion_files",
    "lowpass",
    "pelvic_obliquity_deg",
    "pelvis_frame",
    "plot_obliquity",
    "read_c3d",
    "read_generic_csv",
    "read_mediapipe",
    "read_openpose",
    "read_trc",
    "read_trial",
    "segment_single_leg_squats",
    "segment_single_leg_stance",
    "settings_from_kb",
    "stance_phases",
    "walking_direction",
]
