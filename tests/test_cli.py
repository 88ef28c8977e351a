"""The command line: every command runs, --json is valid JSON, errors exit 2 naming the problem."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from glutemed.cli import app, example_cases_dir

runner = CliRunner()


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def run_json(*args: str) -> dict:
    return json.loads(run(*args, "--json"))


def test_version() -> None:
    assert "knowledge base" in run("--version")


def test_kb_commands() -> None:
    check = run_json("kb", "check")
    assert check["ok"] and check["counts"]["findings"] > 50 and check["sourced_numbers"] > 100
    hits = run_json("kb", "search", "superior gluteal")["hits"]
    assert "superior_gluteal_nerve" in [h["id"] for h in hits[:3]]
    shown = run_json("kb", "show", "single_leg_stance_30s")
    assert shown["kind"] == "findings" and "dx_r1" in shown["sources"]
    listed = run_json("kb", "list", "treatments")
    assert any(t["id"] == "prp_injection" for t in listed)
    text = run("kb", "search", "trendelenburg")
    assert "Trendelenburg sign" in text and "accuracy" in text and "dx_r4" in text


def test_kb_errors_name_the_problem(tmp_path: Path) -> None:
    out = run("kb", "show", "trendelenberg_sign", code=2)
    assert "did you mean trendelenburg_sign" in out
    assert "one of" in run("kb", "list", "finding", code=2)
    broken = tmp_path / "kb"
    from glutemed.knowledge import data_dir

    shutil.copytree(data_dir(), broken)
    (broken / "conditions.yaml").write_text("conditions: [unclosed\n", "utf-8")
    out = run("kb", "check", str(broken), code=1)
    assert "conditions.yaml:" in out and "valid YAML" in out


def test_assess_json_structure() -> None:
    data = run_json("assess", "tendinopathy")
    assert {"conditions", "red_flags", "next_tests", "imaging", "severity", "versions"} <= set(data)
    probs = [c["probability"] for c in data["conditions"]]
    assert probs == sorted(probs, reverse=True)
    first = data["conditions"][0]
    assert {"id", "probability", "interval", "contributions"} <= set(first)
    assert {"id", "if_positive", "if_negative", "value"} <= set(data["next_tests"][0])
    assert {"recommendation", "modality", "urgency", "reasons"} <= set(data["imaging"])
    assert {"engine", "kb"} <= set(data["versions"])


def test_assess_setting_override_and_bad_setting() -> None:
    data = run_json("assess", "tendinopathy", "--setting", "community")
    assert data["method"]["setting"] == "community"
    assert "primary_care" in run("assess", "tendinopathy", "--setting", "hospital", code=2)


def test_assess_bad_case_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("findings:\n  trendelenberg_sign: positive\n", "utf-8")
    out = run("assess", str(bad), code=2)
    assert "trendelenberg_sign" in out and "did you mean" in out


def test_assess_batch_folder_and_table(tmp_path: Path) -> None:
    out_csv = tmp_path / "results.csv"
    run("assess-batch", str(example_cases_dir()), "-o", str(out_csv))
    frame = pd.read_csv(out_csv)
    assert (
        len(frame) >= 6
        and "p_gtps" in frame.columns
        and set(frame["kb_version"]) == {frame["kb_version"][0]}
    )
    table = tmp_path / "cases.csv"
    pd.DataFrame(
        [
            {
                "case": "a",
                "setting": "primary_care",
                "lateral_hip_pain": "positive",
                "palpation_greater_trochanter_tenderness": "negative",
                "resisted_hip_abduction_pain": "negative",
            },
            {
                "case": "b",
                "setting": "primary_care",
                "lateral_hip_pain": "positive",
                "palpation_greater_trochanter_tenderness": "positive",
                "resisted_hip_abduction_pain": "positive",
            },
        ]
    ).to_csv(table, index=False)
    out_parquet = tmp_path / "results.parquet"
    run("assess-batch", str(table), "-o", str(out_parquet))
    res = pd.read_parquet(out_parquet).set_index("case")
    assert res.loc["a", "p_gtps"] == pytest.approx(0.14, abs=0.02)
    assert res.loc["b", "p_gtps"] == pytest.approx(0.96, abs=0.02)


def test_plan_and_handout(tmp_path: Path) -> None:
    data = run_json("plan", "tendinopathy")
    assert data["stage"] == 1 and data["recommendations"]
    assert {"stage", "recommendations", "review_after_weeks", "escalate_if", "versions"} <= set(
        data
    )
    asked = run_json("plan", "tendinopathy", "--ask", "bmac")
    text = json.dumps(asked)
    assert "bmac" in text.lower()
    html = tmp_path / "h.html"
    run("handout", "tendinopathy", "-o", str(html))
    assert "<html" in html.read_text("utf-8").lower()
    assert "expected" in run("handout", "tendinopathy", "-o", str(tmp_path / "h.docx"), code=2)


@pytest.mark.parametrize(
    "args",
    [
        ("assess", "tendinopathy"),
        ("assess", "stress_fracture"),
        ("assess", "red_flag"),
        ("plan", "tendinopathy"),
        ("plan", "partial_tear"),
        ("plan", "full_thickness_tear"),
    ],
)
def test_console_output_has_no_internal_values(args: tuple[str, str]) -> None:
    """What a clinician reads: no snake_case ids, source keys or Python values."""
    out = run(*args)
    leaks = re.findall(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|\b(?:True|False|None)\b", out)
    assert not leaks, leaks
    # an estimate is never shown as certain (percent(): "> 99.9%", "< 0.1%")
    assert not re.search(r"\b100(?:\.0+)? ?%|(?<![\d.])0(?:\.0+)? ?%", out), out


def test_score() -> None:
    data = run_json("score", "nprs", "4", "--baseline", "7")
    assert data["total"] == 4 and data["change"]["responder_status"] == "responder"
    out = run("score", "nprs", "14", code=2)
    assert "nprs" in out and "14" in out


MHHS_ANSWERS = (
    '{"pain": 30, "function_limp": 8, "function_support": 11, "function_distance": 8, '
    '"function_stairs": 2, "function_shoes_socks": 2, "function_sitting": 3, '
    '"function_public_transport": 1}'
)


def test_score_console_cites_sources_by_name() -> None:
    out = " ".join(run("score", "nprs", "4", "--baseline", "7").split())
    assert "[Chronic pain (Farrar 2001)]" in out
    assert "tx_r" not in out
    out = " ".join(run("score", "mhhs", MHHS_ANSWERS, "--baseline", "60").split())
    assert "5 of 6 published contexts" not in out  # 11.4 points meets all six
    assert "each of the 6 published contexts" in out and "tx_r" not in out


def test_score_context_option() -> None:
    data = run_json("score", "mhhs", MHHS_ANSWERS, "--baseline", "60", "--context", "endoscopic")
    change = data["change"]
    assert change["context"] == "endoscopic"
    assert len(change["thresholds"]) == 2
    assert all("ndoscopic" in t["context"] for t in change["thresholds"])
    out = run("score", "mhhs", MHHS_ANSWERS, "--baseline", "60", "--context", "knee", code=2)
    assert "'knee'" in out and "Rice 2023" in out and "tx_r" not in out


@pytest.mark.reference_data
def test_motion_on_reference_c3d(shared_dir: Path, tmp_path: Path) -> None:
    c3d = shared_dir / "data" / "c3d" / "gait-raw.c3d"
    data = run_json("motion", str(c3d))
    assert data["task"] == "walk" and data["sampling_rate_hz"] == 50
    assert {e["kind"] for e in data["events"]} == {"foot_strike", "foot_off"}
    out = tmp_path / "plot.png"
    run("motion", str(c3d), "--plot", str(out))
    assert out.stat().st_size > 1000
    folder = tmp_path / "trials"
    folder.mkdir()
    shutil.copy(c3d, folder / "a.c3d")
    table = tmp_path / "motion.csv"
    run("motion-batch", str(folder), "-o", str(table))
    assert len(pd.read_csv(table)) == 1


def test_motion_missing_file(tmp_path: Path) -> None:
    out = run("motion", str(tmp_path / "nothing.c3d"), code=2)
    assert "nothing.c3d" in out


def test_users_create_and_list(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    created = json.loads(
        run(
            "users",
            "create",
            "alice",
            "--admin",
            "--password",
            "correct horse battery staple",
            "--database-url",
            url,
            "--json",
        )
    )
    assert created == {"username": "alice", "role": "admin", "clinic": "My clinic"}
    listed = run_json("users", "list", "--database-url", url)
    assert [u["username"] for u in listed] == ["alice"]
    out = run(
        "users",
        "create",
        "alice",
        "--password",
        "another long password",
        "--database-url",
        url,
        code=2,
    )
    assert "alice" in out


def test_fhir_import_then_export(tmp_path: Path) -> None:
    """A bundle made from an example case imports as a patient and exports again."""
    import datetime as dt

    from glutemed.fhir import PatientRecord, Visit, export_bundle
    from glutemed.knowledge import load_kb
    from glutemed.reasoning import assess, load_case

    kb = load_kb()
    case = load_case(example_cases_dir() / "tendinopathy.yaml")
    record = PatientRecord(
        id="pseudo-1",
        birth_year=1974,
        sex="female",
        visits=[
            Visit(
                id="v1", date=dt.date(2026, 11, 2), case=case, assessment=assess(case, kb).to_dict()
            )
        ],
    )
    source = tmp_path / "in.json"
    source.write_text(json.dumps(export_bundle(record, kb=kb)), "utf-8")
    url = f"sqlite:///{tmp_path / 'app.db'}"
    run(
        "users",
        "create",
        "alice",
        "--admin",
        "--password",
        "correct horse battery staple",
        "--database-url",
        url,
    )
    imported = json.loads(run("fhir", "import", str(source), "--database-url", url, "--json"))
    out = tmp_path / "out.json"
    run("fhir", "export", str(imported["patient_id"]), "-o", str(out), "--database-url", url)
    bundle = json.loads(out.read_text("utf-8"))
    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Observation", "RiskAssessment", "Provenance"} <= types
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceType": "Bundle", "entry": [{"resource": 3}]}', "utf-8")
    out_bad = run("fhir", "import", str(bad), "--database-url", url, code=2)
    assert "Bundle.entry[0].resource" in out_bad and "FHIR resource object" in out_bad
    out_missing = run("fhir", "export", "999", "--database-url", url, code=2)
    assert "patient_id" in out_missing and "999" in out_missing
