"""Compute the pathway facts of a case.

A fact is declared in ``pathway.yaml``; declarative kinds are evaluated from the ids they list,
``computed`` facts by the functions in :data:`COMPUTED` (one per fact id, documented in the YAML
``description``). Every number they use is a pathway parameter read from the knowledge base.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from glutemed.errors import KnowledgeBaseError, Problem
from glutemed.knowledge import Fact, KnowledgeBase, When
from glutemed.pathway._outcomes import OutcomeSummary
from glutemed.pathway._text import fill, fmt_number
from glutemed.reasoning import Assessment, Case, TreatmentTried, percent

__all__ = ["COMPUTED", "FactValue", "Facts", "compute_facts", "fact_sentence", "holds"]

#: Calendar conversion (not a clinical number): mean days per month.
_DAYS_PER_MONTH = 365.25 / 12
_NO_RESPONSE = ("none", "worse")
_SOME_RESPONSE = ("good", "partial")
#: Treatment categories that are not conservative care.
_NON_CONSERVATIVE = ("surgery", "reconstruction", "rehabilitation")
#: Imaging grades that mean the gluteal tendons are affected (reasoning's severity grades).
_TENDON_GRADES = ("tendinopathy", "partial_tear", "full_thickness_tear")


@dataclass(frozen=True)
class FactValue:
    """Whether a fact holds, and the detail behind it (names, weeks, scores)."""

    id: str
    holds: bool
    detail: str = ""


@dataclass(frozen=True)
class _Context:
    kb: KnowledgeBase
    case: Case
    assessment: Assessment
    outcomes: OutcomeSummary
    today: dt.date


Facts = dict[str, FactValue]
Computer = Callable[[_Context, Fact, Facts], FactValue]


def holds(when: When, facts: Facts) -> bool:
    """Return whether a rule condition holds for the computed facts."""

    def val(fid: str) -> bool:
        fv = facts.get(fid)
        return fv is not None and fv.holds

    if not all(val(f) for f in when.all_of):
        return False
    if when.any_of and not any(val(f) for f in when.any_of):
        return False
    return not any(val(f) for f in when.none_of)


def _param(ctx: _Context, pid: str) -> float:
    return ctx.kb.pathway.parameter(pid)


def _duration_weeks(t: TreatmentTried, today: dt.date) -> float | None:
    """Weeks a treatment was followed: its ``weeks``, else the time since its start date."""
    if t.weeks is not None:
        return float(t.weeks)
    if t.start_date is not None and t.start_date <= today:
        return (today - t.start_date).days / 7.0
    return None


def _describe(kb: KnowledgeBase, t: TreatmentTried, today: dt.date) -> str:
    name = kb.treatments[t.id].name if t.id in kb.treatments else t.id
    weeks = _duration_weeks(t, today)
    when = f"{fmt_number(weeks)} weeks" if weeks is not None else "duration not recorded"
    return f"{name} ({when}, response: {t.response})"


def _tried(ctx: _Context, fact: Fact) -> list[TreatmentTried]:
    return [t for t in ctx.case.treatments_tried if t.id in fact.treatments]


# --------------------------------------------------------------------------- computed facts


def _red_flag(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    flags = ctx.assessment.red_flags
    detail = "; ".join(f"{f['name']} ({str(f['urgency']).replace('_', ' ')})" for f in flags)
    return FactValue(fact.id, bool(flags), detail)


def _mimic_more_likely(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    if ctx.assessment.red_flags or not ctx.assessment.conditions:
        return FactValue(fact.id, False)
    if ctx.assessment.severity.get("grade") in _TENDON_GRADES:
        return FactValue(fact.id, False, "imaging shows gluteal tendon pathology")
    top = ctx.assessment.conditions[0]
    cond = ctx.kb.conditions.get(top.id)
    if cond is None or cond.role != "mimic":
        return FactValue(fact.id, False)
    best_target = next(
        (
            c
            for c in ctx.assessment.conditions
            if c.id in ctx.kb.conditions and ctx.kb.conditions[c.id].role == "target"
        ),
        None,
    )
    detail = f"{top.name} {percent(top.probability)}" if top.probability is not None else top.name
    if best_target is not None and best_target.probability is not None:
        detail += f" vs {best_target.name} {percent(best_target.probability)}"
    return FactValue(fact.id, True, detail)


def _exercise(ctx: _Context, fact: Fact) -> tuple[list[str], list[str], list[str]]:
    """Return (no response after enough weeks, no response too early, responding)."""
    min_weeks = _param(ctx, "exercise_review_min_weeks")
    failed: list[str] = []
    early: list[str] = []
    responding: list[str] = []
    for t in _tried(ctx, fact):
        text = _describe(ctx.kb, t, ctx.today)
        weeks = _duration_weeks(t, ctx.today)
        if t.response in _NO_RESPONSE:
            (failed if weeks is not None and weeks >= min_weeks else early).append(text)
        elif t.response in _SOME_RESPONSE:
            responding.append(text)
    return failed, early, responding


def _exercise_no_response(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    failed, _, _ = _exercise(ctx, fact)
    return FactValue(fact.id, bool(failed), "; ".join(failed))


def _exercise_too_early(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    failed, early, _ = _exercise(ctx, fact)
    return FactValue(fact.id, bool(early) and not failed, "; ".join(early))


def _exercise_response(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    _, _, responding = _exercise(ctx, fact)
    return FactValue(fact.id, bool(responding), "; ".join(responding))


def _any_failed(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    failed = [
        _describe(ctx.kb, t, ctx.today) for t in _tried(ctx, fact) if t.response in _NO_RESPONSE
    ]
    return FactValue(fact.id, bool(failed), "; ".join(failed))


def _csi_limit_reached(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    window = _param(ctx, "csi_count_window_days")
    limit = _param(ctx, "csi_max_per_year")
    counted = [
        t
        for t in _tried(ctx, fact)
        if t.start_date is None or 0 <= (ctx.today - t.start_date).days <= window
    ]
    undated = sum(1 for t in counted if t.start_date is None)
    detail = f"{len(counted)} in the past {fmt_number(window)} days"
    if undated:
        detail += f" ({undated} without a date, counted to be safe)"
    return FactValue(fact.id, len(counted) >= limit, detail)


def _conservative_months(ctx: _Context) -> float | None:
    conservative = [
        t
        for t in ctx.case.treatments_tried
        if t.id in ctx.kb.treatments and ctx.kb.treatments[t.id].category not in _NON_CONSERVATIVE
    ]
    days: list[float] = []
    starts = [t.start_date for t in conservative if t.start_date and t.start_date <= ctx.today]
    if starts:
        days.append(float((ctx.today - min(starts)).days))
    days.extend(float(t.weeks) * 7.0 for t in conservative if t.weeks is not None)
    return max(days) / _DAYS_PER_MONTH if days else None


def _duration_fact(pid: str) -> Computer:
    def compute(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
        months = _conservative_months(ctx)
        if months is None:
            return FactValue(fact.id, False, "no dated conservative treatment recorded")
        return FactValue(
            fact.id,
            months >= _param(ctx, pid),
            f"about {fmt_number(months, 1)} months of conservative care recorded",
        )

    return compute


def _repair(ctx: _Context, fact: Fact, failed: bool) -> FactValue:
    hits = [
        _describe(ctx.kb, t, ctx.today)
        for t in _tried(ctx, fact)
        if (t.response in _NO_RESPONSE) == failed
    ]
    return FactValue(fact.id, bool(hits), "; ".join(hits))


def _after_reconstruction(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    hits = [_describe(ctx.kb, t, ctx.today) for t in _tried(ctx, fact)]
    return FactValue(fact.id, bool(hits), "; ".join(hits))


def _outcome_non_response(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    o = ctx.outcomes
    holds_ = bool(o.non_responders) and not o.responders
    return FactValue(fact.id, holds_, _outcome_detail(o, o.non_responders) if holds_ else "")


def _outcome_response(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    o = ctx.outcomes
    return FactValue(fact.id, bool(o.responders), _outcome_detail(o, o.responders))


def _outcome_worsening(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    o = ctx.outcomes
    return FactValue(fact.id, bool(o.worsening), ", ".join(o.worsening))


def _outcome_detail(o: OutcomeSummary, ids: list[str]) -> str:
    return " ".join(x.note for x in o.instruments if x.instrument in ids)


def _no_response(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    if ctx.outcomes.has_verdict:
        fv = facts.get("outcome_non_response", FactValue("outcome_non_response", False))
        return FactValue(fact.id, fv.holds, "measured: " + fv.detail if fv.holds else "")
    fv = facts.get("exercise_no_response", FactValue("exercise_no_response", False))
    return FactValue(fact.id, fv.holds, "recorded: " + fv.detail if fv.holds else "")


def _response(ctx: _Context, fact: Fact, facts: Facts) -> FactValue:
    if ctx.outcomes.has_verdict:
        fv = facts.get("outcome_response", FactValue("outcome_response", False))
        return FactValue(fact.id, fv.holds, "measured: " + fv.detail if fv.holds else "")
    fv = facts.get("exercise_response", FactValue("exercise_response", False))
    return FactValue(fact.id, fv.holds, "recorded: " + fv.detail if fv.holds else "")


#: Computed fact id -> implementation. Order matters: later facts read earlier ones.
COMPUTED: dict[str, Computer] = {
    "red_flag": _red_flag,
    "mimic_more_likely": _mimic_more_likely,
    "exercise_no_response": _exercise_no_response,
    "exercise_too_early": _exercise_too_early,
    "exercise_response": _exercise_response,
    "stage2_treatment_failed": _any_failed,
    "csi_no_response": _any_failed,
    "csi_limit_reached": _csi_limit_reached,
    "conservative_min_duration": _duration_fact("surgery_min_conservative_months"),
    "conservative_long_duration": _duration_fact("surgery_relative_indication_months"),
    "repair_failed": lambda ctx, fact, facts: _repair(ctx, fact, failed=True),
    "after_repair": lambda ctx, fact, facts: _repair(ctx, fact, failed=False),
    "after_reconstruction": _after_reconstruction,
    "outcome_non_response": _outcome_non_response,
    "outcome_response": _outcome_response,
    "outcome_worsening": _outcome_worsening,
    "no_response": _no_response,
    "response": _response,
}


def _declarative(ctx: _Context, fact: Fact) -> FactValue:
    observed = ctx.case.observed()
    if fact.kind == "findings_any_positive":
        pos = [f for f in fact.findings if observed.get(f) == "positive"]
        names = [ctx.kb.findings[f].name if f in ctx.kb.findings else f for f in pos]
        return FactValue(fact.id, bool(pos), ", ".join(names))
    if fact.kind == "finding_level_in":
        assert fact.finding is not None
        level = observed.get(fact.finding)
        return FactValue(fact.id, level in fact.levels, "" if level is None else str(level))
    if fact.kind == "imaging_grade_in":
        grade = str(ctx.assessment.severity.get("grade", "not_imaged"))
        return FactValue(fact.id, grade in fact.grades)
    assert fact.factor is not None
    value = bool(getattr(ctx.case.factors, fact.factor))
    return FactValue(fact.id, value != fact.negate)


def compute_facts(
    kb: KnowledgeBase,
    case: Case,
    assessment: Assessment,
    outcomes: OutcomeSummary,
    today: dt.date,
) -> Facts:
    """Compute every fact of ``kb.pathway`` for one case.

    Raises
    ------
    KnowledgeBaseError
        When ``pathway.yaml`` declares a computed fact this engine does not implement.
    """
    ctx = _Context(kb, case, assessment, outcomes, today)
    facts: Facts = {}
    for fact in kb.pathway.facts.values():
        if fact.kind != "computed":
            facts[fact.id] = _declarative(ctx, fact)
    missing = [
        f for f in kb.pathway.facts.values() if f.kind == "computed" and f.id not in COMPUTED
    ]
    if missing:
        raise KnowledgeBaseError(
            "pathway.yaml declares computed facts that the engine does not implement",
            [
                Problem(
                    f"pathway.yaml facts.{f.id}",
                    "a computed fact known to glutemed.pathway (" + ", ".join(COMPUTED) + ")",
                    f.id,
                )
                for f in missing
            ],
        )
    for fid, compute in COMPUTED.items():
        declared = kb.pathway.facts.get(fid)
        if declared is not None:
            facts[fid] = compute(ctx, declared, facts)
    return facts


def fact_sentence(kb: KnowledgeBase, fv: FactValue) -> str:
    """Return the fact's sentence with its detail, placeholders filled."""
    text = fill(kb, kb.pathway.facts[fv.id].sentence)
    if fv.detail:
        text = text.rstrip(".") + f" ({fv.detail})."
    return text
