"""Frontal-plane kinematics: pelvis frame, pelvic obliquity, hip adduction, trunk lean, FPPA.

Sign conventions (all angles in degrees)
----------------------------------------
pelvic obliquity
    Positive when the pelvis is higher on the LEFT side (Plug-in Gait's ``LPelvisAngles``
    component 2; ``RPelvisAngles`` is its negative). Per side, "``side``-up" obliquity is the
    obliquity with that side's elevation positive.
contralateral pelvic drop (stance side S)
    The S-up obliquity: positive when the pelvis on the side opposite the stance limb is lower.
hip adduction (side S)
    Positive when the knee of side S moves towards the midline relative to the pelvis.
lateral trunk lean (side S)
    Positive when the trunk leans towards side S (over the stance limb in stance: the
    compensated-Trendelenburg pattern), relative to the vertical.
knee frontal-plane projection angle (side S)
    180 deg minus the hip-knee-ankle angle seen in the frontal plane; positive when the knee lies
    medial to the hip-ankle line (dynamic valgus), negative when lateral (varus).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glutemed.errors import MotionDataError, Problem
from glutemed.motion._trial import FloatArray, Side, Trial

__all__ = [
    "PelvisFrame",
    "add_hip_joint_centres",
    "hip_adduction_deg",
    "knee_centre",
    "knee_fppa_deg",
    "lateral_trunk_lean_deg",
    "pelvic_obliquity_deg",
    "pelvis_centre",
    "pelvis_frame",
    "progression_frame",
    "side_up",
    "trunk_vector",
]

_UP = np.array([0.0, 0.0, 1.0])


def _unit(v: FloatArray) -> FloatArray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(v / n)


@dataclass(frozen=True)
class PelvisFrame:
    """Pelvis anatomical frame per frame (Davis 1991 / Plug-in Gait).

    ``origin`` is the mid-point of the ASIS markers; ``y`` points from the right to the left
    ASIS; ``z`` is normal to the plane of the ASIS line and the sacrum (or mid-PSIS), pointing
    up; ``x = y x z`` points anteriorly. All arrays are ``(n_frames, 3)``.
    """

    origin: FloatArray
    x: FloatArray
    y: FloatArray
    z: FloatArray
    posterior_marker: str


def _missing_pelvis(trial: Trial) -> MotionDataError:
    have = sorted(trial.source_labels.get(n, n) for n in trial.landmarks if trial.has(n))
    shown = ", ".join(have[:14]) + (", ..." if len(have) > 14 else "") if have else "none"
    if trial.is_2d:
        expected = "keypoints left_hip and right_hip (e.g. OpenPose LHip/RHip) for the pelvis"
    else:
        expected = (
            "markers LASI, RASI and SACR or LPSI/RPSI for the pelvis "
            "(or left/right hip joint centres)"
        )
    return MotionDataError(
        f"{trial.source}: the pelvis cannot be located",
        [Problem(trial.source, expected, shown, "check the marker labels or the keypoint model")],
    )


def pelvis_frame(trial: Trial) -> PelvisFrame:
    """Build the pelvis frame of the conventional gait model from ASIS and PSIS/sacrum markers.

    Raises
    ------
    MotionDataError
        If LASI/RASI or both the sacrum and the PSIS pair are missing.

    References
    ----------
    Davis RB, Ounpuu S, Tyburski D, Gage JR. A gait analysis data collection and reduction
    technique. Hum Mov Sci 1991;10:575-587.
    """
    if not trial.has("left_asis", "right_asis"):
        raise _missing_pelvis(trial)
    lasi, rasi = trial.get("left_asis"), trial.get("right_asis")
    if trial.has("left_psis", "right_psis"):
        back = (trial.get("left_psis") + trial.get("right_psis")) / 2.0
        posterior = "mid_psis"
        if trial.has("sacrum"):  # use the sacrum where a PSIS marker is missing
            sac = trial.get("sacrum")
            gap = ~np.isfinite(back).all(axis=1)
            back[gap] = sac[gap]
    elif trial.has("sacrum"):
        back = trial.get("sacrum")
        posterior = "sacrum"
    else:
        raise _missing_pelvis(trial)
    origin = (lasi + rasi) / 2.0
    y = _unit(lasi - rasi)
    z = _unit(np.cross(y, back - origin))
    x = np.cross(y, z)
    return PelvisFrame(origin, x, y, z, posterior)


def pelvis_centre(trial: Trial) -> FloatArray:
    """Return a pelvis reference point per frame.

    The first available of: sacrum marker, mid-PSIS, mid-ASIS, mid hip joint centres, mid hip
    keypoints, ``mid_hip`` keypoint (Zeni et al. 2008 use the sacral marker). In frames where
    that reference is missing, the next one that is present stands in, shifted by its offset
    from the first reference in the nearest frames where both were seen (interpolated in
    time), so that a sacrum marker hidden for part of a trial does not leave the event
    detector without a pelvis there, nor step the signal by the sacrum-to-ASIS distance.
    """
    sources: list[FloatArray] = []
    if trial.has("sacrum"):
        sources.append(trial.get("sacrum"))
    for a, b in (("left_psis", "right_psis"), ("left_asis", "right_asis"),
                 ("left_hip_joint", "right_hip_joint"), ("left_hip", "right_hip")):
        if trial.has(a, b):
            sources.append((trial.get(a) + trial.get(b)) / 2.0)
    if trial.has("mid_hip"):
        sources.append(trial.get("mid_hip"))
    if not sources:
        raise _missing_pelvis(trial)
    out = sources[0].copy()
    frames = np.arange(out.shape[0])
    for alt in sources[1:]:
        have = np.isfinite(out).all(axis=1)
        alt_ok = np.isfinite(alt).all(axis=1)
        usable = ~have & alt_ok
        both = np.flatnonzero(have & alt_ok)
        if not usable.any() or both.size == 0:
            continue
        offset = np.stack([np.interp(frames, both, (out - alt)[both, k]) for k in range(3)],
                          axis=1)
        out[usable] = alt[usable] + offset[usable]
    return out


def progression_frame(forward: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return unit (forward, left, up) vectors for a horizontal walking direction."""
    f = np.array([forward[0], forward[1], 0.0])
    f = f / np.linalg.norm(f)
    left = np.cross(_UP, f)
    return f, left, _UP.copy()


