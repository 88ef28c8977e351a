"""Hostile or broken input files: the CLI answers with a typed error naming the file, never a
traceback, within bounded time; a batch reports its bad files and goes on."""

from __future__ import annotations

import json
import shutil
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from glutemed.cli import app, example_cases_dir

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    # a typed error exits through typer.Exit; anything else would be the raw exception here
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, result.output


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"findings: {{trendelenburg_sign: *a{levels - 1}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("items: [1, 2\n", "valid YAML"),
        ("a: b: c\n", "valid YAML"),
        ("\x00\x01", "valid YAML"),
        ("- " * 400 + "1\n", "nested levels"),
        ("[" * 5000, "nested levels"),
        ("a: &a [*a]\n", "alias"),
        ("when: 2024-13-45\n", "valid YAML values"),
        ("x: !!python/object/apply:os.system [ls]\n", "valid YAML"),
    ],
)
def test_score_bad_answer_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text(text, "utf-8")
    code, out = invoke("score", "visa_g", str(path))
    assert code == 2 and "answers.yaml" in out and expected in out, out


def test_score_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_bytes(b"q1: \xff\xfe\n")
    code, out = invoke("score", "nprs", str(path))
    assert code == 2 and "UTF-8" in out and "offset 4" in out


def test_score_long_inline_json() -> None:
    answers = json.dumps({"pain": 4, "note": "x" * 400})
    assert len(answers) > 255
    code, out = invoke("score", "nprs", answers)
    assert "OSError" not in out and "File name too long" not in out
    code, out = invoke("score", "nprs", "{" + " " * 300 + '"pain": [}')
    assert code == 2 and "valid YAML" in out


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(), "utf-8")
    assert path.stat().st_size < 1500
    start = time.perf_counter()
    tracemalloc.start()
    try:
        code, out = invoke("assess", str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 10 and peak < 50 * 1024 * 1024
    assert code == 2 and "bomb.yaml" in out and "aliases are expanded" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"findings:\n  trendelenburg_sign: \xe9\n", "UTF-8"),
        (b"a:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 120)), "nested levels"),
        (b"a" * (3 * 1024 * 1024), "bytes"),
    ],
)
def test_assess_bad_case_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "case.yaml"
    path.write_bytes(content)
    code, out = invoke("assess", str(path))
    assert code == 2 and "case.yaml" in out and expected in out, out


def test_assess_missing_file_and_too_long_name() -> None:
    code, out = invoke("assess", "no-such-case.yaml")
    assert code == 2 and "no-such-case.yaml" in out
    code, out = invoke("assess", "x" * 300 + ".yaml")
    assert code == 2 and "File name too long" in out


def test_assess_batch_reports_bad_files_and_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    folder.mkdir()
    good = sorted(example_cases_dir().glob("*.yaml"))[:3]
    for path in good:
        shutil.copy(path, folder / path.name)
    (folder / "broken.yaml").write_text("findings: [1, 2\n", "utf-8")
    (folder / "latin1.yaml").write_bytes(b"label: caf\xe9\n")
    (folder / "unknown.yaml").write_text("findings:\n  no_such_test: positive\n", "utf-8")
    out_csv = tmp_path / "results.csv"
    code, out = invoke("assess-batch", str(folder), "-o", str(out_csv), "--json")
    assert code == 1
    summary = json.loads(out)
    assert summary["cases"] == 3 and summary["failed"] == 3
    assert sorted(e["case"] for e in summary["errors"]) == ["broken", "latin1", "unknown"]
    assert all(e["problems"] for e in summary["errors"])
    assert sorted(pd.read_csv(out_csv)["case"]) == sorted(p.stem for p in good)
    code, out = invoke("assess-batch", str(folder), "-o", str(out_csv))
    assert code == 1 and "skipped broken" in out and "3 cases assessed" in out


def test_read_only_commands_do_not_create_a_database(tmp_path: Path) -> None:
    db = tmp_path / "none" / "glutemed.sqlite3"
    url = f"sqlite:///{db}"
    code, out = invoke("users", "list", "--database-url", url)
    assert code == 2 and "no glutemed database" in out and "users create" in out
    code, out = invoke("fhir", "export", "1", "--database-url", url)
    assert code == 2 and "no glutemed database" in out
    assert not db.exists()
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    code, out = invoke("users", "list", "--database-url", f"sqlite:///{empty}")
    assert code == 2 and "an empty database" in out
