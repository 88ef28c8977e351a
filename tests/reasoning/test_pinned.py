"""Stored-result tests: the assessments of the bundled example cases do not drift silently.

A deliberate change regenerates tests/data/assessments/ (see the script there) and is recorded
in CHANGELOG.md under "Clinical changes".
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from glutemed.reasoning import assess, load_case

DATA = Path(__file__).resolve().parents[1] / "data"
CASES = Path(__file__).resolve().parents[2] / "src" / "glutemed" / "examples" / "cases"
_spec = importlib.util.spec_from_file_location("regen", DATA / "regenerate_pinned_assessments.py")
assert _spec and _spec.loader
regen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regen)

NAMES = sorted(p.stem for p in CASES.glob("*.yaml"))


def test_there_are_at_least_six_examples() -> None:
    assert {
        "tendinopathy",
        "partial_tear",
        "full_thickness_tear",
        "hip_oa",
        "lumbar_radiculopathy",
        "red_flag",
    } <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_pinned(kb, name: str) -> None:
    stored = json.loads((DATA / "assessments" / f"{name}.json").read_text("utf-8"))
    now = regen.pinned(assess(load_case(CASES / f"{name}.yaml"), kb).to_dict())
    assert now["kb"] == stored["kb"], "knowledge base changed: regenerate deliberately and log it"
    assert now["red_flags"] == stored["red_flags"]
    assert now["differential"] == stored["differential"]
    assert now["must_not_miss_above_threshold"] == stored["must_not_miss_above_threshold"]
    assert now["referral"] == stored["referral"]
    assert now["next_tests"] == stored["next_tests"]
    assert now["imaging"] == stored["imaging"]
    assert now["severity"] == stored["severity"]
    assert now["conditions"].keys() == stored["conditions"].keys()
    for cid, want in stored["conditions"].items():
        got = now["conditions"][cid]
        assert got["probability"] == pytest.approx(want["probability"], abs=1e-4), cid
        assert got["interval"] == pytest.approx(want["interval"], abs=1e-4), cid


def test_expected_top_conditions(kb) -> None:
    """Clinical sanity of the examples, independent of the stored numbers."""
    top = {n: assess(load_case(CASES / f"{n}.yaml"), kb) for n in NAMES}
    assert top["hip_oa"].differential[0]["id"] == "hip_osteoarthritis"
    assert top["lumbar_radiculopathy"].differential[0]["id"] == "lumbar_radiculopathy"
    assert top["tendinopathy"].differential[0]["id"] == "gluteal_tendinopathy_without_tear"
    assert top["partial_tear"].differential[0]["id"] == "gluteal_tendon_partial_tear"
    assert top["full_thickness_tear"].differential[0]["id"] == "gluteal_tendon_full_thickness_tear"
    assert [f["id"] for f in top["red_flag"].red_flags] == ["bone_tumour"]
