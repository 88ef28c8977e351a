"""The published-case files in benchmarks/published_cases are well formed and match their sources.

The structure check itself lives in tools/check_published_cases.py so that it can be run by hand;
these tests run it over the folder, show that it catches the defects it is meant to catch, and
compare the translated development vignettes with the shared development set when it is present.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CASES = PROJECT_ROOT / "benchmarks" / "published_cases"
CHECKER = PROJECT_ROOT / "tools" / "check_published_cases.py"

GOOD = """\
# A test case. Translated from a published case report; facts as stated in the source.
source:
  citation: "Author A. A title. A journal 2020;1:1"
  url: "https://example.org/case"
truth:
  label: gtps_bursitis
  text: "Trochanteric bursitis"
  accept: [trochanteric_bursitis]
  must_not_miss: false
case:
  label: "Lateral hip pain"
  patient: {age_years: 60, sex: female}
  setting: primary_care
  side: left
  findings:
    lateral_hip_pain: positive
  imaging: {}
  treatments_tried:
  - {id: corticosteroid_injection, response: none}
judgement_calls:
- "Setting not stated -> primary_care."
"""


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_published_cases", CHECKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _write(tmp_path: Path, text: str, name: str = "author2020-test-case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_case_file_is_well_formed(checker: ModuleType) -> None:
    results = checker.check_folder(CASES)
    assert len(results) >= 45
    problems = {name: found for name, found in results.items() if found}
    assert problems == {}


def test_the_checker_accepts_a_minimal_good_file(checker: ModuleType, tmp_path: Path) -> None:
    assert checker.check_file(_write(tmp_path, GOOD)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("  setting: primary_care\n", ""), "missing field(s) setting"),
        (("    lateral_hip_pain: positive\n", "    lateral_hip_pain: yes\n"), "lateral_hip_pain"),
        (("  accept: [trochanteric_bursitis]\n", "  accept: []\n"), "excluded_reason"),
        (("  side: left\n", "  side: both\n"), "case.side"),
        (("response: none", "response: helped"), "response"),
        (("  must_not_miss: false\n", "  must_not_miss: no-ish\n"), "must_not_miss"),
        (("sex: female", "sex: F"), "case.patient.sex"),
        (("https://example.org/case", "example.org/case"), "source.url"),
        (
            (
                'judgement_calls:\n- "Setting not stated -> primary_care."\n',
                "judgement_calls: []\n",
            ),
            "judgement_calls",
        ),
        (
            (
                "    lateral_hip_pain: positive\n",
                "    lateral_hip_pain: positive\n    lateral_hip_pain: negative\n",
            ),
            "duplicate key",
        ),
        (("# A test case. Translated", "# A test case. Made up"), "line 1"),
        (
            ("  imaging: {}\n", "  imaging: {lateral_hip_pain: positive}\n"),
            "both findings and imaging",
        ),
    ],
)
def test_the_checker_names_each_defect(
    checker: ModuleType, tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    problems = checker.check_file(_write(tmp_path, GOOD.replace(old, new)))
    assert any(expected in problem for problem in problems), problems


def test_the_checker_requires_the_vignette_id_as_file_name(
    checker: ModuleType, tmp_path: Path
) -> None:
    text = GOOD.replace("source:\n", "source:\n  vignette: other2021-case\n")
    problems = checker.check_file(_write(tmp_path, text))
    assert any("source.vignette" in problem for problem in problems)
    assert checker.check_file(_write(tmp_path, GOOD, name="Bad Name.yaml"))[0].startswith(
        "file name"
    )


def test_the_command_line_reports_and_fails_on_a_bad_folder(
    checker: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, GOOD.replace("  side: left\n", ""))
    assert checker.main(["check", str(tmp_path)]) == 1
    assert "missing field(s) side" in capsys.readouterr().out
    assert checker.main(["check", str(CASES)]) == 0


def test_translated_vignettes_match_the_development_set(shared_dir: Path) -> None:
    source = shared_dir / "cases" / "dev-vignettes.yaml"
    if not source.is_file():
        pytest.skip("development vignettes not found in the shared folder")
    vignettes = yaml.safe_load(source.read_text(encoding="utf-8"))
    for vignette in vignettes:
        path = CASES / f"{vignette['id']}.yaml"
        assert path.is_file(), f"no case file for vignette {vignette['id']}"
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        where = path.name
        assert case["source"]["vignette"] == vignette["id"], where
        assert case["source"]["citation"] == vignette["source"]["citation"], where
        assert case["source"]["url"] == vignette["source"]["url"], where
        assert case["truth"]["label"] == vignette["final_diagnosis"], where
        assert case["truth"]["text"] == vignette["final_diagnosis_text"], where
        patient = case["case"]["patient"]
        assert patient.get("age_years") == vignette["patient"]["age"], where
        assert {"female": "F", "male": "M"}[patient["sex"]] == vignette["patient"]["sex"], where
        if vignette["setting"] != "not captured":
            assert case["case"]["setting"] == vignette["setting"], where
