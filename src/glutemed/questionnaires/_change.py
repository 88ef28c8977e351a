"""Interpret the change between two scores against published MCID, MDC and PASS thresholds."""

from __future__ import annotations

from glutemed._checks import short_repr
from glutemed.errors import Problem
from glutemed.knowledge import Instrument, KnowledgeBase, Threshold, short_citation
from glutemed.questionnaires._common import (
    at_least,
    fmt,
    get_instrument,
    improvement,
    is_number,
    raise_if,
    resolve_kb,
    select_thresholds,
    short_context,
    short_name,
)
from glutemed.questionnaires._models import Change, ResponderStatus, Score, ThresholdCheck

__all__ = ["interpret_change"]

_IMPROVEMENT_KINDS = ("mcid", "responder")


def _value_of(instrument: Instrument, label: str, value: object) -> tuple[float, Problem | None]:
    where = f"{instrument.id}.{label}"
    if isinstance(value, Score):
        if value.instrument != instrument.id:
            return 0.0, Problem(where, f"a {instrument.id} score", f"a score of {value.instrument}")
        if value.total is None:
            return 0.0, Problem(
                where,
                "a score with a total",
                f"a {value.instrument} score without a total",
                "pass one subscale score as a number",
            )
        value = value.total
    lo, hi = instrument.range
    if not is_number(value):
        return 0.0, Problem(where, "a number or a Score", short_repr(value))
    number = float(value)
    if not (lo <= number <= hi):
        return 0.0, Problem(where, f"a number in [{lo:g}, {hi:g}]", short_repr(value))
    return number, None


def _check(
    instrument: Instrument,
    threshold: Threshold,
    change: float,
    gain: float,
    relative_gain: float | None,
    follow_up: float,
) -> ThresholdCheck:
    used = "unverified" not in threshold.marks
    met: bool | None = None
    if used:
        if threshold.kind in _IMPROVEMENT_KINDS:
            if threshold.relative:
                met = None if relative_gain is None else at_least(relative_gain, threshold.value)
            else:
                met = at_least(gain, threshold.value)
        elif threshold.kind == "mdc":
            if threshold.relative:
                met = (
                    None if relative_gain is None else at_least(abs(relative_gain), threshold.value)
                )
            else:
                met = at_least(abs(change), threshold.value)
        elif not threshold.relative:  # pass: acceptable state at follow-up
            met = (
                at_least(follow_up, threshold.value)
                if instrument.higher_is_better
                else at_least(threshold.value, follow_up)
            )
    return ThresholdCheck(
        kind=threshold.kind,
        value=threshold.value,
        relative=threshold.relative,
        context=threshold.context,
        source_id=threshold.source.id,
        locator=threshold.source.locator,
        marks=tuple(threshold.marks),
        used=used,
        met=met,
    )


def _threshold_text(check: ThresholdCheck) -> str:
    return f"{check.value:.0%}" if check.relative else fmt(check.value)


_VERDICT_WORDS = {True: "met", False: "not met", None: "not judged"}


def _where(kb: KnowledgeBase, source_id: str, context: str) -> str:
    """Return the context with its source's short citation, e.g. 'Chronic pain (Farrar 2001)'."""
    where = short_context(context)
    cite = short_citation(kb, source_id)
    return where if cite in where else f"{where}, {cite}"


def _responder(
    checks: tuple[ThresholdCheck, ...],
    kb: KnowledgeBase,
) -> tuple[ResponderStatus, str]:
    """Return the responder status and the clause that explains it.

    Thresholds from one source and context are alternatives (NPRS: 2 points *or* 30 %); a
    context is met if any of its thresholds is met. Several contexts (mHHS after open vs
    endoscopic repair ...) must all agree, otherwise the status is ``context_dependent``.
    """
    mcids = [c for c in checks if c.kind in _IMPROVEMENT_KINDS]
    used = [c for c in mcids if c.used]
    if not mcids:
        return "not_assessable: no published MCID", (
            "there is no published MCID, so glutemed cannot say whether this change is "
            "clinically important"
        )
    if not used:
        return "not_assessable: only unverified MCIDs", (
            "the only MCIDs are unverified and are not used"
        )
    groups: dict[tuple[str, str], list[ThresholdCheck]] = {}
    for c in used:
        groups.setdefault((c.source_id, c.context), []).append(c)
    verdicts: dict[tuple[str, str], bool | None] = {}
    for key, members in groups.items():
        if any(m.met for m in members):
            verdicts[key] = True
        elif all(m.met is None for m in members):
            verdicts[key] = None
        else:
            verdicts[key] = False
    judged = {k: v for k, v in verdicts.items() if v is not None}
    if not judged:
        return "not_assessable: baseline at the best end of the scale", (
            "the baseline is already at the best end of the scale, so the relative MCID cannot "
            "be judged"
        )
    if len(groups) == 1:
        ((key, members),) = groups.items()
        where = _where(kb, key[0], key[1])
        hit = [_threshold_text(m) for m in members if m.met]
        miss = [_threshold_text(m) for m in members if m.met is False]
        if hit and miss:
            return "responder", (
                f"this meets the MCID of {' or '.join(hit)} but not {' or '.join(miss)} "
                f"[{where}]; the source gives them as alternatives, so either counts"
            )
        values = " or ".join(_threshold_text(m) for m in members)
        if hit:
            return "responder", f"this meets the MCID of {values} [{where}]"
        return "non_responder", f"this is below the MCID of {values} [{where}]"
    met = [k for k, v in judged.items() if v]
    listing = "; ".join(
        f"{short_context(k[1])}: "
        + " or ".join(_threshold_text(m) for m in groups[k])
        + f" {_VERDICT_WORDS[verdicts[k]]}"
        for k in groups
    )
    if len(met) == len(judged):
        return "responder", (
            f"this meets the MCID in each of the {len(judged)} published contexts ({listing})"
        )
    if not met:
        return "non_responder", (
            f"this is below the MCID in each of the {len(judged)} published contexts ({listing})"
        )
    return "context_dependent", (
        f"this meets the MCID in {len(met)} of {len(judged)} published contexts ({listing}); "
        "name the patient's context to choose the one that applies"
    )


