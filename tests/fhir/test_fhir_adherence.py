"""Exercise adherence as a FHIR Observation: local codes only, UCUM %, and a lossless round trip."""

from __future__ import annotations

import json

from glutemed.fhir import CS, AdherenceSummary, export_bundle, import_bundle
from glutemed.knowledge import KnowledgeBase

from .conftest import GENERATED_AT, full_record

SUMMARY = AdherenceSummary(
    programme="prog_leap_edx",
    stage="leap_week_1",
    programme_week=2,
    sessions_done=12,
    sessions_prescribed=14,
    pain_during_max=4,
    pain_after_max=2,
    suggestion="progress",
    decision="stay",
)


def _record(kb: KnowledgeBase) -> object:
    record = full_record(kb)
    first = record.visits[0].model_copy(
        update={"adherence": [SUMMARY, AdherenceSummary(programme="prog_leap_edx", stage="x")]}
    )
    return record.model_copy(update={"visits": [first, *record.visits[1:]]})


def test_adherence_observation_codes_and_value(bundled_kb: KnowledgeBase) -> None:
    bundle = export_bundle(_record(bundled_kb), kb=bundled_kb, generated_at=GENERATED_AT)
    obs = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and any(c["system"] == CS.exercise_adherence for c in e["resource"]["code"]["coding"])
    ]
    assert len(obs) == 2
    full, empty = obs
    assert full["category"][0]["coding"][0]["code"] == "therapy"
    assert full["valueQuantity"] == {
        "value": 85.7,
        "unit": "%",
        "system": "http://unitsofmeasure.org",
        "code": "%",
    }
    systems = {c["system"] for part in full["component"] for c in part["code"]["coding"]}
    assert systems == {CS.exercise_adherence}  # no borrowed LOINC code for exercise pain
    assert "valueQuantity" not in empty and empty["dataAbsentReason"]["coding"][0]["code"]


def test_adherence_round_trip(bundled_kb: KnowledgeBase) -> None:
    record = _record(bundled_kb)
    first = export_bundle(record, kb=bundled_kb, generated_at=GENERATED_AT)
    result = import_bundle(json.dumps(first), kb=bundled_kb)
    assert result.warnings == []
    assert result.record.visits[0].adherence == record.visits[0].adherence  # type: ignore[attr-defined]
    assert export_bundle(result.record, kb=bundled_kb, generated_at=GENERATED_AT) == first
