"""Layer 3: the Bayesian differential, its explanation, the next test and imaging advice."""

from glutemed.reasoning._batch import BatchModel, build_batch_model
from glutemed.reasoning._case import (
    SETTINGS,
    Case,
    OutcomeRecord,
    Patient,
    PatientFactors,
    TreatmentTried,
    case_from_dict,
    load_case,
    validate_case,
)
from glutemed.reasoning._engine import (
    Assessment,
    ConditionResult,
    Contribution,
    assess,
    network_for,
    short_citation,
)
from glutemed.reasoning._percent import percent
from glutemed.reasoning._table import assess_table, read_cases, write_results

__all__ = [
    "SETTINGS",
    "Assessment",
    "BatchModel",
    "Case",
    "ConditionResult",
    "Contribution",
    "OutcomeRecord",
    "Patient",
    "PatientFactors",
    "TreatmentTried",
    "assess",
    "assess_table",
    "build_batch_model",
    "case_from_dict",
    "load_case",
    "network_for",
    "percent",
    "read_cases",
    "short_citation",
    "validate_case",
    "write_results",
]
