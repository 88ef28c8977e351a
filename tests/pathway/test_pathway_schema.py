"""pathway.yaml: strict schema, registration in the loader, cross-reference checks."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from glutemed.errors import KnowledgeBaseError
from glutemed.knowledge import DATA_FILES, KnowledgeBase, data_dir, load_kb
from glutemed.knowledge._schema_pathway import PATHWAY_KEYS


def test_pathway_is_registered(pkb: KnowledgeBase) -> None:
    assert DATA_FILES["pathway.yaml"] == PATHWAY_KEYS
    assert sorted(pkb.pathway.stages) == [0, 1, 2, 3, 4]
    assert not pkb.pathway.stage_rules[-1].when.fact_ids(), "the last rule is the default"


def test_surgical_thresholds_are_marked_as_conventions(pkb: KnowledgeBase) -> None:
    params = pkb.pathway.parameters
    for pid, months in (
        ("surgery_min_conservative_months", 3),
        ("surgery_relative_indication_months", 6),
    ):
        assert params[pid].value == months and params[pid].unit == "months"
        assert params[pid].basis == "convention"
        assert "No study fixes an exact months-of-failure threshold" in params[pid].statement
        assert {s.id for s in params[pid].sources} <= {"tx_r61", "tx_r62", "tx_r63", "tx_r64"}


def test_every_parameter_is_sourced(pkb: KnowledgeBase) -> None:
    for p in pkb.pathway.parameters.values():
        assert p.sources and all(s.id in pkb.sources for s in p.sources), p.id


def test_on_request_treatments_exist_and_lack_evidence(pkb: KnowledgeBase) -> None:
    for tid, req in pkb.pathway.on_request.items():
        t = pkb.treatments[tid]
        assert not t.recommend_by_default, tid
        assert t.evidence_status in (
            "no_clinical_evidence",
            "case_series_only",
            "no_better_than_placebo",
        ), tid
        assert req.sources


def _edited(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    folder = tmp_path / "kb"
    shutil.copytree(data_dir(), folder)
    path = folder / "pathway.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    return folder


def _stage(data: dict[str, Any], number: int) -> dict[str, Any]:
    return next(s for s in data["stages"] if s["number"] == number)


@pytest.fixture(scope="module")
def broken_problems(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Problems reported for a copy of pathway.yaml with one mistake of each kind."""

    def edit(data: dict[str, Any]) -> None:
        _stage(data, 2)["offers"][3]["treatment"] = "corticosteroid_injektion"
        _stage(data, 2)["offers"].append(
            {"id": "s2_bad", "treatment": "bmac", "role": "option", "why": "no"}
        )
        data["stage_rules"][1]["when"] = {"all_of": ["mimic_more_likley"]}
        _stage(data, 1)["review_after"] = "no_such_parameter"
        data["patient_texts"][0]["text"] = "See you in {review_weeks_typo} weeks."
        data["parameters"][0]["valu"] = 8

    folder = _edited(tmp_path_factory.mktemp("broken"), edit)
    with pytest.raises(KnowledgeBaseError) as info:
        load_kb(folder, check_manifest=False)
    return [str(p) for p in info.value.problems]


def test_unknown_treatment_is_reported_with_line(broken_problems: list[str]) -> None:
    (hit,) = [p for p in broken_problems if "corticosteroid_injektion" in p]
    assert hit.startswith("pathway.yaml:") and "did you mean corticosteroid_injection" in hit


def test_on_request_treatment_cannot_be_offered(broken_problems: list[str]) -> None:
    assert any("on-request-only" in p and "bmac" in p for p in broken_problems)


def test_unknown_fact_parameter_and_placeholder_are_reported(broken_problems: list[str]) -> None:
    text = " | ".join(broken_problems)
    assert "mimic_more_likley" in text and "did you mean mimic_more_likely" in text
    assert "no_such_parameter" in text
    assert "{review_weeks_typo}" in text


def test_unknown_key_is_rejected(broken_problems: list[str]) -> None:
    assert any("extra inputs are not permitted" in p for p in broken_problems)


def test_unimplemented_computed_fact_fails_at_plan_time(pkb: KnowledgeBase) -> None:
    from glutemed.knowledge._schema_pathway import Fact
    from glutemed.pathway import plan
    from tests.pathway.conftest import TODAY, example

    facts = {
        **pkb.pathway.facts,
        "moon_phase": Fact(id="moon_phase", kind="computed", description="x", sentence="x"),
    }
    kb = dataclasses.replace(pkb, pathway=pkb.pathway.model_copy(update={"facts": facts}))
    with pytest.raises(KnowledgeBaseError, match="does not implement"):
        plan(example("tendinopathy"), kb=kb, today=TODAY)
