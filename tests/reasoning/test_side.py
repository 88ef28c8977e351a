"""The side of the symptoms is evidence: symptoms on both sides, derived when not entered."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glutemed.errors import DataFileError
from glutemed.knowledge import load_kb
from glutemed.reasoning import Case, assess, assess_table

#: an older woman with a month of constant buttock pain and a radiograph without a fracture
OLDER_WOMAN = {
    "setting": "primary_care",
    "patient": {"age_years": 74, "sex": "female"},
    "findings": {
        "buttock_pain": "positive",
        "constant_pain": "positive",
        "symptom_duration_over_3_months": "negative",
    },
    "imaging": {"xray_fracture": "negative"},
}

#: conditions that present on both sides more often than the one-sided mechanical ones
SYMMETRICAL = ("inflammatory_arthritis_pmr", "cauda_equina_syndrome", "sacral_stress_fracture")


def _p(case: Case) -> dict[str, float]:
    a = assess(case, load_kb(), with_intervals=False)
    return {c.id: c.probability or 0.0 for c in a.conditions}


def test_both_sides_raise_the_symmetrical_causes_and_one_side_lowers_them() -> None:
    both = _p(Case(**OLDER_WOMAN, side="bilateral"))
    unknown = _p(Case(**OLDER_WOMAN, side="unknown"))
    right = _p(Case(**OLDER_WOMAN, side="right"))
    for cid in SYMMETRICAL:
        assert both[cid] > unknown[cid] > right[cid], cid
    # a one-sided entrapment goes the other way
    assert both["deep_gluteal_syndrome"] < unknown["deep_gluteal_syndrome"]


def test_the_side_is_the_finding_and_a_recorded_value_wins() -> None:
    findings = {**OLDER_WOMAN["findings"], "bilateral_symptoms": "positive"}
    by_side = _p(Case(**OLDER_WOMAN, side="bilateral"))
    by_finding = _p(Case(**{**OLDER_WOMAN, "findings": findings}, side="unknown"))
    assert by_side == by_finding
    # recorded positive with the side "right" (the worse side): the recorded value is used
    assert _p(Case(**{**OLDER_WOMAN, "findings": findings}, side="right")) == by_finding
    # recorded as not done: the side does not fill it in
    not_done = {**OLDER_WOMAN["findings"], "bilateral_symptoms": "not_done"}
    assert _p(Case(**{**OLDER_WOMAN, "findings": not_done}, side="bilateral")) == _p(
        Case(**OLDER_WOMAN, side="unknown")
    )


def test_the_reason_names_the_finding_and_it_is_not_asked_when_the_side_is_known() -> None:
    kb = load_kb()
    a = assess(Case(**OLDER_WOMAN, side="bilateral"), kb)
    pmr = next(c for c in a.conditions if c.id == "inflammatory_arthritis_pmr")
    assert any(
        c.sentence.startswith("Symptoms on both sides present: raised") for c in pmr.contributions
    )
    assert all(t["id"] != "bilateral_symptoms" for t in a.next_tests)


def test_the_table_derives_it_from_its_side_column(tmp_path: Path) -> None:
    kb = load_kb()
    rows = []
    cases = {}
    for side in ("left", "right", "bilateral", "unknown"):
        case = Case(**OLDER_WOMAN, side=side)
        cases[side] = case
        rows.append(
            {
                "case": side,
                "setting": case.setting,
                "age_years": "74",
                "sex": "female",
                "side": side,
                **case.observed(),
            }
        )
    # a recorded value in its own column wins over the side, as in a case file
    rows.append({**rows[0], "case": "recorded", "bilateral_symptoms": "positive"})
    cases["recorded"] = Case(
        **{
            **OLDER_WOMAN,
            "findings": {**OLDER_WOMAN["findings"], "bilateral_symptoms": "positive"},
        },
        side="left",
    )
    src = tmp_path / "cases.csv"
    pd.DataFrame(rows).fillna("").to_csv(src, index=False)
    out = tmp_path / "out.csv"
    assess_table(src, out, kb)
    got = pd.read_csv(out).set_index("case")
    for name, case in cases.items():
        want = _p(case)
        for cid in SYMMETRICAL:
            assert got.loc[name, f"p_{cid}"] == pytest.approx(want[cid], abs=1e-4), (name, cid)


def test_an_unknown_side_in_a_table_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "cases.csv"
    pd.DataFrame([{"case": "a", "side": "both", "buttock_pain": "positive"}]).to_csv(
        src, index=False
    )
    with pytest.raises(DataFileError) as err:
        assess_table(src, tmp_path / "out.csv", load_kb())
    problem = err.value.problems[0]
    assert problem.location == "cases.csv row 2 side"
    assert "left, right, bilateral or unknown" in problem.expected
    assert "'both'" in problem.found
