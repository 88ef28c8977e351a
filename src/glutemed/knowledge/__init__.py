"""Layer 1: the knowledge base (data + schema + loader).

>>> from glutemed.knowledge import load_kb
>>> kb = load_kb()
>>> kb.findings["trendelenburg_sign"].name
'Trendelenburg sign (static single-leg stance)'
"""

from glutemed.knowledge._cite import short_citation
from glutemed.knowledge._loader import DATA_FILES, KnowledgeBase, build_manifest, data_dir, load_kb
from glutemed.knowledge._schema import (
    AccuracyStudy,
    Condition,
    Correction,
    Estimate,
    Finding,
    FindingCluster,
    Instrument,
    InstrumentItem,
    MovementMeasure,
    RedFlag,
    RiskFactor,
    Source,
    SourceRef,
    Structure,
    Symptom,
    Threshold,
    Treatment,
)
from glutemed.knowledge._schema_exercise import (
    ArmOutcome,
    DecisionAid,
    Dose,
    Exercise,
    ExerciseFigure,
    Limb,
    Programme,
    ProgrammeItem,
    ProgrammeStage,
    Rule,
)
from glutemed.knowledge._schema_network import (
    AGE_BANDS,
    NetParam,
    NetworkSpec,
    Param,
    age_band,
    network_numbers,
    resolve_param,
)
from glutemed.knowledge._schema_pathway import (
    PLACEHOLDER,
    Action,
    Escalation,
    Fact,
    Offer,
    Stage,
    StageRule,
    When,
)
from glutemed.knowledge._search import SearchHit, search

__all__ = [
    "AGE_BANDS",
    "DATA_FILES",
    "PLACEHOLDER",
    "AccuracyStudy",
    "Action",
    "ArmOutcome",
    "Condition",
    "Correction",
    "DecisionAid",
    "Dose",
    "Escalation",
    "Estimate",
    "Exercise",
    "ExerciseFigure",
    "Fact",
    "Finding",
    "FindingCluster",
    "Instrument",
    "InstrumentItem",
    "KnowledgeBase",
    "Limb",
    "MovementMeasure",
    "NetParam",
    "NetworkSpec",
    "Offer",
    "Param",
    "Programme",
    "ProgrammeItem",
    "ProgrammeStage",
    "RedFlag",
    "RiskFactor",
    "Rule",
    "SearchHit",
    "Source",
    "SourceRef",
    "Stage",
    "StageRule",
    "Structure",
    "Symptom",
    "Threshold",
    "Treatment",
    "When",
    "age_band",
    "build_manifest",
    "data_dir",
    "load_kb",
    "network_numbers",
    "resolve_param",
    "search",
    "short_citation",
]
