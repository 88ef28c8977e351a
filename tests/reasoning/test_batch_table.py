"""The streaming table path (assess-batch on CSV/Parquet) agrees with the single-case engine."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glutemed.errors import DataFileError
from glutemed.reasoning import Case, assess, assess_table, load_case

CASES = Path(__file__).resolve().parents[2] / "src" / "glutemed" / "examples" / "cases"


#: a runner's buttock pain: each stress fracture alone stays below its own threshold, but one
#: pelvic MRI rules them out together and P(any of them) is above the group's threshold (the
#: other pain sites not asked: left blank, they would count as weak evidence of absence and
#: raise the sacral fracture above its own threshold)
RUNNER = Case(
    setting="primary_care",
    patient={"age_years": 51, "sex": "female"},
    findings={
        **dict.fromkeys(
            [
                "lateral_hip_pain",
                "groin_pain",
                "posterior_thigh_pain",
                "anterior_or_lateral_thigh_pain",
                "back_pain",
            ],
            "not_done",
        ),
        "pain_radiating_below_knee": "not_done",
        "buttock_pain": "positive",
        "sudden_onset": "positive",
        "activity_related_pain_runner_or_recruit": "positive",
    },
    imaging={"xray_normal": "positive"},
)


def _expected_flags(kb, case: Case) -> set[str]:
    """assess()'s flags as the table names them: a shared group by its id."""
    groups = {frozenset(g.members): g.id for g in kb.network.shared_rule_out}
    out = set()
    for f in assess(case, kb, with_intervals=False).red_flags:
        members = frozenset(f["suspected"])
        out.add(groups[members] if len(members) > 1 else f["id"])
    return out


def _table(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    rows, cases = [], {}
    named = [(p.stem, load_case(p)) for p in sorted(CASES.glob("*.yaml"))]
    for stem, case in [*named, ("runner_buttock_pain", RUNNER)]:
        if case.pretest:
            continue  # tables carry no pre-test estimates
        cases[stem] = case
        rows.append(
            {
                "case": stem,
                "setting": case.setting,
                "age_years": "" if case.patient.age_years is None else str(case.patient.age_years),
                "sex": case.patient.sex,
                "side": case.side,
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
        got = res.loc[name, "must_not_miss"]
        assert set(str(got).split(";")) - {"", "nan"} == _expected_flags(kb, case)
    assert "pelvic_bone_stress_injury" in str(res.loc["runner_buttock_pain", "must_not_miss"])


def test_unknown_setting_names_the_row(kb, tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    pd.DataFrame([{"case": "a", "setting": "moon_clinic", "lateral_hip_pain": "positive"}]).to_csv(
        src, index=False
    )
    with pytest.raises(DataFileError) as err:
        assess_table(src, tmp_path / "o.csv", kb)
    assert "row 2 setting" in err.value.problems[0].location
