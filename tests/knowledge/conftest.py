"""Fixtures for the knowledge-base tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from glutemed.knowledge import data_dir


@pytest.fixture()
def kb_copy(tmp_path: Path) -> Path:
    """A copy of the bundled knowledge-base folder that a test may edit."""
    folder = tmp_path / "kb"
    shutil.copytree(data_dir(), folder)
    return folder
