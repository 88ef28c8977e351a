"""Package hygiene: public surface, layering, and no clinical numbers in the code."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import glutemed.questionnaires as pkg
from glutemed.knowledge import KnowledgeBase

SOURCE = Path(pkg.__file__).parent
_ALLOWED_NUMBERS = {0, 1}


def _isort_key(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_importable() -> None:
    assert pkg.__all__ == sorted(pkg.__all__, key=_isort_key)
    for name in pkg.__all__:
        assert hasattr(pkg, name), name


def test_public_functions_are_documented() -> None:
    for name in ("score", "interpret_change", "classify_trajectory"):
        doc = inspect.getdoc(getattr(pkg, name)) or ""
        for section in ("Parameters", "Returns", "Raises"):
            assert section in doc, (name, section)


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text("utf-8"))) for p in sorted(SOURCE.glob("*.py"))]


def test_implementation_lives_in_private_modules() -> None:
    assert {p.name for p, _ in _modules()} - {"__init__.py"} == {
        p.name for p, _ in _modules() if p.name.startswith("_") and p.name != "__init__.py"
    }


def test_imports_only_downward() -> None:
    forbidden = (
        "glutemed.motion",
        "glutemed.reasoning",
        "glutemed.pathway",
        "glutemed.fhir",
        "glutemed.report",
        "glutemed.store",
        "glutemed.server",
        "glutemed.cli",
        "fastapi",
        "sqlalchemy",
    )
    for path, tree in _modules():
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"


def test_no_clinical_number_in_source(kb: KnowledgeBase) -> None:
    """Thresholds and ranges live in the KB: no MCID/MDC/PASS value or range bound in code."""
    clinical: set[float] = set()
    for instrument in kb.instruments.values():
        clinical.update(t.value for t in instrument.thresholds)
        clinical.update(instrument.range)
        for item in instrument.items:
            clinical.update((item.min, item.max))
    clinical -= _ALLOWED_NUMBERS
    found = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, int | float)
                and not isinstance(node.value, bool)
                and node.value in clinical
            ):
                found.append(f"{path.name}:{node.lineno} {node.value!r}")
    assert not found, "clinical numbers in code: " + ", ".join(found)