def interpret_change(
    instrument_id: str,
    baseline: float | Score,
    follow_up: float | Score,
    *,
    context: str | None = None,
    kb: KnowledgeBase | None = None,
) -> Change:
    """Interpret the change between a baseline and a follow-up score.

    Parameters
    ----------
    instrument_id
        An instrument id of the knowledge base, e.g. ``"nprs"``.
    baseline, follow_up
        Scores on the instrument's range (numbers or :class:`Score` results). For the GROC,
        which is itself a rating of change, pass ``baseline=0`` (no change).
    context
        Selects the thresholds that match the patient: a case-insensitive word or phrase from a
        threshold's context (``"endoscopic"``, ``"open"``, ``"Rice 2023"``) or a source id
        (``"tx_r79"``). Default: every published threshold of the instrument.
    kb
        Knowledge base; default: the bundled one.

    Returns
    -------
    Change
        Raw and direction-aware change, relative change, every applicable threshold with whether
        it is met, the responder status and a one-sentence explanation.

    Raises
    ------
    NotFoundError
        Unknown instrument id.
    ScoringError
        A value that is not a number, outside the instrument's range or a score of another
        instrument, or a context that matches none of the instrument's thresholds.

    Notes
    -----
    Rules (thresholds are read from the knowledge base, never from code):

    * improvement = follow-up - baseline for higher-is-better scales, baseline - follow-up
      otherwise; relative improvement = improvement / |best end of the scale - baseline|
      (for NPRS, whose best end is 0, the percentage reduction from baseline).
    * MCID (absolute) is met if improvement >= value; MCID (relative) if relative improvement
      >= value; MDC if |change| >= value; PASS if the follow-up is at or beyond the value on the
      better side. Values within float round-off count as equal (a change exactly at the MCID
      meets it). Thresholds marked ``unverified`` are listed but never used.
    * Responder status: thresholds sharing a source and context are alternatives (NPRS 2 points
      or 30 %, Farrar 2001). With one context the status is ``responder`` / ``non_responder``;
      with several, ``responder`` only if all are met, ``non_responder`` if none is, else
      ``context_dependent``. Without a published MCID (VISA-G, PSFS, HOOS, LEAS, OHS) the status
      is ``not_assessable: no published MCID``.

    References
    ----------
    Farrar JT et al. Clinical importance of changes in chronic pain intensity measured on an
    11-point numerical pain rating scale. Pain 2001;94:149-158 (tx_r100).

    Examples
    --------
    >>> interpret_change("nprs", 6, 4).responder_status
    'responder'
    >>> interpret_change("visa_g", 55, 65).responder_status
    'not_assessable: no published MCID'
    """
    knowledge = resolve_kb(kb)
    instrument = get_instrument(knowledge, instrument_id)
    start, p1 = _value_of(instrument, "baseline", baseline)
    end, p2 = _value_of(instrument, "follow_up", follow_up)
    thresholds, problems = select_thresholds(instrument, context)
    raise_if([p for p in (p1, p2, *problems) if p is not None], instrument, "change")

    change = end - start
    gain = improvement(instrument, start, end)
    lo, hi = instrument.range
    best_end = hi if instrument.higher_is_better else lo
    distance = abs(best_end - start)
    relative_gain = gain / distance if distance > 0 else None
    checks = tuple(_check(instrument, t, change, gain, relative_gain, end) for t in thresholds)
    status, clause = _responder(checks, knowledge)

    direction = "improved" if gain > 0 else "worsened" if gain < 0 else "unchanged"
    show_rel = relative_gain is not None and any(c.relative for c in checks)
    rel = f", relative improvement {relative_gain:.0%}" if show_rel else ""
    if direction == "unchanged":
        moved = f"did not change ({fmt(start)} to {fmt(end)})"
    else:
        moved = f"{direction} from {fmt(start)} to {fmt(end)} (improvement {fmt(gain)}{rel})"
    explanation = f"{short_name(instrument)} {moved}; {clause}."
    return Change(
        instrument=instrument.id,
        baseline=start,
        follow_up=end,
        change=change,
        improvement=gain,
        relative_improvement=relative_gain,
        higher_is_better=instrument.higher_is_better,
        direction=direction,
        context=context,
        thresholds=checks,
        responder_status=status,
        explanation=explanation,
        versions=knowledge.versions(),
    )
