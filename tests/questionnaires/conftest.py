"""Fixtures for the questionnaires tests: the bundled, validated knowledge base."""

from __future__ import annotations

import pytest

from glutemed.knowledge import KnowledgeBase, load_kb


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    """The bundled knowledge base (schema, cross-references and manifest checked)."""
    return load_kb()
