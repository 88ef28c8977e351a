"""Fixtures for the care-pathway tests: the knowledge base, the plan date, case builders."""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.reasoning import Case, case_from_dict, load_case

TESTS = Path(__file__).resolve().parents[1]
PLANS = TESTS / "data" / "plans"
CASES = TESTS / "data" / "cases"
EXAMPLES = TESTS.parent / "src" / "glutemed" / "examples" / "cases"
TODAY = dt.date(2026, 11, 23)

#: A clinical picture of gluteal tendinopathy (primary care), the base of built cases.
BASE: dict[str, Any] = {
    "patient": {"age_years": 55, "sex": "female"},
    "setting": "primary_care",
    "side": "left",
    "findings": {
        "lateral_hip_pain": "positive",
        "palpation_greater_trochanter_tenderness": "positive",
        "resisted_hip_abduction_pain": "positive",
        "single_leg_stance_30s": "positive",
        "pain_lying_on_affected_side": "positive",
    },
}


@pytest.fixture(scope="session")
def pkb() -> KnowledgeBase:
    """The bundled knowledge base (manifest not checked: the KB tests check it)."""
    return load_kb(check_manifest=False)


@pytest.fixture(scope="session")
def make_plans() -> ModuleType:
    """The regeneration script of the pinned plans, imported as a module."""
    spec = importlib.util.spec_from_file_location("make_plans", PLANS / "make_plans.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def build() -> Callable[..., Case]:
    """Build a case from :data:`BASE`; keyword sections update (dicts) or replace (others)."""

    def _build(**sections: Any) -> Case:
        data: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return case_from_dict(data)

    return _build


def example(name: str) -> Case:
    """Load a bundled example case or a pathway edge case by name."""
    path = EXAMPLES / f"{name}.yaml"
    return load_case(path if path.exists() else CASES / f"{name}.yaml")


def all_case_names() -> list[str]:
    """Bundled example cases and the pathway edge cases."""
    return sorted(
        [p.stem for p in EXAMPLES.glob("*.yaml")] + [p.stem for p in CASES.glob("plan_*.yaml")]
    )
