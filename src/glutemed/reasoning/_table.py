"""Batch input and output: folders of case files and CSV/Parquet tables.

Table layout (one row per case)::

    case, setting, age_years, sex, side, <finding id>, <finding id>, ...

Finding columns hold ``positive``, ``negative``, ``not_done`` (or an ordinal level for ordinal
imaging findings); an empty cell means not recorded. Imaging findings are recognised by their
kind in the knowledge base. Result tables have one row per case with each ranked condition's
probability and interval, the top condition, red flags, the imaging advice and the versions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glutemed.errors import DataFileError, Problem
from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.reasoning._case import Case, case_from_dict, load_case
from glutemed.reasoning._engine import Assessment

__all__ = ["read_cases", "write_results"]

_META = ("case", "setting", "age_years", "sex", "side", "label")


def read_cases(source: Path, *, setting: str | None = None) -> list[tuple[str, Case]]:
    """Read cases from a folder of YAML/JSON files or from a CSV/Parquet table."""
    import pandas as pd

    source = Path(source)
    cases: list[tuple[str, Case]] = []
    if source.is_dir():
        files = sorted(
            p for p in source.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".json")
        )
        if not files:
            raise DataFileError(
                f"no case files in {source.name}",
                [Problem(source.name, "YAML or JSON case files", "none")],
            )
        cases = [(p.stem, load_case(p)) for p in files]
    elif source.suffix.lower() in (".csv", ".parquet"):
        try:
            frame = (
                pd.read_parquet(source)
                if source.suffix.lower() == ".parquet"
                else pd.read_csv(source, dtype=str, keep_default_na=False)
            )
        except (OSError, ValueError) as exc:
            raise DataFileError(
                f"cannot read table {source.name}",
                [Problem(source.name, "a CSV or Parquet table", type(exc).__name__)],
            ) from None
        kb = load_kb()
        for i, row in enumerate(frame.to_dict(orient="records")):
            cases.append(
                (
                    str(row.get("case") or f"row{i + 1}"),
                    _row_case(row, kb, f"{source.name} row {i + 2}"),
                )
            )
    else:
        raise DataFileError(
            f"cannot read {source.name}",
            [
                Problem(
                    source.name,
                    "a folder of case files, a .csv or a .parquet table",
                    source.suffix or "no suffix",
                )
            ],
        )
    if setting is not None:
        cases = [(n, c.model_copy(update={"setting": setting})) for n, c in cases]
    return cases


def _row_case(row: dict[str, Any], kb: KnowledgeBase, where: str) -> Case:
    data: dict[str, Any] = {"findings": {}, "imaging": {}, "patient": {}}
    for key, value in row.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key in ("age_years", "sex"):
            data["patient"][key] = float(value) if key == "age_years" else value
        elif key in ("setting", "side", "label"):
            data[key] = value
        elif key == "case":
            continue
        else:
            finding = kb.findings.get(key)
            section = "imaging" if finding is not None and finding.kind == "imaging" else "findings"
            data[section][key] = str(value).strip()
    return case_from_dict(data, where=where)


def write_results(
    rows: list[tuple[str, Assessment]], output: Path, kb: KnowledgeBase
) -> dict[str, Any]:
    """Write one row per case to ``output`` (.csv or .parquet) and return a summary."""
    import pandas as pd

    records: list[dict[str, Any]] = []
    for name, a in rows:
        rec: dict[str, Any] = {"case": name}
        rec["red_flags"] = ";".join(f["id"] for f in a.red_flags)
        rec["top_condition"] = a.conditions[0].id if a.conditions else ""
        for c in a.conditions:
            rec[f"p_{c.id}"] = round(c.probability or 0.0, 4)
            if c.interval is not None:
                rec[f"lo_{c.id}"] = round(c.interval[0], 4)
                rec[f"hi_{c.id}"] = round(c.interval[1], 4)
        rec["imaging"] = a.imaging["modality"]
        rec["next_test"] = a.next_tests[0]["id"] if a.next_tests else ""
        rec["engine_version"] = a.versions["engine"]
        rec["kb_version"] = a.versions["kb"]
        records.append(rec)
    head = ["case", "red_flags", "top_condition", "imaging", "next_test"]
    tail = ["engine_version", "kb_version"]
    conditions = sorted({k[2:] for r in records for k in r if k.startswith("p_")})
    middle = [f"{x}_{c}" for c in conditions for x in ("p", "lo", "hi")]
    columns = head + [c for c in middle if any(c in r for r in records)] + tail
    frame = pd.DataFrame(records, columns=columns)
    output = Path(output)
    if output.suffix.lower() == ".parquet":
        frame.to_parquet(output, index=False)
    elif output.suffix.lower() == ".csv":
        frame.to_csv(output, index=False)
    else:
        raise DataFileError(
            f"cannot write {output.name}",
            [Problem("--output", "a .csv or .parquet file name", output.suffix or "no suffix")],
        )
    return {"cases": len(records), "output": str(output), "versions": kb.versions()}
