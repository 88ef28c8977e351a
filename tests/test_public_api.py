"""Every package exposes a sorted __all__ whose names exist (one public import path per thing)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import glutemed

PACKAGES = [
    "glutemed",
    *sorted(
        name
        for _, name, is_pkg in pkgutil.walk_packages(glutemed.__path__, "glutemed.")
        if is_pkg
        and "._" not in name
        and ".migrations" not in name
        and ".templates" not in name
        and ".static" not in name
        and ".examples" not in name
    ),
]


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported, key=_isort_key), f"{name}.__all__ is not sorted"
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names {item!r}, which does not exist"


def test_versions_are_exposed() -> None:
    assert glutemed.__version__
    assert glutemed.__kb_version__ not in ("", "unknown")