def add_hip_joint_centres(
    trial: Trial,
    *,
    leg_length_m: float | None = None,
    marker_radius_m: float = 0.007,
) -> tuple[Trial, float | None]:
    """Add ``left_hip_joint``/``right_hip_joint`` from pelvis markers (Davis 1991 regression).

    Skipped (trial returned unchanged) for 2D trials, trials that already carry hip joint
    centres and trials without ASIS and PSIS/sacrum markers.

    Parameters
    ----------
    trial
        A 3D trial.
    leg_length_m
        Mean leg length (ASIS to medial malleolus). Default: estimated as the 95th percentile of
        the ASIS to lateral-ankle-marker distance of both legs (a straight stance leg).
    marker_radius_m
        Radius of the pelvis markers (Plug-in Gait's default 14 mm markers).

    Returns
    -------
    (Trial, leg length used in metres or None when skipped)

    Notes
    -----
    In the pelvis frame, with C = 0.115 L - 0.0153, theta = 0.5 rad, beta = 0.314 rad,
    ASIS-trochanter distance d = 0.1288 L - 0.04856 (metres) and half the inter-ASIS distance a:
    x = C cos(theta) sin(beta) - (d + r) cos(beta), y = +/-(a - C sin(theta)),
    z = -C cos(theta) cos(beta) - (d + r) sin(beta).

    References
    ----------
    Davis RB, Ounpuu S, Tyburski D, Gage JR. A gait analysis data collection and reduction
    technique. Hum Mov Sci 1991;10:575-587 (equations 4-7); constants as implemented in Vicon
    Plug-in Gait.
    """
    if trial.is_2d or trial.has("left_hip_joint", "right_hip_joint"):
        return trial, None
    try:
        frame = pelvis_frame(trial)
    except MotionDataError:
        return trial, None
    lasi, rasi = trial.get("left_asis"), trial.get("right_asis")
    if leg_length_m is None:
        dists = []
        for asis, ankle in ((lasi, trial.get("left_ankle")), (rasi, trial.get("right_ankle"))):
            d = np.linalg.norm(asis - ankle, axis=1)
            dists.append(d[np.isfinite(d)])
        alld = np.concatenate(dists)
        if alld.size == 0:
            return trial, None
        leg_length_m = float(np.percentile(alld, 95))
    ll = float(leg_length_m)
    inter_asis = float(np.nanmedian(np.linalg.norm(lasi - rasi, axis=1)))
    c = ll * 0.115 - 0.0153
    d = 0.1288 * ll - 0.04856
    theta, beta = 0.5, 0.314
    hx = c * np.cos(theta) * np.sin(beta) - (d + marker_radius_m) * np.cos(beta)
    hy = inter_asis / 2.0 - c * np.sin(theta)
    hz = -c * np.cos(theta) * np.cos(beta) - (d + marker_radius_m) * np.sin(beta)
    base = frame.origin + hx * frame.x + hz * frame.z
    out = dict(trial.landmarks)
    out["left_hip_joint"] = base + hy * frame.y
    out["right_hip_joint"] = base - hy * frame.y
    return trial.replace(landmarks=out), ll


