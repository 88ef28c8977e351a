"""Readers: C3D, TRC, OpenPose JSON folders, MediaPipe CSV/JSON and a generic CSV -> Trial.

Every reader returns a :class:`~glutemed.motion.Trial` with canonical landmark names, 3D data
in metres in a z-up laboratory frame or 2D keypoints in the ``"image"`` frame, and raises
:class:`~glutemed.errors.MotionDataError` naming the file and what is missing when a file is
unreadable, truncated or mislabelled.

Generic CSV format
------------------
One row per frame, comma separated::

    # glutemed motion csv            (optional comment lines start with '#')
    # units: mm                      (m, cm, mm for 3D; px or normalised for 2D; default m / px)
    # vertical_axis: z               (3D only: x, y or z, optionally signed; default: detected)
    # sampling_rate_hz: 100          (optional; default: from time_s)
    time_s,left_asis_x,left_asis_y,left_asis_z,right_asis_x,...,left_asis_confidence
    units,mm,mm,mm,mm,...            (optional units row: 'units' in the time_s column, then
                                      each column's unit; time is always in seconds)
    0.00,0.1021,0.1533,0.9412,...

Columns are ``time_s`` plus ``<landmark>_x``, ``<landmark>_y`` and ``<landmark>_z`` for 3D, or
only ``_x`` and ``_y`` for 2D image keypoints (x = pixel column, y = pixel row pointing down).
``<landmark>_confidence`` is optional. Landmark names are glutemed's canonical names (see
:data:`~glutemed.motion.CANONICAL_LANDMARKS`); common marker labels (``LASI``, ``LHip``) are
accepted too. Empty cells or ``nan`` mark missing samples.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from glutemed._checks import check_option, check_range, short_repr
from glutemed.errors import GlutemedError, InputValueError, MotionDataError, Problem
from glutemed.motion._c3d import C3DContent, read_c3d_content
from glutemed.motion._keypoints import choose_keypoint_model
from glutemed.motion._landmarks import (
    KEYPOINT_MODELS,
    MEDIAPIPE_33,
    canonical_name,
    side_name,
)
from glutemed.motion._sides import MIN_SIDE_AGREEMENT, apply_relabelling, relabel_sides
from glutemed.motion._trial import EventKind, FloatArray, GaitEvent, Side, Trial, Units

__all__ = [
    "read_c3d",
    "read_generic_csv",
    "read_mediapipe",
    "read_openpose",
    "read_trc",
    "read_trial",
]

_LENGTH_TO_M = {"m": 1.0, "cm": 0.01, "mm": 0.001}


def _err(path: Path | str, expected: str, found: str, hint: str = "") -> MotionDataError:
    name = Path(path).name
    return MotionDataError(
        f"{name}: cannot use this motion file", [Problem(name, expected, found, hint)]
    )


#: Largest motion file read (bytes), checked before reading; real trials are far smaller.
MAX_FILE_BYTES = 512 * 1024 * 1024

_P = ParamSpec("_P")
_T = TypeVar("_T")
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
                 RecursionError, ZeroDivisionError, csv.Error, UnicodeError)


def _typed_errors(fmt: str) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]:
    """Last line of defence of a public reader: any parse exception a malformed file still
    provokes becomes a :class:`MotionDataError` naming the file (the readers check what they
    can first; the fuzz tests check that nothing else escapes)."""

    def wrap(fn: Callable[_P, _T]) -> Callable[_P, _T]:
        @functools.wraps(fn)
        def inner(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            try:
                return fn(*args, **kwargs)
            except GlutemedError:
                raise
            except _PARSE_ERRORS as exc:
                where = args[0] if args else next(iter(kwargs.values()), "file")
                raise _err(str(where), f"a well-formed {fmt}",
                           f"{type(exc).__name__} ({str(exc)[:60]})",
                           "the file is malformed; export it again") from None

        return inner

    return wrap


def _check_size(p: Path, what: str, limit: int = MAX_FILE_BYTES) -> None:
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise _err(p, f"a readable {what}", type(exc).__name__) from None
    if size > limit:
        raise _err(p, f"a {what} of at most {limit:,} bytes", f"{size:,} bytes",
                   "cut the recording to the trial")


def _read_text(p: Path, what: str, encoding: str = "utf-8") -> str:
    _check_size(p, what)
    try:
        return p.read_text(encoding=encoding, errors="replace")
    except OSError as exc:
        raise _err(p, f"a readable {what}", type(exc).__name__) from None


def _load_json(p: Path) -> Any:
    text = _read_text(p, "JSON file")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _err(p, "valid JSON", f"{type(exc).__name__} ({str(exc)[:60]})",
                   "the file may be truncated") from None


def _list_labels(labels: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(labels[:limit])
    if len(labels) > limit:
        shown += f", ... ({len(labels)} labels)"
    return shown or "no labels"


# --------------------------------------------------------------------------- axes


def _axis_matrix(vertical: str) -> FloatArray:
    """Rotation that maps a file frame with the given vertical axis to the z-up frame."""
    v = vertical.strip().lower()
    sign = -1.0 if v.startswith("-") else 1.0
    axis = v.lstrip("+-")
    if axis == "z":
        m = np.eye(3)
    elif axis == "y":  # (x, y, z) -> (x, -z, y): rotation about x by +90 deg
        m = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    elif axis == "x":  # cyclic permutation (x, y, z) -> (y, z, x)
        m = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    else:
        raise InputValueError(
            "invalid value for vertical_axis",
            [Problem("vertical_axis", "x, y or z, optionally signed (+y, -z)",
                     short_repr(vertical))],
        )
    if sign < 0:  # rotate 180 deg about the new x axis: z -> -z, y -> -y
        m = np.diag([1.0, -1.0, -1.0]) @ m
    return m


def _detect_vertical(landmarks: dict[str, FloatArray]) -> str | None:
    """Guess the vertical axis: the axis along which the pelvis sits furthest above the feet."""
    upper = [n for n in ("sacrum", "left_asis", "right_asis", "left_hip", "right_hip",
                         "left_hip_joint", "right_hip_joint", "mid_hip") if n in landmarks]
    lower = [n for n in ("left_ankle", "right_ankle", "left_heel", "right_heel", "left_toe",
                         "right_toe") if n in landmarks]
    if not upper or not lower:
        return None
    up = np.nanmean(np.stack([landmarks[n] for n in upper]), axis=(0, 1))
    low = np.nanmean(np.stack([landmarks[n] for n in lower]), axis=(0, 1))
    diff = up - low
    if not np.all(np.isfinite(diff)):
        return None
    axis = int(np.argmax(np.abs(diff)))
    return ("+" if diff[axis] > 0 else "-") + "xyz"[axis]


def _to_lab(
    landmarks: dict[str, FloatArray], vertical: str | None, default: str
) -> dict[str, FloatArray]:
    chosen = vertical or _detect_vertical(landmarks) or default
    m = _axis_matrix(chosen)
    if np.array_equal(m, np.eye(3)):
        return landmarks
    return {k: v @ m.T for k, v in landmarks.items()}


def _non_finite_to_gaps(
    landmarks: dict[str, FloatArray], source_labels: dict[str, str]
) -> tuple[dict[str, FloatArray], tuple[tuple[str, str], ...]]:
    """Turn samples with an infinite (or overflowing) coordinate into gaps and say so.

    A single ``inf`` cell used as a number makes a pelvic drop of 86 degrees out of 4, so such
    samples are treated as missing (NaN, as an empty cell) and reported in a note.
    """
    counts: dict[str, int] = {}
    out: dict[str, FloatArray] = {}
    for name, arr in landmarks.items():
        bad = np.isinf(arr).any(axis=1)
        if bad.any():
            arr = arr.copy()
            arr[bad] = np.nan
            counts[source_labels.get(name, name)] = int(bad.sum())
        out[name] = arr
    if not counts:
        return out, ()
    total = sum(counts.values())
    which = ", ".join(f"{label} ({n})" for label, n in sorted(counts.items())[:6])
    return out, (("non_finite_values",
                  f"{_count(total, 'sample')} with an infinite or overflowing coordinate "
                  f"treated as missing: {which}"),)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# --------------------------------------------------------------------------- C3D

#: Largest C3D file read (bytes); real gait trials are well below 50 MB.
MAX_C3D_BYTES = 512 * 1024 * 1024

_UNIT_SPELLINGS = {
    "m": ("m", "meter", "meters", "metre", "metres", "mete", "met"),
    "cm": ("cm", "centimeter", "centimeters", "centimetre", "centimetres"),
    "mm": ("mm", "millimeter", "millimeters", "millimetre", "millimetres", "mil", "mili"),
}


def _length_unit(text: str) -> str | None:
    """The unit a C3D ``POINT:UNITS`` spelling means (``'mete'`` is a 4-character 'meters')."""
    low = text.replace("\x00", " ").strip().lower().rstrip(".")
    for unit, spellings in _UNIT_SPELLINGS.items():
        if low in spellings:
            return unit
    return None


def _c3d_labels(point: dict[str, Any]) -> list[str]:
    labels: list[str] = []
    for key in ("LABELS", "LABELS2", "LABELS3", "LABELS4"):
        if isinstance(point.get(key), list):
            labels.extend(str(x) for x in point[key])
    return labels


def _c3d_events(params: dict[str, Any]) -> tuple[GaitEvent, ...]:
    group = params.get("EVENT")
    if not isinstance(group, dict):
        return ()
    labels_v, times_v = group.get("LABELS"), group.get("TIMES")
    if not isinstance(labels_v, list) or not isinstance(times_v, np.ndarray):
        return ()
    labels = [str(x) for x in labels_v]
    contexts_v = group.get("CONTEXTS")
    contexts = [str(x) for x in contexts_v] if isinstance(contexts_v, list) else [""] * len(labels)
    times = np.asarray(times_v, dtype=float)
    if times.ndim == 2 and times.shape[0] == 2:  # row 0 minutes, row 1 seconds
        seconds = times[0] * 60.0 + times[1]
    else:
        seconds = times.ravel()
    used_v = group.get("USED")
    used = (int(used_v.ravel()[0]) if isinstance(used_v, np.ndarray) and used_v.size
            else len(labels))
    n = max(min(used, len(labels), len(contexts), len(seconds)), 0)
    out: list[GaitEvent] = []
    for label, context, t in zip(labels[:n], contexts[:n], seconds[:n], strict=True):
        low = re.sub(r"[\s_]+", " ", label.lower()).strip()
        kind: EventKind
        if low in ("foot strike", "heel strike", "initial contact"):
            kind = "foot_strike"
        elif low in ("foot off", "toe off"):
            kind = "foot_off"
        else:
            continue
        side = side_name(context)
        if side not in ("left", "right") or not np.isfinite(t):
            continue
        s: Side = "left" if side == "left" else "right"
        out.append(GaitEvent(s, kind, float(t), "file"))
    return tuple(sorted(out, key=lambda e: e.time_s))


_EZC3D_CHILD = r"""
import json, sys
import numpy as np
import ezc3d
c = ezc3d.c3d(sys.argv[1])
params = {}
for g, grp in c["parameters"].items():
    if not isinstance(grp, dict):
        continue
    params[g] = {}
    for k, v in grp.items():
        if isinstance(v, dict) and "value" in v:
            val = v["value"]
            if isinstance(val, np.ndarray):
                params[g][k] = {"array": val.tolist(), "shape": list(val.shape)}
            else:
                params[g][k] = {"list": [str(x) for x in val]}
