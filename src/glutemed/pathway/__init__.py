"""Layer 4: the staged care plan (conservative care -> injections -> repair -> reconstruction).

The rules are data (``knowledge/data/pathway.yaml``); this package evaluates them for a case.

>>> from glutemed.reasoning import load_case
>>> from glutemed.pathway import plan
>>> care = plan(load_case("src/glutemed/examples/cases/tendinopathy.yaml"))  # doctest: +SKIP
>>> care.stage  # doctest: +SKIP
1
"""

from glutemed.pathway._adherence import (
    EFFORT_FELT,
    ENTRY_FIELDS,
    PROGRAMME_WIDE,
    AdherenceEntry,
    AdherenceReport,
    ExerciseSuggestion,
    ProgressionSuggestion,
    read_adherence,
    sessions_prescribed,
    suggest_progression,
)
from glutemed.pathway._outcomes import InstrumentOutcome, OutcomeSummary, summarise_outcomes
from glutemed.pathway._plan import CarePlan, Recommendation, plan
from glutemed.pathway._prescription import (
    PrescribedExercise,
    Prescription,
    dose_text,
    parse_dose_changes,
    prescribe,
)
from glutemed.pathway._routes import URGENCY_ORDER, ConditionCare, care_routes
from glutemed.pathway._text import fill

__all__ = [
    "EFFORT_FELT",
    "ENTRY_FIELDS",
    "PROGRAMME_WIDE",
    "URGENCY_ORDER",
    "AdherenceEntry",
    "AdherenceReport",
    "CarePlan",
    "ConditionCare",
    "ExerciseSuggestion",
    "InstrumentOutcome",
    "OutcomeSummary",
    "PrescribedExercise",
    "Prescription",
    "ProgressionSuggestion",
    "Recommendation",
    "care_routes",
    "dose_text",
    "fill",
    "parse_dose_changes",
    "plan",
    "prescribe",
    "read_adherence",
    "sessions_prescribed",
    "suggest_progression",
    "summarise_outcomes",
]
