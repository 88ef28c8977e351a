"""Strict schema of the care-pathway rules (``pathway.yaml``).

The staged care plan of :mod:`glutemed.pathway` is driven by data, not code: which facts move a
patient to which stage, what each stage offers, which patient factors exclude or caution a
treatment, the self-care advice, the exercise phases, the rehabilitation timeline after surgery
and the plain-language texts of the patient handout. Every number carries a :class:`SourceRef`;
numbers that no study fixed (the 3- and 6-month surgical thresholds, for example) are marked
``basis: convention``.

Vocabulary
----------
fact
    A named, checkable statement about a case ("abductor insufficiency", "no response after the
    planned weeks"). Declarative facts are computed from the ids they list (findings, imaging
    grades, patient factors); ``computed`` facts are computed by the engine from treatments
    tried, outcome scores, the assessment and parameters, and each is documented here.
when
    A condition over facts: every ``all_of`` fact holds, at least one ``any_of`` fact holds (if
    any are listed) and no ``none_of`` fact holds. An empty condition always holds.
stage rule
    The ordered rules that pick the stage; the first rule whose condition holds wins.
offer
    What a stage offers (a treatment from ``treatments.yaml`` or an action), under a condition,
    with the sentence that explains why.
exclusion / caution
    Patient factors, preferences and limits that remove a treatment (shown under
    ``not_recommended`` with the reason) or add a caution to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from glutemed.errors import Problem
from glutemed.knowledge._schema import ID_PATTERN, Estimate, Mark, SourceRef, TreatmentCategory

__all__ = [
    "IMAGING_GRADES",
    "PATHWAY_KEYS",
    "PATIENT_FACTORS",
    "PLACEHOLDER",
    "TREATMENT_CATEGORIES",
    "Action",
    "Caution",
    "Comparison",
    "ComparisonFigure",
    "ConditionRoute",
    "EducationItem",
    "Escalation",
    "Exclusion",
    "ExercisePhase",
    "Fact",
    "Offer",
    "OnRequest",
    "Pathway",
    "PathwayParameter",
    "PatientText",
    "RehabElement",
    "Stage",
    "StageRule",
    "When",
    "build_pathway",
    "check_pathway",
]

Id = Annotated[str, Field(pattern=ID_PATTERN, min_length=2, max_length=64)]
NonEmpty = Annotated[str, Field(min_length=1)]
StageNumber = Literal[0, 1, 2, 3, 4]

#: Imaging severity grades produced by ``glutemed.reasoning`` (``Assessment.severity["grade"]``).
IMAGING_GRADES = (
    "not_imaged",
    "no_tendon_pathology_reported",
    "tendinopathy",
    "partial_tear",
    "full_thickness_tear",
)
#: Fields of ``glutemed.reasoning.PatientFactors``.
PATIENT_FACTORS = (
    "diabetes",
    "anticoagulation",
    "pregnancy",
    "immunosuppression",
    "prefers_no_injection",
    "prefers_no_surgery",
    "fit_for_surgery",
)
#: ``Treatment.category`` values of ``treatments.yaml``.
TREATMENT_CATEGORIES = get_args(TreatmentCategory)
Category = TreatmentCategory
ImagingGrade = Literal[
    "not_imaged",
    "no_tendon_pathology_reported",
    "tendinopathy",
    "partial_tear",
    "full_thickness_tear",
]
FactorName = Literal[
    "diabetes",
    "anticoagulation",
    "pregnancy",
    "immunosuppression",
    "prefers_no_injection",
    "prefers_no_surgery",
    "fit_for_surgery",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --------------------------------------------------------------------------- numbers


class PathwayParameter(_Strict):
    """A sourced number the pathway uses (weeks to review, months of failed care, limits).

    ``basis`` says what kind of number it is: ``convention`` (a threshold in common use that no
    study fixed by comparison; the plan says so), ``trial_design`` (a trial's duration or time
    point), ``guideline`` (practice guidance), ``protocol`` (a clinic's rehabilitation protocol,
    not trial evidence) or ``study_finding``.
    """

    id: Id
    name: NonEmpty
    value: float = Field(ge=0)
    unit: Literal["weeks", "months", "per_year", "days", "count"]
    basis: Literal["convention", "trial_design", "guideline", "protocol", "study_finding"]
    statement: NonEmpty = Field(description="What the number means and where it comes from.")
    marks: list[Mark] = Field(default_factory=list)
    sources: list[SourceRef] = Field(min_length=1)


# --------------------------------------------------------------------------- facts and rules


class Fact(_Strict):
    """A named statement about a case that rules test.

    Kinds
    -----
    ``findings_any_positive``
        True when any of ``findings`` (history, examination or imaging ids) is positive.
    ``finding_level_in``
        True when the ordinal ``finding`` takes one of ``levels``.
    ``imaging_grade_in``
        True when the assessment's imaging severity grade is one of ``grades``.
    ``patient_factor``
        True when the case's ``factors.<factor>`` is true (or false, with ``negate``).
    ``computed``
        Computed by the engine (documented in ``description``) from treatments tried, outcome
        scores, the assessment and the ``parameters``/``treatments``/``instruments`` listed.
    """

    id: Id
    kind: Literal[
        "findings_any_positive",
        "finding_level_in",
        "imaging_grade_in",
        "patient_factor",
        "computed",
    ]
    description: NonEmpty
    sentence: NonEmpty = Field(description="Said in a recommendation's 'why' when the fact holds.")
    findings: list[Id] = Field(default_factory=list)
    finding: Id | None = None
    levels: list[str] = Field(default_factory=list)
    grades: list[ImagingGrade] = Field(default_factory=list)
    factor: FactorName | None = None
    negate: bool = False
    parameters: list[Id] = Field(default_factory=list)
    treatments: list[Id] = Field(default_factory=list)
    instruments: list[Id] = Field(default_factory=list)
    sources: list[SourceRef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Fact:
        need = {
            "findings_any_positive": bool(self.findings),
            "finding_level_in": self.finding is not None and bool(self.levels),
            "imaging_grade_in": bool(self.grades),
            "patient_factor": self.factor is not None,
            "computed": True,
        }[self.kind]
        if not need:
            raise ValueError(
                f"a {self.kind} fact needs "
                + {
                    "findings_any_positive": "findings",
                    "finding_level_in": "finding and levels",
                    "imaging_grade_in": "grades",
                    "patient_factor": "factor",
                    "computed": "",
                }[self.kind]
            )
        if self.negate and self.kind != "patient_factor":
            raise ValueError("negate is only allowed on a patient_factor fact")
        return self


class When(_Strict):
    """A condition over fact ids (all of / any of / none of). Empty means 'always'."""

    all_of: list[Id] = Field(default_factory=list)
    any_of: list[Id] = Field(default_factory=list)
    none_of: list[Id] = Field(default_factory=list)

    def fact_ids(self) -> list[str]:
        """Return every fact id the condition names."""
        return [*self.all_of, *self.any_of, *self.none_of]


class StageRule(_Strict):
    """One ordered rule that picks the stage; the first rule whose condition holds wins."""

    id: Id
    stage: StageNumber
    status: Literal["urgent_referral", "off_pathway", "active"]
    when: When = Field(default_factory=When)
    statement: NonEmpty = Field(description="Why this stage, in one or two sentences.")
    conventions: list[Id] = Field(
        default_factory=list,
        description="Parameter ids of conventions the rule relies on; the plan names them.",
    )
    sources: list[SourceRef] = Field(default_factory=list)


class Offer(_Strict):
    """A treatment or action a stage offers when its condition holds."""

    id: Id = Field(description="Rule id, quoted in the recommendation's 'rules'.")
    treatment: Id | None = None
    action: Id | None = None
    role: Literal[
        "first_line", "option", "if_needed", "consider", "continue", "referral", "after_surgery"
    ]
    when: When = Field(default_factory=When)
    condition_text: str = Field(
        default="", description="A condition the clinician judges (e.g. 'for an acute flare')."
    )
    why: NonEmpty
    sources: list[SourceRef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_target(self) -> Offer:
        if (self.treatment is None) == (self.action is None):
            raise ValueError("an offer names exactly one of treatment or action")
        return self


class Escalation(_Strict):
    """A concrete criterion for escalating (shown under ``escalate_if``).

    ``outcome_below_mcid``: the engine lists the published MCIDs of ``instruments`` (read from
    ``instruments.yaml``) and the review window from the parameters ``window``.
    ``outcome_no_mcid``: instruments tracked without a responder flag (no published MCID).
    ``text``: the ``text`` as written.
    """

    id: Id
    kind: Literal["outcome_below_mcid", "outcome_no_mcid", "text"]
    instruments: list[Id] = Field(default_factory=list)
    window: list[Id] = Field(
        default_factory=list, max_length=2, description="Parameter ids: review from [, until]."
    )
    text: NonEmpty
    sources: list[SourceRef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _instruments_for_outcomes(self) -> Escalation:
        if self.kind != "text" and not self.instruments:
            raise ValueError(f"a {self.kind} criterion needs instruments")
        return self


class Stage(_Strict):
    """A stage of care: what it offers, when to review and when to escalate."""

    id: Id
    number: StageNumber
    name: NonEmpty
    plain_name: NonEmpty = Field(description="The stage in plain language (patient handout).")
    summary: NonEmpty
    review_after: Id | None = Field(default=None, description="Parameter id (weeks).")
    review_until: Id | None = Field(default=None, description="Parameter id (weeks).")
    review_text: NonEmpty
    fallback_stage: StageNumber | None = Field(
        default=None,
        description="Stage delivered instead when every referral/first-line offer is excluded "
        "(patient declines surgery, not fit for surgery).",
    )
    offers: list[Offer] = Field(default_factory=list)
    escalate_if: list[Escalation] = Field(default_factory=list)
    sources: list[SourceRef] = Field(default_factory=list)


class Action(_Strict):
    """A step that is not a treatment (referral, re-check of the diagnosis)."""

    id: Id
    name: NonEmpty
    kind: Literal["referral", "investigation", "review"]
    description: NonEmpty
    plain: NonEmpty = Field(description="The step in plain language (patient handout).")
    evidence_level: Literal[1, 2, 3, 4, 5] | None = None
    evidence_note: NonEmpty
    uses_assessment: list[Literal["imaging", "red_flags", "differential"]] = Field(
        default_factory=list, description="Parts of the assessment shown with the action."
    )
    sources: list[SourceRef] = Field(min_length=1)


class Exclusion(_Strict):
    """Removes treatments from a plan (patient factor, preference, limit, earlier failure)."""

    id: Id
    when: When
    treatments: list[Id] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    actions: list[Id] = Field(default_factory=list)
    reason: NonEmpty
    alternatives: NonEmpty = Field(description="What is offered instead, in words.")
    plain: str = Field(default="", description="What the patient handout says (plain words).")
    sources: list[SourceRef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _targets(self) -> Exclusion:
        if not (self.treatments or self.categories or self.actions):
            raise ValueError("an exclusion names treatments, categories or actions")
        return self


class Caution(_Strict):
    """A caution added to treatments when a patient factor is present.

    ``dossier_covers`` is false when the evidence dossiers say nothing about the factor for
    these treatments; the caution then says so and leaves the judgement to the clinician.
    """

    id: Id
    when: When
    treatments: list[Id] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    text: NonEmpty
    dossier_covers: bool
    sources: list[SourceRef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _targets_and_sources(self) -> Caution:
        if not (self.treatments or self.categories):
            raise ValueError("a caution names treatments or categories")
        if self.dossier_covers and not self.sources:
            raise ValueError("a caution the dossier covers needs sources")
        return self


class OnRequest(_Strict):
    """A treatment never recommended by default; shown only when a clinician asks about it."""

    id: Id
    treatment: Id
    statement: NonEmpty = Field(description="e.g. 'No clinical evidence for this condition.'")
    reason: NonEmpty
    sources: list[SourceRef] = Field(min_length=1)


# --------------------------------------------------------------------------- content


class EducationItem(_Strict):
    """A piece of load-management advice: something to avoid or something that helps."""

    id: Id
    kind: Literal["avoid", "helps"]
    advice: NonEmpty = Field(description="For the clinician.")
    plain: NonEmpty = Field(description="For the patient (short, plain words).")
    rationale: NonEmpty
    evidence_note: NonEmpty
    level: Literal[1, 2, 3, 4, 5] | None = None
    marks: list[Mark] = Field(default_factory=list)
    sources: list[SourceRef] = Field(min_length=1)


class ExercisePhase(_Strict):
    """A phase of progressive loading exercise as trials prescribed it."""

    id: Id
    order: int = Field(ge=1)
    name: NonEmpty
    phase_type: Literal["isometric", "isotonic", "functional"]
    timing: NonEmpty
    content: NonEmpty
    dose: str = ""
    plain: NonEmpty
    evidence_note: NonEmpty
    gap: bool = Field(default=False, description="True when no trial defines this phase.")
    sources: list[SourceRef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sources_unless_gap(self) -> ExercisePhase:
        if not self.gap and not self.sources:
            raise ValueError("an exercise phase needs sources unless it is marked as a gap")
        return self


class RehabElement(_Strict):
    """One element of the rehabilitation timeline after gluteal tendon surgery."""

    id: Id
    order: int = Field(ge=1)
    element: NonEmpty
    timing: NonEmpty
    content: NonEmpty
    plain: NonEmpty
    basis: Literal["protocol", "study_finding"]
    outcome: Estimate | None = None
    sources: list[SourceRef] = Field(min_length=1)


class ComparisonFigure(_Strict):
    """A figure of a head-to-head comparison (complications, re-tears), as printed."""

    measure: NonEmpty
    arm: NonEmpty = Field(description="A treatment id, or 'overall'.")
    value: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    events: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=1)
    text: NonEmpty = Field(description="The figure as the source prints it.")
    marks: list[Mark] = Field(default_factory=list)
    source: SourceRef

    @model_validator(mode="after")
    def _events_within_total(self) -> ComparisonFigure:
        if self.events is not None and self.total is not None and self.events > self.total:
            raise ValueError(f"events {self.events} exceed total {self.total}")
        return self


class Comparison(_Strict):
    """A comparison of treatments that a stage presents together (endoscopic vs open repair)."""

    id: Id
    name: NonEmpty
    treatments: list[Id] = Field(min_length=2)
    summary: NonEmpty
    figures: list[ComparisonFigure] = Field(min_length=1)
    caveats: list[str] = Field(default_factory=list)


class PatientText(_Strict):
    """A plain-language text for the patient handout.

    ``topic`` / ``key``: ``condition`` (key = condition id), ``treatment`` (key = treatment or
    action id), ``self_care`` (key = free id), ``come_back`` (key = finding id of a red-flag
    trigger, or ``general``), ``plan`` (key = stage number as text, or ``urgent_referral`` /
    ``off_pathway`` for stage 0), ``intro`` / ``closing`` (key = ``general``).
    Texts may hold ``{parameter_id}`` placeholders, filled from the parameters.
    """

    id: Id
    topic: Literal["intro", "condition", "treatment", "self_care", "plan", "come_back", "closing"]
    key: NonEmpty
    text: NonEmpty
    sources: list[SourceRef] = Field(default_factory=list)


class ConditionRoute(_Strict):
    """Where care goes for one condition of the differential.

    ``route`` is one of: ``gluteal_pathway`` (the staged plan of this file), ``referral`` (to
    the clinician named in ``refer_to``, with its ``urgency``), ``first_line_care`` (care that
    starts here, described in ``first_line``, plus ``refer_to`` if it fails) and
    ``must_not_miss_action`` (the condition's own action and urgency from ``network.yaml``,
    written once there; the route adds only who to refer to). ``basis: assumption`` marks a
    route that no source stored with the project gives (the dossiers cover the diagnosis of most
    mimics, not their treatment); ``reason`` then says so and the user sees it.
    """

    id: Id
    condition: Id
    route: Literal["gluteal_pathway", "referral", "first_line_care", "must_not_miss_action"]
    first_line: str = ""
    refer_to: str = ""
    urgency: Literal["emergency", "same_day", "soon", "routine"] | None = None
    plain: NonEmpty = Field(description="For the patient handout (plain words).")
    basis: Literal["guideline", "trial", "case_series", "protocol", "assumption"]
    reason: str = ""
    sources: list[SourceRef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ConditionRoute:
        if self.route == "must_not_miss_action":
            if self.urgency is not None:
                raise ValueError("a must-not-miss route takes its urgency from network.yaml")
        elif self.urgency is None:
            raise ValueError(f"a {self.route!r} route needs an urgency")
        if self.route in ("referral", "must_not_miss_action", "first_line_care") and not (
            self.refer_to
        ):
            raise ValueError(f"a {self.route!r} route needs refer_to (who to refer to)")
        if self.route == "first_line_care" and not self.first_line:
            raise ValueError("a first_line_care route needs first_line")
        if self.basis == "assumption" and not self.reason:
            raise ValueError("an assumption needs a reason")
        if self.basis != "assumption" and not self.sources:
            raise ValueError(f"a route with basis {self.basis!r} needs a source")
        return self


# --------------------------------------------------------------------------- container

#: top-level key of pathway.yaml -> model
PATHWAY_KEYS: dict[str, type[BaseModel]] = {
    "parameters": PathwayParameter,
    "facts": Fact,
    "stage_rules": StageRule,
    "stages": Stage,
    "actions": Action,
    "exclusions": Exclusion,
    "cautions": Caution,
    "on_request": OnRequest,
    "education": EducationItem,
    "exercise_phases": ExercisePhase,
    "rehabilitation": RehabElement,
    "comparisons": Comparison,
    "patient_texts": PatientText,
    "condition_routes": ConditionRoute,
}


class Pathway(BaseModel):
    """The validated pathway rules, as dictionaries keyed by id (stage rules keep their order)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    parameters: dict[str, PathwayParameter] = Field(default_factory=dict)
    facts: dict[str, Fact] = Field(default_factory=dict)
    stage_rules: list[StageRule] = Field(default_factory=list)
    stages: dict[int, Stage] = Field(default_factory=dict)
    actions: dict[str, Action] = Field(default_factory=dict)
    exclusions: list[Exclusion] = Field(default_factory=list)
    cautions: list[Caution] = Field(default_factory=list)
    on_request: dict[str, OnRequest] = Field(default_factory=dict, description="By treatment id.")
    education: list[EducationItem] = Field(default_factory=list)
    exercise_phases: list[ExercisePhase] = Field(default_factory=list)
    rehabilitation: list[RehabElement] = Field(default_factory=list)
    comparisons: dict[str, Comparison] = Field(default_factory=dict)
    patient_texts: list[PatientText] = Field(default_factory=list)
    condition_routes: dict[str, ConditionRoute] = Field(
        default_factory=dict, description="By condition id."
    )
    lines: dict[str, int] = Field(default_factory=dict, description="id -> line in pathway.yaml.")

    def parameter(self, pid: str) -> float:
        """Return the value of a parameter (KeyError if unknown; the loader checks ids)."""
        return self.parameters[pid].value

    def texts(self, topic: str, key: str | None = None) -> list[PatientText]:
        """Return the patient texts of a topic (and key)."""
        return [t for t in self.patient_texts if t.topic == topic and (key is None or t.key == key)]


