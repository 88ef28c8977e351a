"""Unit conventions.

glutemed puts units in names (``sampling_rate_hz``, ``pelvic_drop_deg``, ``duration_s``,
``pain_nrs_0_10``). Internally:

* angles are degrees in every public result, radians only inside numerical code;
* lengths are metres (marker data in millimetres are converted on reading);
* time is seconds; frequencies are hertz;
* probabilities are proportions in [0, 1] (never percentages) in data and code, and are
  formatted as percentages only for display.
"""

from __future__ import annotations

__all__ = ["MM_PER_M", "format_probability"]

MM_PER_M = 1000.0


def format_probability(p: float, digits: int = 0) -> str:
    """Format a proportion as a percentage string, e.g. ``0.593 -> '59 %'``."""
    return f"{100.0 * p:.{digits}f} %"
