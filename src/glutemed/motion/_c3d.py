"""A small NumPy C3D reader for the common case, cross-checked against ezc3d.

ezc3d builds one object per point and frame, which costs about 0.1 s for a 60 s, 120 Hz trial.
The parameter section and the point data are simple enough to read with
:func:`numpy.frombuffer` in a few milliseconds, for files written by Intel (little-endian), DEC
(little-endian integers, VAX F-floats) and MIPS (big-endian) processors. Anything the reader does
not recognise returns ``None`` so that the caller falls back to ezc3d. The test suite checks
that both readers give the same landmarks, rates and events for the reference files.

References
----------
C3D.org. The C3D File Format User Guide (Motion Lab Systems, 2008): header words 1-12, parameter
section records, 3D point data (float or scaled int16, with a residual/camera word).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glutemed.motion._trial import FloatArray

__all__ = ["C3DContent", "read_c3d_numpy"]

_INTEL, _DEC, _MIPS = 84, 85, 86


@dataclass(frozen=True)
class C3DContent:
    """What glutemed needs from a C3D file.

    ``points`` is ``(n_frames_read, n_points, 3)`` in the file's units and frame; ``residuals``
    is ``(n_frames_read, n_points)`` with negative values for invalid samples (as in ezc3d);
    ``parameters`` maps group -> parameter -> value (lists of strings, or NumPy arrays shaped
    like C3D's dimensions, first dimension first, as ezc3d returns them).
    """

    parameters: dict[str, dict[str, Any]]
    points: FloatArray
    residuals: FloatArray
    first_frame: int
    announced_frames: int


def _i8(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def _floats(buf: bytes, count: int, at: int, processor: int) -> FloatArray:
    """Read ``count`` 32-bit floats; DEC (VAX F-float) words are swapped and divided by 4."""
    if processor == _DEC:
        raw = np.frombuffer(buf, np.uint8, 4 * count, at).reshape(-1, 4)[:, [2, 3, 0, 1]]
        return np.asarray(np.ascontiguousarray(raw).view("<f4").ravel() / 4.0, dtype=float)
    order = ">" if processor == _MIPS else "<"
    return np.frombuffer(buf, np.dtype(order + "f4"), count, at).astype(float)


def _parse_parameters(
    buf: bytes, start: int, processor: int
) -> dict[str, dict[str, Any]] | None:
    order = ">" if processor == _MIPS else "<"
    i16 = np.dtype(order + "i2")
    groups: dict[int, str] = {}
    pending: list[tuple[int, str, Any]] = []
    pos = start + 4
    n_blocks = buf[start + 2]
    end = start + 512 * max(int(n_blocks), 1)
    while pos < min(end, len(buf)) - 2:
        n_chars = abs(_i8(buf[pos]))
        if n_chars == 0:
            break
        gid = _i8(buf[pos + 1])
        name = buf[pos + 2 : pos + 2 + n_chars].decode("latin-1").strip().upper()
        off_pos = pos + 2 + n_chars
        offset = int(np.frombuffer(buf, i16, 1, off_pos)[0])
        body = off_pos + 2
        if gid < 0:
            groups[-gid] = name
        else:
            ptype = _i8(buf[body])
            ndims = buf[body + 1]
            dims = [int(d) for d in buf[body + 2 : body + 2 + ndims]]
            data_at = body + 2 + ndims
            count = int(np.prod(dims)) if dims else 1
            if ptype == -1:
                raw = buf[data_at : data_at + count]
                if len(dims) <= 1:
                    value: Any = [raw.decode("latin-1").rstrip()]
                elif dims[0] == 0:
                    value = [""] * int(np.prod(dims[1:]))
                else:
                    width = dims[0]
                    value = [
                        raw[k * width : (k + 1) * width].decode("latin-1").rstrip()
                        for k in range(count // width)
                    ]
            elif ptype in (1, 2, 4):
                if ptype == 4:
                    arr = _floats(buf, count, data_at, processor)
                else:
                    dt = np.dtype("u1") if ptype == 1 else i16
                    arr = np.frombuffer(buf, dt, count, data_at).astype(np.int64)
                value = arr.reshape(dims, order="F") if len(dims) > 1 else arr
            else:
                return None
            pending.append((gid, name, value))
        if offset == 0:
            break
        pos = off_pos + offset
    params: dict[str, dict[str, Any]] = {name: {} for name in groups.values()}
    for gid, name, value in pending:
        group = groups.get(gid)
        if group is not None:
            params[group][name] = value
    return params


def read_c3d_numpy(path: Path) -> C3DContent | None:
    """Read a C3D file with NumPy, or return ``None`` if it needs ezc3d (see module notes)."""
    buf = path.read_bytes()
    if len(buf) < 512 or buf[1] != 0x50:
        return None
    param_block = buf[0]
    pstart = (param_block - 1) * 512
    if param_block < 2 or len(buf) < pstart + 4:
        return None
    processor = int(buf[pstart + 3])
    if processor not in (_INTEL, _DEC, _MIPS):
        return None
    order = ">" if processor == _MIPS else "<"
    words = np.frombuffer(buf, np.dtype(order + "u2"), 12, 0)
    n_points_header = int(words[1])
    analog_per_frame = int(words[2])
    first_frame, last_frame = int(words[3]), int(words[4])
    scale = float(_floats(buf, 1, 12, processor)[0])
    data_start = int(words[8])
    params = _parse_parameters(buf, pstart, processor)
    if params is None or "POINT" not in params:
        return None
    point = params["POINT"]
    n_points = int(np.asarray(point.get("USED", [n_points_header])).ravel()[0])
    if "DATA_START" in point:
        data_start = int(np.asarray(point["DATA_START"]).ravel()[0])
    if "SCALE" in point:
        scale = float(np.asarray(point["SCALE"]).ravel()[0])
    announced = last_frame - first_frame + 1
    trial = params.get("TRIAL", {})
    if "ACTUAL_START_FIELD" in trial and "ACTUAL_END_FIELD" in trial:
        s = np.asarray(trial["ACTUAL_START_FIELD"], dtype=np.int64).ravel()
        e = np.asarray(trial["ACTUAL_END_FIELD"], dtype=np.int64).ravel()
        a = int(s[0] + (s[1] << 16 if s.size > 1 else 0))
        b = int(e[0] + (e[1] << 16 if e.size > 1 else 0))
        if b >= a >= 0:
            announced, first_frame = b - a + 1, a
    is_float = scale < 0
    item = 4 if is_float else 2
    analog_total = analog_per_frame
    frame_bytes = (4 * n_points + analog_total) * item
    offset = (data_start - 1) * 512
    if frame_bytes <= 0 or offset > len(buf):
        return None
    available = (len(buf) - offset) // frame_bytes
    n_read = min(available, announced)
    n_values = n_read * frame_bytes // item
    if is_float:
        flat = _floats(buf, n_values, offset, processor)
    else:
        flat = np.frombuffer(buf, np.dtype(order + "i2"), n_values, offset).astype(float)
    raw = flat.reshape(n_read, 4 * n_points + analog_total)[:, : 4 * n_points]
    raw = raw.reshape(n_read, n_points, 4)
    xyz = raw[:, :, :3] if is_float else raw[:, :, :3] * abs(scale)
    fourth = raw[:, :, 3]
    if is_float:
        word = fourth.astype(np.int64)
        residuals = np.where(fourth < 0, -1.0, (word & 0xFF) * abs(scale))
    else:
        residuals = np.where(fourth < 0, -1.0, (fourth.astype(np.int64) & 0xFF) * abs(scale))
    return C3DContent(params, np.ascontiguousarray(xyz), residuals, max(first_frame - 1, 0),
                      announced)
