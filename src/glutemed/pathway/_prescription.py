"""Exercise prescription: a programme stage from ``exercises.yaml``, picked and adjusted.

The clinician picks a programme and a stage, may leave exercises out and may change a dose;
every change is validated against the same strict :class:`~glutemed.knowledge.Dose` schema as
the data, and the prescription records which doses were changed from the source. The patient
sheet (:func:`glutemed.report.exercise_sheet_html`) and the JSON output both render this one
object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from glutemed._checks import closest, short_repr
from glutemed.errors import InputValueError, NotFoundError, Problem
from glutemed.knowledge import Dose, Exercise, KnowledgeBase, Programme, Rule, load_kb

__all__ = [
    "PrescribedExercise",
    "Prescription",
    "dose_text",
    "parse_dose_changes",
    "prescribe",
]

_EFFORT = {
    "light": "light effort",
    "light_to_somewhat_hard": "light to somewhat hard",
    "somewhat_hard": "somewhat hard",
    "somewhat_hard_to_hard": "somewhat hard to hard",
}
_SPEED = {"slow": "slowly", "slow_onset": "build up slowly", "moderate": "at a steady pace"}


def _range(lo: float | None, hi: float | None, unit: str) -> str:
    def num(v: float) -> str:
        return f"{v:g}"

    if lo is None:
        return ""
    if hi is None or hi == lo:
        return f"{num(lo)} {unit}"
    return f"{num(lo)} to {num(hi)} {unit}"


def dose_text(dose: Dose) -> list[str]:
    """Return a dose in plain words, one short line per element; gaps are said as such."""
    if dose.supervised_only:
        return ["Only in the clinic, with your physiotherapist."]
    lines: list[str] = []
    reps = _range(dose.reps_min, dose.reps_max, "times")
    if reps and dose.reps_each_side:
        reps += " each way"
    sets = _range(
        dose.sets_min,
        dose.sets_max,
        "rounds" if (dose.sets_max or dose.sets_min or 0) > 1 else "round",
    )
    if reps and sets:
        lines.append(f"{reps}, {sets}")
    elif reps or sets:
        lines.append(reps or sets)
    hold = _range(dose.hold_s_min, dose.hold_s_max, "seconds")
    if hold:
        lines.append(f"hold {hold}")
    if not lines and not hold:
        lines.append("how much: ask your physiotherapist (not stated in the source)")
    if dose.rest_s is not None:
        lines.append(f"rest {dose.rest_s:g} seconds between rounds")
    if dose.times_per_day == 1:
        freq = "once a day"
    elif dose.times_per_day == 2:
        freq = "twice a day"
    elif dose.times_per_day:
        freq = f"{dose.times_per_day} times a day"
    else:
        freq = ""
    if freq and dose.days_per_week and dose.days_per_week < 7:
        freq += f", {dose.days_per_week} days a week"
    lines.append(freq or "how often: ask your physiotherapist (not stated in the trial)")
    effort = [_EFFORT[dose.effort]] if dose.effort else []
    if dose.speed:
        effort.append(_SPEED[dose.speed])
    if effort:
        lines.append(", ".join(effort))
    return lines


@dataclass(frozen=True)
class PrescribedExercise:
    """One exercise of a prescription with its (possibly adjusted) dose."""

    exercise: Exercise
    dose: Dose
    source_dose: Dose
    adjusted: bool
    as_before: bool
    source_ids: list[str]
    marks: list[str]
    note: str

    @property
    def dose_lines(self) -> list[str]:
        """The dose in plain words."""
        return dose_text(self.dose)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "exercise": self.exercise.id,
            "name": self.exercise.name,
            "plain_name": self.exercise.plain_name,
            "aim": self.exercise.aim,
            "start_position": self.exercise.start_position,
            "cue": self.exercise.cue,
            "feel": self.exercise.feel,
            "easier": self.exercise.easier,
            "harder": self.exercise.harder,
            "dose": self.dose.model_dump(exclude_none=True),
            "dose_text": self.dose_lines,
            "adjusted_from_source": self.adjusted,
            "source_dose": self.source_dose.model_dump(exclude_none=True),
            "as_before": self.as_before,
            "sources": self.source_ids,
            "marks": self.marks,
            "note": self.note,
        }


@dataclass(frozen=True)
class Prescription:
    """A stage of an exercise programme as prescribed for one patient."""

    programme: Programme
    stage_id: str
    items: list[PrescribedExercise]
    omitted: list[str]
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def stage(self) -> Any:
        """The programme stage."""
        return self.programme.stage(self.stage_id)

    @property
    def rules(self) -> dict[str, Rule]:
        """Pain rule, regression rule and (if any) progression rule of the stage."""
        out = {"pain": self.programme.pain_rule, "regress": self.programme.regress_when}
        if self.stage.progress_when is not None:
            out["progress"] = self.stage.progress_when
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (the documented output of ``glutemed programme --json``)."""
        p = self.programme
        return {
            "programme": p.id,
            "name": p.name,
            "kind": p.kind,
            "evidence_level": p.evidence_level,
            "evidence_note": p.evidence_note,
            "stage": {
                "id": self.stage.id,
                "name": self.stage.name,
                "week_from": self.stage.week_from,
                "week_to": self.stage.week_to,
                "instructions": list(self.stage.instructions),
            },
            "exercises": [i.to_dict() for i in self.items],
            "omitted": self.omitted,
            "rules": {k: _rule_dict(r) for k, r in self.rules.items()},
            "versions": self.versions,
        }


