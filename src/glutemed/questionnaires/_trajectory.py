"""Classify a series of scores over time as improving, plateau, worsening or insufficient data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from glutemed._checks import short_repr
from glutemed.errors import Problem
from glutemed.knowledge import Instrument, KnowledgeBase, Threshold
from glutemed.questionnaires._common import (
    at_least,
    fmt,
    get_instrument,
    improvement,
    is_number,
    raise_if,
    resolve_kb,
    select_thresholds,
    short_name,
)
from glutemed.questionnaires._models import Trajectory, TrajectoryStatus

__all__ = ["DEFAULT_PLATEAU_WINDOW_DAYS", "TimePoint", "classify_trajectory"]

#: glutemed's convention (not a published number): a plateau is judged over at least 4 weeks.
DEFAULT_PLATEAU_WINDOW_DAYS = 28.0
_DAYS_PER_WEEK = 7.0
_ONE_DAY = timedelta(days=1)

#: A measurement time: a date, a datetime or a number of days from any fixed origin.
TimePoint = date | datetime | float | int


def _days(when: object) -> tuple[float | None, str]:
    """Return (days, kind) for a time point, or (None, "") if it is not one."""
    if isinstance(when, datetime):
        midnight = when.replace(hour=0, minute=0, second=0, microsecond=0)
        return when.toordinal() + (when - midnight) / _ONE_DAY, "date"
    if isinstance(when, date):
        return float(when.toordinal()), "date"
    if is_number(when) and math.isfinite(float(when)):
        return float(when), "days"
    return None, ""


def _parse(
    instrument: Instrument, points: object
) -> tuple[list[tuple[float, float]], list[Problem]]:
    where = f"{instrument.id}.points"
    if not isinstance(points, Sequence) or isinstance(points, str | bytes):
        return [], [Problem(where, "a sequence of (date or days, value) pairs", short_repr(points))]
    lo, hi = instrument.range
    problems: list[Problem] = []
    parsed: list[tuple[float, float]] = []
    kinds: set[str] = set()
    seen: dict[float, int] = {}
    for i, point in enumerate(points):
        here = f"{where}[{i}]"
        try:
            when, value = point
        except (TypeError, ValueError):
            problems.append(Problem(here, "a (date or days, value) pair", short_repr(point)))
            continue
        days, kind = _days(when)
        ok = True
        if days is None:
            problems.append(
                Problem(
                    f"{here}.time",
                    "a date, a datetime or a finite number of days",
                    short_repr(when),
                )
            )
            ok = False
        else:
            kinds.add(kind)
            if days in seen:
                problems.append(
                    Problem(
                        f"{here}.time",
                        "one measurement per time point",
                        f"{short_repr(when)} again (also at points[{seen[days]}])",
                    )
                )
                ok = False
            seen.setdefault(days, i)
        if not is_number(value) or not math.isfinite(float(value)):
            problems.append(Problem(f"{here}.value", "a finite number", short_repr(value)))
            ok = False
        elif not (lo <= float(value) <= hi):
            problems.append(
                Problem(f"{here}.value", f"a number in [{lo:g}, {hi:g}]", short_repr(value))
            )
            ok = False
        if ok and days is not None:
            parsed.append((days, float(value)))
    if len(kinds) > 1:
        problems.append(
            Problem(where, "all times as dates or all as numbers of days", "a mix of both")
        )
    return sorted(parsed), problems


def _mcid(thresholds: list[Threshold]) -> tuple[float | None, str, str]:
    """Return (absolute MCID, threshold_source, note); the largest when several apply."""
    usable = [
        t
        for t in thresholds
        if t.kind in ("mcid", "responder") and not t.relative and "unverified" not in t.marks
    ]
    if not usable:
        return None, "none", ""
    chosen = max(usable, key=lambda t: t.value)
    note = ""
    if len({t.value for t in usable}) > 1:
        note = (
            f" (the largest of {len(usable)} published MCIDs; pass context= to choose the one "
            "that matches the patient)"
        )
    return chosen.value, f"{chosen.source.id}: {chosen.context}", note


@dataclass(frozen=True)
class _Numbers:
    baseline: float | None = None
    latest: float | None = None
    best: float | None = None
    change_from_baseline: float | None = None
    improvement_from_baseline: float | None = None
    change_over_window: float | None = None
    slope_per_week: float | None = None


def _slope_per_week(series: list[tuple[float, float]]) -> float:
    weeks = [d / _DAYS_PER_WEEK for d, _ in series]
    values = [v for _, v in series]
    mean_w = sum(weeks) / len(weeks)
    mean_v = sum(values) / len(values)
    sxx = sum((w - mean_w) * (w - mean_w) for w in weeks)
    sxy = sum((w - mean_w) * (v - mean_v) for w, v in zip(weeks, values, strict=True))
    return sxy / sxx


def classify_trajectory(
    instrument_id: str,
    points: Sequence[tuple[TimePoint, float]],
    *,
    context: str | None = None,
    plateau_window_days: float = DEFAULT_PLATEAU_WINDOW_DAYS,
    kb: KnowledgeBase | None = None,
) -> Trajectory:
    """Classify a series of scores as improving, plateau, worsening or insufficient data.

    Parameters
    ----------
    instrument_id
        An instrument id of the knowledge base, e.g. ``"nprs"``.
    points
        ``(time, value)`` pairs in any order; time is a :class:`~datetime.date`, a
        :class:`~datetime.datetime` or a number of days (all of one kind). Values must lie in
        the instrument's range; one value per time point.
    context
        Chooses the MCID when the instrument has several (as in :func:`interpret_change`).
    plateau_window_days
        Window over which a plateau is judged (glutemed's convention: 28 days = 4 weeks).
    kb
        Knowledge base; default: the bundled one.

    Returns
    -------
    Trajectory
        Status, the rule that decided it, the numbers it used and a descriptive least-squares
        slope per week.

    Raises
    ------
    NotFoundError
        Unknown instrument id.
    ScoringError
        Listing every malformed point, out-of-range value, repeated time or mixed time kinds, or
        a context that matches none of the instrument's thresholds.

    Notes
    -----
    Let ``m`` be the instrument's absolute MCID from the knowledge base (the largest one that
    applies in ``context`` when several do; relative MCIDs such as NPRS 30 % and unverified
    ones are not used here), ``imp(a, b)`` the direction-aware improvement from ``a`` to ``b``,
    *baseline* the first value, *latest* the last, *best* the best value before the last, and
    *reference* the last value measured at least ``plateau_window_days`` before the latest.
    Comparisons with ``m`` count values within float round-off as equal. The rules, in order:

    1. Fewer than two points: ``insufficient_data``.
    2. No absolute MCID (VISA-G, PSFS, HOOS, LEAS, OHS): ``insufficient_data`` with
       ``threshold_source = "none"``; change and slope are still reported, as description only.
    3. ``imp(baseline, latest) <= -m`` or ``imp(best, latest) <= -m``: ``worsening``.
    4. ``imp(baseline, latest) >= m``: ``improving`` if there is no reference (the series is
       shorter than the window) or ``imp(reference, latest) >= m``; otherwise ``plateau``
       (improved, then changed by less than ``m`` over the last window).
    5. Otherwise (no change of at least ``m`` since baseline): ``plateau`` if the series spans
       at least the window, else ``insufficient_data``.

    ``slope_per_week`` is the ordinary least-squares slope of value on time in weeks, in the
    scale's own direction; it never decides the status.

    Examples
    --------
    >>> classify_trajectory("nprs", [(0, 7), (28, 5), (56, 3)]).status
    'improving'
    >>> classify_trajectory("visa_g", [(0, 55), (84, 65)]).threshold_source
    'none'
    """
    knowledge = resolve_kb(kb)
    instrument = get_instrument(knowledge, instrument_id)
    series, problems = _parse(instrument, points)
    thresholds, context_problems = select_thresholds(instrument, context)
    if not (is_number(plateau_window_days) and float(plateau_window_days) > 0):
        problems.append(
            Problem(
                f"{instrument.id}.plateau_window_days",
                "a positive number of days",
                short_repr(plateau_window_days),
            )
        )
    raise_if([*problems, *context_problems], instrument, "trajectory")
    window = float(plateau_window_days)
    m, source, mcid_note = _mcid(thresholds)
    name = short_name(instrument)

    def result(status: TrajectoryStatus, reason: str, numbers: _Numbers) -> Trajectory:
        return Trajectory(
            instrument=instrument.id,
            status=status,
            reason=reason,
            n_points=len(series),
            span_days=series[-1][0] - series[0][0] if series else 0.0,
            baseline=numbers.baseline,
            latest=numbers.latest,
            best=numbers.best,
            change_from_baseline=numbers.change_from_baseline,
            improvement_from_baseline=numbers.improvement_from_baseline,
            change_over_window=numbers.change_over_window,
            window_days=window,
            mcid=m,
            threshold_source=source,
            slope_per_week=numbers.slope_per_week,
            higher_is_better=instrument.higher_is_better,
            versions=knowledge.versions(),
        )

    if len(series) <= 1:
        only = series[0][1] if series else None
        return result(
            "insufficient_data",
            f"fewer than two {name} measurements",
            _Numbers(baseline=only, latest=only),
        )

    t_last, latest = series[-1]
    baseline = series[0][1]
    earlier = [v for _, v in series[:-1]]
    best = max(earlier) if instrument.higher_is_better else min(earlier)
    ref = [v for t, v in series[:-1] if at_least(t_last - t, window)]
    reference = ref[-1] if ref else None
    total = improvement(instrument, baseline, latest)
    from_best = improvement(instrument, best, latest)
    recent = None if reference is None else improvement(instrument, reference, latest)
    span = t_last - series[0][0]
    numbers = _Numbers(
        baseline=baseline,
        latest=latest,
        best=best,
        change_from_baseline=latest - baseline,
        improvement_from_baseline=total,
        change_over_window=None if reference is None else latest - reference,
        slope_per_week=_slope_per_week(series),
    )
    w = fmt(window)

    if m is None:
        return result(
            "insufficient_data",
            f"{name} has no published MCID, so glutemed does not classify its trajectory; the "
            "change and slope are descriptive only (threshold_source: none)",
            numbers,
        )
    mcid = f"the MCID of {fmt(m)}{mcid_note}"
    if at_least(-total, m):
        return result(
            "worsening", f"worse by {fmt(-total)} since baseline, at least {mcid}", numbers
        )
    if at_least(-from_best, m):
        return result(
            "worsening",
            f"worse by {fmt(-from_best)} than the best earlier value ({fmt(best)}), "
            f"at least {mcid}",
            numbers,
        )
    if at_least(total, m):
        if recent is None:
            return result(
                "improving",
                f"better by {fmt(total)} since baseline, at least {mcid}; the series is shorter "
                f"than the {w}-day plateau window",
                numbers,
            )
        if at_least(recent, m):
            return result(
                "improving",
                f"better by {fmt(total)} since baseline and by {fmt(recent)} over the last "
                f"{w}+ days, each at least {mcid}",
                numbers,
            )
        return result(
            "plateau",
            f"better by {fmt(total)} since baseline, but the change over the last {w}+ days "
            f"({fmt(recent)}) is below {mcid}",
            numbers,
        )
    if at_least(span, window):
        return result(
            "plateau",
            f"the change since baseline ({fmt(total)}) is below {mcid} over {fmt(span)} days",
            numbers,
        )
    return result(
        "insufficient_data",
        f"the change since baseline ({fmt(total)}) is below {mcid}, and the series spans only "
        f"{fmt(span)} of the {w} days needed to call a plateau",
        numbers,
    )
