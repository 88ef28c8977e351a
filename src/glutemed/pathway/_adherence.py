"""Adherence and progression: what the patient did since the last visit, and the next level.

At a visit the clinician records, for the programme stage the patient is on, per exercise (or
for the programme as a whole) the sessions done out of the sessions prescribed since the last
visit, the pain during and after the exercise (0-10 numeric rating scale), whether that pain had
settled by the next morning and how hard the exercise felt. :func:`read_adherence` validates such
a record (every problem named by exercise and field); :func:`suggest_progression` reads the
programme's own rules in ``exercises.yaml`` - the pain rule, the adherence rule, the regression
rule and the stage's progression criterion - and suggests *progress*, *stay* or *regress* with
the reasons in plain words. It only suggests: the clinician decides, and the rules that no source
gives are labelled assumptions wherever the suggestion is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from glutemed._checks import short_repr
from glutemed.errors import InputValueError, NotFoundError, Problem
from glutemed.knowledge import Dose, KnowledgeBase, Programme, ProgrammeStage, Rule, load_kb

__all__ = [
    "EFFORT_FELT",
    "PROGRAMME_WIDE",
    "AdherenceEntry",
    "AdherenceReport",
    "ExerciseSuggestion",
    "ProgressionSuggestion",
    "read_adherence",
    "sessions_prescribed",
    "suggest_progression",
]

#: How hard an exercise felt, as the patient says it (the words of the LEAP effort column).
EFFORT_FELT: dict[str, str] = {
    "light": "light",
    "somewhat_hard": "somewhat hard",
    "hard": "hard",
}
_EFFORT_ORDER = {"light": 0, "somewhat_hard": 1, "hard": 2}
#: The prescribed effort of a dose (``Dose.effort``) as a range of felt effort.
_PRESCRIBED = {
    "light": ("light", "light"),
    "light_to_somewhat_hard": ("light", "somewhat_hard"),
    "somewhat_hard": ("somewhat_hard", "somewhat_hard"),
    "somewhat_hard_to_hard": ("somewhat_hard", "hard"),
}
#: The ``exercise`` of an entry that covers the whole programme rather than one exercise.
PROGRAMME_WIDE = "programme"
_MAX_SESSIONS = 1000
#: What an entry records about its exercise (or the programme as a whole).
ENTRY_FIELDS = (
    "sessions_done",
    "sessions_prescribed",
    "pain_during_nrs_0_10",
    "pain_after_nrs_0_10",
    "settled_next_morning",
    "effort",
    "pelvis_level",
)
_FIELDS = ("exercise", *ENTRY_FIELDS)
Action = Literal["progress", "stay", "regress"]


@dataclass(frozen=True)
class AdherenceEntry:
    """One exercise (or the whole programme) since the last visit; ``None`` = not recorded."""

    exercise: str
    sessions_done: int | None = None
    sessions_prescribed: int | None = None
    pain_during_nrs_0_10: int | None = None
    pain_after_nrs_0_10: int | None = None
    settled_next_morning: bool | None = None
    effort: str | None = None
    #: Seen by the clinician at the visit: the exercise done with a level pelvis.
    pelvis_level: bool | None = None

    @property
    def done_pct(self) -> float | None:
        """Sessions done as a percentage of those prescribed (None when not both recorded)."""
        if self.sessions_done is None or not self.sessions_prescribed:
            return None
        return 100.0 * self.sessions_done / self.sessions_prescribed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (the stored form)."""
        return {k: getattr(self, k) for k in _FIELDS}


