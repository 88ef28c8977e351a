"""Result models of the questionnaires layer (frozen, JSON-ready)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Change", "ResponderStatus", "Score", "ThresholdCheck", "Trajectory", "TrajectoryStatus"]

ResponderStatus = Literal[
    "responder",
    "non_responder",
    "context_dependent",
    "not_assessable: no published MCID",
    "not_assessable: only unverified MCIDs",
    "not_assessable: baseline at the best end of the scale",
]
TrajectoryStatus = Literal["improving", "plateau", "worsening", "insufficient_data"]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Score(_Result):
    """A scored questionnaire.

    Attributes
    ----------
    instrument
        Instrument id in the knowledge base (e.g. ``"nprs"``).
    name
        Instrument name.
    total
        The score on the instrument's range, or ``None`` for an instrument without a published
        total (HOOS reports subscales only).
    subscales
        Subscale scores by name; for HOOS on 0-100, for mHHS the raw pain and function points.
    unscored_subscales
        Subscales that could not be scored, with the reason (missing-item rule not met).
    range
        ``(low, high)`` of the total (for HOOS: of each subscale).
    higher_is_better
        Direction of the scale.
    n_answered, n_missing
        Items answered and required items left unanswered (empty optional PSFS slots are not
        counted as missing).
    method
        How the score was computed (the knowledge base's scoring rule).
    missing_items_rule
        The missing-item rule applied (published or glutemed's convention, as the KB says).
    notes
        Anything the reader should know about this particular score.
    versions
        Engine and knowledge-base version stamp.
    """

    instrument: str
    name: str
    total: float | None
    subscales: dict[str, float]
    unscored_subscales: dict[str, str]
    range: tuple[float, float]
    higher_is_better: bool
    n_answered: int
    n_missing: int
    method: str
    missing_items_rule: str
    notes: tuple[str, ...] = ()
    versions: dict[str, str]


class ThresholdCheck(_Result):
    """One published threshold (MCID, MDC, PASS) checked against a change.

    Attributes
    ----------
    kind
        ``mcid``/``responder`` (improvement needed), ``mdc`` (change beyond measurement error) or
        ``pass`` (acceptable state at follow-up).
    value
        The threshold; a fraction of the baseline's distance from the best end of the scale when
        ``relative`` is true.
    relative
        Whether ``value`` is relative (e.g. NPRS 30 %).
    context
        The population/setting the threshold was derived in.
    source_id, locator
        Where the number comes from.
    marks
        Quality marks from the dossier (``secondary``, ``unverified`` ...).
    used
        False for unverified thresholds, which are shown but never computed with.
    met
        Whether the change (or follow-up state for PASS) reaches it; ``None`` when it cannot be
        judged (unverified, or a relative threshold with a baseline at the best end).
    """

    kind: Literal["mcid", "mdc", "pass", "responder"]
    value: float
    relative: bool
    context: str
    source_id: str
    locator: str
    marks: tuple[str, ...] = ()
    used: bool
    met: bool | None


class Change(_Result):
    """Interpretation of the change between two scores of one instrument.

    Attributes
    ----------
    change
        ``follow_up - baseline`` on the instrument's scale (sign as measured).
    improvement
        Direction-aware change: positive means better (for NPRS a fall in pain).
    relative_improvement
        ``improvement`` as a fraction of the baseline's distance from the best end of the scale
        (for NPRS the percentage reduction from baseline); ``None`` at the best end.
    direction
        ``improved``, ``worsened`` or ``unchanged``.
    thresholds
        Every threshold that applies (after the ``context`` filter) with whether it is met.
    responder_status
        ``responder``, ``non_responder``, ``context_dependent`` (several published contexts
        disagree; choose one with ``context``) or ``not_assessable: ...``.
    explanation
        One sentence for the clinician.
    """

    instrument: str
    baseline: float
    follow_up: float
    change: float
    improvement: float
    relative_improvement: float | None
    higher_is_better: bool
    direction: Literal["improved", "worsened", "unchanged"]
    context: str | None
    thresholds: tuple[ThresholdCheck, ...]
    responder_status: ResponderStatus
    explanation: str
    versions: dict[str, str]


class Trajectory(_Result):
    """Classification of a series of scores over time.

    Attributes
    ----------
    status
        ``improving``, ``plateau``, ``worsening`` or ``insufficient_data``.
    reason
        One sentence saying which rule decided the status.
    n_points, span_days
        Number of measurements and days from the first to the last.
    baseline, latest, best
        First value, last value and best value before the last.
    change_from_baseline, improvement_from_baseline
        Raw and direction-aware change from the first to the last value.
    change_over_window
        Raw change from the last measurement at least ``window_days`` before the latest one to
        the latest one; ``None`` when the series is shorter than the window.
    mcid
        The absolute MCID used, or ``None`` when the instrument has none.
    threshold_source
        ``"none"`` or ``"<source id>: <context>"`` of the MCID used.
    slope_per_week
        Least-squares slope of value against time in weeks (descriptive only, raw direction).
    """

    instrument: str
    status: TrajectoryStatus
    reason: str
    n_points: int
    span_days: float
    baseline: float | None
    latest: float | None
    best: float | None
    change_from_baseline: float | None
    improvement_from_baseline: float | None
    change_over_window: float | None
    window_days: float
    mcid: float | None
    threshold_source: str
    slope_per_week: float | None
    higher_is_better: bool
    versions: dict[str, str]
