"""Layer 3: the Bayesian differential, its explanation, the next test and imaging advice."""

from glutemed.reasoning._batch import BatchModel, build_batch_model
from glutemed.reasoning._case import (
    Case,
    OutcomeRecord,
    Patient,
    PatientFactors,
    TreatmentTried,
    case_from_dict,
    load_case,
    validate_case,
)
from glutemed.reasoning._engine import Assessment, ConditionResult, Contribution, assess
from glutemed.reasoning._evidence import LikelihoodRatio, shrink_weight

__all__ = [
    "Assessment",
    "BatchModel",
    "Case",
    "ConditionResult",
    "Contribution",
    "LikelihoodRatio",
    "OutcomeRecord",
    "Patient",
    "PatientFactors",
    "TreatmentTried",
    "assess",
    "build_batch_model",
    "case_from_dict",
    "load_case",
    "shrink_weight",
    "validate_case",
]
