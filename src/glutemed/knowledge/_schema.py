"""Strict schema of the knowledge base.

Every YAML file in ``knowledge/data`` is validated against these models with
``extra="forbid"``: an unknown key, a missing source or a sensitivity of 1.3 is an error that
names the file and the field. Numbers carry their source (a :class:`SourceRef` to
``sources.yaml`` plus a locator) and the evidence dossier's quality marks.

Quality marks (kept from the evidence dossiers)
-----------------------------------------------
``computed`` (†)
    computed by the dossier from published numbers, not printed by the authors.
``secondary`` (‡ in diagnosis.md, ◐ in treatment.md)
    taken from a secondary source; lower confidence.
``case_control`` (CC)
    case-control or symptomatic-vs-asymptomatic design; accuracy (especially specificity)
    inflated by spectrum bias.
``unverified`` (✖)
    not verified in a primary source; never used for a number the engines compute with.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ID_PATTERN",
    "AccuracyStudy",
    "AnatomyFact",
    "Condition",
    "ConditionPrior",
    "Correction",
    "Estimate",
    "Finding",
    "FindingCluster",
    "Instrument",
    "InstrumentItem",
    "Mark",
    "MovementMeasure",
    "Probability",
    "RedFlag",
    "RiskFactor",
    "Setting",
    "Source",
    "SourceRef",
    "Structure",
    "Symptom",
    "TermCode",
    "Threshold",
    "Treatment",
    "TreatmentCategory",
    "TreatmentEvidence",
]

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
Id = Annotated[str, Field(pattern=ID_PATTERN, min_length=2, max_length=64)]
Mark = Literal[
    "computed", "secondary", "case_control", "unverified", "incorporation_bias", "spectrum"
]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Source(_Strict):
    """A citable source (paper, guideline, web page or the seed pages themselves)."""

    id: Id
    citation: NonEmpty
    year: int | None = Field(default=None, ge=1900, le=2100)
    doi: str | None = None
    pmid: str | None = Field(default=None, pattern=r"^\d+$")
    pmcid: str | None = Field(default=None, pattern=r"^PMC\d+$")
    url: str | None = None
    dossier: str | None = Field(
        default=None,
        description="Where the evidence dossier lists it, e.g. 'diagnosis.md R1'.",
    )
    kind: Literal[
        "primary_study",
        "systematic_review",
        "guideline",
        "review",
        "textbook_or_reference",
        "secondary_summary",
        "regulation",
        "seed_page",
        "trial_registry",
    ]
    notes: str = ""


class SourceRef(_Strict):
    """A pointer to a :class:`Source` with a locator (table, page, section)."""

    id: Id
    locator: NonEmpty


class Estimate(_Strict):
    """A sourced number with optional 95 % interval and quality marks."""

    value: float
    ci: tuple[float, float] | None = None
    marks: list[Mark] = Field(default_factory=list)
    source: SourceRef
    note: str = ""

    @model_validator(mode="after")
    def _ci_brackets_value(self) -> Estimate:
        if self.ci is not None:
            lo, hi = self.ci
            if not lo <= hi:
                raise ValueError(f"ci lower bound {lo} is above upper bound {hi}")
            if not lo <= self.value <= hi:
                raise ValueError(f"value {self.value} lies outside its ci [{lo}, {hi}]")
        return self


class ProportionEstimate(Estimate):
    """An :class:`Estimate` that is a proportion in [0, 1]."""

    value: Probability
    ci: tuple[Probability, Probability] | None = None


class TermCode(_Strict):
    """A terminology code. SNOMED CT codes are listed only when verified."""

    system: Literal["ICD-10", "ICD-10-CM", "SNOMED-CT", "LOINC", "UCUM"]
    code: NonEmpty
    display: NonEmpty
    verified: bool = Field(description="True only if checked in a cited source.")
    source: SourceRef

    @model_validator(mode="after")
    def _snomed_must_be_verified(self) -> TermCode:
        if self.system == "SNOMED-CT" and not self.verified:
            raise ValueError("SNOMED CT codes are listed only when verified (no guessed codes)")
        return self


# --------------------------------------------------------------------------- anatomy


class AnatomyFact(_Strict):
    topic: Literal[
        "location",
        "origin",
        "insertion",
        "action",
        "innervation",
        "blood_supply",
        "relation",
        "structure",
        "clinical_relevance",
    ]
    statement: NonEmpty
    sources: list[SourceRef] = Field(min_length=1)


class Structure(_Strict):
    """An anatomical structure (muscle, bursa, nerve, artery, fascia)."""

    id: Id
    name: NonEmpty
    kind: Literal["muscle", "bursa", "nerve", "artery", "fascia", "bone_landmark"]
    synonyms: list[str] = Field(default_factory=list)
    summary: NonEmpty
    facts: list[AnatomyFact] = Field(min_length=1)
    related: list[Id] = Field(default_factory=list, description="Other structure ids.")


# --------------------------------------------------------------------------- conditions


class Condition(_Strict):
    """A diagnosis in the differential of lateral hip pain (target, mimic or red flag)."""

    id: Id
    name: NonEmpty
    role: Literal["target", "mimic", "red_flag"]
    synonyms: list[str] = Field(default_factory=list)
    definition: NonEmpty
    parent: Id | None = Field(default=None, description="A broader condition id, if any.")
    codes: list[TermCode] = Field(default_factory=list)
    in_differential: bool = Field(
        default=True,
        description="False for umbrella labels that the diagnosis engine does not rank.",
    )
    sources: list[SourceRef] = Field(min_length=1)
    notes: str = ""


class RiskFactor(_Strict):
    """A cause or risk factor, with its strength of evidence."""

    id: Id
    name: NonEmpty
    synonyms: list[str] = Field(default_factory=list)
    conditions: list[Id] = Field(min_length=1)
    strength: Literal[
        "strong",
        "moderate",
        "weak",
        "inconsistent",
        "mechanistic_only",
        "descriptive_only",
        "evidence_against",
        "no_evidence_found",
    ]
    odds_ratio: Estimate | None = None
    summary: NonEmpty
    sources: list[SourceRef] = Field(min_length=1)


class Symptom(_Strict):
    """A symptom as a patient or a web page would describe it."""

    id: Id
    name: NonEmpty
    synonyms: list[str] = Field(default_factory=list)
    description: NonEmpty
    conditions: list[Id] = Field(min_length=1, description="Conditions it is reported in.")
    finding: Id | None = Field(default=None, description="History/exam finding id that tests it.")
    sources: list[SourceRef] = Field(min_length=1)
    notes: str = ""


# --------------------------------------------------------------------------- findings


class AccuracyStudy(_Strict):
    """Accuracy of one finding for one target condition, as one source reports it."""

    target: Id
    reference_standard: NonEmpty
    population: NonEmpty
    n: int | None = Field(default=None, ge=1)
    design: Literal[
        "cohort",
        "cross_sectional",
        "case_control",
        "systematic_review",
        "meta_analysis",
        "derivation_study",
    ]
    sensitivity: ProportionEstimate | None = None
    specificity: ProportionEstimate | None = None
    lr_positive: Estimate | None = None
    lr_negative: Estimate | None = None
    odds_ratio: Estimate | None = None
    positive_counts: tuple[int, int] | None = Field(
        default=None, description="(true positives, diseased) when the 2x2 table is known."
    )
    negative_counts: tuple[int, int] | None = Field(
        default=None, description="(true negatives, non-diseased) when the 2x2 table is known."
    )
    use_in_model: bool = Field(
        description="Whether the diagnosis engine uses this row (one row per finding/target)."
    )
    source: SourceRef
    notes: str = ""

    @model_validator(mode="after")
    def _has_some_number(self) -> AccuracyStudy:
        if not any(
            x is not None
            for x in (
                self.sensitivity,
                self.specificity,
                self.lr_positive,
                self.lr_negative,
                self.odds_ratio,
            )
        ):
            raise ValueError("an accuracy row needs at least one number (sens, spec, LR or OR)")
        for name in ("lr_positive", "lr_negative", "odds_ratio"):
            est = getattr(self, name)
            if est is not None and est.value <= 0:
                raise ValueError(f"{name} must be > 0, got {est.value}")
        if (
            self.use_in_model
            and self.lr_positive is None
            and self.lr_negative is None
            and (self.sensitivity is None or self.specificity is None)
        ):
            raise ValueError(
                "a row used in the model needs LR+ / LR- or both sensitivity and specificity"
            )
        return self


_IMAGING_MODALITIES = frozenset(
    {"xray", "ultrasound", "mri", "ct_or_bone_scan", "vascular_imaging"}
)


class Finding(_Strict):
    """A history item, examination test, imaging finding or measured movement finding."""

    id: Id
    name: NonEmpty
    kind: Literal[
        "history", "examination", "imaging", "laboratory", "procedure", "movement_measure"
    ]
    modality: (
        Literal[
            "xray",
            "ultrasound",
            "mri",
            "ct_or_bone_scan",
            "vascular_imaging",
            "motion_capture",
            "video",
        ]
        | None
    ) = None
    synonyms: list[str] = Field(default_factory=list)
    description: NonEmpty
    how_to_perform: str = ""
    positive_if: str = ""
    value_type: Literal["binary", "ordinal"] = "binary"
    levels: list[str] = Field(
        default_factory=list, description="Allowed values of an ordinal finding, low to high."
    )
    dependence_group: Id | None = Field(
        default=None,
        description="Findings that measure the same thing share a group; never multiplied.",
    )
    accuracy: list[AccuracyStudy] = Field(default_factory=list)
    no_accuracy_reason: str = Field(
        default="", description="Required when accuracy is empty: what the evidence says."
    )
    sources: list[SourceRef] = Field(default_factory=list)
    notes: str = ""

    @model_validator(mode="after")
    def _accuracy_or_reason(self) -> Finding:
        if not self.accuracy and not self.no_accuracy_reason:
            raise ValueError("a finding without accuracy data must say why (no_accuracy_reason)")
        if self.kind == "imaging" and self.modality not in _IMAGING_MODALITIES:
            raise ValueError(
                "an imaging finding needs modality " + ", ".join(sorted(_IMAGING_MODALITIES))
            )
        if self.kind == "examination" and not (self.how_to_perform and self.positive_if):
            raise ValueError("an examination test needs how_to_perform and positive_if")
        if self.value_type == "ordinal" and len(self.levels) < 2:
            raise ValueError("an ordinal finding needs at least two levels")
        targets = [a.target for a in self.accuracy if a.use_in_model]
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            raise ValueError(f"more than one accuracy row used in the model for {dupes}")
        return self


class FindingCluster(_Strict):
    """A published likelihood ratio for a combination of dependent findings."""

    id: Id
    name: NonEmpty
    target: Id
    findings: dict[Id, Literal["positive", "negative"]] = Field(min_length=2)
    lr: Estimate
    n: int | None = Field(default=None, ge=1, description="Participants behind the LR.")
    reported_pretest: ProportionEstimate | None = None
    reported_posttest: ProportionEstimate | None = None
    notes: str = ""


# --------------------------------------------------------------------------- priors, red flags

Setting = Literal["community", "primary_care", "specialist"]


class ConditionPrior(_Strict):
    condition: Id
    probability: ProportionEstimate
    rationale: NonEmpty


class SettingPriors(_Strict):
    setting: Setting
    description: NonEmpty
    priors: list[ConditionPrior] = Field(min_length=1)


class RedFlag(_Strict):
    """A feature that demands action before any differential is ranked."""

    id: Id
    name: NonEmpty
    synonyms: list[str] = Field(default_factory=list)
    features: list[NonEmpty] = Field(min_length=1)
    triggers: list[Id] = Field(
        min_length=1, description="Finding ids; any one positive raises the flag."
    )
    context_factors: list[Id] = Field(
        default_factory=list,
        description="Finding ids that raise suspicion and are shown, but do not fire alone.",
    )
    suspected: list[Id] = Field(min_length=1, description="Condition ids it suggests.")
    action: NonEmpty
    urgency: Literal["emergency_same_day", "urgent", "soon"]
    imaging: str = ""
    sources: list[SourceRef] = Field(min_length=1)


# --------------------------------------------------------------------------- treatments


class TreatmentEvidence(_Strict):
    """One trial, review or statement about a treatment's effect."""

    comparison: NonEmpty
    population: NonEmpty
    n: int | None = Field(default=None, ge=1)
    outcome: NonEmpty = Field(description="Effect size with its time point, as published.")
    time_point: str = ""
    level: Literal[1, 2, 3, 4, 5] | None = Field(
        default=None, description="Oxford/JBJS level; None when there is no study (absence)."
    )
    check: Literal["verified", "secondary", "unverified", "absence_verified"]
    finding: Literal["favours", "no_difference", "descriptive"] | None = Field(
        default=None,
        description=(
            "What the study found for this treatment: 'favours' (improvement or better than the "
            "comparator), 'no_difference', or 'descriptive' (who was treated, not an effect). "
            "None = not classified; it then counts as supporting in the level check."
        ),
    )
    low_quality_inputs: bool = Field(
        default=False,
        description=(
            "A level-1 review of few or low-quality trials (as the dossier says); glutemed's "
            "level check counts it as level 2."
        ),
    )
    source: SourceRef
    notes: str = ""

    @property
    def supporting_level(self) -> int | None:
        """The level this entry lends to a claim of effect (None: it lends none)."""
        if self.level is None or self.finding in ("no_difference", "descriptive"):
            return None
        return 2 if self.low_quality_inputs and self.level == 1 else self.level


