"""Helpers that build uniform "expected X, got Y" errors.

One style for invalid values across the package (after MNE-Python's ``_validate_type`` and
``_check_option``): the message names the parameter, what was expected and what was received.
"""

from __future__ import annotations

import difflib
import math
import reprlib
from collections.abc import Iterable
from typing import Any

from glutemed.errors import InputValueError, Problem

__all__ = ["check_finite", "check_option", "check_range", "closest", "short_repr"]


_BOUNDED = reprlib.Repr()
_BOUNDED.maxlevel = 3
_BOUNDED.maxstring = 80
_BOUNDED.maxother = 80
_BOUNDED.maxlong = 40


def short_repr(value: Any, limit: int = 60) -> str:
    """Return ``repr(value)`` cut to ``limit`` characters.

    Containers and long numbers are shortened while they are written (:mod:`reprlib`), so the
    cost is bounded whatever the value: a mapping that expands to billions of items, or an
    integer of thousands of digits, takes no longer than a short one.
    """
    if isinstance(value, str) and len(value) <= limit:
        text = repr(value)
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4000:
        text = "an integer of over 1000 digits"
    elif isinstance(value, int | float | type(None)):
        text = repr(value)
    else:
        text = _BOUNDED.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def closest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` known names closest to ``name`` (for "did you mean" hints)."""
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)


def check_option(name: str, value: Any, allowed: Iterable[str]) -> str:
    """Check that ``value`` is one of ``allowed`` and return it.

    Raises
    ------
    InputValueError
        Naming the parameter, the allowed values and the closest matches.
    """
    allowed_list = list(allowed)
    if isinstance(value, str) and value in allowed_list:
        return value
    near = closest(str(value), allowed_list) if isinstance(value, str) else []
    hint = f"did you mean {', '.join(near)}?" if near else ""
    problem = Problem(name, "one of " + ", ".join(sorted(allowed_list)), short_repr(value), hint)
    raise InputValueError(f"invalid value for {name}", [problem])


def check_finite(name: str, value: Any) -> float:
    """Check that ``value`` is a finite real number and return it as float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputValueError(
            f"invalid value for {name}", [Problem(name, "a number", short_repr(value))]
        )
    out = float(value)
    if not math.isfinite(out):
        raise InputValueError(
            f"invalid value for {name}", [Problem(name, "a finite number", short_repr(value))]
        )
    return out


def check_range(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    unit: str = "",
) -> float:
    """Check that ``value`` is a finite number within ``[low, high]`` and return it."""
    out = check_finite(name, value)
    if (low is not None and out < low) or (high is not None and out > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        suffix = f" {unit}" if unit else ""
        raise InputValueError(
            f"invalid value for {name}",
            [Problem(name, f"a number in [{lo}, {hi}]{suffix}", short_repr(value))],
        )
    return out
