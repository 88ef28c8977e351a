"""The streaming table path (assess-batch on CSV/Parquet) agrees with the single-case engine."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glutemed.errors import DataFileError
from glutemed.reasoning import assess, assess_table, load_case

CASES = Path(__file__).resolve().parents[2] / "src" / "glutemed" / "examples" / "cases"


def _table(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    rows, cases = [], {}
    for path in sorted(CASES.glob("*.yaml")):
        case = load_case(path)
        if case.pretest:
            continue  # tables carry no pre-test estimates
        cases[path.stem] = case
        rows.append(
            {
                "case": path.stem,
                "setting": case.setting,
                "age_years": "" if case.patient.age_years is None else str(case.patient.age_years),
                "sex": case.patient.sex,
                **case.observed(),
            }
        )
    src = tmp_path / "cases.csv"
    pd.DataFrame(rows).fillna("").to_csv(src, index=False)
    return src, cases


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_rows_match_assess(kb, tmp_path: Path, suffix: str) -> None:
    src, cases = _table(tmp_path)
    out = tmp_path / f"out{suffix}"
    summary = assess_table(src, out, kb, chunk=3)  # several chunks
    assert summary["cases"] == len(cases)
    res = (pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)).set_index("case")
    for name, case in cases.items():
        single = assess(case, kb, with_intervals=False)
        assert res.loc[name, "top_condition"] == single.differential[0]["id"]
        for c in single.conditions:
            assert res.loc[name, f"p_{c.id}"] == pytest.approx(c.probability, abs=1e-4)
        flagged = {f["id"] for f in single.red_flags}
        got = res.loc[name, "must_not_miss"]
        assert set(str(got).split(";")) - {"", "nan"} == flagged


def test_unknown_setting_names_the_row(kb, tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    pd.DataFrame([{"case": "a", "setting": "moon_clinic", "lateral_hip_pain": "positive"}]).to_csv(
        src, index=False
    )
    with pytest.raises(DataFileError) as err:
        assess_table(src, tmp_path / "o.csv", kb)
    assert "row 2 setting" in err.value.problems[0].location
