"""Layer 1: the knowledge base (data + schema + loader).

>>> from glutemed.knowledge import load_kb
>>> kb = load_kb()
>>> kb.findings["trendelenburg_sign"].name
'Trendelenburg sign (static single-leg stance)'
"""

from glutemed.knowledge._loader import DATA_FILES, KnowledgeBase, build_manifest, data_dir, load_kb
from glutemed.knowledge._schema import (
    AccuracyStudy,
    Condition,
    Correction,
    Estimate,
    Finding,
    FindingCluster,
    Instrument,
    MovementMeasure,
    RedFlag,
    RiskFactor,
    Source,
    SourceRef,
    Structure,
    Symptom,
    Treatment,
)
from glutemed.knowledge._search import SearchHit, search

__all__ = [
    "DATA_FILES",
    "AccuracyStudy",
    "Condition",
    "Correction",
    "Estimate",
    "Finding",
    "FindingCluster",
    "Instrument",
    "KnowledgeBase",
    "MovementMeasure",
    "RedFlag",
    "RiskFactor",
    "SearchHit",
    "Source",
    "SourceRef",
    "Structure",
    "Symptom",
    "Treatment",
    "build_manifest",
    "data_dir",
    "load_kb",
    "search",
]