TreatmentCategory = Literal[
    "education",
    "exercise",
    "self_care",
    "medication",
    "injection",
    "orthobiologic",
    "physical_modality",
    "manual_therapy",
    "assistive_device",
    "surgery",
    "reconstruction",
    "rehabilitation",
]


class Treatment(_Strict):
    """A treatment, with its evidence, harms and regulatory status."""

    id: Id
    name: NonEmpty
    synonyms: list[str] = Field(default_factory=list)
    category: TreatmentCategory
    stage: Literal[1, 2, 3, 4] = Field(
        description="1 conservative, 2 injections/adjuncts, 3 repair, 4 reconstruction."
    )
    description: NonEmpty
    indications: list[str] = Field(default_factory=list)
    contraindications: list[str] = Field(default_factory=list)
    evidence_summary: NonEmpty
    evidence_level: Literal[1, 2, 3, 4, 5] | None = Field(
        description="Best level supporting an effect for this condition; None if no evidence."
    )
    evidence_status: Literal[
        "supported",
        "short_term_only",
        "conflicting",
        "no_better_than_placebo",
        "case_series_only",
        "not_tested",
        "no_clinical_evidence",
    ]
    evidence: list[TreatmentEvidence] = Field(min_length=1)
    harms: list[str] = Field(min_length=1)
    regulatory_status: str = ""
    regulatory_sources: list[SourceRef] = Field(default_factory=list)
    recommend_by_default: bool
    dose: str = ""
    notes: str = ""


