"""Helpers shared by scoring, change interpretation and trajectories.

Nothing here holds a clinical number: ranges, directions and thresholds are read from the
knowledge base (``kb.instruments``); the only constants are float tolerances.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TypeGuard

from glutemed._checks import closest, short_repr
from glutemed.errors import NotFoundError, Problem, ScoringError
from glutemed.knowledge import Instrument, KnowledgeBase, Threshold, load_kb

__all__ = [
    "at_least",
    "fmt",
    "get_instrument",
    "improvement",
    "is_number",
    "raise_if",
    "resolve_kb",
    "select_thresholds",
    "short_name",
]

_REL_TOL = 1e-9
_ABS_TOL = 1e-9


def resolve_kb(kb: KnowledgeBase | None) -> KnowledgeBase:
    """Return ``kb`` or the bundled knowledge base."""
    return kb if kb is not None else load_kb()


def get_instrument(kb: KnowledgeBase, instrument_id: str) -> Instrument:
    """Return the instrument or raise :class:`NotFoundError` with the closest ids."""
    if isinstance(instrument_id, str) and instrument_id in kb.instruments:
        return kb.instruments[instrument_id]
    near = closest(str(instrument_id), kb.instruments)
    raise NotFoundError(
        f"unknown instrument {instrument_id!r}",
        [
            Problem(
                "instrument_id",
                "one of " + ", ".join(sorted(kb.instruments)),
                short_repr(instrument_id),
                f"did you mean {', '.join(near)}?" if near else "",
            )
        ],
    )


def short_name(instrument: Instrument) -> str:
    """Return the short display name (first synonym, else the name)."""
    return instrument.synonyms[0] if instrument.synonyms else instrument.name


def is_number(value: object) -> TypeGuard[numbers.Real]:
    """Return True for a real number that is not a bool (numpy scalars included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def at_least(value: float, bound: float) -> bool:
    """Return ``value >= bound``, treating values within float round-off of ``bound`` as equal.

    ``2.3 - 0.3`` is ``1.9999999999999998`` in binary floating point; a change that is exactly at
    a threshold must count as reaching it.
    """
    return value >= bound or math.isclose(value, bound, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)


def improvement(instrument: Instrument, start: float, end: float) -> float:
    """Return the direction-aware change from ``start`` to ``end`` (positive = better)."""
    return end - start if instrument.higher_is_better else start - end


def fmt(value: float) -> str:
    """Format a number for a sentence (at most two decimals, no trailing zeros)."""
    out = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def short_context(context: str) -> str:
    """Return a threshold context up to its first closing parenthesis (its study named)."""
    end = context.find(")")
    return context[: end + 1] if end > 0 else context.split(". ")[0].rstrip(".")


def select_thresholds(
    instrument: Instrument, context: str | None
) -> tuple[list[Threshold], list[Problem]]:
    """Return the thresholds that apply in ``context``.

    ``context`` is matched case-insensitively as a substring of each threshold's context text,
    or exactly against its source id (e.g. ``"endoscopic"``, ``"Rice 2023"``, ``"tx_r79"``).
    ``None`` selects every threshold. A context that matches none of an instrument's thresholds
    is a problem (so a typo does not silently drop every threshold); for an instrument without
    thresholds the context is ignored.
    """
    thresholds = list(instrument.thresholds)
    if context is None or not thresholds:
        return thresholds, []
    if not isinstance(context, str) or not context.strip():
        return [], [Problem(f"{instrument.id}.context", "a non-empty string", short_repr(context))]
    key = context.strip().lower()
    chosen = [t for t in thresholds if key in t.context.lower() or key == t.source.id.lower()]
    if chosen:
        return chosen, []
    contexts = list(dict.fromkeys(short_context(t.context) for t in thresholds))
    return [], [
        Problem(
            f"{instrument.id}.context",
            "a word from one of the published contexts (" + "; ".join(contexts) + ")",
            short_repr(context),
            "leave context out to see every published threshold",
        )
    ]


def raise_if(problems: Sequence[Problem], instrument: Instrument, what: str) -> None:
    """Raise one :class:`ScoringError` listing every problem, if there are any."""
    if problems:
        raise ScoringError(
            f"{instrument.id}: {len(problems)} problem(s) with the {what}", list(problems)
        )
