"""glutemed's own C3D reader: pure Python and NumPy, bounded, for trusted and untrusted files.

The reader never runs native code on a file, so a malformed upload cannot crash the process.
Every count and offset read from the file is checked against the file's size before anything
is allocated, so memory stays proportional to the file; every malformed input ends in a
:class:`~glutemed.errors.MotionDataError` that names the section and the value.

It reads what real systems write (checked on the c3d.org sample set): Intel, DEC (VAX
F-floats) and MIPS (big-endian) processors; integer (scaled int16) and floating-point points;
text parameters padded with NUL bytes or spaces; a missing ``POINT:RATE`` (the header's rate
is used), ``POINT:DATA_START`` of 0 (the header's pointer is used), ``POINT:USED`` or the
analog layout disagreeing with the header (decided from the file's size, see
:func:`_frame_layout`), frame counts above 65535 (``TRIAL`` or ``POINT:FRAMES``) and files
without any parameter section group for points (the header alone describes the data).
Decisions that a user should know about are returned as ``notes``.

References
----------
C3D.org. The C3D File Format User Guide (Motion Lab Systems, 2008): header words 1-12, parameter
section records, 3D point data (float or scaled int16, with a residual/camera word), analog
samples per 3D frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glutemed.errors import MotionDataError, Problem
from glutemed.motion._trial import FloatArray

__all__ = ["C3DContent", "read_c3d_content"]

_INTEL, _DEC, _MIPS = 84, 85, 86
_PROCESSORS = {_INTEL: "Intel", _DEC: "DEC", _MIPS: "MIPS"}
#: At most this many parameter records and values per parameter (real files have < 2,000 and
#: < 70,000; a hostile file cannot make the reader loop or allocate beyond them).
MAX_PARAMETER_RECORDS = 20_000
MAX_PARAMETER_ITEMS = 1_000_000


@dataclass(frozen=True)
class C3DContent:
    """What glutemed needs from a C3D file.

    ``points`` is ``(n_frames_read, n_points, 3)`` in the file's units and frame; ``residuals``
    is ``(n_frames_read, n_points)`` with negative values for invalid samples (as in ezc3d);
    ``parameters`` maps group -> parameter -> value (lists of strings with padding removed, or
    NumPy arrays shaped like C3D's dimensions, first dimension first, as ezc3d returns them).
    ``point_rate_hz`` is ``POINT:RATE``, or the header's rate when the parameter is absent or
    not a positive number. ``notes`` are ``(code, message)`` pairs about decisions the reader
    took (a header that disagrees with the parameters, a rate taken from the header, ...).
    """

    parameters: dict[str, dict[str, Any]]
    points: FloatArray
    residuals: FloatArray
    first_frame: int
    announced_frames: int
    point_rate_hz: float = 0.0
    notes: tuple[tuple[str, str], ...] = field(default=())


def _fail(name: str, where: str, expected: str, found: str, hint: str = "") -> MotionDataError:
    return MotionDataError(
        f"{name}: cannot use this motion file",
        [Problem(f"{name} ({where})" if where else name, expected, found, hint)],
    )


def _i8(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def _floats(buf: bytes, count: int, at: int, processor: int) -> FloatArray:
    """Read ``count`` 32-bit floats; DEC (VAX F-float) words are swapped and divided by 4."""
    if processor == _DEC:
        raw = np.frombuffer(buf, np.uint8, 4 * count, at).reshape(-1, 4)[:, [2, 3, 0, 1]]
        return np.asarray(np.ascontiguousarray(raw).view("<f4").ravel(), dtype=float) / 4.0
    order = ">" if processor == _MIPS else "<"
    with np.errstate(invalid="ignore"):  # signalling NaNs in corrupt files stay NaN
        return np.frombuffer(buf, np.dtype(order + "f4"), count, at).astype(float)


def _text(raw: bytes) -> str:
    """Decode a C3D text value: Latin-1, NUL bytes and surrounding spaces removed."""
    return raw.decode("latin-1").replace("\x00", " ").strip()


_NAME_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_- ")


def _plausible_record(buf: bytes, pos: int) -> bool:
    """True if a parameter record (or the section's closing zero byte) can start at ``pos``."""
    if pos + 2 > len(buf):
        return False
    n_chars = abs(_i8(buf[pos]))
    if n_chars == 0:
        return True
    name = buf[pos + 2 : pos + 2 + n_chars]
    return _i8(buf[pos + 1]) != 0 and len(name) == n_chars and set(name) <= _NAME_BYTES


def _parse_parameters(
    buf: bytes, start: int, processor: int, name: str, notes: list[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """Parse the parameter section that starts at byte ``start`` (its 4-byte header first).

    A record whose offset to the next record was written in the other byte order (seen in
    an SGI file of the c3d.org samples, whose Intel twin has the same parameters) is followed
    with the swapped offset when only that one lands on a well-formed record.
    """
    order = ">" if processor == _MIPS else "<"
    i16 = np.dtype(order + "i2")
    size = len(buf)
    groups: dict[int, str] = {}
    pending: list[tuple[int, str, Any]] = []
    pos = start + 4
    for _ in range(MAX_PARAMETER_RECORDS):
        if pos + 2 > size:
            break
        n_chars = abs(_i8(buf[pos]))
        if n_chars == 0:
            break
        gid = _i8(buf[pos + 1])
        off_pos = pos + 2 + n_chars
        if off_pos + 2 > size:
            break  # a record cut off by the end of the file ends the section
        label = "".join(c if c.isalnum() or c in "_-" else "?"
                        for c in _text(buf[pos + 2 : off_pos]).upper())
        offset = int(np.frombuffer(buf, i16, 1, off_pos)[0])
        body = off_pos + 2
        where = f"parameter {label or '?'}"
        if gid < 0:
            groups[-gid] = label
        elif gid > 0:
            if body + 2 > size:
                raise _fail(name, where, "a parameter type and dimensions", "the end of the file")
            ptype = _i8(buf[body])
            ndims = buf[body + 1]
            if body + 2 + ndims > size:
                raise _fail(name, where, f"{ndims} dimensions", "the end of the file")
            if ndims > 7:
                raise _fail(name, where, "at most 7 dimensions", str(ndims),
                            "the parameter section is corrupt")
            dims = [int(d) for d in buf[body + 2 : body + 2 + ndims]]
            data_at = body + 2 + ndims
            count = math.prod(dims) if dims else 1
            width = {-1: 1, 1: 1, 2: 2, 4: 4}.get(ptype)
            if width is None:
                raise _fail(name, where, "type -1 (text), 1 (byte), 2 (integer) or 4 (float)",
                            str(ptype))
            if count * width > size - data_at:
                raise _fail(name, where, f"{count * width} bytes of data (dimensions {dims})",
                            f"{max(size - data_at, 0)} bytes left in the file",
                            "the parameter section is corrupt")
            n_items = math.prod(dims[1:]) if ptype == -1 and len(dims) > 1 else count
            if n_items > MAX_PARAMETER_ITEMS:
                raise _fail(name, where, f"at most {MAX_PARAMETER_ITEMS:,} values",
                            f"{n_items:,} (dimensions {dims})")
            value: Any
            if ptype == -1:
                raw = buf[data_at : data_at + count]
                if len(dims) <= 1:
                    value = [_text(raw)]
                elif dims[0] == 0:
                    value = [""] * n_items
                else:
                    w = dims[0]
                    value = [_text(raw[k * w : (k + 1) * w]) for k in range(n_items)]
            else:
                if ptype == 4:
                    arr = _floats(buf, count, data_at, processor)
                elif ptype == 1:
                    arr = np.frombuffer(buf, np.int8, count, data_at).astype(np.int64)
                else:
                    arr = np.frombuffer(buf, i16, count, data_at).astype(np.int64)
                value = arr.reshape(dims, order="F") if len(dims) > 1 else arr
            pending.append((gid, label, value))
        if offset <= 0:
            break
        pos = off_pos + offset
        if not _plausible_record(buf, pos):
            swapped = int.from_bytes(offset.to_bytes(2, "little", signed=True), "big",
                                     signed=True)
            if swapped > 0 and _plausible_record(buf, off_pos + swapped):
                notes.append(("c3d_parameter_repaired",
                              "one entry of the file's parameter section was written in the "
                              "wrong byte order and was read corrected"))
                pos = off_pos + swapped
    params: dict[str, dict[str, Any]] = {label: {} for label in groups.values()}
    for gid, label, value in pending:
        group = groups.get(gid)
        if group is not None:
            params[group].setdefault(label, value)
    return params


def _first_number(params: dict[str, dict[str, Any]], group: str, key: str) -> float | None:
    """The first value of a numeric parameter, or ``None`` when absent, text or empty."""
    value = params.get(group, {}).get(key)
    if not isinstance(value, np.ndarray) or value.size == 0:
        return None
    out = float(value.ravel()[0])
    return out if math.isfinite(out) else None


def _unsigned(value: float | None) -> int | None:
    """A 16-bit count stored signed (files with more than 32767 frames or points)."""
    if value is None:
        return None
    n = int(value)
    return n + 65536 if n < 0 else n


def _frame_layout(
    *,
    data_bytes: int,
    frames: int,
    n_points: int,
    item: int,
    analog_candidates: list[tuple[int, str]],
) -> tuple[int, str]:
    """Choose the analog values per 3D frame that fit the data section's size.

    The header (word 3) and the ANALOG parameters (``USED`` x ``RATE`` / ``POINT:RATE``) both
    say how many analog values follow the points of each frame; some writers get one of them
    wrong. A wrong stride reads every k-th frame or mixes analog values into marker
    coordinates without any error, so the candidate whose announced frames fill the data
    section exactly (C3D pads only the last 512-byte block) wins; otherwise the first
    candidate that fits, otherwise the header.
    """
    for analog, source in analog_candidates:
        need = frames * (4 * n_points + analog) * item
        if 0 <= data_bytes - need < 512:
            return analog, source
    for analog, source in analog_candidates:
        if frames * (4 * n_points + analog) * item <= data_bytes:
            return analog, source
    return analog_candidates[0]


def read_c3d_content(buf: bytes, *, name: str = "file.c3d") -> C3DContent:
    """Parse the bytes of a C3D file.

    Parameters
    ----------
    buf
        The whole file.
    name
        File name for messages.

    Returns
    -------
    C3DContent
        Points in the file's units; check ``announced_frames`` against the frames read to
        detect truncation.

    Raises
    ------
    MotionDataError
        Naming the part of the file that is malformed (header, parameter, data section).
    """
    notes: list[tuple[str, str]] = []
    size = len(buf)
    if size < 512:
        raise _fail(name, "header", "a C3D header of 512 bytes", f"{size} bytes",
                    "is this really a C3D file?")
    if buf[1] != 0x50:
        raise _fail(name, "header", "the C3D key byte 0x50 in byte 2", f"0x{buf[1]:02x}",
                    "is this really a C3D file?")
    param_block = buf[0]
    pstart = (param_block - 1) * 512
    if param_block < 2 or pstart + 4 > size:
        raise _fail(name, "header", "a parameter section pointer inside the file",
                    f"block {param_block} of {size // 512}")
    processor = int(buf[pstart + 3])
    if processor not in _PROCESSORS:
        raise _fail(name, "parameter section", "processor type 84 (Intel), 85 (DEC) or 86 (MIPS)",
                    str(processor))
    order = ">" if processor == _MIPS else "<"
    words = np.frombuffer(buf, np.dtype(order + "u2"), 12, 0)
    header_points, header_analog = int(words[1]), int(words[2])
    header_first, header_last = int(words[3]), int(words[4])
    header_scale = float(_floats(buf, 1, 12, processor)[0])
    header_start = int(words[8])
    header_rate = float(_floats(buf, 1, 20, processor)[0])

    params = _parse_parameters(buf, pstart, processor, name, notes)

    used = _unsigned(_first_number(params, "POINT", "USED"))
    n_points = used if used is not None else header_points
    if used is not None and used != header_points:
        notes.append(("c3d_header_mismatch",
                      f"the file's header announces {header_points} markers, its "
                      f"parameters {used}; the parameters' {used} are used"))

    rate = _first_number(params, "POINT", "RATE")
    if rate is None or not rate > 0:
        if not (math.isfinite(header_rate) and header_rate > 0):
            raise _fail(name, "POINT:RATE", "a positive frame rate (parameter or header)",
                        f"{'no parameter' if rate is None else repr(rate)} and "
                        f"{header_rate!r} in the header")
        notes.append(("c3d_header_rate",
                      "the file's frame-rate parameter is missing or not a positive "
                      f"number; the rate in its header, {header_rate:g} Hz, is used"))
        rate = header_rate
    if not rate <= 1e6:
        raise _fail(name, "POINT:RATE", "a frame rate up to 1,000,000 Hz", repr(rate))

    scale = _first_number(params, "POINT", "SCALE")
    if scale is None or scale == 0:
        scale = header_scale
    if not (math.isfinite(scale) and scale != 0):
        raise _fail(name, "POINT:SCALE", "a non-zero finite scale", repr(scale))
    is_float = scale < 0
    item = 4 if is_float else 2

    data_start = _unsigned(_first_number(params, "POINT", "DATA_START"))
    if not data_start or data_start <= param_block or (data_start - 1) * 512 >= size:
        if data_start is not None and data_start != header_start:
            notes.append(("c3d_header_mismatch",
                          f"the file's parameters place the marker data at block {data_start}, "
                          f"which cannot hold it; the header's block {header_start} is used"))
        data_start = header_start
    offset = (data_start - 1) * 512
    if data_start <= param_block or offset > size:
        raise _fail(name, "header", "a data section pointer inside the file",
                    f"block {data_start} of {size // 512}")

    announced = header_last - header_first + 1 if header_last >= header_first else 0
    first_frame = header_first
    frames_param = _unsigned(_first_number(params, "POINT", "FRAMES"))
    if frames_param is not None and frames_param > announced and header_last == 65535:
        announced = frames_param
    trial = params.get("TRIAL", {})
    s, e = trial.get("ACTUAL_START_FIELD"), trial.get("ACTUAL_END_FIELD")
    if isinstance(s, np.ndarray) and isinstance(e, np.ndarray) and s.size and e.size:
        s16, e16 = [int(v) & 0xFFFF for v in s.ravel()], [int(v) & 0xFFFF for v in e.ravel()]
        a = s16[0] + (s16[1] << 16 if len(s16) > 1 else 0)
        b = e16[0] + (e16[1] << 16 if len(e16) > 1 else 0)
        if b >= a >= 0:
            announced, first_frame = b - a + 1, a

    analog_candidates = [(header_analog, "header")]
    analog_used = _first_number(params, "ANALOG", "USED")
    analog_rate = _first_number(params, "ANALOG", "RATE")
    if analog_used is not None and analog_used >= 0:
        ratio = (round(analog_rate / rate) if analog_rate is not None and analog_rate > 0
                 else header_analog // int(analog_used) if analog_used else 0)
        from_params = int(analog_used) * max(int(ratio), 0)
        if from_params != header_analog:
            analog_candidates.append((from_params, "ANALOG parameters"))
    data_bytes = size - offset
    analog, _chosen_from = _frame_layout(data_bytes=data_bytes, frames=announced, n_points=n_points,
                                          item=item, analog_candidates=analog_candidates)
    if len(analog_candidates) > 1:
        notes.append(("c3d_header_mismatch",
                      "the file's header and parameters disagree on the analog samples "
                      f"stored with each frame ({header_analog} and "
                      f"{analog_candidates[1][0]}); {analog} fits the file's size and is "
                      "used"))
    frame_values = 4 * n_points + analog
    frame_bytes = frame_values * item
    if n_points == 0 or frame_bytes == 0:
        empty = np.zeros((0, n_points, 3))
        return C3DContent(params, empty, np.zeros((0, n_points)), max(first_frame - 1, 0),
                          announced, rate, tuple(notes))
    n_read = min(data_bytes // frame_bytes, announced)
    n_values = n_read * frame_values
    if is_float:
        flat = _floats(buf, n_values, offset, processor)
    else:
        flat = np.frombuffer(buf, np.dtype(order + "i2"), n_values, offset).astype(float)
    raw = flat.reshape(n_read, frame_values)[:, : 4 * n_points].reshape(n_read, n_points, 4)
    xyz = raw[:, :, :3] if is_float else raw[:, :, :3] * abs(scale)
    fourth = raw[:, :, 3]
    valid = np.isfinite(fourth) & (fourth >= 0)
    word = np.clip(np.where(valid, fourth, 0.0), 0, 2**31).astype(np.int64)
    residuals = np.where(valid, (word & 0xFF) * abs(scale), -1.0)
    return C3DContent(params, np.ascontiguousarray(xyz), residuals, max(first_frame - 1, 0),
                      announced, float(rate), tuple(notes))
