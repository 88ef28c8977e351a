"""Score a case's outcome records and judge response against the published MCIDs.

The numbers (ranges, MCIDs) come from ``instruments.yaml`` through :mod:`glutemed.questionnaires`;
this module only groups a case's records by instrument, orders them in time and decides whether
the series is long enough to be judged (the pathway parameter ``exercise_review_min_weeks``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from glutemed.errors import CaseValidationError, GlutemedError, Problem
from glutemed.knowledge import KnowledgeBase
from glutemed.questionnaires import (
    Change,
    Trajectory,
    classify_trajectory,
    interpret_change,
    score,
)
from glutemed.reasoning import Case

__all__ = ["InstrumentOutcome", "OutcomeSummary", "summarise_outcomes"]

Verdict = Literal[
    "responder", "non_responder", "context_dependent", "not_assessable", "too_early", "not_judged"
]

#: The GROC rates change itself; its baseline is 0 (no change), see instruments.yaml.
_CHANGE_RATINGS = frozenset({"groc"})


@dataclass(frozen=True)
class InstrumentOutcome:
    """The series of one instrument and what it says about response.

    Attributes
    ----------
    instrument, name
        Instrument id and name.
    points
        ``(date, total)`` in time order (one per date; a later record on the same date wins).
    change
        :func:`~glutemed.questionnaires.interpret_change` from the first to the last total
        (for the GROC: from 0 to the latest rating), or ``None`` when there is nothing to compare.
    trajectory
        :func:`~glutemed.questionnaires.classify_trajectory` of the series (two or more points).
    span_weeks
        Weeks covered: first to last record (GROC: start of the rated treatment to the rating).
    verdict
        ``responder``, ``non_responder``, ``context_dependent``, ``not_assessable`` (no usable
        MCID), ``too_early`` (span below the review weeks) or ``not_judged`` (one record only).
    note
        Why, in one sentence.
    """

    instrument: str
    name: str
    points: list[tuple[dt.date, float]]
    change: Change | None
    trajectory: Trajectory | None
    span_weeks: float | None
    verdict: Verdict
    note: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {
            "instrument": self.instrument,
            "name": self.name,
            "points": [{"date": d.isoformat(), "total": v} for d, v in self.points],
            "span_weeks": None if self.span_weeks is None else round(self.span_weeks, 1),
            "verdict": self.verdict,
            "note": self.note,
            "change": None
            if self.change is None
            else self.change.model_dump(mode="json", exclude={"versions"}),
            "trajectory": None
            if self.trajectory is None
            else self.trajectory.model_dump(mode="json", exclude={"versions"}),
        }


@dataclass(frozen=True)
class OutcomeSummary:
    """All instruments of a case and the overall verdict used by the pathway facts."""

    instruments: list[InstrumentOutcome] = field(default_factory=list)
    min_weeks: float = 0.0

    @property
    def responders(self) -> list[str]:
        """Instruments whose change meets the MCID over enough weeks."""
        return [o.instrument for o in self.instruments if o.verdict == "responder"]

    @property
    def non_responders(self) -> list[str]:
        """Instruments whose change is below the MCID over enough weeks."""
        return [o.instrument for o in self.instruments if o.verdict == "non_responder"]

    @property
    def worsening(self) -> list[str]:
        """Instruments whose trajectory is 'worsening'."""
        return [
            o.instrument
            for o in self.instruments
            if o.trajectory is not None and o.trajectory.status == "worsening"
        ]

    @property
    def has_verdict(self) -> bool:
        """True when at least one instrument gives a responder / non-responder verdict."""
        return bool(self.responders or self.non_responders)


def _reference_start(case: Case, when: dt.date) -> dt.date | None:
    """Start of the most recent treatment started on or before ``when`` (for GROC ratings)."""
    starts = [t.start_date for t in case.treatments_tried if t.start_date and t.start_date <= when]
    return max(starts) if starts else None


def _total(kb: KnowledgeBase, record: Any) -> float | None:
    if record.answers is not None:
        result = score(record.instrument, record.answers, kb=kb)
        return result.total
    if record.total is None:  # validate_case reports this; keep the engine total-safe
        return None
    return float(record.total)


def summarise_outcomes(kb: KnowledgeBase, case: Case, *, min_weeks: float) -> OutcomeSummary:
    """Score every outcome record of ``case`` and judge each instrument's change.

    Parameters
    ----------
    kb
        Knowledge base.
    case
        The case; its ``outcomes`` are read (``total`` or item ``answers``).
    min_weeks
        Weeks a series must span before its change is judged (responder / non-responder).

    Returns
    -------
    OutcomeSummary

    Raises
    ------
    CaseValidationError
        When a record cannot be scored (every problem listed, with the record's index).
    """
    by_instrument: dict[str, dict[dt.date, float]] = {}
    problems: list[Problem] = []
    for i, record in enumerate(case.outcomes):
        try:
            total = _total(kb, record)
        except GlutemedError as exc:
            problems.extend(
                Problem(f"case outcomes[{i}] {p.location}", p.expected, p.found, p.hint)
                for p in (
                    exc.problems
                    or [Problem(f"case outcomes[{i}]", "a scorable record", exc.message)]
                )
            )
            continue
        if total is None:
            continue
        by_instrument.setdefault(record.instrument, {})[record.date] = total
    if problems:
        raise CaseValidationError("case outcomes cannot be scored", problems)

    out: list[InstrumentOutcome] = []
    for iid in sorted(by_instrument):
        series = sorted(by_instrument[iid].items())
        name = kb.instruments[iid].name
        out.append(_judge(kb, case, iid, name, series, min_weeks))
    return OutcomeSummary(instruments=out, min_weeks=min_weeks)


def _judge(
    kb: KnowledgeBase,
    case: Case,
    iid: str,
    name: str,
    series: list[tuple[dt.date, float]],
    min_weeks: float,
) -> InstrumentOutcome:
    trajectory = (
        classify_trajectory(iid, [(d, v) for d, v in series], kb=kb) if len(series) >= 2 else None
    )
    change: Change | None = None
    span: float | None = None
    if iid in _CHANGE_RATINGS:
        last_date, last = series[-1]
        change = interpret_change(iid, 0.0, last, kb=kb)
        start = _reference_start(case, last_date)
        if start is None and len(series) >= 2:
            start = series[0][0]
        span = None if start is None else (last_date - start).days / 7.0
    elif len(series) >= 2:
        change = interpret_change(iid, series[0][1], series[-1][1], kb=kb)
        span = (series[-1][0] - series[0][0]).days / 7.0
    if change is None:
        return InstrumentOutcome(
            iid,
            name,
            series,
            None,
            trajectory,
            span,
            "not_judged",
            "Only one record: nothing to compare yet.",
        )
    status = change.responder_status
    if status.startswith("not_assessable"):
        return InstrumentOutcome(
            iid, name, series, change, trajectory, span, "not_assessable", change.explanation
        )
    if span is None:
        return InstrumentOutcome(
            iid,
            name,
            series,
            change,
            trajectory,
            span,
            "not_judged",
            "The start of the rated treatment is not recorded, so the weeks covered are unknown.",
        )
    if span < min_weeks:
        return InstrumentOutcome(
            iid,
            name,
            series,
            change,
            trajectory,
            span,
            "too_early",
            f"{change.explanation[:-1]}; but the series covers {span:.1f} weeks, fewer than the "
            f"{min_weeks:g} weeks before response is judged.",
        )
    verdict: Verdict = (
        "responder"
        if status == "responder"
        else "non_responder"
        if status == "non_responder"
        else "context_dependent"
    )
    return InstrumentOutcome(
        iid, name, series, change, trajectory, span, verdict, change.explanation
    )
