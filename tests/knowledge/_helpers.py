"""Helpers for the knowledge-base tests: edit a copied data folder and collect its problems."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from glutemed.errors import KnowledgeBaseError
from glutemed.knowledge import load_kb


def edit_kb_file(folder: Path, name: str, fn: Callable[[Any], None]) -> None:
    """Load a YAML file of ``folder``, let ``fn`` change the data, write it back."""
    path = folder / name
    data = yaml.safe_load(path.read_text("utf-8"))
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")


def kb_problems(folder: Path) -> list[str]:
    """The problems that loading ``folder`` reports (the load must fail)."""
    with pytest.raises(KnowledgeBaseError) as info:
        load_kb(folder, check_manifest=False)
    return [str(p) for p in info.value.problems]
