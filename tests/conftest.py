"""Shared fixtures: the bundled knowledge base and the shared reference data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from glutemed.knowledge import KnowledgeBase, load_kb

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_kb()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared reference folder not found next to the project ({SHARED.name})")
    return SHARED