def build_pathway(
    parsed: dict[str, list[tuple[BaseModel, int | None]]], problems: list[Problem]
) -> Pathway:
    """Assemble a :class:`Pathway` from the validated lists of ``pathway.yaml``.

    Duplicate ids (across all sections) and duplicate stage numbers are added to ``problems``.
    """
    seen: dict[str, str] = {}
    lines: dict[str, int] = {}

    def register(key: str, ident: str, line: int | None) -> None:
        if ident in seen:
            problems.append(
                Problem(
                    f"pathway.yaml:{line} {key}",
                    "ids unique within pathway.yaml",
                    f"{ident!r} also used in {seen[ident]}",
                )
            )
        seen.setdefault(ident, key)
        if line is not None:
            lines.setdefault(ident, line)

    def items(key: str) -> list[tuple[BaseModel, int | None]]:
        out = parsed.get(key, [])
        for model, line in out:
            register(key, str(getattr(model, "id")), line)  # noqa: B009
            for offer in getattr(model, "offers", []):
                register(f"{key}.offers", offer.id, line)
            for esc in getattr(model, "escalate_if", []):
                register(f"{key}.escalate_if", esc.id, line)
        return out

    stages: dict[int, Stage] = {}
    for model, line in items("stages"):
        assert isinstance(model, Stage)
        if model.number in stages:
            problems.append(
                Problem(
                    f"pathway.yaml:{line} stages", "one entry per stage number", str(model.number)
                )
            )
        stages.setdefault(model.number, model)
    on_request: dict[str, OnRequest] = {}
    for model, line in items("on_request"):
        assert isinstance(model, OnRequest)
        if model.treatment in on_request:
            problems.append(
                Problem(
                    f"pathway.yaml:{line} on_request", "one entry per treatment", model.treatment
                )
            )
        on_request.setdefault(model.treatment, model)

    def by_id(key: str) -> dict[str, BaseModel]:
        return {str(getattr(m, "id")): m for m, _ in items(key)}  # noqa: B009

    def ordered(key: str) -> list[BaseModel]:
        return [m for m, _ in items(key)]

    return Pathway.model_validate(
        {
            "parameters": by_id("parameters"),
            "facts": by_id("facts"),
            "stage_rules": ordered("stage_rules"),
            "stages": stages,
            "actions": by_id("actions"),
            "exclusions": ordered("exclusions"),
            "cautions": ordered("cautions"),
            "on_request": on_request,
            "education": ordered("education"),
            "exercise_phases": sorted(
                ordered("exercise_phases"),
                key=lambda p: getattr(p, "order"),  # noqa: B009
            ),
            "rehabilitation": sorted(
                ordered("rehabilitation"),
                key=lambda p: getattr(p, "order"),  # noqa: B009
            ),
            "comparisons": by_id("comparisons"),
            "patient_texts": ordered("patient_texts"),
            "condition_routes": {
                str(getattr(m, "condition")): m  # noqa: B009
                for m in ordered("condition_routes")
            },
            "lines": lines,
        }
    )


