"""`glutemed programme`: list, show and the patient sheet, with typed errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from glutemed.cli import app

runner = CliRunner()


def test_list_names_every_programme_and_marks_the_uncaptured_one() -> None:
    result = runner.invoke(app, ["programme", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert rows["prog_leap_edx"]["stages"] == ["leap_week_1", "leap_week_2", "leap_weeks_3_8"]
    assert rows["prog_clifford_isotonic"]["prescribable"] is False


def test_show_applies_omit_and_set() -> None:
    result = runner.invoke(
        app,
        [
            "programme",
            "show",
            "prog_leap_edx",
            "--stage",
            "leap_weeks_3_8",
            "--omit",
            "ex_sliding_platform",
            "--set",
            "ex_offset_squat.sets_min=1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    squat = next(e for e in data["exercises"] if e["exercise"] == "ex_offset_squat")
    assert squat["dose"]["sets_min"] == 1 and squat["adjusted_from_source"]
    assert data["omitted"] == ["ex_sliding_platform"]
    assert data["rules"]["pain"]["basis"] == "assumption"


def test_bad_set_and_bad_dose_exit_2_naming_the_field() -> None:
    bad_syntax = runner.invoke(app, ["programme", "show", "prog_leap_edx", "--set", "oops"])
    assert bad_syntax.exit_code == 2 and "EXERCISE.FIELD=VALUE" in bad_syntax.output
    bad_dose = runner.invoke(
        app,
        ["programme", "show", "prog_leap_edx", "--set", "ex_side_stepping.sets_min=0"],
    )
    assert bad_dose.exit_code == 2 and "ex_side_stepping.sets_min" in bad_dose.output


def test_sheet_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "sheet.html"
    result = runner.invoke(
        app,
        ["programme", "sheet", "prog_leap_edx", "-o", str(out), "--date", "2026-12-01"],
    )
    assert result.exit_code == 0, result.output
    assert "<svg" in out.read_text("utf-8")


def test_routes_put_the_must_not_miss_action_first() -> None:
    result = runner.invoke(app, ["routes", "red_flag", "--json"])
    assert result.exit_code == 0, result.output
    routes = json.loads(result.stdout)["routes"]
    assert routes[0]["route"] == "must_not_miss_action" and routes[0]["action"]
    oa = json.loads(runner.invoke(app, ["routes", "hip_oa", "--json"]).stdout)["routes"]
    assert oa[0]["condition"] == "hip_osteoarthritis" and oa[0]["assumption"]


def test_log_writes_the_patient_log(tmp_path: Path) -> None:
    target = tmp_path / "log.html"
    result = runner.invoke(
        app,
        [
            "programme",
            "log",
            "prog_leap_edx",
            "--days",
            "2",
            "--start",
            "2026-12-07",
            "-o",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    html = target.read_text("utf-8")
    assert "Mon 07 Dec" in html and "Tue 08 Dec" in html and "Wed 09 Dec" not in html
    bad = runner.invoke(
        app, ["programme", "log", "prog_leap_edx", "--days", "0", "-o", str(target)]
    )
    assert bad.exit_code == 2 and "days" in bad.output


def test_progress_suggests_and_names_bad_fields() -> None:
    record = {
        "programme": "prog_leap_edx",
        "stage": "leap_week_1",
        "programme_week": 2,
        "entries": [
            {
                "exercise": "ex_double_leg_bridge",
                "sessions_done": 7,
                "sessions_prescribed": 7,
                "pain_during_nrs_0_10": 6,
            }
        ],
    }
    result = runner.invoke(app, ["programme", "progress", json.dumps(record), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["suggestion"]["action"] == "regress"
    text = runner.invoke(app, ["programme", "progress", json.dumps(record)])
    assert "go back" in text.output and "assumption used" in text.output
    record["entries"][0]["sessions_done"] = 8
    bad = runner.invoke(app, ["programme", "progress", json.dumps(record)])
    assert bad.exit_code == 2 and "ex_double_leg_bridge.sessions_done" in bad.output