np.savez(sys.argv[2], points=np.asarray(c["data"]["points"], dtype=float),
         residuals=np.asarray(c["data"]["meta_points"]["residuals"], dtype=float),
         first=int(c["header"]["points"]["first_frame"]), params=json.dumps(params))
"""


def _read_c3d_ezc3d(p: Path) -> C3DContent:
    """Read with ezc3d in a child process, so that a crash of its native code on a malformed
    file ends the child (and becomes a typed error), never this process."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="glutemed-c3d-") as tmp:
        out = Path(tmp) / "content.npz"
        try:
            proc = subprocess.run([sys.executable, "-c", _EZC3D_CHILD, str(p), str(out)],
                                  capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired:
            raise _err(p, "a C3D file ezc3d reads within 120 s", "no answer",
                       "read it with engine='auto'") from None
        if proc.returncode != 0 or not out.is_file():
            last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise _err(p, "a C3D file ezc3d can read", f"an ezc3d failure ({last[:80]})",
                       "read it with engine='auto'")
        with np.load(out) as z:
            data, res = z["points"], z["residuals"]
            first = int(z["first"])
            raw_params = json.loads(str(z["params"]))
    params: dict[str, dict[str, Any]] = {}
    for g, grp in raw_params.items():
        params[g] = {}
        for k, v in grp.items():
            params[g][k] = (np.asarray(v["array"]).reshape(v["shape"]) if "array" in v
                            else [str(x).replace("\x00", " ").strip() for x in v["list"]])
    if data.ndim != 3:
        raise _err(p, "3D marker points", "no points")
    residuals = res[0].T if res.ndim == 3 else np.zeros((data.shape[2], data.shape[1]))
    rate = params.get("POINT", {}).get("RATE")
    rate_hz = float(np.asarray(rate).ravel()[0]) if isinstance(rate, np.ndarray) else 0.0
    return C3DContent(params, np.transpose(data[:3], (2, 1, 0)), residuals, first,
                      _c3d_announced_frames(p, params), rate_hz)


def _c3d_announced_frames(path: Path, params: dict[str, Any]) -> int:
    """Frames the file announces: TRIAL:ACTUAL_START/END_FIELD, else header words 4-5.

    ezc3d shrinks its own header to the frames it could read, so the announcement is read from
    the file itself to detect truncation.
    """
    trial = params.get("TRIAL", {})
    try:
        start = np.asarray(trial["ACTUAL_START_FIELD"], dtype=np.int64).ravel()
        end = np.asarray(trial["ACTUAL_END_FIELD"], dtype=np.int64).ravel()
        first = int(start[0] + (start[1] << 16 if start.size > 1 else 0))
        last = int(end[0] + (end[1] << 16 if end.size > 1 else 0))
        if last >= first >= 0:
            return last - first + 1
    except (KeyError, IndexError, TypeError, ValueError):
        pass
    with path.open("rb") as fh:
        head = fh.read(10)
    if len(head) < 10:
        return 0
    for order in ("little", "big"):
        first = int.from_bytes(head[6:8], order)
        last = int.from_bytes(head[8:10], order)
        if 0 < first <= last:
            return last - first + 1
    return 0


def _c3d_vertical(
    point: dict[str, Any], landmarks: dict[str, FloatArray]
) -> tuple[str, tuple[str, str] | None]:
    """The file's vertical axis: ``POINT:Y_SCREEN``, else detected from the data, else +z."""
    screen = point.get("Y_SCREEN")
    if isinstance(screen, list) and screen:
        text = str(screen[0]).strip().upper()
        if text.lstrip("+-") in ("X", "Y", "Z"):
            return text if text[0] in "+-" else "+" + text, None
    detected = _detect_vertical(landmarks)
    if detected is not None:
        return detected, ("vertical_axis_detected",
                          "the file does not say which axis points up; the data show the "
                          f"{_axis_words(detected)} pointing up (pelvis above the feet)")
    return "+z", ("vertical_axis_assumed",
                  "the file does not say which axis points up and the data cannot show it (no "
                  "pelvis and foot markers); the z axis was assumed to point up")


def _axis_words(axis: str) -> str:
    return ("negative " if axis.startswith("-") else "") + axis.lstrip("+-").lower() + " axis"


def read_c3d(
    path: str | Path,
    *,
    vertical_axis: str | None = None,
    engine: Literal["auto", "ezc3d", "numpy"] = "auto",
    max_bytes: int = MAX_C3D_BYTES,
) -> Trial:
    """Read a C3D file.

    Subject prefixes (``"A22:LASI"``) are stripped, marker positions are converted to metres
    (``POINT:UNITS``), the frame rate is ``POINT:RATE`` (else the header's), samples with a
    residual below zero, exactly zero or non-finite coordinates are missing (NaN), model outputs
    listed in ``POINT:ANGLES``, ``FORCES``, ``MOMENTS``, ``POWERS`` and ``SCALARS`` are left
    out, and foot strikes and foot offs are read from the ``EVENT`` group (``TIMES`` row 0
    minutes, row 1 seconds). How header/parameter disagreements were decided, and any assumed
    unit or axis, is kept in :attr:`Trial.notes`.

    Parameters
    ----------
    path
        The ``.c3d`` file.
    vertical_axis
        The file's vertical axis (``"+z"``, ``"+y"`` ...). Default: ``POINT:Y_SCREEN`` (the
        axis shown upwards), else detected from the data (the axis along which the pelvis sits
        above the feet), else ``+z``.
    engine
        ``"auto"`` and ``"numpy"`` (the same) read with glutemed's own pure NumPy reader, safe
        for untrusted files; ``"ezc3d"`` reads with ezc3d in a child process (for comparison;
        a crash of ezc3d becomes a :class:`~glutemed.errors.MotionDataError`).
    max_bytes
        Refuse larger files before reading them.

    Returns
    -------
    Trial
        In the ``"lab"`` frame (z up), metres. Event times follow the Vicon/BTK convention that
        the file's first frame is at ``(first_frame - 1) / rate`` seconds.

    Raises
    ------
    MotionDataError
        If the file cannot be parsed, is too large, is truncated (fewer frames than the header
        announces) or has no 3D points.
    """
    check_option("engine", engine, ("auto", "ezc3d", "numpy"))
    p = Path(path)
    if not p.is_file():
        raise _err(p, "an existing C3D file", "no such file")
    size = p.stat().st_size
    if size > max_bytes:
        raise _err(p, f"a C3D file of at most {max_bytes:,} bytes", f"{size:,} bytes",
                   "cut the trial to the walking part")
    if engine == "ezc3d":
        content = _read_c3d_ezc3d(p)
    else:
        try:
            buf = p.read_bytes()
        except OSError as exc:
            raise _err(p, "a readable C3D file", type(exc).__name__) from None
        content = read_c3d_content(buf, name=p.name)
    params = content.parameters
    point = params.get("POINT", {})
    labels = _c3d_labels(point)
    n_frames, n_points = int(content.points.shape[0]), int(content.points.shape[1])
    if n_points == 0:
        analog = "analog channels only" if params.get("ANALOG") else "no points"
        raise _err(p, "3D marker points", f"{analog} (POINT:USED is 0)")
    if content.announced_frames and n_frames < content.announced_frames:
        raise _err(
            p,
            f"{content.announced_frames} frames (as the header announces)",
            f"{n_frames} frames",
            "the file is truncated; copy it again from the capture system",
        )
    if n_frames == 0:
        raise _err(p, "at least one frame of 3D points", "no frames (the header announces 0)")
    rate = content.point_rate_hz
    if not (math.isfinite(rate) and rate > 0):
        raise _err(p, "a positive POINT:RATE", short_repr(rate))
    notes = list(content.notes)
    unit_values = point.get("UNITS")
    unit_text = str(unit_values[0]) if isinstance(unit_values, list) and unit_values else ""
    unit = _length_unit(unit_text) if unit_text.strip() else None
    if unit_text.strip() and unit is None:
        raise _err(p, "POINT:UNITS of m, cm or mm (or a spelling such as 'meters')",
                   short_repr(unit_text), "pass the units on export")

    model_outputs: set[str] = set()
    for key in ("ANGLES", "FORCES", "MOMENTS", "POWERS", "SCALARS", "REACTIONS"):
        if isinstance(point.get(key), list):
            model_outputs.update(str(x).rsplit(":", 1)[-1] for x in point[key])

    invalid = content.residuals < 0
    invalid |= np.all(content.points == 0.0, axis=2)
    invalid |= ~np.all(np.isfinite(content.points), axis=2)  # NaN: some writers' missing mark
    infinite = np.any(np.isinf(content.points), axis=2) & (content.residuals >= 0)
    if unit is None:
        unit = _guess_c3d_unit(content.points, invalid)
        words = {"m": "metres", "mm": "millimetres", "cm": "centimetres"}[unit]
        notes.append(("units_assumed",
                      f"the file does not give the marker units; {words} were assumed from "
                      "the size of the marker cloud"))
    scale = _LENGTH_TO_M[unit]
    landmarks: dict[str, FloatArray] = {}
    source_labels: dict[str, str] = {}
    unmapped: list[str] = []
    duplicates: list[str] = []
    for i, label in enumerate(labels[:n_points]):
        bare = label.rsplit(":", 1)[-1].strip()
        name = None if bare in model_outputs else canonical_name(bare)
        xyz = np.where(invalid[:, i, None], np.nan, content.points[:, i, :] * scale)
        if name is not None and name in landmarks:
            if not np.isfinite(xyz).any():  # an empty twin (e.g. a calibration-only marker)
                duplicates.append(f"{bare} (second one empty, left out)")
                name = None
            elif not np.isfinite(landmarks[name]).any():
                duplicates.append(f"{bare} (first one empty, second one used)")
            else:
                name = _duplicate_name(name, bare, source_labels, duplicates)
        if name is None:
            unmapped.append(bare)
            continue
        landmarks[name] = xyz
        source_labels[name] = bare
    _order_medial_twins(landmarks, duplicates)
    if duplicates:
        notes.append(("duplicate_labels",
                      "labels used twice: " + ", ".join(duplicates[:6])
                      + "; otherwise the first of each is used"))
    if infinite.any():
        notes.append(("non_finite_values",
                      f"{_count(int(infinite.sum()), 'marker sample')} with infinite "
                      "coordinates treated as missing"))
    if vertical_axis is None:
        vertical_axis, note = _c3d_vertical(point, landmarks)
        if note is not None and landmarks:
            notes.append(note)
    landmarks = _to_lab(landmarks, vertical_axis, "+z")
    return Trial(
        landmarks=landmarks,
        sampling_rate_hz=rate,
        source=p.name,
        units="m",
        frame="lab",
        events=_c3d_events(params),
        start_time_s=content.first_frame / rate,
        source_labels=source_labels,
        unmapped_labels=tuple(unmapped),
        notes=tuple(notes),
    )


def _guess_c3d_unit(points: FloatArray, invalid: npt.NDArray[np.bool_]) -> str:
    """``mm`` (the C3D default) unless the valid marker cloud spans less than 20 units, which
    only metres make plausible for a person in a capture volume (SIMI files omit the unit)."""
    ok = points[~invalid]
    if ok.size == 0:
        return "mm"
    span = float(np.max(np.ptp(ok, axis=0)))
    return "m" if span < 20.0 else "mm"


_MEDIAL = {"left_knee": "left_knee_medial", "right_knee": "right_knee_medial",
           "left_ankle": "left_ankle_medial", "right_ankle": "right_ankle_medial"}


def _order_medial_twins(landmarks: dict[str, FloatArray], duplicates: list[str]) -> None:
    """Swap a lateral/medial pair read from one repeated label if the order was medial first.

    The lateral marker of a knee or ankle is the one further from the other leg's marker of
    the same joint (median over frames); needs the other leg's lateral marker.
    """
    for lateral, medial in _MEDIAL.items():
        if medial not in landmarks or not any("medial" in d for d in duplicates):
            continue
        other = lateral.replace("left", "right") if lateral.startswith("left") else \
            lateral.replace("right", "left")
        if other not in landmarks:
            continue
        far = np.linalg.norm(landmarks[lateral] - landmarks[other], axis=1)
        near = np.linalg.norm(landmarks[medial] - landmarks[other], axis=1)
        ok = np.isfinite(far) & np.isfinite(near)
        if ok.sum() >= 3 and float(np.median(far[ok] - near[ok])) < 0:
            landmarks[lateral], landmarks[medial] = landmarks[medial], landmarks[lateral]


def _duplicate_name(
    name: str, label: str, source_labels: dict[str, str], duplicates: list[str]
) -> str | None:
    """A second label for a landmark already read: the medial twin of a knee/ankle marker
    written with the lateral label (some marker sets do), else left out and reported."""
    medial = _MEDIAL.get(name)
    if medial is not None and medial not in source_labels:
        duplicates.append(f"{label} (second one read as the medial marker)")
        return medial
    duplicates.append(label)
    return None


# --------------------------------------------------------------------------- TRC


def _float(cell: str) -> float:
    cell = cell.strip()
    if not cell:
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        return float("nan") if cell.lower() in ("nan", "na", "-nan", "null") else _bad(cell)


def _bad(cell: str) -> float:
    raise ValueError(cell)


@_typed_errors("TRC file")
def read_trc(
    path: str | Path, *, vertical_axis: str | None = None, units: str | None = None
) -> Trial:
    """Read an OpenSim ``.trc`` marker file (tab separated, ``PathFileType 4``).

    Parameters
    ----------
    path
        The ``.trc`` file.
    vertical_axis
        The file's vertical axis. Default: detected from the data (the axis along which the
        pelvis sits furthest above the feet), else ``+y`` (OpenSim's convention).
    units
        Override the ``Units`` header field (``m``, ``cm`` or ``mm``).

    Raises
    ------
    MotionDataError
        If the header is malformed, a row has the wrong number of columns or fewer frames are
        present than ``NumFrames`` announces.
    """
    p = Path(path)
    lines = _read_text(p, "TRC file").splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise _err(p, "a TRC header starting with 'PathFileType'",
                   short_repr(lines[0] if lines else "an empty file"))
    keys = lines[1].split("\t")
    values = lines[2].split("\t")
    meta = {k.strip(): v.strip() for k, v in zip(keys, values, strict=False)}
    try:
        rate = float(meta.get("DataRate") or meta.get("CameraRate") or "nan")
        n_frames_header = int(float(meta.get("NumFrames", "0")))
    except (ValueError, OverflowError):
        raise _err(p, "numeric DataRate and NumFrames in line 3", short_repr(lines[2])) from None
    if not (math.isfinite(rate) and 0 < rate <= 1e5):
        raise _err(p, "a positive DataRate in line 3 (at most 100000 Hz)",
                   short_repr(meta.get("DataRate")))
    unit = (units or meta.get("Units", "m")).strip().lower()
    if unit not in _LENGTH_TO_M:
        raise _err(p, "Units of m, cm or mm", short_repr(unit))
    names_row = lines[3].split("\t")
    marker_labels = [n.strip() for n in names_row[2:] if n.strip()]
    if not marker_labels:
        raise _err(p, "marker names in line 4", short_repr(lines[3]))
    rows: list[list[float]] = []
    n_cols = 2 + 3 * len(marker_labels)
    for lineno, line in enumerate(lines[5:], start=6):
        if not line.strip():
            continue
        cells = line.rstrip("\n").split("\t")
        if len(cells) < n_cols:  # trailing missing markers are often left out
            cells = cells + [""] * (n_cols - len(cells))
        try:
            rows.append([_float(c) for c in cells[:n_cols]])
        except ValueError as exc:
            raise _err(f"{p.name}:{lineno}", "numbers", short_repr(str(exc))) from None
    if n_frames_header and len(rows) < n_frames_header:
        raise _err(p, f"{n_frames_header} frames (NumFrames)", f"{len(rows)} rows",
                   "the file is truncated")
    if not rows:
        raise _err(p, "at least one data row", "none")
    arr = np.asarray(rows, dtype=float)
    landmarks: dict[str, FloatArray] = {}
    source_labels: dict[str, str] = {}
    unmapped: list[str] = []
    scale = _LENGTH_TO_M[unit]
    for j, label in enumerate(marker_labels):
        name = canonical_name(label)
        if name is None or name in landmarks:
            unmapped.append(label)
            continue
        landmarks[name] = arr[:, 2 + 3 * j : 5 + 3 * j] * scale
        source_labels[name] = label
    landmarks, notes = _non_finite_to_gaps(landmarks, source_labels)
    landmarks = _to_lab(landmarks, vertical_axis, "+y")
    times = arr[:, 1]
    start = float(times[0]) if np.isfinite(times[0]) else 0.0
    return Trial(
        landmarks=landmarks,
        sampling_rate_hz=rate,
        source=p.name,
        units="m",
        frame="lab",
        start_time_s=start,
        source_labels=source_labels,
        unmapped_labels=tuple(unmapped),
        notes=notes,
    )


# --------------------------------------------------------------------------- 2D helpers


def _image_trial(
    frames_xy: FloatArray,
    conf: FloatArray,
    names: Sequence[str],
    *,
    rate: float,
    source: str,
    units: Units,
    image_size_px: tuple[int, int] | None,
    start_time_s: float = 0.0,
    min_confidence: float = 0.0,
    notes: tuple[tuple[str, str], ...] = (),
) -> Trial:
    """Build an image-frame trial from (n_frames, n_points, 2) pixel/normalised coordinates."""
    landmarks: dict[str, FloatArray] = {}
    confidence: dict[str, FloatArray] = {}
    seen = np.where(((conf > max(min_confidence, 0.0)) & np.isfinite(conf))[..., None],
                    frames_xy, np.nan)
    seen[~np.isfinite(seen)] = np.nan
    relabel = relabel_sides(seen, names, rate)
    if relabel.swapped.any() or relabel.collapsed.any():
        frames_xy, conf = apply_relabelling(frames_xy, conf, names, relabel)
    if relabel.swapped.any():
        notes += (("sides_relabelled", f"the pose model mixed up the left and right sides of "
                   f"the body in {_count(int(relabel.swapped.sum()), 'frame')}; they were "
                   "swapped back so that each side moves continuously"),)
    if relabel.collapsed.any():
        notes += (("sides_collapsed", f"in {_count(int(relabel.collapsed.sum()), 'frame')} "
                   "the pose model put the left and right hips and shoulders nearly on top of "
                   "each other; those hip and shoulder points are treated as missing"),)
    if relabel.agreement < MIN_SIDE_AGREEMENT and relabel.decided_by == "labels":
        notes += (("facing_uncertain", f"the pose model could not tell whether the person "
                   f"faces the camera or has their back to it (it chose each way in about "
                   f"{100 * (1 - relabel.agreement):.0f} % and {100 * relabel.agreement:.0f} % "
                   "of the frames): left and right may be exchanged in the whole result; "
                   "check which side is which on the video"),)
    n_inf = int(np.isinf(frames_xy).any(axis=2).sum())
    if n_inf:
        notes += (("non_finite_values", f"{_count(n_inf, 'keypoint sample')} with an "
                   "infinite coordinate treated as missing"),)
    for j, name in enumerate(names):
        c = conf[:, j]
        xy = frames_xy[:, j, :].copy()
        bad = ~np.isfinite(c) | (c <= 0.0) | (c < min_confidence) | ~np.isfinite(xy).all(axis=1)
        xy[bad] = np.nan
        out = np.zeros((xy.shape[0], 3))
        out[:, 0] = xy[:, 0]
        out[:, 2] = -xy[:, 1]
        out[bad] = np.nan
        landmarks[name] = out
        confidence[name] = np.where(np.isfinite(c), c, 0.0)
    return Trial(
        landmarks=landmarks,
        sampling_rate_hz=rate,
        source=source,
        units=units,
        frame="image",
        confidence=confidence,
        start_time_s=start_time_s,
        image_size_px=image_size_px,
        notes=notes,
    )


def _need_rate(rate: float | None, path: Path, fmt: str) -> float:
    if rate is None:
        raise InputValueError(
            f"{path.name}: {fmt} files carry no frame rate",
            [Problem("sampling_rate_hz", "the video's frame rate in Hz", "nothing",
                     "pass sampling_rate_hz (e.g. --rate 60)")],
        )
    return check_range("sampling_rate_hz", rate, 1.0, 10000.0, unit="Hz")


# --------------------------------------------------------------------------- OpenPose


def _frame_number(path: Path) -> tuple[int, str]:
    digits = re.findall(r"\d+", path.stem)
    return (int(digits[-1]) if digits else -1, path.name)


@_typed_errors("OpenPose JSON folder")
def read_openpose(
    folder: str | Path,
    *,
    sampling_rate_hz: float | None = None,
    keypoint_model: str | None = None,
    min_confidence: float = 0.0,
    image_size_px: tuple[int, int] | None = None,
) -> Trial:
    """Read an OpenPose output folder (one ``*_keypoints.json`` file per frame).

    Parameters
    ----------
    folder
        Folder of OpenPose JSON files, ordered by the frame number in their names.
    sampling_rate_hz
        Video frame rate (OpenPose files do not store it). Required.
    keypoint_model
        ``"body_25"``, ``"body_25b"``, ``"coco_17"``, ``"coco_18"``, ``"halpe_26"`` or
        ``"mediapipe_33"``; default: detected from the number of keypoints and, where two
        models have as many (BODY_25 and BODY_25B), from which one's layout forms an upright
        body (see :func:`~glutemed.motion.keypoint_layout_score`). A named model whose layout is
        not anatomical while another's is, is refused.
    min_confidence
        Keypoints with a lower confidence are treated as missing.
    image_size_px
        ``(width, height)``, recorded in the trial when known.

    Returns
    -------
    Trial
        In the ``"image"`` frame, pixels, with per-keypoint confidence. When several people are
        detected, the person nearest to the one followed in the previous frame is kept (the
        most confident person in the first frame).

    Raises
    ------
    MotionDataError
        If the folder has no JSON files or a file is not an OpenPose keypoint file.
    """
    p = Path(folder)
    if not p.is_dir():
        raise _err(p, "a folder of OpenPose JSON files", "not a folder")
    files = sorted(p.glob("*.json"), key=_frame_number)
    if not files:
        raise _err(p, "OpenPose *_keypoints.json files", "no .json files in the folder")
    rate = _need_rate(sampling_rate_hz, p, "OpenPose JSON")
    if keypoint_model is not None:
        check_option("keypoint_model", keypoint_model, KEYPOINT_MODELS)
    n_kp: int | None = None
    per_frame: list[FloatArray | None] = []
    for f in files:
        doc = _load_json(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
            found = sorted(doc)[:8] if isinstance(doc, dict) else type(doc).__name__
            raise _err(f, "an OpenPose keypoint file with a 'people' list",
                       f"keys {found}" if isinstance(found, list) else short_repr(found))
        people = []
        for person in doc["people"]:
            kp = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
            if not isinstance(kp, list) or len(kp) % 3:
                raise _err(f, "pose_keypoints_2d as a flat list of x, y, confidence triples",
                           short_repr(kp))
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in kp):
                bad = next(v for v in kp if isinstance(v, bool) or not isinstance(v, int | float))
                raise _err(f, "pose_keypoints_2d of numbers", f"an element {short_repr(bad)}")
            people.append(np.asarray(kp, dtype=float).reshape(-1, 3))
        if people:
            n_kp = people[0].shape[0] if n_kp is None else n_kp
            if any(pp.shape[0] != n_kp for pp in people):
                raise _err(f, f"{n_kp} keypoints per person (as in the first frames)",
                           ", ".join(str(pp.shape[0]) for pp in people))
        per_frame.append(_pick_person(people, per_frame))
    if n_kp is None:
        raise _err(p, "at least one detected person", "no person in any frame")
    n = len(per_frame)
    xy = np.full((n, n_kp, 2), np.nan)
    conf = np.zeros((n, n_kp))
    for i, person in enumerate(per_frame):
        if person is not None:
            xy[i] = person[:, :2]
            conf[i] = person[:, 2]
    seen = np.where((conf > max(min_confidence, 0.0))[..., None], xy, np.nan)
    model, notes = choose_keypoint_model(seen, keypoint_model, p.name)
    return _image_trial(xy, conf, KEYPOINT_MODELS[model], rate=rate, source=p.name, units="px",
                        image_size_px=image_size_px, min_confidence=min_confidence,
                        notes=notes)


def _centre(person: FloatArray) -> FloatArray:
    ok = person[:, 2] > 0
    return np.asarray(person[ok, :2].mean(axis=0) if ok.any() else np.full(2, np.nan))


def _pick_person(people: list[FloatArray], previous: list[FloatArray | None]) -> FloatArray | None:
    if not people:
        return None
    if len(people) == 1:
        return people[0]
    last = next((q for q in reversed(previous) if q is not None), None)
    if last is None:
        return max(people, key=lambda q: float(q[:, 2].sum()))
    ref = _centre(last)
    dists = [float(np.linalg.norm(_centre(q) - ref)) for q in people]
    dists = [d if np.isfinite(d) else np.inf for d in dists]
    return people[int(np.argmin(dists))]


# --------------------------------------------------------------------------- MediaPipe


def _mp_index(token: str) -> int | None:
    token = token.strip()
    if token.isdigit():
        idx = int(token)
        return idx if 0 <= idx < 33 else None
    name = canonical_name(token)
    return MEDIAPIPE_33.index(name) if name in MEDIAPIPE_33 else None


def _mp_units(
    image_size_px: tuple[int, int] | None,
) -> tuple[Units, float, float]:
    if image_size_px is None:
        return "normalised", 1.0, 1.0
    w, h = image_size_px
    return "px", float(w), float(h)


@_typed_errors("MediaPipe landmark file")
def read_mediapipe(
    path: str | Path,
    *,
    sampling_rate_hz: float | None = None,
    image_size_px: tuple[int, int] | None = None,
    min_confidence: float = 0.0,
) -> Trial:
    """Read MediaPipe Pose landmarks (33 per frame) from a CSV or JSON file.

    Accepted layouts
    ----------------
    JSON
        ``{"fps": 60, "image_width": 1920, "image_height": 1080, "frames": [{"timestamp_ms":
        0, "landmarks": [{"x": .., "y": .., "z": .., "visibility": ..}, ... 33]}, ...]}``, or
        the ``frames`` list alone. ``landmarks`` (or ``pose_landmarks``) may be nested per
        person (the first person is used); an empty list marks a frame without detection.
    CSV, long
        Columns ``frame``, ``landmark`` (index 0-32 or MediaPipe name), ``x``, ``y``, optional
        ``z``, ``visibility``, ``presence`` and ``timestamp_ms`` or ``time_s``.
    CSV, wide
        One row per frame with ``<name>_x``, ``<name>_y``, ``<name>_visibility`` for MediaPipe
        names (``left_hip_x``, ``left_foot_index_x``) and optional ``time_s``/``timestamp_ms``.

    Coordinates are MediaPipe's image-normalised ``x`` (right) and ``y`` (down); ``z`` is
    ignored (2D analysis). With ``image_size_px`` (or image size in the JSON) they are converted
    to pixels, so that angles are not distorted by the image's aspect ratio; otherwise the trial
    keeps ``units="normalised"`` and angle measures are flagged. Frames whose left and right
    labels the pose model swapped are swapped back (notes ``sides_relabelled``,
    ``sides_collapsed``, ``facing_uncertain``), as for every 2D keypoint file.

    Raises
    ------
    MotionDataError
        If the file does not have one of these layouts.
    """
    p = Path(path)
    if p.suffix.lower() == ".json":
        return _read_mediapipe_json(p, sampling_rate_hz, image_size_px, min_confidence)
    return _read_mediapipe_csv(p, sampling_rate_hz, image_size_px, min_confidence)


def _rate_from_times(times: FloatArray, path: Path, rate: float | None, fmt: str) -> float:
    if rate is not None:
        return check_range("sampling_rate_hz", rate, 1.0, 10000.0, unit="Hz")
    ok = times[np.isfinite(times)]
    if ok.size >= 2:
        step = float(np.median(np.diff(ok)))
        if step > 0 and math.isfinite(1.0 / step):
            return check_range("sampling_rate_hz (from the time column)", 1.0 / step, 1.0,
                               10000.0, unit="Hz")
    return _need_rate(None, path, fmt)


def _number(value: Any, where: str, what: str) -> float:
    """A JSON number as float (a missing value is NaN); anything else is a typed error."""
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _err(where, what, short_repr(value))
    try:
        return float(value)
    except OverflowError:  # an integer beyond the float range
        return float("inf")


def _read_mediapipe_json(
    p: Path, rate: float | None, size: tuple[int, int] | None, min_conf: float
) -> Trial:
    doc = _load_json(p)
    frames: Any = doc
    if isinstance(doc, dict):
        frames = doc.get("frames")
        doc_rate = doc.get("fps") or doc.get("sampling_rate_hz")
        if rate is None and doc_rate is not None:
            rate = _number(doc_rate, f"{p.name} fps", "a frame rate in Hz")
        w, h = doc.get("image_width"), doc.get("image_height")
        if size is None and w is not None and h is not None:
            wf = _number(w, f"{p.name} image_width", "an image width in pixels")
            hf = _number(h, f"{p.name} image_height", "an image height in pixels")
            if not (1 <= wf <= 100_000 and 1 <= hf <= 100_000):
                raise _err(p, "image_width and image_height of 1 to 100000 pixels",
                           f"{short_repr(w)} x {short_repr(h)}")
            size = (int(wf), int(hf))
    if not isinstance(frames, list) or not frames:
        found = f"keys {sorted(map(str, doc))[:8]}" if isinstance(doc, dict) else short_repr(doc)
        raise _err(p, "MediaPipe pose landmarks: a non-empty 'frames' list", found)
    units, sx, sy = _mp_units(size)
    n = len(frames)
    xy = np.full((n, 33, 2), np.nan)
    conf = np.zeros((n, 33))
    times = np.full(n, np.nan)
    for i, fr in enumerate(frames):
        where = f"{p.name} frames[{i}]"
        if not isinstance(fr, dict):
            raise _err(where, "an object with 'landmarks'", short_repr(fr))
        lms = fr.get("landmarks", fr.get("pose_landmarks"))
        if lms is None:
            raise _err(where, "a 'landmarks' list", f"keys {sorted(map(str, fr))[:8]}")
        if "timestamp_ms" in fr:
            times[i] = _number(fr["timestamp_ms"], where, "a number timestamp_ms") / 1000.0
        elif "time_s" in fr:
            times[i] = _number(fr["time_s"], where, "a number time_s")
        if isinstance(lms, list) and lms and isinstance(lms[0], list):
            lms = lms[0]
        if not isinstance(lms, list):
            raise _err(where, "a list of 33 landmarks", short_repr(lms))
        if not lms:
            continue
        if len(lms) != 33:
            raise _err(where, "33 MediaPipe pose landmarks", f"{len(lms)} landmarks")
        for j, lm in enumerate(lms):
            at = f"{where}.landmarks[{j}]"
            if not isinstance(lm, dict) or "x" not in lm or "y" not in lm:
                raise _err(at, "an object with numbers x and y", short_repr(lm))
            xy[i, j] = (_number(lm["x"], at, "a number x") * sx,
                        _number(lm["y"], at, "a number y") * sy)
            vis = lm.get("visibility", lm.get("presence", 1.0))
            conf[i, j] = 1.0 if vis is None else _number(vis, at, "a number visibility")
    rate_hz = _rate_from_times(times, p, rate, "MediaPipe")
    start = float(times[0]) if np.isfinite(times[0]) else 0.0
    return _mediapipe_trial(xy, conf, rate=rate_hz, source=p.name, units=units,
                            image_size_px=size, start_time_s=start, min_confidence=min_conf)


def _mediapipe_trial(
    xy: FloatArray, conf: FloatArray, *, min_confidence: float, source: str, units: Units,
    image_size_px: tuple[int, int] | None, rate: float, start_time_s: float,
) -> Trial:
    """The image trial of 33 MediaPipe landmarks, with the anatomy check's notes."""
    seen = np.where((conf > max(min_confidence, 0.0))[..., None], xy, np.nan)
    _, notes = choose_keypoint_model(seen, "mediapipe_33", source)
    return _image_trial(xy, conf, MEDIAPIPE_33, rate=rate, source=source, units=units,
                        image_size_px=image_size_px, start_time_s=start_time_s,
                        min_confidence=min_confidence, notes=notes)


def _read_csv_rows(p: Path) -> tuple[list[str], list[list[str]], dict[str, str]]:
    text = _read_text(p, "CSV file", encoding="utf-8-sig")
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            m = re.match(r"#\s*([A-Za-z_]+)\s*[:=]\s*(.+)$", stripped)
            if m:
                meta[m.group(1).lower()] = m.group(2).strip()
            continue
        if stripped:
            body.append(line)
    rows = list(csv.reader(io.StringIO("\n".join(body))))
    if not rows:
        raise _err(p, "a header row and data rows", "an empty file")
    header = [h.strip() for h in rows[0]]
    return header, rows[1:], meta


def _read_mediapipe_csv(
    p: Path, rate: float | None, size: tuple[int, int] | None, min_conf: float
) -> Trial:
    header, rows, _meta = _read_csv_rows(p)
    cols = {h.lower(): i for i, h in enumerate(header)}
    units, sx, sy = _mp_units(size)
    if "landmark" in cols:
        for need in ("frame", "x", "y"):
            if need not in cols:
                raise _err(p, f"a '{need}' column (MediaPipe long CSV)",
                           f"columns {_list_labels(header)}")
        frames: dict[int, int] = {}
        parsed = []
        for lineno, row in enumerate(rows, start=2):
            try:
                fr = int(float(row[cols["frame"]]))
                idx = _mp_index(row[cols["landmark"]])
                x, y = _float(row[cols["x"]]), _float(row[cols["y"]])
                vis = _float(row[cols["visibility"]]) if "visibility" in cols else 1.0
                t = (_float(row[cols["timestamp_ms"]]) / 1000.0 if "timestamp_ms" in cols
                     else _float(row[cols["time_s"]]) if "time_s" in cols else float("nan"))
            except (ValueError, IndexError):
                raise _err(f"{p.name}:{lineno}", "frame, landmark, x, y numbers",
                           short_repr(row)) from None
            if idx is None:
                raise _err(f"{p.name}:{lineno}", "a MediaPipe landmark index 0-32 or name",
                           short_repr(row[cols["landmark"]]))
            frames.setdefault(fr, len(frames))
            parsed.append((frames[fr], idx, x, y, vis, t))
        n = len(frames)
        xy = np.full((n, 33, 2), np.nan)
        conf = np.zeros((n, 33))
        times = np.full(n, np.nan)
        for i, idx, x, y, vis, t in parsed:
            xy[i, idx] = (x * sx, y * sy)
            conf[i, idx] = vis if np.isfinite(vis) else 1.0
            times[i] = t
    else:
        present: dict[int, tuple[int, int, int | None]] = {}
        variants = _mp_name_variants()
        for name in MEDIAPIPE_33:
            for base in (k for k, v in variants.items() if v == name):
                if f"{base}_x" in cols and f"{base}_y" in cols:
                    vis_col = cols.get(f"{base}_visibility", cols.get(f"{base}_presence"))
                    present[MEDIAPIPE_33.index(name)] = (cols[f"{base}_x"], cols[f"{base}_y"],
                                                         vis_col)
                    break
        if not present:
            raise _err(p, "MediaPipe landmark columns such as left_hip_x, left_hip_y",
                       f"columns {_list_labels(header)}")
        n = len(rows)
        xy = np.full((n, 33, 2), np.nan)
        conf = np.zeros((n, 33))
        times = np.full(n, np.nan)
        tcol = cols.get("time_s")
        mscol = cols.get("timestamp_ms")
        for i, row in enumerate(rows):
            try:
                for idx, (cx, cy, cv) in present.items():
                    xy[i, idx] = (_float(row[cx]) * sx, _float(row[cy]) * sy)
                    conf[i, idx] = _float(row[cv]) if cv is not None else 1.0
                if tcol is not None:
                    times[i] = _float(row[tcol])
                elif mscol is not None:
                    times[i] = _float(row[mscol]) / 1000.0
            except (ValueError, IndexError):
                raise _err(f"{p.name}:{i + 2}", f"{len(header)} numeric columns",
                           short_repr(row)) from None
    rate_hz = _rate_from_times(times, p, rate, "MediaPipe CSV")
    start = float(times[0]) if n and np.isfinite(times[0]) else 0.0
    return _mediapipe_trial(xy, conf, rate=rate_hz, source=p.name, units=units,
                            image_size_px=size, start_time_s=start, min_confidence=min_conf)


def _mp_name_variants() -> dict[str, str]:
    """MediaPipe's own landmark names -> canonical names."""
    own = (
        "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
        "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
        "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb",
        "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
    )
    return {o: c for o, c in zip(own, MEDIAPIPE_33, strict=True)} | {c: c for c in MEDIAPIPE_33}


# --------------------------------------------------------------------------- generic CSV


@_typed_errors("motion CSV file")
def read_generic_csv(
    path: str | Path,
    *,
    sampling_rate_hz: float | None = None,
    units: str | None = None,
    vertical_axis: str | None = None,
) -> Trial:
    """Read glutemed's documented generic CSV (see the module docstring).

    Parameters
    ----------
    path
        The CSV file.
    sampling_rate_hz
        Frame rate; default: the ``# sampling_rate_hz`` header, else from ``time_s``.
    units
        Overrides the ``# units`` header and the units row.
    vertical_axis
        3D only: the file's vertical axis; default ``# vertical_axis`` header, else detected.

    Raises
    ------
    MotionDataError
        Naming the file and the missing columns or the bad row.
    """
    p = Path(path)
    header, rows, meta = _read_csv_rows(p)
    cols = {h: i for i, h in enumerate(header)}
    if "time_s" not in cols:
        raise _err(p, "a 'time_s' column and <landmark>_x/_y/_z columns",
                   f"columns {_list_labels(header)}", "see the generic CSV format in the docs")
    unit_row: dict[str, str] = {}
    if rows and rows[0] and rows[0][0].strip().lower() == "units":
        unit_row = {header[i]: c.strip().lower() for i, c in enumerate(rows[0]) if i < len(header)}
        rows = rows[1:]
    groups: dict[str, dict[str, int]] = {}
    unmapped: list[str] = []
    for h, i in cols.items():
        m = re.match(r"^(.+)_(x|y|z|confidence)$", h)
        if not m:
            if h != "time_s":
                unmapped.append(h)
            continue
        groups.setdefault(m.group(1), {})[m.group(2)] = i
    is_3d = any("z" in g for g in groups.values())
    row_units = {u for h, u in unit_row.items()
                 if h != "time_s" and u and not h.endswith("_confidence")}
    if len(row_units) > 1:
        raise _err(p, "one length unit for all coordinate columns in the units row",
                   ", ".join(sorted(row_units)))
    chosen_unit = (units or meta.get("units") or next(iter(row_units), None)
                   or ("m" if is_3d else "px")).lower()
    allowed = ("m", "cm", "mm") if is_3d else ("px", "normalised")
    if chosen_unit not in allowed:
        raise _err(p, f"units {' or '.join(allowed)} for {'3D' if is_3d else '2D'} data",
                   short_repr(chosen_unit))
    n = len(rows)
    if n == 0:
        raise _err(p, "data rows after the header", "none")
    data = np.full((n, len(header)), np.nan)
    for r, row in enumerate(rows):
        if len(row) != len(header):
            raise _err(f"{p.name}:{r + 2 + bool(unit_row)}", f"{len(header)} columns",
                       f"{len(row)} columns", "the file may be truncated")
        try:
            data[r] = [_float(c) for c in row]
        except ValueError as exc:
            raise _err(f"{p.name}:{r + 2 + bool(unit_row)}", "numbers",
                       short_repr(str(exc))) from None
    times = data[:, cols["time_s"]]
    rate_meta = meta.get("sampling_rate_hz")
    rate = sampling_rate_hz if sampling_rate_hz is not None else (
        float(rate_meta) if rate_meta else None)
    rate_hz = _rate_from_times(times, p, rate, "generic CSV")
    landmarks: dict[str, FloatArray] = {}
    confidence: dict[str, FloatArray] = {}
    source_labels: dict[str, str] = {}
    need = ("x", "y", "z") if is_3d else ("x", "y")
    for base, axes in groups.items():
        name = canonical_name(base)
        if name is None or not all(a in axes for a in need):
            unmapped.append(base)
            continue
        if is_3d:
            arr = np.stack([data[:, axes[a]] for a in need], axis=1) * _LENGTH_TO_M[chosen_unit]
        else:
            arr = np.zeros((n, 3))
            arr[:, 0] = data[:, axes["x"]]
            arr[:, 2] = -data[:, axes["y"]]
            arr[~np.isfinite(arr).all(axis=1)] = np.nan
        landmarks[name] = arr
        source_labels[name] = base
        if "confidence" in axes:
            confidence[name] = np.nan_to_num(data[:, axes["confidence"]], nan=0.0)
    if not landmarks:
        raise _err(p, "columns <landmark>_x, <landmark>_y" + (", <landmark>_z" if is_3d else ""),
                   f"columns {_list_labels(header)}")
    landmarks, notes = _non_finite_to_gaps(landmarks, source_labels)
    if is_3d:
        landmarks = _to_lab(landmarks, vertical_axis or meta.get("vertical_axis"), "+z")
    start = float(times[0]) if np.isfinite(times[0]) else 0.0
    out_units: Units = "m" if is_3d else ("px" if chosen_unit == "px" else "normalised")
    return Trial(
        landmarks=landmarks,
        sampling_rate_hz=rate_hz,
        source=p.name,
        units=out_units,
        frame="lab" if is_3d else "image",
        confidence=confidence,
        start_time_s=start,
        source_labels=source_labels,
        unmapped_labels=tuple(unmapped),
        notes=notes,
    )


# --------------------------------------------------------------------------- dispatch


def read_trial(
    path: str | Path,
    *,
    sampling_rate_hz: float | None = None,
    image_size_px: tuple[int, int] | None = None,
    keypoint_model: str | None = None,
    vertical_axis: str | None = None,
    min_confidence: float = 0.0,
) -> Trial:
    """Read any supported motion file and return a canonical :class:`Trial`.

    The format is chosen from the path: a folder -> OpenPose JSON frames; ``.c3d``; ``.trc``;
    ``.json`` -> MediaPipe (or a single OpenPose frame file's folder); ``.csv`` -> MediaPipe if
    it has a ``landmark`` column or ``*_visibility`` columns, else the generic CSV.

    Raises
    ------
    MotionDataError
        For an unknown extension or an unreadable file.
    """
    p = Path(path)
    if p.is_dir():
        return read_openpose(p, sampling_rate_hz=sampling_rate_hz, keypoint_model=keypoint_model,
                             min_confidence=min_confidence, image_size_px=image_size_px)
    if not p.exists():
        raise _err(p, "an existing file or folder", "no such path")
    ext = p.suffix.lower()
    if ext == ".c3d":
        return read_c3d(p, vertical_axis=vertical_axis)
    if ext == ".trc":
        return read_trc(p, vertical_axis=vertical_axis)
    if ext == ".json":
        head = _load_json(p)
        if isinstance(head, dict) and "people" in head:
            raise _err(p, "a folder of OpenPose frame files", "a single OpenPose frame file",
                       "pass the folder that holds the *_keypoints.json files")
        return read_mediapipe(p, sampling_rate_hz=sampling_rate_hz, image_size_px=image_size_px,
                              min_confidence=min_confidence)
    if ext == ".csv":
        header, _rows, _meta = _read_csv_rows(p)
        low = [h.lower() for h in header]
        if "landmark" in low or any(h.endswith(("_visibility", "_presence")) for h in low):
            return read_mediapipe(p, sampling_rate_hz=sampling_rate_hz,
                                  image_size_px=image_size_px, min_confidence=min_confidence)
        return read_generic_csv(p, sampling_rate_hz=sampling_rate_hz, vertical_axis=vertical_axis)
    raise _err(p, "a .c3d, .trc, .csv or .json file or an OpenPose folder",
               short_repr(ext or "no extension"))