def check_pathway(
    pathway: Pathway,
    *,
    treatments: Iterable[str],
    instruments: Iterable[str],
    findings: dict[str, list[str]],
    conditions: Iterable[str],
) -> list[Problem]:
    """Cross-check the pathway against the rest of the knowledge base.

    Parameters
    ----------
    pathway
        The assembled pathway.
    treatments, instruments, conditions
        Known ids.
    findings
        Finding id -> allowed levels (empty for binary findings).

    Returns
    -------
    list of Problem
        Every unknown id (treatment, instrument, finding, fact, parameter, action), every
        on-request treatment that a stage offers, and structural gaps (no default stage rule,
        a stage rule pointing to a stage that is not defined).
    """
    problems: list[Problem] = []
    known_t, known_i, known_c = set(treatments), set(instruments), set(conditions)

    def where(ident: str, field: str) -> str:
        line = pathway.lines.get(ident)
        return f"pathway.yaml:{line} {ident}.{field}" if line else f"pathway.yaml {ident}.{field}"

    def need(table: Iterable[str], ident: str | None, loc: str, what: str) -> None:
        if ident is None or ident in table:
            return
        from glutemed._checks import closest, short_repr

        near = closest(ident, table)
        problems.append(
            Problem(
                loc,
                f"a known {what} id",
                short_repr(ident),
                f"did you mean {', '.join(near)}?" if near else "",
            )
        )

    def need_when(when: When, loc: str) -> None:
        for fid in when.fact_ids():
            need(pathway.facts, fid, loc, "fact")

    for fact in pathway.facts.values():
        for fid in fact.findings:
            need(findings, fid, where(fact.id, "findings"), "finding")
        if fact.finding is not None:
            need(findings, fact.finding, where(fact.id, "finding"), "finding")
            allowed = findings.get(fact.finding)
            if allowed:
                for level in fact.levels:
                    if level not in allowed:
                        problems.append(
                            Problem(where(fact.id, "levels"), "one of " + ", ".join(allowed), level)
                        )
        for pid in fact.parameters:
            need(pathway.parameters, pid, where(fact.id, "parameters"), "parameter")
        for tid in fact.treatments:
            need(known_t, tid, where(fact.id, "treatments"), "treatment")
        for iid in fact.instruments:
            need(known_i, iid, where(fact.id, "instruments"), "instrument")

    if not pathway.stage_rules or pathway.stage_rules[-1].when.fact_ids():
        problems.append(
            Problem(
                "pathway.yaml stage_rules", "a last rule without a condition (the default)", "none"
            )
        )
    for rule in pathway.stage_rules:
        need_when(rule.when, where(rule.id, "when"))
        for pid in rule.conventions:
            need(pathway.parameters, pid, where(rule.id, "conventions"), "parameter")
        if rule.stage not in pathway.stages:
            problems.append(Problem(where(rule.id, "stage"), "a defined stage", str(rule.stage)))

    for stage in pathway.stages.values():
        for review_pid in (stage.review_after, stage.review_until):
            need(pathway.parameters, review_pid, where(stage.id, "review"), "parameter")
        if stage.fallback_stage is not None and stage.fallback_stage not in pathway.stages:
            problems.append(
                Problem(
                    where(stage.id, "fallback_stage"), "a defined stage", str(stage.fallback_stage)
                )
            )
        for offer in stage.offers:
            loc = where(stage.id, f"offers.{offer.id}")
            need_when(offer.when, loc)
            need(known_t, offer.treatment, loc + ".treatment", "treatment")
            need(pathway.actions, offer.action, loc + ".action", "action")
            if offer.treatment is not None and offer.treatment in pathway.on_request:
                problems.append(
                    Problem(
                        loc,
                        "no offer of an on-request-only treatment",
                        offer.treatment,
                        "on-request treatments are shown only when a clinician asks",
                    )
                )
        for esc in stage.escalate_if:
            for iid in esc.instruments:
                need(known_i, iid, where(stage.id, f"escalate_if.{esc.id}"), "instrument")
            for pid in esc.window:
                need(pathway.parameters, pid, where(stage.id, f"escalate_if.{esc.id}"), "parameter")

    for ex in pathway.exclusions:
        need_when(ex.when, where(ex.id, "when"))
        for tid in ex.treatments:
            need(known_t, tid, where(ex.id, "treatments"), "treatment")
        for aid in ex.actions:
            need(pathway.actions, aid, where(ex.id, "actions"), "action")
    for ca in pathway.cautions:
        need_when(ca.when, where(ca.id, "when"))
        for tid in ca.treatments:
            need(known_t, tid, where(ca.id, "treatments"), "treatment")
    for tid, req in pathway.on_request.items():
        need(known_t, tid, where(req.id, "treatment"), "treatment")
    for comp in pathway.comparisons.values():
        for tid in comp.treatments:
            need(known_t, tid, where(comp.id, "treatments"), "treatment")
        for fig in comp.figures:
            if fig.arm != "overall":
                need(comp.treatments, fig.arm, where(comp.id, "figures.arm"), "compared treatment")
    plan_keys = {str(n) for n in pathway.stages if n} | {"urgent_referral", "off_pathway"}
    for text in pathway.patient_texts:
        if text.topic == "condition":
            need(known_c, text.key, where(text.id, "key"), "condition")
        elif text.topic == "come_back" and text.key != "general":
            need(findings, text.key, where(text.id, "key"), "finding")
        elif text.topic == "treatment" and text.key not in pathway.actions:
            need(known_t, text.key, where(text.id, "key"), "treatment or action")
        elif text.topic == "plan" and text.key not in plan_keys:
            problems.append(
                Problem(where(text.id, "key"), "one of " + ", ".join(sorted(plan_keys)), text.key)
            )
    for cid, route in pathway.condition_routes.items():
        need(known_c, cid, where(route.id, "condition"), "condition")
    if pathway.condition_routes:
        for cid in sorted(known_c - set(pathway.condition_routes)):
            problems.append(
                Problem("pathway.yaml condition_routes", "a route for every condition", cid)
            )
    for ident, field_name, text_value in _texts(pathway):
        for name in PLACEHOLDER.findall(text_value):
            if name not in pathway.parameters:
                problems.append(
                    Problem(
                        where(ident, field_name),
                        "a {placeholder} naming a parameter id",
                        "{" + name + "}",
                    )
                )
    return problems


#: ``{parameter_id}`` placeholders in pathway texts.
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def _texts(pathway: Pathway) -> Iterator[tuple[str, str, str]]:
    """Yield ``(id, field, text)`` for every string field of every pathway entry."""

    def walk(obj: object, ident: str, path: str) -> Iterator[tuple[str, str, str]]:
        if isinstance(obj, str):
            yield ident, path, obj
        elif isinstance(obj, BaseModel):
            own = getattr(obj, "id", None)
            new_id = own if isinstance(own, str) else ident
            for name in type(obj).model_fields:
                if name in ("lines", "id", "source", "sources"):
                    continue
                yield from walk(getattr(obj, name), new_id, name if own else f"{path}.{name}")
        elif isinstance(obj, list | tuple):
            for item in obj:
                yield from walk(item, ident, path)
        elif isinstance(obj, dict):
            for value in obj.values():
                yield from walk(value, ident, path)

    yield from walk(pathway, "pathway", "")