# --------------------------------------------------------------------------- obliquity


def pelvic_obliquity_deg(trial: Trial, forward: FloatArray | None = None) -> FloatArray:
    """Pelvic obliquity per frame, degrees, positive when the LEFT side is higher.

    3D with ASIS and PSIS/sacrum markers: the pelvis frame of Davis 1991 is expressed in the
    progression frame (forward = walking direction, up = lab vertical) and the obliquity is the
    second angle of a Y-X-Z (tilt, obliquity, rotation) Cardan sequence, as in Vicon Plug-in
    Gait: ``asin(-z_pelvis . left)``. 3D with hip joint centres only: the elevation angle of the
    right-to-left hip line. 2D (frontal camera): ``atan2(z_left - z_right, |x_left - x_right|)``
    of the hip keypoints, independent of whether the camera films the front or the back.

    Parameters
    ----------
    trial
        The trial.
    forward
        Horizontal walking direction (3D); default +x of the lab. Only the lateral axis
        (up x forward) matters.

    References
    ----------
    Davis RB, et al. Hum Mov Sci 1991;10:575-587. Baker R. Pelvic angles: a mathematically
    rigorous definition which is consistent with a conventional clinical understanding of the
    terms. Gait Posture 2001;13:1-6.
    """
    if trial.is_2d:
        pair = ("left_hip", "right_hip") if trial.has("left_hip", "right_hip") else (
            "left_asis", "right_asis")
        if not trial.has(*pair):
            raise _missing_pelvis(trial)
        lh, rh = trial.get(pair[0]), trial.get(pair[1])
        return np.degrees(np.arctan2(lh[:, 2] - rh[:, 2], np.abs(lh[:, 0] - rh[:, 0])))
    fwd = np.array([1.0, 0.0, 0.0]) if forward is None else forward
    _, left, up = progression_frame(fwd)
    if trial.has("left_asis", "right_asis") and (
        trial.has("sacrum") or trial.has("left_psis", "right_psis")
    ):
        frame = pelvis_frame(trial)
        s = np.clip(-(frame.z @ left), -1.0, 1.0)
        return np.degrees(np.arcsin(s))
    for pair in (("left_hip_joint", "right_hip_joint"), ("left_hip", "right_hip"),
                 ("left_asis", "right_asis")):
        if trial.has(*pair):
            v = _unit(trial.get(pair[0]) - trial.get(pair[1]))
            return np.degrees(np.arcsin(np.clip(v @ up, -1.0, 1.0)))
    raise _missing_pelvis(trial)


def side_up(obliquity_left_up_deg: FloatArray, side: Side) -> FloatArray:
    """Return the obliquity with ``side`` elevation positive."""
    return obliquity_left_up_deg if side == "left" else -obliquity_left_up_deg


