"""Processing: bounded gap filling and zero-lag Butterworth low-pass filtering."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from glutemed._checks import check_option, check_range
from glutemed.motion._trial import FloatArray, Trial

__all__ = ["Gap", "fill_gaps", "lowpass", "lowpass_array", "nan_runs"]


@dataclass(frozen=True)
class Gap:
    """A run of missing samples of one landmark.

    Parameters
    ----------
    landmark
        Canonical landmark name.
    start_s, end_s
        Time of the first and last missing frame.
    duration_s
        Number of missing frames divided by the sampling rate.
    filled
        True if it was interpolated; False if it was too long or at an edge of the trial
        (glutemed never extrapolates).
    """

    landmark: str
    start_s: float
    end_s: float
    duration_s: float
    filled: bool

    def as_dict(self) -> dict[str, str | float | bool]:
        """Return the gap as JSON-ready dictionary."""
        return {
            "landmark": self.landmark,
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
            "duration_s": round(self.duration_s, 4),
            "filled": self.filled,
        }


def nan_runs(missing: npt.ArrayLike) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` index pairs (stop exclusive) of runs of True values."""
    m = np.asarray(missing, dtype=bool)
    if not m.any():
        return []
    edges = np.diff(np.concatenate(([0], m.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def fill_gaps(
    trial: Trial,
    max_gap_s: float,
    *,
    method: Literal["cubic", "linear"] = "cubic",
) -> tuple[Trial, list[Gap]]:
    """Interpolate interior gaps up to ``max_gap_s``; report every gap.

    A gap is a run of frames where a landmark is missing (NaN). Interior gaps no longer than
    ``max_gap_s`` are bridged by a cubic spline (or linear interpolation) through all valid
    samples of that landmark; longer gaps and gaps at the start or end of the trial stay NaN
    and are reported with ``filled=False``. Landmarks that are missing throughout are not
    reported (they are simply absent).

    Parameters
    ----------
    trial
        The trial.
    max_gap_s
        Longest gap to fill, in seconds.
    method
        ``"cubic"`` (default) or ``"linear"``.

    Returns
    -------
    (Trial, list of Gap)

    References
    ----------
    Winter DA. Biomechanics and Motor Control of Human Movement, 4th ed. Wiley; 2009, ch. 3
    (interpolation and smoothing of marker trajectories).
    """
    check_range("max_gap_s", max_gap_s, 0.0, None, unit="s")
    check_option("method", method, ("cubic", "linear"))
    rate = trial.sampling_rate_hz
    max_frames = int(np.floor(max_gap_s * rate + 1e-9))
    t = trial.time_s
    gaps: list[Gap] = []
    out: dict[str, FloatArray] = {}
    for name, arr in trial.landmarks.items():
        missing = ~np.isfinite(arr).all(axis=1)
        if missing.all() or not missing.any():
            out[name] = arr
            continue
        runs = nan_runs(missing)
        n = arr.shape[0]
        fill_runs = [
            (a, b) for a, b in runs if a > 0 and b < n and (b - a) <= max_frames
        ]
        new = arr
        if fill_runs:
            new = arr.copy()
            valid = np.flatnonzero(~missing)
            idx = np.concatenate([np.arange(a, b) for a, b in fill_runs])
            if method == "cubic" and valid.size >= 4:
                from scipy.interpolate import CubicSpline

                spline = CubicSpline(valid, arr[valid], axis=0)
                new[idx] = spline(idx)
            else:
                for k in range(3):
                    new[idx, k] = np.interp(idx, valid, arr[valid, k])
        for a, b in runs:
            filled = (a, b) in fill_runs
            gaps.append(Gap(name, float(t[a]), float(t[b - 1]), (b - a) / rate, filled))
        out[name] = new
    conf = trial.confidence
    return trial.replace(landmarks=out, confidence=conf), gaps


def _padlen(sos: np.ndarray) -> int:
    # scipy's default for sosfiltfilt
    n_sections = sos.shape[0]
    zeros = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return int(3 * (2 * n_sections + 1 - zeros))


@lru_cache(maxsize=32)
def _design(order: int, wn: float) -> FloatArray:
    from scipy.signal import butter  # imported on use: scipy.signal is slow to import

    return np.asarray(butter(max(order // 2, 1), wn, output="sos"))


def lowpass_array(
    x: FloatArray, cutoff_hz: float, sampling_rate_hz: float, order: int = 4
) -> FloatArray:
    """Zero-lag Butterworth low-pass of each column, run by run between NaNs.

    The filter of order ``order / 2`` is run forwards and backwards (``sosfiltfilt``), giving a
    zero-phase filter of order ``order``. Runs of valid samples too short for the filter's
    padding keep their unfiltered values.

    References
    ----------
    Winter DA. Biomechanics and Motor Control of Human Movement, 4th ed. Wiley; 2009, ch. 3.
    """
    nyquist = sampling_rate_hz / 2.0
    arr = np.asarray(x, dtype=float)
    if cutoff_hz >= nyquist:
        return arr
    sos = _design(order, cutoff_hz / nyquist)
    pad = _padlen(sos)
    squeeze = arr.ndim == 1
    a2 = arr[:, None] if squeeze else arr
    out = a2.copy()
    valid = np.isfinite(a2).all(axis=1)
    from scipy.signal import sosfiltfilt

    for start, stop in nan_runs(valid):
        if stop - start > pad:
            out[start:stop] = sosfiltfilt(sos, a2[start:stop], axis=0)
    return out[:, 0] if squeeze else out


def lowpass(trial: Trial, cutoff_hz: float, *, order: int = 4) -> Trial:
    """Zero-lag Butterworth low-pass of every landmark (see :func:`lowpass_array`).

    Parameters
    ----------
    trial
        The trial (gaps should be filled first; the filter runs between remaining NaNs).
    cutoff_hz
        Cut-off frequency. A cut-off at or above the Nyquist frequency leaves the data unchanged.
    order
        Overall (dual-pass) filter order, even; default 4.

    References
    ----------
    Winter DA. Biomechanics and Motor Control of Human Movement, 4th ed. Wiley; 2009, ch. 3.
    """
    check_range("cutoff_hz", cutoff_hz, 0.0, None, unit="Hz")
    if cutoff_hz <= 0:
        return trial
    rate = trial.sampling_rate_hz
    # landmarks with the same missing samples are filtered together (one call per group)
    groups: dict[bytes, list[str]] = {}
    for name, arr in trial.landmarks.items():
        key = np.packbits(np.isfinite(arr).all(axis=1)).tobytes()
        groups.setdefault(key, []).append(name)
    out: dict[str, FloatArray] = {}
    for names in groups.values():
        stacked = np.concatenate([trial.landmarks[n] for n in names], axis=1)
        filtered = lowpass_array(stacked, cutoff_hz, rate, order)
        for i, name in enumerate(names):
            out[name] = filtered[:, 3 * i : 3 * i + 3]
    return trial.replace(landmarks={n: out[n] for n in trial.landmarks})
