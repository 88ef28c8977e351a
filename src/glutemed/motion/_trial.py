"""The canonical motion trial every reader returns and every measure consumes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "EventKind",
    "FloatArray",
    "FrameConvention",
    "GaitEvent",
    "Side",
    "Trial",
    "Units",
]

FloatArray = npt.NDArray[np.float64]
Side = Literal["left", "right"]
EventKind = Literal["foot_strike", "foot_off"]
Units = Literal["m", "px", "normalised"]
FrameConvention = Literal["lab", "image"]

#: What each frame convention means (shown in docs, JSON and error messages).
FRAME_DESCRIPTIONS: dict[str, str] = {
    "lab": (
        "laboratory frame, right-handed, z vertical up; x and y horizontal in the laboratory's "
        "own orientation (the walking direction is estimated from the data)"
    ),
    "image": (
        "frontal camera image: x = image column axis pointing to the image's right, z = image "
        "row axis pointing up (the negated pixel row), y = 0 (no depth)"
    ),
}


@dataclass(frozen=True)
class GaitEvent:
    """A foot strike or foot off.

    Parameters
    ----------
    side
        ``"left"`` or ``"right"``.
    kind
        ``"foot_strike"`` or ``"foot_off"``.
    time_s
        Time in seconds on the trial's clock (see :attr:`Trial.time_s`).
    source
        ``"file"`` (read from the file, e.g. the C3D ``EVENT`` group) or ``"detected"``.
    """

    side: Side
    kind: EventKind
    time_s: float
    source: Literal["file", "detected"] = "detected"

    def as_dict(self) -> dict[str, str | float]:
        """Return the event as JSON-ready dictionary."""
        return {
            "side": self.side,
            "kind": self.kind,
            "time_s": round(self.time_s, 4),
            "source": self.source,
        }


@dataclass(frozen=True)
class Trial:
    """One motion trial in glutemed's canonical form.

    Parameters
    ----------
    landmarks
        Canonical landmark name -> array of shape ``(n_frames, 3)``; missing samples are NaN.
    sampling_rate_hz
        Frames per second.
    source
        File (or folder) name the data came from; used in messages. Never a patient name.
    units
        ``"m"`` for 3D data (always converted to metres on reading), ``"px"`` or
        ``"normalised"`` (MediaPipe image-normalised coordinates) for 2D keypoints.
    frame
        ``"lab"`` or ``"image"``; see :data:`FRAME_DESCRIPTIONS`.
    confidence
        Optional per-landmark confidence in [0, 1], shape ``(n_frames,)``.
    events
        Gait events read from the file, if any.
    start_time_s
        Time of the first frame (``first_frame / rate`` for C3D).
    image_size_px
        ``(width, height)`` of the video, when known (needed for normalised coordinates).
    source_labels
        Canonical name -> the label used in the file (for error messages).
    unmapped_labels
        Labels in the file that are not canonical landmarks (model outputs, unknown markers).
    notes
        ``(code, message)`` pairs about how the file was read that a user should know (values
        treated as gaps, a header that disagrees with the parameters, an axis detected from the
        data ...); the analysis reports them as quality flags.
    """

    landmarks: dict[str, FloatArray]
    sampling_rate_hz: float
    source: str
    units: Units = "m"
    frame: FrameConvention = "lab"
    confidence: dict[str, FloatArray] = field(default_factory=dict)
    events: tuple[GaitEvent, ...] = ()
    start_time_s: float = 0.0
    image_size_px: tuple[int, int] | None = None
    source_labels: dict[str, str] = field(default_factory=dict)
    unmapped_labels: tuple[str, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        for arr in self.landmarks.values():
            return int(arr.shape[0])
        return 0

    @property
    def is_2d(self) -> bool:
        """True for image keypoints (no depth)."""
        return self.frame == "image"

    @property
    def time_s(self) -> FloatArray:
        """Time of every frame in seconds: ``start_time_s + index / sampling_rate_hz``."""
        return self.start_time_s + np.arange(self.n_frames, dtype=float) / self.sampling_rate_hz

    @property
    def duration_s(self) -> float:
        """Trial duration in seconds."""
        return self.n_frames / self.sampling_rate_hz

    @cached_property
    def _present(self) -> frozenset[str]:
        return frozenset(
            n for n, arr in self.landmarks.items() if bool(np.isfinite(arr[:, 0]).any())
        )

    def has(self, *names: str) -> bool:
        """Return True if every named landmark is present with at least one valid sample."""
        return all(n in self._present for n in names)

    def get(self, name: str) -> FloatArray:
        """Return a landmark array, or an all-NaN array if the landmark is absent."""
        if name in self.landmarks:
            return self.landmarks[name]
        return np.full((self.n_frames, 3), np.nan)

    def replace(self, **changes: object) -> Trial:
        """Return a copy with some fields replaced."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def frame_description(self) -> str:
        """Describe the coordinate frame in words."""
        return FRAME_DESCRIPTIONS[self.frame]
