"""Score questionnaires from item answers, using the knowledge base's instrument definitions.

Every range, item list and direction comes from ``kb.instruments``. The code holds the scoring
*algorithm* (a linear map of summed item points onto the instrument's range) and, per
instrument, the few structural facts the schema has no field for: whether items are grouped
into subscales (by item-id prefix), whether items are reverse-coded, the HOOS "at least 50 % of
items per subscale" rule and which PSFS slots are optional. A test checks these against the
knowledge base's scoring text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from glutemed._checks import closest, short_repr
from glutemed.errors import Problem, ScoringError
from glutemed.knowledge import Instrument, InstrumentItem, KnowledgeBase
from glutemed.questionnaires._common import (
    at_least,
    fmt,
    get_instrument,
    is_number,
    raise_if,
    resolve_kb,
    short_name,
)
from glutemed.questionnaires._models import Score

__all__ = ["SINGLE_ITEM_ID", "Answers", "score"]

#: Item id of a single-value scale (NPRS, GROC, VAS, a VISA-G total, ...).
SINGLE_ITEM_ID = "score"

#: What :func:`score` accepts: item id -> number (``None`` = unanswered), or a bare number for
#: a single-value scale.
Answers = Mapping[str, object] | float | int


@dataclass(frozen=True)
class _Spec:
    """Structure of an instrument that the KB schema cannot express (see module docstring)."""

    subscales: Literal["none", "scored", "raw_points"] = "none"
    total: bool = True
    reverse_items: bool = False
    min_answered_fraction: float | None = None
    optional_items: frozenset[str] = field(default_factory=frozenset)


_DEFAULT = _Spec()
#: The hint for an answer that is not a number.
_UNANSWERED = "leave it empty (null) for an unanswered item"
_SPECS: dict[str, _Spec] = {
    # mHHS: pain + function points; subscales reported as raw points (KB: mhhs.scoring)
    "mhhs": _Spec(subscales="raw_points"),
    # HOOS: five subscales, items 0 = no problems ... 4 = extreme, >= 50 % per subscale
    # (KB: hoos.scoring, hoos.missing_items_rule; Nilsdotter 2003 tx_r111, scoring pages tx_r112)
    "hoos": _Spec(subscales="scored", total=False, reverse_items=True, min_answered_fraction=0.5),
    # PSFS: 3-5 patient-nominated activities; slots 4 and 5 optional (KB: psfs.missing_items_rule)
    "psfs": _Spec(optional_items=frozenset({"activity_4", "activity_5"})),
}


def _spec(instrument_id: str) -> _Spec:
    return _SPECS.get(instrument_id, _DEFAULT)


def _subscale_of(item_id: str) -> str:
    return item_id.split("_", 1)[0]


def _groups(instrument: Instrument) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for item in instrument.items:
        groups.setdefault(_subscale_of(item.id), []).append(item.id)
    return groups


def _item_hint(instrument: Instrument, key: str) -> str:
    ids = [i.id for i in instrument.items]
    near = closest(key, ids)
    if near:
        return f"did you mean {', '.join(near)}?"
    listed = ", ".join(ids) if len(ids) <= 12 else f"{ids[0]} … {ids[-1]} ({len(ids)} items)"
    return f"known items: {listed}"


def _check_value(instrument: Instrument, item: InstrumentItem, value: object) -> Problem | None:
    where = f"{instrument.id}.{item.id}"
    if not is_number(value):
        return Problem(where, "a number", short_repr(value), _UNANSWERED)
    number = float(value)
    if not math.isfinite(number):
        return Problem(where, "a finite number", short_repr(value), _UNANSWERED)
    if not (item.min <= number <= item.max):
        return Problem(where, f"a number in [{item.min:g}, {item.max:g}]", short_repr(value))
    if item.step > 0:
        steps = (number - item.min) / item.step
        if not math.isclose(steps, round(steps), abs_tol=1e-9):
            return Problem(
                where, f"a value in steps of {item.step:g} from {item.min:g}", short_repr(value)
            )
    return None


def _validate(
    instrument: Instrument, answers: object
) -> tuple[dict[str, float], set[str], list[Problem]]:
    """Return (valid answers, ids with invalid answers, problems)."""
    items = {i.id: i for i in instrument.items}
    single = len(instrument.items) == 1 and instrument.items[0].id == SINGLE_ITEM_ID
    if not isinstance(answers, Mapping):
        if single:
            answers = {SINGLE_ITEM_ID: answers}
        else:
            ids = [i.id for i in instrument.items]
            shown = ", ".join(ids) if len(ids) <= 12 else f"{ids[0]} … {ids[-1]}"
            return (
                {},
                set(items),  # every item unusable: no separate "missing" problems
                [
                    Problem(
                        instrument.id,
                        f"a mapping of item id to number ({len(ids)} items: {shown})",
                        f"{type(answers).__name__} {short_repr(answers)}",
                    )
                ],
            )
    values: dict[str, float] = {}
    invalid: set[str] = set()
    problems: list[Problem] = []
    for key, value in answers.items():
        if not isinstance(key, str) or key not in items:
            problems.append(
                Problem(
                    f"{instrument.id}.{key}",
                    f"an item id of {short_name(instrument)}",
                    short_repr(key),
                    _item_hint(instrument, str(key)),
                )
            )
            continue
        if value is None:
            continue
        problem = _check_value(instrument, items[key], value)
        if problem is None and is_number(value):
            values[key] = float(value)
        else:
            invalid.add(key)
            problems.extend([problem] if problem else [])
    return values, invalid, problems


def _linear(
    instrument: Instrument, ids: list[str], values: Mapping[str, float], reverse: bool
) -> float:
    """Map the summed points of ``ids`` linearly from their possible range onto the scale.

    With items of equal range this is the mean item score mapped onto the range (iHOT-12,
    PSFS, HOOS); with unequal items it is the sum rescaled (mHHS raw 0-91 -> 0-100, NAHS
    raw 0-80 -> 0-100, i.e. x 1.25).
    """
    items = {i.id: i for i in instrument.items}
    lo, hi = instrument.range
    total = sum(values[i] for i in ids)
    low = sum(items[i].min for i in ids)
    high = sum(items[i].max for i in ids)
    # multiply before dividing so that the ends of the scale come out exact (91 * 100 / 91)
    shift = (total - low) * (hi - lo) / (high - low)
    return min(hi, max(lo, hi - shift if reverse else lo + shift))


def score(instrument_id: str, answers: Answers, *, kb: KnowledgeBase | None = None) -> Score:
    """Score a questionnaire from its item answers.

    Parameters
    ----------
    instrument_id
        An instrument id of the knowledge base, e.g. ``"nprs"``, ``"hoos"``, ``"mhhs"``.
    answers
        Mapping of item id to number; ``None`` marks an unanswered item. For a single-value
        scale (item id ``"score"``: NPRS, GROC, VAS, LEAS, a VISA-G or HOS total) a bare number
        is accepted too.
    kb
        Knowledge base to read the instrument from; default: the bundled one.

    Returns
    -------
    Score
        Total (or subscales), range, direction, counts, method and version stamp.

    Raises
    ------
    NotFoundError
        If the instrument id is unknown (with the closest ids).
    ScoringError
        Listing every problem at once: unknown item ids (with close matches), non-numbers,
        values out of range or off the item's step, and items missing under the instrument's
        missing-item rule. Also raised for an instrument glutemed does not score (e.g. the Oxford
        Hip Score, which needs a licence).

    Notes
    -----
    The score is the sum of the answered item points mapped linearly from their possible range
    onto the instrument's range (reversed for reverse-coded items). This reproduces each
    instrument's published rule: mean of items (iHOT-12, PSFS), x 1.25 (NAHS), 100 - 25 x item
    mean per subscale (HOOS), raw 0-91 rescaled to 0-100 (mHHS, see the KB for why not x 1.1).

    References
    ----------
    Nilsdotter AK et al. HOOS -- validity and responsiveness in total hip replacement. BMC
    Musculoskelet Disord 2003;4:10 (tx_r111); scoring pages tx_r112. Griffin DR et al. iHOT-12.
    Arthroscopy 2012;28:611-616 (tx_r106). NAHS description tx_r117. mHHS item table tx_r104.

    Examples
    --------
    >>> score("nprs", 6).total
    6.0
    >>> score("psfs", {"activity_1": 4, "activity_2": 5, "activity_3": 6}).total
    5.0
    """
    knowledge = resolve_kb(kb)
    instrument = get_instrument(knowledge, instrument_id)
    if not instrument.items:
        raise ScoringError(
            f"{instrument.id}: glutemed does not score {short_name(instrument)} answers",
            [
                Problem(
                    instrument.id,
                    "an instrument glutemed can score from item answers",
                    "an instrument without item scoring in glutemed",
                    f"licence: {instrument.licence} Score it with licensed software and pass the "
                    "total to interpret_change or classify_trajectory",
                )
            ],
        )
    spec = _spec(instrument.id)
    values, invalid, problems = _validate(instrument, answers)
    groups = _groups(instrument)
    unscored: dict[str, str] = {}
    scorable: list[str] = []

    if spec.min_answered_fraction is not None:
        fraction = spec.min_answered_fraction
        for name, ids in groups.items():
            n_answered = sum(i in values for i in ids)
            if at_least(n_answered / len(ids), fraction):
                scorable.append(name)
            else:
                unscored[name] = (
                    f"{n_answered} of {len(ids)} items answered; the rule needs at least "
                    f"{fraction:.0%}"
                )
        if not scorable and not invalid:
            problems.extend(
                Problem(
                    f"{instrument.id}.{name}",
                    f"at least {fraction:.0%} of the {len(groups[name])} {name} items answered",
                    f"{sum(i in values for i in groups[name])} answered",
                )
                for name in groups
            )
    else:
        problems.extend(
            Problem(
                f"{instrument.id}.{item.id}",
                "an answer (required item)",
                "no answer",
                "" if k else instrument.missing_items_rule,
            )
            for k, item in enumerate(
                i
                for i in instrument.items
                if i.id not in values and i.id not in invalid and i.id not in spec.optional_items
            )
        )
        scorable = list(groups)
    raise_if(problems, instrument, "answers")

    notes: list[str] = [f"subscale {n} not scored: {why}" for n, why in unscored.items()]
    total = _linear(instrument, list(values), values, spec.reverse_items) if spec.total else None
    subscales: dict[str, float] = {}
    if spec.subscales == "scored":
        for name in scorable:
            ids = [i for i in groups[name] if i in values]
            subscales[name] = _linear(instrument, ids, values, spec.reverse_items)
    elif spec.subscales == "raw_points":
        items = {i.id: i for i in instrument.items}
        for name in scorable:
            subscales[name] = sum(values[i] for i in groups[name])
        notes.append(
            "subscales are raw points: "
            + ", ".join(
                f"{n} {fmt(sum(items[i].min for i in ids))}–{fmt(sum(items[i].max for i in ids))}"
                for n, ids in groups.items()
            )
        )
    n_missing = sum(
        1 for i in instrument.items if i.id not in values and i.id not in spec.optional_items
    )
    return Score(
        instrument=instrument.id,
        name=instrument.name,
        total=total,
        subscales=subscales,
        unscored_subscales=unscored,
        range=instrument.range,
        higher_is_better=instrument.higher_is_better,
        n_answered=len(values),
        n_missing=n_missing,
        method=instrument.scoring,
        missing_items_rule=instrument.missing_items_rule,
        notes=tuple(notes),
        versions=knowledge.versions(),
    )