# --------------------------------------------------------------------------- hip, trunk, knee


def _other(side: Side) -> Side:
    return "right" if side == "left" else "left"


def knee_centre(
    trial: Trial, side: Side, knee_width_m: float | None = None, marker_radius_m: float = 0.007
) -> tuple[FloatArray, bool]:
    """Knee joint centre of one side.

    The mid-point of lateral and medial knee markers when both exist; else, for 3D markers with
    a measured knee width, the lateral knee marker moved medially by half the knee width plus
    the marker radius, in the plane of the femur and the pelvis lateral axis, so that the angle
    hip centre - knee centre - lateral marker is 90 deg (a "chord" construction as in the
    conventional gait model); else the knee landmark itself (2D keypoints sit at the knee
    centre; a lateral 3D marker does not).

    Returns
    -------
    (position, is_centre)
        ``is_centre`` is False when a lateral marker stands in for the centre.

    References
    ----------
    Davis RB, et al. Hum Mov Sci 1991;10:575-587.
    """
    lat, med = f"{side}_knee", f"{side}_knee_medial"
    if trial.has(lat, med):
        return (trial.get(lat) + trial.get(med)) / 2.0, True
    if trial.is_2d:
        return trial.get(lat), True
    hip = _hip_point(trial, side)
    if knee_width_m is None or not np.isfinite(hip).any():
        return trial.get(lat), False
    kne = trial.get(lat)
    delta = knee_width_m / 2.0 + marker_radius_m
    axis = hip - kne
    length = np.linalg.norm(axis, axis=1, keepdims=True)
    u = axis / length
    lateral = _unit(_hip_point(trial, "left") - _hip_point(trial, "right"))
    towards_mid = -lateral if side == "left" else lateral
    w = _unit(towards_mid - (towards_mid * u).sum(axis=1, keepdims=True) * u)
    cos_a = np.clip(delta / length, -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a**2)
    return kne + delta * (cos_a * u + sin_a * w), True


def _hip_point(trial: Trial, side: Side) -> FloatArray:
    for name in (f"{side}_hip_joint", f"{side}_hip"):
        if trial.has(name):
            return trial.get(name)
    return np.full((trial.n_frames, 3), np.nan)


def hip_adduction_deg(
    trial: Trial, side: Side, forward: FloatArray | None = None, knee_width_m: float | None = None
) -> FloatArray:
    """Hip adduction of one side per frame, degrees (positive = adduction).

    3D: the femur long axis (knee centre to hip joint centre) is expressed in the pelvis frame
    and adduction is the second angle of a Y-X-Z Cardan sequence, which depends only on that
    axis: ``asin(-axis . y_pelvis)`` on the right and ``asin(axis . y_pelvis)`` on the left
    (Plug-in Gait convention). Without pelvis markers, the pelvis lateral axis is the hip line.
    2D: the angle in the image between the femur (hip to knee keypoint) and the perpendicular
    to the hip line, positive towards the other hip.

    References
    ----------
    Davis RB, et al. Hum Mov Sci 1991;10:575-587. Dingenen B, et al. Phys Ther Sport
    2018;33:40-47 (2D frontal-plane hip adduction).
    """
    hip = _hip_point(trial, side)
    other = _hip_point(trial, _other(side))
    knee, _ = knee_centre(trial, side, knee_width_m)
    if trial.is_2d:
        p = _unit((other - hip)[:, [0, 2]])
        d = np.stack([p[:, 1], -p[:, 0]], axis=1)
        d = np.where(d[:, 1:2] > 0, -d, d)
        f = (knee - hip)[:, [0, 2]]
        return np.asarray(np.degrees(np.arctan2((f * p).sum(axis=1), (f * d).sum(axis=1))))
    axis = _unit(hip - knee)
    if trial.has("left_asis", "right_asis") and (
        trial.has("sacrum") or trial.has("left_psis", "right_psis")
    ):
        y = pelvis_frame(trial).y
    else:
        y = _unit(_hip_point(trial, "left") - _hip_point(trial, "right"))
    s = (axis * y).sum(axis=1)
    s = -s if side == "right" else s
    return np.asarray(np.degrees(np.arcsin(np.clip(s, -1.0, 1.0))))