@dataclass(frozen=True)
class AdherenceReport:
    """A validated adherence record of one programme stage at one visit."""

    programme_id: str
    stage_id: str
    entries: list[AdherenceEntry]
    programme_week: int | None = None
    note: str = ""

    @property
    def sessions_done(self) -> int | None:
        """Sessions done, summed over the entries that record both numbers."""
        pairs = [e for e in self.entries if e.done_pct is not None]
        return sum(e.sessions_done or 0 for e in pairs) if pairs else None

    @property
    def sessions_prescribed(self) -> int | None:
        """Sessions prescribed, summed over the entries that record both numbers."""
        pairs = [e for e in self.entries if e.done_pct is not None]
        return sum(e.sessions_prescribed or 0 for e in pairs) if pairs else None

    @property
    def done_pct(self) -> float | None:
        """All sessions done as a percentage of all prescribed."""
        done, planned = self.sessions_done, self.sessions_prescribed
        return None if done is None or not planned else 100.0 * done / planned

    @property
    def pain_during_max(self) -> int | None:
        """The highest pain during exercise recorded."""
        values = [
            e.pain_during_nrs_0_10 for e in self.entries if e.pain_during_nrs_0_10 is not None
        ]
        return max(values) if values else None

    @property
    def pain_after_max(self) -> int | None:
        """The highest pain after exercise recorded."""
        values = [e.pain_after_nrs_0_10 for e in self.entries if e.pain_after_nrs_0_10 is not None]
        return max(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data, with the totals."""
        return {
            "programme": self.programme_id,
            "stage": self.stage_id,
            "programme_week": self.programme_week,
            "note": self.note,
            "entries": [e.to_dict() for e in self.entries],
            "sessions_done": self.sessions_done,
            "sessions_prescribed": self.sessions_prescribed,
            "done_pct": None if self.done_pct is None else round(self.done_pct, 1),
            "pain_during_max": self.pain_during_max,
            "pain_after_max": self.pain_after_max,
        }


def sessions_prescribed(dose: Dose, days: int) -> int | None:
    """Sessions a dose prescribes over ``days`` days, or None when its frequency is not stated.

    A dose without ``days_per_week`` is daily, as the trials' tables write it ("daily", "BD").
    """
    if dose.supervised_only or dose.times_per_day is None or days < 0:
        return None
    per_week = dose.days_per_week or 7
    return round(dose.times_per_day * per_week * days / 7)


# --------------------------------------------------------------------------- validation


def _programme_stage(kb: KnowledgeBase, programme_id: Any, stage_id: Any) -> ProgrammeStage:
    prog = kb.programmes.get(str(programme_id or ""))
    if prog is None:
        raise NotFoundError(
            "unknown exercise programme",
            [Problem("programme", "a programme of the knowledge base", short_repr(programme_id))],
        )
    if not prog.stages:
        raise InputValueError(
            "this programme cannot be recorded",
            [
                Problem(
                    "programme",
                    "a programme whose exercises are in the knowledge base",
                    "content not captured in the sources found",
                )
            ],
        )
    ids = [s.id for s in prog.stages]
    if stage_id not in ids:
        raise NotFoundError(
            "unknown programme stage",
            [Problem("stage", "a stage of " + prog.name, short_repr(stage_id))],
        )
    return prog.stage(str(stage_id))


def _whole(
    where: str, name: str, value: Any, lo: int, hi: int, problems: list[Problem]
) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        problems.append(Problem(where, f"{name}: a whole number {lo} to {hi}", short_repr(value)))
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        problems.append(Problem(where, f"{name}: a whole number {lo} to {hi}", short_repr(value)))
        return None
    if number != int(number) or not lo <= number <= hi:
        problems.append(Problem(where, f"{name}: a whole number {lo} to {hi}", short_repr(value)))
        return None
    return int(number)


def _flag(where: str, name: str, value: Any, problems: list[Problem]) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "true"):
        return True
    if text in ("no", "false"):
        return False
    problems.append(Problem(where, f"{name}: yes or no", short_repr(value)))
    return None


def read_adherence(data: Mapping[str, Any], *, kb: KnowledgeBase | None = None) -> AdherenceReport:
    """Validate an adherence record.

    Parameters
    ----------
    data
        ``{"programme", "stage", "programme_week"?, "note"?, "entries": [{"exercise",
        "sessions_done"?, "sessions_prescribed"?, "pain_during_nrs_0_10"?,
        "pain_after_nrs_0_10"?, "settled_next_morning"?, "effort"?}]}``. ``exercise`` is an
        exercise of the stage or ``"programme"`` (the whole programme).
    kb
        The knowledge base (default: the bundled one).

    Raises
    ------
    NotFoundError
        Unknown programme or stage.
    InputValueError
        Every problem at once, each located as ``EXERCISE.FIELD`` (sessions done above those
        prescribed, pain outside 0-10, an exercise not in the stage, a repeated exercise, an
        entry with nothing recorded, ...).
    """
    kb = kb or load_kb()
    if not isinstance(data, Mapping):
        raise InputValueError(
            "an adherence record is a mapping",
            [Problem("adherence", "a mapping of programme, stage and entries", short_repr(data))],
        )
    stage = _programme_stage(kb, data.get("programme"), data.get("stage"))
    prog = kb.programmes[str(data["programme"])]
    problems: list[Problem] = []
    unknown = sorted(set(data) - {"programme", "stage", "programme_week", "note", "entries"})
    for key in unknown:
        problems.append(Problem(key, "programme, stage, programme_week, note or entries", key))
    week = _whole("programme_week", "programme week", data.get("programme_week"), 1, 104, problems)
    note = str(data.get("note") or "").strip()
    if len(note) > 2000:
        problems.append(Problem("note", "at most 2000 characters", f"{len(note)} characters"))
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, Sequence) or isinstance(raw_entries, str | bytes):
        raw_entries = []
    in_stage = {i.exercise for i in stage.items}
    seen: set[str] = set()
    entries: list[AdherenceEntry] = []
    for n, raw in enumerate(raw_entries):
        if not isinstance(raw, Mapping):
            problems.append(Problem(f"entries.{n}", "a mapping", short_repr(raw)))
            continue
        ex = str(raw.get("exercise") or "")
        where = ex or f"entries.{n}"
        name = kb.exercises[ex].name if ex in kb.exercises else "the whole programme"
        if ex != PROGRAMME_WIDE and ex not in in_stage:
            problems.append(
                Problem(f"{where}.exercise", f"an exercise of {stage.name}", short_repr(ex))
            )
            continue
        if ex in seen:
            problems.append(Problem(f"{where}.exercise", f"{name} once", "a second entry"))
            continue
        seen.add(ex)
        for key in sorted(set(raw) - set(_FIELDS)):
            problems.append(Problem(f"{where}.{key}", "a field of an adherence entry", key))
        before = len(problems)
        done = _whole(
            f"{where}.sessions_done",
            f"sessions done of {name}",
            raw.get("sessions_done"),
            0,
            _MAX_SESSIONS,
            problems,
        )
        planned = _whole(
            f"{where}.sessions_prescribed",
            f"sessions prescribed of {name}",
            raw.get("sessions_prescribed"),
            1,
            _MAX_SESSIONS,
            problems,
        )
        during = _whole(
            f"{where}.pain_during_nrs_0_10",
            f"pain during {name} (0-10)",
            raw.get("pain_during_nrs_0_10"),
            0,
            10,
            problems,
        )
        after = _whole(
            f"{where}.pain_after_nrs_0_10",
            f"pain after {name} (0-10)",
            raw.get("pain_after_nrs_0_10"),
            0,
            10,
            problems,
        )
        settled = _flag(
            f"{where}.settled_next_morning",
            f"pain after {name} settled by the next morning",
            raw.get("settled_next_morning"),
            problems,
        )
        pelvis = _flag(
            f"{where}.pelvis_level",
            f"{name} done with a level pelvis",
            raw.get("pelvis_level"),
            problems,
        )
        effort = raw.get("effort") or None
        if effort is not None and effort not in EFFORT_FELT:
            problems.append(
                Problem(
                    f"{where}.effort",
                    f"how hard {name} felt: light, somewhat hard or hard",
                    short_repr(effort),
                )
            )
            effort = None
        if done is not None and planned is None:
            problems.append(
                Problem(
                    f"{where}.sessions_prescribed",
                    f"the sessions prescribed for {name} (with the sessions done)",
                    "nothing",
                )
            )
        if done is not None and planned is not None and done > planned:
            problems.append(
                Problem(
                    f"{where}.sessions_done",
                    f"for {name}, at most the {planned} sessions prescribed",
                    str(done),
                    "count each session once; raise the sessions prescribed if more were asked",
                )
            )
        entry = AdherenceEntry(
            exercise=ex,
            sessions_done=done,
            sessions_prescribed=planned,
            pain_during_nrs_0_10=during,
            pain_after_nrs_0_10=after,
            settled_next_morning=settled,
            effort=effort,
            pelvis_level=pelvis,
        )
        # a row with nothing the patient did (only the prefilled sessions prescribed, or
        # nothing at all) is not an entry
        recorded = [getattr(entry, k) for k in ENTRY_FIELDS if k != "sessions_prescribed"]
        if len(problems) == before and all(v is None for v in recorded):
            continue
        entries.append(entry)
    if not problems and not entries:
        problems.append(
            Problem(
                "entries",
                "at least one exercise (or the whole programme) with sessions or pain recorded",
                "nothing",
            )
        )
    if problems:
        raise InputValueError(
            f"the adherence record of {prog.name} has {len(problems)} problem(s)", problems
        )
    return AdherenceReport(
        programme_id=prog.id,
        stage_id=stage.id,
        entries=entries,
        programme_week=week,
        note=note,
    )


# --------------------------------------------------------------------------- progression


@dataclass(frozen=True)
class ExerciseSuggestion:
    """The suggestion for one exercise (or the whole programme)."""

    exercise: str
    name: str
    action: Action
    reasons: list[str]
    how: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "exercise": self.exercise,
            "name": self.name,
            "action": self.action,
            "reasons": list(self.reasons),
            "how": self.how,
        }


@dataclass(frozen=True)
class ProgressionSuggestion:
    """Progress, stay or regress, with the reasons and the rules they come from."""

    programme_id: str
    stage_id: str
    action: Action
    target_stage_id: str | None
    target_stage_name: str | None
    reasons: list[str]
    exercises: list[ExerciseSuggestion]
    rules: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def uses_assumptions(self) -> bool:
        """Whether a rule that no source gives took part."""
        return any(r["basis"] == "assumption" for r in self.rules)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "programme": self.programme_id,
            "stage": self.stage_id,
            "action": self.action,
            "target_stage": self.target_stage_id,
            "target_stage_name": self.target_stage_name,
            "reasons": list(self.reasons),
            "exercises": [e.to_dict() for e in self.exercises],
            "rules": [dict(r) for r in self.rules],
            "uses_assumptions": self.uses_assumptions,
            "decided_by": "clinician",
            "versions": dict(self.versions),
        }


def _rule_used(kind: str, rule: Rule) -> dict[str, Any]:
    return {
        "kind": kind,
        "text": rule.text,
        "basis": rule.basis,
        "reason": rule.reason,
        "sources": [s.id for s in rule.sources],
    }


def _label(rule: Rule) -> str:
    return " (an assumption, not from a trial)" if rule.basis == "assumption" else ""


def _pain_reasons(entry: AdherenceEntry, rule: Rule) -> list[str]:
    out: list[str] = []
    limit = rule.pain_limit_nrs_0_10
    if limit is not None:
        for value, when in (
            (entry.pain_during_nrs_0_10, "during"),
            (entry.pain_after_nrs_0_10, "after"),
        ):
            if value is not None and value > limit:
                out.append(
                    f"pain {when} the exercise was {value}/10, above the {limit:g}/10 the pain "
                    f"rule allows{_label(rule)}"
                )
    if rule.must_settle_by_next_morning and entry.settled_next_morning is False:
        out.append(f"the pain had not settled by the next morning{_label(rule)}")
    return out


def _effort_suggestion(entry: AdherenceEntry, dose: Dose | None) -> tuple[Action, str] | None:
    if entry.effort is None or dose is None or dose.effort is None:
        return None
    lo, hi = _PRESCRIBED[dose.effort]
    felt = _EFFORT_ORDER[entry.effort]
    wanted = EFFORT_FELT[lo] if lo == hi else f"{EFFORT_FELT[lo]} to {EFFORT_FELT[hi]}"
    if felt < _EFFORT_ORDER[lo]:
        return (
            "progress",
            f"it felt {EFFORT_FELT[entry.effort]}, easier than the {wanted} prescribed",
        )
    if felt > _EFFORT_ORDER[hi]:
        return (
            "regress",
            f"it felt {EFFORT_FELT[entry.effort]}, harder than the {wanted} prescribed",
        )
    return None


def _neighbour(prog: Programme, stage: ProgrammeStage, step: int) -> ProgrammeStage | None:
    i = [s.id for s in prog.stages].index(stage.id) + step
    return prog.stages[i] if 0 <= i < len(prog.stages) else None


def suggest_progression(
    report: AdherenceReport, *, kb: KnowledgeBase | None = None
) -> ProgressionSuggestion:
    """Suggest the next level from the programme's own rules (the clinician decides).

    The order of the rules is a safety order:

    1. *Regress* when an exercise breaks the programme's pain rule (pain above its limit, or not
       settled by the next morning) or, where the regression rule says so, could not be done
       with a level pelvis: that exercise goes to its easier version, and the whole
       programme to the previous stage when the pain is recorded for the programme as a whole
       (or there is no easier version). The regression rule's text says how.
    2. *Stay* when fewer sessions were done than the adherence rule asks: the dose has not been
       tried enough to judge it.
    3. Otherwise the stage's progression criterion: ``time`` - *progress* to the next stage once
       the programme week is past the stage's last week; ``effort`` - *progress* (or make easier)
       each exercise that felt easier (or harder) than its prescribed effort; ``clinician`` - the
       sources give no criterion, so *stay* and the physiotherapist decides.

    Parameters
    ----------
    report
        A record from :func:`read_adherence`.
    kb
        The knowledge base (default: the bundled one).

    Returns
    -------
    ProgressionSuggestion
        With each reason in plain words and the rules used (their basis shows which are
        assumptions).
    """
    kb = kb or load_kb()
    prog = kb.programmes[report.programme_id]
    stage = prog.stage(report.stage_id)
    doses = {i.exercise: i.dose for i in stage.items}
    rules: list[dict[str, Any]] = [_rule_used("pain", prog.pain_rule)]
    per_exercise: list[ExerciseSuggestion] = []
    reasons: list[str] = []

    def name_of(ex: str) -> str:
        return kb.exercises[ex].name if ex in kb.exercises else "The whole programme"

    # 1. pain rule -> regress
    painful = {e.exercise: _pain_reasons(e, prog.pain_rule) for e in report.entries}
    if prog.regress_when.regress_if_pelvis_not_level:
        for e in report.entries:
            if e.pelvis_level is False:
                painful[e.exercise].append(
                    f"it could not be done with a level pelvis{_label(prog.regress_when)}"
                )
    painful = {k: v for k, v in painful.items() if v}
    if painful:
        rules.append(_rule_used("regress", prog.regress_when))
        for ex, why in painful.items():
            easier = kb.exercises[ex].easier if ex in kb.exercises else ""
            per_exercise.append(
                ExerciseSuggestion(
                    ex, name_of(ex), "regress", why, easier or prog.regress_when.text
                )
            )
            reasons.append(f"{name_of(ex)}: " + "; ".join(why) + ".")
        back = _neighbour(prog, stage, -1)
        whole = PROGRAMME_WIDE in painful or any(
            not (kb.exercises[ex].easier if ex in kb.exercises else "") for ex in painful
        )
        target = back if whole else None
        if whole and back is None:
            reasons.append("This is the first stage: make the painful exercises easier.")
        reasons.append(f"The regression rule: {prog.regress_when.text}")
        return _done(prog, stage, "regress", target, reasons, per_exercise, rules, kb)

    # 2. adherence rule -> stay
    adherence = prog.adherence_rule
    if adherence is not None and adherence.min_sessions_done_pct is not None:
        rules.append(_rule_used("adherence", adherence))
        pct = report.done_pct
        if pct is not None and pct < adherence.min_sessions_done_pct:
            reasons.append(
                f"{report.sessions_done} of {report.sessions_prescribed} sessions were done "
                f"({pct:.0f} %), below the {adherence.min_sessions_done_pct:g} % the adherence "
                f"rule asks before a harder stage{_label(adherence)}: stay at this stage and "
                "find out what got in the way."
            )
            return _done(prog, stage, "stay", None, reasons, per_exercise, rules, kb)
        if pct is None:
            reasons.append("Sessions done were not recorded, so adherence could not be checked.")

    # 3. the stage's progression criterion
    rule = stage.progress_when
    criterion = rule.criterion if rule is not None else None
    if rule is not None:
        rules.append(_rule_used("progress", rule))
    nxt = _neighbour(prog, stage, +1)
    if criterion == "time":
        end = stage.week_to
        if report.programme_week is None:
            reasons.append(
                f"This stage moves on by time (after week {end}); the programme week was not "
                "recorded, so stay until it is known."
                if end is not None
                else "The programme week was not recorded."
            )
            return _done(prog, stage, "stay", None, reasons, per_exercise, rules, kb)
        if end is not None and report.programme_week > end and nxt is not None:
            reasons.append(
                f"Week {report.programme_week} of the programme is past this stage's last week "
                f"({end}), pain was within the pain rule and enough sessions were done. "
                f"{rule.text if rule else ''}".strip()
            )
            return _done(prog, stage, "progress", nxt, reasons, per_exercise, rules, kb)
        if nxt is None:
            reasons.append("This is the programme's last stage.")
        else:
            reasons.append(
                f"Week {report.programme_week} of the programme is within this stage "
                f"(weeks {stage.week_from} to {end})."
            )
        return _done(prog, stage, "stay", None, reasons, per_exercise, rules, kb)
    if criterion == "effort":
        harder = []
        for e in report.entries:
            found = _effort_suggestion(e, doses.get(e.exercise))
            if found is None:
                continue
            action, felt = found
            exd = kb.exercises.get(e.exercise)
            how = (exd.harder if action == "progress" else exd.easier) if exd else ""
            per_exercise.append(
                ExerciseSuggestion(e.exercise, name_of(e.exercise), action, [felt], how)
            )
            if action == "progress":
                harder.append(name_of(e.exercise))
        if harder:
            reasons.append(
                "Make harder: "
                + ", ".join(harder)
                + f" (felt easier than prescribed). {rule.text if rule else ''}".rstrip()
            )
            return _done(prog, stage, "progress", None, reasons, per_exercise, rules, kb)
        if any(s.action == "regress" for s in per_exercise):
            reasons.append("Some exercises felt harder than prescribed: make those easier.")
            return _done(prog, stage, "regress", None, reasons, per_exercise, rules, kb)
        reasons.append(
            "Every exercise whose effort was recorded felt as hard as prescribed."
            if any(e.effort for e in report.entries)
            else "How hard the exercises felt was not recorded; this stage moves on by effort."
        )
        return _done(prog, stage, "stay", None, reasons, per_exercise, rules, kb)
    reasons.append(
        "Pain was within the pain rule and enough sessions were done, but the sources give no "
        "criterion to move on from this stage: you decide."
    )
    return _done(prog, stage, "stay", None, reasons, per_exercise, rules, kb)


def _done(
    prog: Programme,
    stage: ProgrammeStage,
    action: Action,
    target: ProgrammeStage | None,
    reasons: list[str],
    per_exercise: list[ExerciseSuggestion],
    rules: list[dict[str, Any]],
    kb: KnowledgeBase,
) -> ProgressionSuggestion:
    return ProgressionSuggestion(
        programme_id=prog.id,
        stage_id=stage.id,
        action=action,
        target_stage_id=target.id if target else None,
        target_stage_name=target.name if target else None,
        reasons=reasons,
        exercises=per_exercise,
        rules=rules,
        versions=kb.versions(),
    )
