"""Implausible FHIR data is reported, not silently stored (issue 14): impossible dates, an
unknown gender code, a Bundle cut off (missing encounters, fewer entries than its total)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from glutemed.fhir import export_bundle, import_bundle
from glutemed.knowledge import KnowledgeBase

from .conftest import GENERATED_AT, full_record


@pytest.fixture
def bundle(fixture_kb: KnowledgeBase) -> dict[str, Any]:
    return export_bundle(full_record(fixture_kb), kb=fixture_kb, generated_at=GENERATED_AT)


def _resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def _warnings(bundle: dict[str, Any], kb: KnowledgeBase) -> list[str]:
    return [str(w) for w in import_bundle(json.dumps(bundle), kb=kb).warnings]


@pytest.mark.parametrize("birth", ["0001-01-01", "1850-01-01", "1850", "2999-01-01"])
def test_impossible_birth_dates_are_reported_and_dropped(
    bundle: dict[str, Any], fixture_kb: KnowledgeBase, birth: str
) -> None:
    _resources(bundle, "Patient")[0]["birthDate"] = birth
    result = import_bundle(json.dumps(bundle), kb=fixture_kb)
    assert any("birthDate" in w.location for w in result.warnings)
    assert result.record.birth_date is None and result.record.birth_year is None


def test_unknown_gender_code_is_reported(bundle: dict[str, Any], fixture_kb: KnowledgeBase) -> None:
    _resources(bundle, "Patient")[0]["gender"] = "femalee"
    result = import_bundle(json.dumps(bundle), kb=fixture_kb)
    assert result.record.sex == "unknown"
    assert any(w.location.endswith(".gender") and "'femalee'" in w.found for w in result.warnings)


def test_future_and_ancient_dates_are_reported(
    bundle: dict[str, Any], fixture_kb: KnowledgeBase
) -> None:
    obs = _resources(bundle, "Observation")
    dated = [o for o in obs if "effectiveDateTime" in o]
    dated[0]["effectiveDateTime"] = "9999-12-31"
    dated[1]["effectiveDateTime"] = "1066-10-14"
    warnings = _warnings(bundle, fixture_kb)
    assert (
        sum("effectiveDateTime" in w and "between 1900-01-01 and today" in w for w in warnings) == 2
    )


def test_cut_off_bundle_is_reported(bundle: dict[str, Any], fixture_kb: KnowledgeBase) -> None:
    encounters = [
        i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Encounter"
    ]
    assert len(encounters) >= 2
    cut = copy.deepcopy(bundle)
    del cut["entry"][encounters[-1]]  # a visit's encounter lost; its observations remain
    warnings = _warnings(cut, fixture_kb)
    assert any("an Encounter in the Bundle" in w and "cut off" in w for w in warnings)
    searchset = copy.deepcopy(bundle)
    searchset["type"] = "searchset"
    searchset["total"] = len(searchset["entry"]) + 5
    warnings = _warnings(searchset, fixture_kb)
    assert any(w.startswith("Bundle.total") for w in warnings)


def test_plausible_bundle_still_imports_without_warnings(
    bundle: dict[str, Any], fixture_kb: KnowledgeBase
) -> None:
    assert _warnings(bundle, fixture_kb) == []


def test_impossible_movement_values_are_reported(
    bundle: dict[str, Any], fixture_kb: KnowledgeBase
) -> None:
    measures = [
        o
        for o in _resources(bundle, "Observation")
        if any("movement-measure" in c.get("system", "") for c in o["code"]["coding"])
    ]
    angles = [m for m in measures if m["valueQuantity"].get("unit") in ("deg", "°")]
    if not angles:
        angles = [m for m in measures if m["valueQuantity"].get("code") == "deg"]
    assert angles, "the fixture record has angle measures"
    angles[0]["valueQuantity"]["value"] = 1e30
    warnings = _warnings(bundle, fixture_kb)
    assert any("valueQuantity.value" in w and "[-180, 180] deg" in w for w in warnings)
