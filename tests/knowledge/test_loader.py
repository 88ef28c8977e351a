"""The knowledge base validates, and broken files give errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from glutemed.errors import KnowledgeBaseError
from glutemed.knowledge import DATA_FILES, data_dir, load_kb
from tests.knowledge._helpers import edit_kb_file, kb_problems

_edit = edit_kb_file
_problems = kb_problems


def test_bundled_kb_validates_with_manifest(kb) -> None:
    assert kb.version != "unknown"
    assert set(kb.file_hashes) == set(DATA_FILES)
    for kind in kb.KINDS:
        assert kb.kind_items(kind), f"no entries of kind {kind}"


def test_every_file_is_in_the_manifest() -> None:
    import json

    manifest = json.loads((data_dir() / "MANIFEST.json").read_text("utf-8"))
    assert set(manifest["files"]) == set(DATA_FILES)


def test_sensitivity_above_one_names_file_line_and_field(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        for f in data["findings"]:
            for row in f.get("accuracy", []):
                if row.get("sensitivity"):
                    row["sensitivity"]["value"] = 1.3
                    return

    _edit(kb_copy, "findings.yaml", bad)
    problems = _problems(kb_copy)
    hit = [p for p in problems if "sensitivity" in p]
    assert hit, problems
    assert hit[0].startswith("findings.yaml:")
    assert "1.3" in hit[0]
    assert "less than or equal to 1" in hit[0]


def test_number_without_source_is_an_error(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        for rf in data["risk_factors"]:
            if rf.get("odds_ratio"):
                del rf["odds_ratio"]["source"]
                return
        raise AssertionError("no risk factor with an odds ratio")

    _edit(kb_copy, "risk_factors.yaml", bad)
    problems = _problems(kb_copy)
    assert any(
        "risk_factors.yaml:" in p and "odds_ratio.source" in p and "field required" in p
        for p in problems
    ), problems


def test_unknown_reference_is_reported_with_a_suggestion(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        for f in data["findings"]:
            if f.get("accuracy"):
                f["accuracy"][0]["target"] = "gluteal_tendinopathi"
                return

    _edit(kb_copy, "findings.yaml", bad)
    problems = _problems(kb_copy)
    hit = [p for p in problems if "gluteal_tendinopathi" in p]
    assert hit and "did you mean gluteal_tendinopathy" in hit[0], problems


def test_unknown_source_id_is_reported(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        data["structures"][0]["facts"][0]["sources"][0]["id"] = "dx_r999"

    _edit(kb_copy, "anatomy.yaml", bad)
    problems = _problems(kb_copy)
    assert any("anatomy.yaml" in p and "dx_r999" in p and "source" in p for p in problems), problems


def test_yaml_syntax_error_names_file_and_line(kb_copy: Path) -> None:
    path = kb_copy / "treatments.yaml"
    lines = path.read_text("utf-8").splitlines()
    lines.insert(3, "  - id: [unclosed")
    path.write_text("\n".join(lines) + "\n", "utf-8")
    problems = _problems(kb_copy)
    assert any(p.startswith("treatments.yaml:") and "valid YAML" in p for p in problems), problems


def test_unknown_key_is_rejected(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        data["conditions"][0]["prevalence_guess"] = 0.5

    _edit(kb_copy, "conditions.yaml", bad)
    problems = _problems(kb_copy)
    assert any(
        "conditions.yaml:" in p and "prevalence_guess" in p and "extra inputs" in p
        for p in problems
    ), problems


def test_all_problems_are_reported_at_once(kb_copy: Path) -> None:
    def bad_conditions(data: dict[str, Any]) -> None:
        data["conditions"][0]["role"] = "suspect"

    def bad_instruments(data: dict[str, Any]) -> None:
        data["instruments"][0]["range"] = [10, 0]

    _edit(kb_copy, "conditions.yaml", bad_conditions)
    _edit(kb_copy, "instruments.yaml", bad_instruments)
    problems = _problems(kb_copy)
    assert any("conditions.yaml" in p for p in problems)
    assert any("instruments.yaml" in p for p in problems)


def test_edited_data_without_manifest_update_is_detected(kb_copy: Path) -> None:
    path = kb_copy / "conditions.yaml"
    path.write_text(path.read_text("utf-8") + "\n# edited\n", "utf-8")
    with pytest.raises(KnowledgeBaseError) as info:
        load_kb(kb_copy)
    assert any(
        "MANIFEST.json" in str(p) and "conditions.yaml" in str(p) for p in info.value.problems
    )


def test_guessed_snomed_code_is_rejected(kb_copy: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        data["conditions"][0].setdefault("codes", []).append(
            {
                "system": "SNOMED-CT",
                "code": "123456",
                "display": "guess",
                "verified": False,
                "source": {"id": "ls_terminology", "locator": "none"},
            }
        )

    _edit(kb_copy, "conditions.yaml", bad)
    problems = _problems(kb_copy)
    assert any("snomed ct codes are listed only when verified" in p.lower() for p in problems), (
        problems
    )


def test_get_unknown_id_suggests(kb) -> None:
    from glutemed.errors import NotFoundError

    with pytest.raises(NotFoundError) as info:
        kb.get("trendelenberg_sign")
    assert "trendelenburg_sign" in str(info.value)
