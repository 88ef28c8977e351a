"""Shared fixtures: the bundled knowledge base and the shared reference data folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from glutemed.knowledge import KnowledgeBase, data_dir, load_kb

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


@pytest.fixture()
def kb_copy(tmp_path: Path) -> Path:
    """A copy of the bundled knowledge-base folder that a test may edit."""
    folder = tmp_path / "kb"
    shutil.copytree(data_dir(), folder)
    return folder