# --------------------------------------------------------------------------- instruments


class Threshold(_Strict):
    """An MCID, MDC or PASS value for an instrument, with its context."""

    kind: Literal["mcid", "mdc", "pass", "responder"]
    value: float
    relative: bool = Field(default=False, description="True if value is a fraction of baseline.")
    context: NonEmpty
    marks: list[Mark] = Field(default_factory=list)
    source: SourceRef


class InstrumentItem(_Strict):
    id: Id
    text: str = Field(default="", description="Item wording, only where the licence allows.")
    label: NonEmpty = Field(description="Short paraphrase of what the item asks.")
    min: float
    max: float
    step: float = 1.0


class Instrument(_Strict):
    """An outcome measure (questionnaire or rating scale)."""

    id: Id
    name: NonEmpty
    synonyms: list[str] = Field(default_factory=list)
    measures: NonEmpty = Field(description="What the instrument measures.")
    range: tuple[float, float]
    higher_is_better: bool
    scoring: NonEmpty
    missing_items_rule: NonEmpty
    items: list[InstrumentItem] = Field(default_factory=list)
    item_text_allowed: bool
    licence: NonEmpty
    thresholds: list[Threshold] = Field(default_factory=list)
    use: str = ""
    sources: list[SourceRef] = Field(min_length=1)
    notes: str = ""

    @model_validator(mode="after")
    def _items_text_respects_licence(self) -> Instrument:
        if not self.item_text_allowed and any(item.text for item in self.items):
            raise ValueError("item text is given although item_text_allowed is false")
        lo, hi = self.range
        if lo >= hi:
            raise ValueError(f"range lower bound {lo} must be below upper bound {hi}")
        return self