def _rule_dict(rule: Rule) -> dict[str, Any]:
    """A rule as JSON-ready data."""
    data = rule.model_dump(exclude_defaults=True)
    data["sources"] = [s.id for s in rule.sources]
    return data


def _value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("", "none"):
        return None
    try:
        return float(low) if "." in low else int(low)
    except ValueError:
        return text.strip()


def parse_dose_changes(changes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Parse ``EXERCISE.FIELD=VALUE`` strings into the ``adjust`` mapping of :func:`prescribe`.

    Raises
    ------
    InputValueError
        Naming every string that is not of that form.
    """
    out: dict[str, dict[str, Any]] = {}
    problems = []
    for raw in changes:
        target, sep, value = raw.partition("=")
        exercise, dot, field_name = target.strip().partition(".")
        if not sep or not dot or not exercise or not field_name:
            problems.append(Problem("change", "EXERCISE.FIELD=VALUE", short_repr(raw)))
            continue
        out.setdefault(exercise, {})[field_name] = _value(value)
    if problems:
        raise InputValueError("cannot read the dose changes", problems)
    return out


def prescribe(
    programme_id: str,
    stage_id: str | None = None,
    *,
    kb: KnowledgeBase | None = None,
    omit: Iterable[str] = (),
    adjust: Mapping[str, Mapping[str, Any]] | None = None,
) -> Prescription:
    """Prescribe a stage of an exercise programme.

    Parameters
    ----------
    programme_id
        A programme id of ``exercises.yaml`` (``glutemed programme list``).
    stage_id
        A stage id of that programme; default: its first stage.
    kb
        The knowledge base (default: the bundled one).
    omit
        Exercise ids to leave out.
    adjust
        Exercise id -> dose fields to change (e.g. ``{"ex_offset_squat": {"sets_min": 1}}``).

    Returns
    -------
    Prescription

    Raises
    ------
    NotFoundError
        For an unknown programme, stage or exercise id (with the closest ids as a hint).
    InputValueError
        For a programme whose content was not captured, or an adjusted dose that breaks the
        dose schema (every problem named by exercise and field).
    """
    kb = kb or load_kb()
    if programme_id not in kb.programmes:
        near = closest(programme_id, kb.programmes)
        raise NotFoundError(
            f"no exercise programme {programme_id!r}",
            [
                Problem(
                    "programme",
                    "a programme id",
                    short_repr(programme_id),
                    f"did you mean {', '.join(near)}?" if near else "try `glutemed programme list`",
                )
            ],
        )
    prog = kb.programmes[programme_id]
    if not prog.stages:
        raise InputValueError(
            f"programme {programme_id!r} cannot be prescribed",
            [
                Problem(
                    "programme",
                    "a programme whose exercises are in the knowledge base",
                    "content not captured in the sources found",
                    "choose another programme (`glutemed programme list`)",
                )
            ],
        )
    stage_ids = [s.id for s in prog.stages]
    sid = stage_id or stage_ids[0]
    if sid not in stage_ids:
        raise NotFoundError(
            f"programme {programme_id!r} has no stage {sid!r}",
            [Problem("stage", "one of " + ", ".join(stage_ids), short_repr(sid))],
        )
    stage = prog.stage(sid)
    in_stage = [i.exercise for i in stage.items]
    omit_set = set(omit)
    adjust = dict(adjust or {})
    problems: list[Problem] = []
    for eid in sorted(omit_set | set(adjust)):
        if eid not in in_stage:
            near = closest(eid, in_stage)
            problems.append(
                Problem(
                    "exercise",
                    f"an exercise of stage {sid}",
                    short_repr(eid),
                    f"did you mean {', '.join(near)}?" if near else "",
                )
            )
    if problems:
        raise NotFoundError("unknown exercise in the prescription", problems)
    items: list[PrescribedExercise] = []
    for item in stage.items:
        if item.exercise in omit_set:
            continue
        dose = item.dose
        changes = adjust.get(item.exercise)
        if changes:
            try:
                dose = Dose.model_validate({**item.dose.model_dump(), **dict(changes)})
            except ValidationError as exc:
                for e in exc.errors():
                    loc = ".".join(str(x) for x in e["loc"]) or "dose"
                    problems.append(
                        Problem(
                            f"{item.exercise}.{loc}",
                            e["msg"].lower(),
                            short_repr(e.get("input")),
                        )
                    )
                continue
        items.append(
            PrescribedExercise(
                exercise=kb.exercises[item.exercise],
                dose=dose,
                source_dose=item.dose,
                adjusted=dose != item.dose,
                as_before=item.as_before,
                source_ids=sorted(
                    {item.source.id, *(s.id for s in kb.exercises[item.exercise].sources)}
                ),
                marks=list(item.marks),
                note=item.note,
            )
        )
    if problems:
        raise InputValueError("the adjusted dose is not valid", problems)
    if not items and not stage.instructions:
        raise InputValueError(
            "nothing left to prescribe",
            [Problem("omit", "at least one exercise kept", ", ".join(sorted(omit_set)))],
        )
    return Prescription(
        programme=prog,
        stage_id=sid,
        items=items,
        omitted=sorted(omit_set),
        versions=kb.versions(),
    )