def _mid(trial: Trial, a: str, b: str) -> FloatArray | None:
    if trial.has(a, b):
        return (trial.get(a) + trial.get(b)) / 2.0
    return None


def trunk_vector(trial: Trial) -> FloatArray | None:
    """Trunk line from the pelvis centre to mid-shoulders (or C7/neck), or None."""
    top = _mid(trial, "left_shoulder", "right_shoulder")
    if top is None:
        for name in ("c7", "neck"):
            if trial.has(name):
                top = trial.get(name)
                break
    if top is None:
        return None
    bottom = _mid(trial, "left_hip_joint", "right_hip_joint")
    if bottom is None:
        bottom = _mid(trial, "left_hip", "right_hip")
    if bottom is None:
        bottom = _mid(trial, "left_asis", "right_asis")
    if bottom is None:
        return None
    return top - bottom


def lateral_trunk_lean_deg(
    trial: Trial, side: Side, forward: FloatArray | None = None
) -> FloatArray | None:
    """Lateral trunk lean towards ``side`` per frame, degrees, or None without trunk landmarks.

    The trunk line (pelvis centre to mid-shoulders, or C7) is projected on the frontal plane
    (3D: lateral and vertical axes of the progression frame; 2D: the image) and its angle from
    the vertical is positive towards ``side``.

    References
    ----------
    Dingenen B, et al. Phys Ther Sport 2018;33:40-47 (2D lateral trunk position).
    """
    trunk = trunk_vector(trial)
    if trunk is None:
        return None
    if trial.is_2d:
        toward = np.sign(_hip_point(trial, side)[:, 0] - _hip_point(trial, _other(side))[:, 0])
        lateral = trunk[:, 0] * toward
        vertical = trunk[:, 2]
    else:
        fwd = np.array([1.0, 0.0, 0.0]) if forward is None else forward
        _, left, up = progression_frame(fwd)
        lat = left if side == "left" else -left
        lateral = trunk @ lat
        vertical = trunk @ up
    return np.degrees(np.arctan2(lateral, vertical))


def knee_fppa_deg(
    trial: Trial, side: Side, forward: FloatArray | None = None, knee_width_m: float | None = None
) -> FloatArray:
    """Knee frontal-plane projection angle of one side per frame (positive = valgus).

    The hip, knee and ankle are projected on the frontal plane (2D: the image; 3D: lateral and
    vertical axes of the progression frame). FPPA = 180 deg - hip-knee-ankle angle, signed
    positive when the knee lies medial to the hip-ankle line.

    References
    ----------
    Willson JD, Davis IS. Utility of the frontal plane projection angle in females with
    patellofemoral pain. J Orthop Sports Phys Ther 2008;38:606-615.
    """
    hip = _hip_point(trial, side)
    other = _hip_point(trial, _other(side))
    knee, _ = knee_centre(trial, side, knee_width_m)
    ankle = trial.get(f"{side}_ankle")
    if trial.is_2d:
        def proj(p: FloatArray) -> FloatArray:
            return p[:, [0, 2]]
    else:
        fwd = np.array([1.0, 0.0, 0.0]) if forward is None else forward
        _, left, up = progression_frame(fwd)
        basis = np.stack([left, up], axis=1)

        def proj(p: FloatArray) -> FloatArray:
            return np.asarray(p @ basis)
    h, k, a, o = proj(hip), proj(knee), proj(ankle), proj(other)
    u, v = h - k, a - k
    cosang = (u * v).sum(axis=1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
    inner = np.degrees(np.arccos(np.clip(cosang, -1.0, 1.0)))
    line = a - h
    t = ((k - h) * line).sum(axis=1) / (line * line).sum(axis=1)
    foot = h + t[:, None] * line
    medial = _unit(o - h)
    sign = np.sign(((k - foot) * medial).sum(axis=1))
    sign = np.where(sign == 0, 1.0, sign)
    return np.asarray(sign * (180.0 - inner))