# --------------------------------------------------------------------------- movement


class MovementMeasure(_Strict):
    """A measured movement quantity with its measurement error and reference values."""

    id: Id
    name: NonEmpty
    unit: Literal["deg", "m", "s", "steps_per_min", "count", "hz"]
    tasks: list[Literal["walk", "single_leg_stance", "single_leg_squat"]] = Field(min_length=1)
    description: NonEmpty
    sign_convention: str = ""
    smallest_detectable_difference: Estimate | None = None
    minimal_detectable_change: Estimate | None = None
    reference_values: list[Estimate] = Field(default_factory=list)
    finding: Id | None = Field(default=None, description="Finding id this measure informs.")
    notes: str = ""


class Parameter(_Strict):
    """A sourced processing parameter (filter cut-off, minimum strides, frame rate ...)."""

    id: Id
    name: NonEmpty
    value: float
    unit: str
    rationale: NonEmpty
    source: SourceRef


# --------------------------------------------------------------------------- corrections


class Correction(_Strict):
    """A claim from a seed page checked against the evidence."""

    id: Id
    seed: Literal["000", "004"]
    claim: NonEmpty = Field(description="The seed's words (quoted or closely paraphrased).")
    verdict: Literal["supported", "partly_supported", "contradicted", "unsupported"]
    correction: NonEmpty
    related: list[Id] = Field(min_length=1, description="Knowledge-base ids it concerns.")
    sources: list[SourceRef] = Field(min_length=1)

    @field_validator("claim")
    @classmethod
    def _no_smart_whitespace(cls, v: str) -> str:
        return re.sub(r"\s+", " ", v)
