"""Strict schema of the exercise programmes (``exercises.yaml``).

An exercise is described once (aim, start position, cue, what to feel, a drawing given as joint
angles, how to make it easier or harder); a programme lists, stage by stage, which exercises are
done and at which dose (sets, repetitions, hold, rest, frequency, effort). Every dose names the
source it was read from; a value that no source gives is left empty (``None``) and shown as "not
stated", never filled in. Rules that no source gives (the pain-monitoring rule, for example) are
written as explicit assumptions with a reason.

Programmes are of two kinds: ``trial_programme`` (what a randomised trial prescribed, with the
trial's result) and ``postoperative_protocol`` (surgeons' rehabilitation protocols: expert
opinion, not trial evidence).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from glutemed.errors import Problem
from glutemed.knowledge._schema import Id, Mark, NonEmpty, SourceRef, _Strict

__all__ = [
    "EXERCISE_KEYS",
    "ArmOutcome",
    "DecisionAid",
    "Dose",
    "Exercise",
    "ExerciseFigure",
    "Limb",
    "Programme",
    "ProgrammeItem",
    "ProgrammeStage",
    "Rule",
    "check_exercises",
]

Angle = Annotated[float, Field(ge=-180.0, le=180.0)]
Effort = Literal["light", "light_to_somewhat_hard", "somewhat_hard", "somewhat_hard_to_hard"]


class Rule(_Strict):
    """A rule for the patient or the clinician (pain monitoring, progression, regression).

    ``basis: assumption`` marks a rule that no source found gives; ``reason`` then says why it is
    used and the user sees it labelled as an assumption.
    """

    text: NonEmpty = Field(description="For the clinician.")
    plain: NonEmpty = Field(description="For the patient sheet (plain words).")
    basis: Literal["trial_protocol", "trial_registry", "secondary", "assumption"]
    reason: str = Field(default="", description="Required when basis is 'assumption'.")
    sources: list[SourceRef] = Field(default_factory=list)
    # The parts of the rule that the progression suggestion reads (glutemed.pathway.suggest_
    # progression); each has the same basis, reason and sources as the rule's text.
    criterion: Literal["time", "effort", "clinician"] | None = Field(
        default=None,
        description=(
            "A progression rule: how the source moves on - after the stage's weeks ('time'), "
            "when the exercise feels easier than the prescribed effort ('effort'), or not stated "
            "so the physiotherapist decides ('clinician')."
        ),
    )
    pain_limit_nrs_0_10: Annotated[float, Field(ge=0, le=10)] | None = Field(
        default=None, description="A pain rule: the highest pain (0-10) it allows."
    )
    must_settle_by_next_morning: bool = Field(
        default=False, description="A pain rule: pain must have settled by the next morning."
    )
    regress_if_pelvis_not_level: bool = Field(
        default=False,
        description="A regression rule: go back when it cannot be done with a level pelvis.",
    )
    min_sessions_done_pct: Annotated[float, Field(ge=0, le=100)] | None = Field(
        default=None,
        description="An adherence rule: the share of prescribed sessions done before moving on.",
    )

    @model_validator(mode="after")
    def _assumption_has_reason(self) -> Rule:
        if self.basis == "assumption" and not self.reason:
            raise ValueError("an assumption needs a reason (why it is used, what is not known)")
        if self.basis != "assumption" and not self.sources:
            raise ValueError(f"a rule with basis {self.basis!r} needs at least one source")
        return self


class Limb(_Strict):
    """Joint angles of one leg or arm in the drawing, in degrees.

    For a leg, ``proximal_deg`` is the hip angle (0 = in line with the trunk, positive = forward
    in a side view, outward in a front view) and ``distal_deg`` the knee flexion (0 = straight).
    For an arm, ``proximal_deg`` is the shoulder angle and ``distal_deg`` the elbow flexion.
    """

    proximal_deg: Angle
    distal_deg: Annotated[float, Field(ge=0.0, le=160.0)] = 0.0


class ExerciseFigure(_Strict):
    """A stick figure drawn from joint angles (see :func:`glutemed.report.exercise_svg`).

    ``body_deg`` turns the whole figure: 0 = upright, 90 = lying (head to the left). The trunk
    is straight from the pelvis to the head; ``near_leg`` is the leg being worked.
    """

    view: Literal["side", "front"]
    body_deg: Angle = 0.0
    trunk_deg: Angle = Field(default=0.0, description="Trunk lean from the body axis.")
    near_leg: Limb
    far_leg: Limb
    arm: Limb = Field(default_factory=lambda: Limb(proximal_deg=15.0, distal_deg=10.0))
    support: Literal["floor", "none"] = "floor"
    props: list[Literal["band_knees", "band_ankles", "step", "wall", "chair", "belt"]] = Field(
        default_factory=list
    )
    arrow: Literal["none", "up", "down", "left", "right", "out", "hold"] = "none"
    tiptoe: bool = Field(default=False, description="Heels raised (side view).")
    pelvis_lift: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.0, description="Fraction of a thigh length the pelvis is lifted (bridges)."
    )


class Exercise(_Strict):
    """One exercise, described once; programmes give its dose."""

    id: Id
    name: NonEmpty
    plain_name: NonEmpty = Field(description="The name on the patient sheet.")
    aim: NonEmpty
    start_position: NonEmpty
    cue: NonEmpty = Field(description="How to do it, in plain words.")
    feel: NonEmpty = Field(description="What the patient should feel.")
    easier: str = ""
    harder: str = ""
    wording: Literal["source", "describes_named_exercise"] = Field(
        description=(
            "'source' when the start position and cue are taken from the source; "
            "'describes_named_exercise' when the source only names the exercise and the words "
            "describe that named exercise plainly."
        )
    )
    figure: ExerciseFigure
    sources: list[SourceRef] = Field(min_length=1)
    notes: str = ""


class Dose(_Strict):
    """A dose as the source gives it; ``None`` = not stated in the source (shown as such)."""

    sets_min: int | None = Field(default=None, ge=1, le=10)
    sets_max: int | None = Field(default=None, ge=1, le=10)
    reps_min: int | None = Field(default=None, ge=1, le=100)
    reps_max: int | None = Field(default=None, ge=1, le=100)
    reps_each_side: bool = False
    hold_s_min: float | None = Field(default=None, ge=0, le=300)
    hold_s_max: float | None = Field(default=None, ge=0, le=300)
    rest_s: float | None = Field(default=None, ge=0, le=600)
    times_per_day: int | None = Field(default=None, ge=1, le=6)
    days_per_week: int | None = Field(default=None, ge=1, le=7)
    effort: Effort | None = None
    speed: Literal["slow", "slow_onset", "moderate"] | None = None
    supervised_only: bool = False

    @model_validator(mode="after")
    def _ranges(self) -> Dose:
        for lo, hi in (
            (self.sets_min, self.sets_max),
            (self.reps_min, self.reps_max),
            (self.hold_s_min, self.hold_s_max),
        ):
            if lo is not None and hi is not None and hi < lo:
                raise ValueError(f"a range's maximum ({hi}) is below its minimum ({lo})")
            if lo is None and hi is not None:
                raise ValueError("a range with a maximum needs a minimum")
        return self


class ProgrammeItem(_Strict):
    """One exercise of a stage at its dose."""

    exercise: Id
    dose: Dose
    as_before: bool = Field(default=False, description="The source says 'maintain as before'.")
    source: SourceRef
    marks: list[Mark] = Field(default_factory=list)
    note: str = ""


class ProgrammeStage(_Strict):
    """A stage of a programme (weeks, content, when to move on)."""

    id: Id
    order: int = Field(ge=1)
    name: NonEmpty
    plain_name: NonEmpty
    week_from: int | None = Field(
        default=None,
        ge=0,
        le=104,
        description="First week of the stage; None = not reported in the source.",
    )
    week_to: int | None = Field(default=None, ge=0, le=104)
    items: list[ProgrammeItem] = Field(default_factory=list)
    instructions: list[str] = Field(
        default_factory=list, description="Stage content that has no dosed exercise (protocols)."
    )
    progress_when: Rule | None = None
    sources: list[SourceRef] = Field(min_length=1)

    @model_validator(mode="after")
    def _content(self) -> ProgrammeStage:
        if not self.items and not self.instructions:
            raise ValueError("a stage needs items (dosed exercises) or instructions")
        if self.week_to is not None and self.week_from is None:
            raise ValueError("a stage with a last week (week_to) needs its first week")
        if (
            self.week_to is not None
            and self.week_from is not None
            and self.week_to < self.week_from
        ):
            raise ValueError(f"week_to ({self.week_to}) is before week_from ({self.week_from})")
        return self


class ArmOutcome(_Strict):
    """An absolute outcome of one trial arm (for an icon array): ``events`` of ``total``."""

    arm: NonEmpty = Field(description="The arm in plain words.")
    events: int = Field(ge=0)
    total: int = Field(ge=1)
    source: SourceRef

    @model_validator(mode="after")
    def _events_within_total(self) -> ArmOutcome:
        if self.events > self.total:
            raise ValueError(f"events ({self.events}) exceed total ({self.total})")
        return self


class DecisionAid(_Strict):
    """Shared decision making: absolute outcomes by arm, harms and what is not known."""

    measure: NonEmpty = Field(description="What counts as a good outcome, in plain words.")
    time_point: NonEmpty
    outcomes: list[ArmOutcome] = Field(min_length=2)
    harms: list[NonEmpty] = Field(min_length=1)
    not_known: list[NonEmpty] = Field(min_length=1)
    sources: list[SourceRef] = Field(min_length=1)


class Programme(_Strict):
    """An exercise programme from a trial, or a post-operative protocol."""

    id: Id
    name: NonEmpty
    plain_name: NonEmpty
    kind: Literal["trial_programme", "postoperative_protocol"]
    treatment: Id = Field(description="The treatments.yaml entry this programme delivers.")
    conditions: list[Id] = Field(min_length=1, description="Conditions it was used for.")
    summary: NonEmpty
    evidence_level: Literal[1, 2, 3, 4, 5] | None
    evidence_note: NonEmpty = Field(description="What the trial found, or that it is a protocol.")
    duration_weeks: int = Field(ge=1, le=104)
    supervised_sessions: int | None = Field(default=None, ge=0, le=100)
    content_captured: bool = Field(
        default=True,
        description="False when the sources found do not give the exercises (none to prescribe).",
    )
    pain_rule: Rule
    regress_when: Rule
    adherence_rule: Rule | None = Field(
        default=None,
        description="How many of the prescribed sessions are done before a harder stage.",
    )
    stages: list[ProgrammeStage] = Field(default_factory=list)
    decision: DecisionAid | None = None
    sources: list[SourceRef] = Field(min_length=1)
    notes: str = ""

    @model_validator(mode="after")
    def _kind_rules(self) -> Programme:
        if self.kind == "postoperative_protocol" and self.evidence_level not in (None, 5):
            raise ValueError("a post-operative protocol is expert opinion: level 5 or null")
        if self.content_captured and not self.stages:
            raise ValueError("a programme whose content is captured needs stages")
        orders = [s.order for s in self.stages]
        if orders != sorted(orders) or len(set(orders)) != len(orders):
            raise ValueError(f"stage orders must be increasing and unique, got {orders}")
        return self

    def stage(self, stage_id: str) -> ProgrammeStage:
        """Return a stage by id (KeyError if unknown)."""
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise KeyError(stage_id)


#: top-level key of exercises.yaml -> model
EXERCISE_KEYS: dict[str, type[BaseModel]] = {"exercises": Exercise, "programmes": Programme}


def check_exercises(
    exercises: Mapping[str, Exercise],
    programmes: Mapping[str, Programme],
    *,
    treatments: Mapping[str, object],
    conditions: Mapping[str, object],
) -> list[Problem]:
    """Cross-check programmes against exercises, treatments and conditions."""
    problems: list[Problem] = []
    used: set[str] = set()
    for p in programmes.values():
        where = f"exercises.yaml programmes.{p.id}"
        if p.treatment not in treatments:
            problems.append(Problem(f"{where}.treatment", "a known treatment id", p.treatment))
        for cid in p.conditions:
            if cid not in conditions:
                problems.append(Problem(f"{where}.conditions", "a known condition id", cid))
        stage_ids: set[str] = set()
        for s in p.stages:
            if s.id in stage_ids:
                problems.append(Problem(f"{where}.stages", "unique stage ids", s.id))
            stage_ids.add(s.id)
            for item in s.items:
                used.add(item.exercise)
                if item.exercise not in exercises:
                    loc = f"{where}.stages.{s.id}.items"
                    problems.append(Problem(loc, "a known exercise id", item.exercise))
    for eid in exercises:
        if eid not in used:
            loc = f"exercises.yaml exercises.{eid}"
            problems.append(Problem(loc, "an exercise used by a programme", "unused"))
    return problems
