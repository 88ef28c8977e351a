"""Batch input and output: folders of case files and CSV/Parquet tables.

Table layout (one row per case)::

    case, setting, age_years, sex, side, <finding id>, <finding id>, ...

Finding columns hold ``positive``, ``negative``, ``not_done`` (or an ordinal level for ordinal
imaging findings); an empty cell means not recorded. Imaging findings are recognised by their
kind in the knowledge base. Result tables have one row per case with each ranked condition's
probability and interval, the top condition, red flags, the imaging advice and the versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from glutemed.errors import DataFileError, Problem
from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.reasoning._case import Case, case_from_dict, load_case
from glutemed.reasoning._engine import Assessment

__all__ = ["assess_table", "read_cases", "write_results"]

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
            section = (
                "imaging"
                if finding is not None and finding.kind in ("imaging", "laboratory", "procedure")
                else "findings"
            )
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
        rec["top_condition"] = a.differential[0]["id"] if a.differential else ""
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


def _table_batches(source: Path, chunk: int) -> Iterator[Any]:
    """Yield pandas frames of at most ``chunk`` rows from a CSV or Parquet table (all text)."""
    import pandas as pd

    try:
        if source.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            batches: Iterator[Any] = (
                b.to_pandas().astype("string").fillna("")
                for b in pq.ParquetFile(source).iter_batches(batch_size=chunk)
            )
        else:
            batches = iter(pd.read_csv(source, dtype=str, keep_default_na=False, chunksize=chunk))
        while True:
            try:
                frame = next(batches)
            except StopIteration:
                return
            yield frame
    except (OSError, ValueError) as exc:
        raise DataFileError(
            f"cannot read table {source.name}",
            [Problem(source.name, "a CSV or Parquet table", f"{type(exc).__name__}: {exc}"[:200])],
        ) from None


def assess_table(
    source: Path,
    output: Path,
    kb: KnowledgeBase,
    *,
    setting: str | None = None,
    chunk: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Assess a CSV/Parquet table with the vectorised network, streaming rows to ``output``.

    Memory stays bounded by ``chunk`` rows: the table is read, assessed and written one chunk at
    a time. Point estimates only (no intervals or explanations); the same network and the same
    exact inference as :func:`~glutemed.reasoning.assess` (a test checks that they agree).
    Output columns: ``case``, ``setting``, ``top_condition``, ``must_not_miss`` (the must-not-miss
    conditions above their thresholds), ``p_<condition>`` for every condition, and the versions.

    Raises
    ------
    DataFileError
        When the table cannot be read or has unknown finding columns, or the output suffix is
        neither .csv nor .parquet.
    """
    import numpy as np
    import pandas as pd

    from glutemed.reasoning._batch import build_batch_model
    from glutemed.reasoning._case import SETTINGS
    from glutemed.reasoning._engine import network_for

    source, output = Path(source), Path(output)
    suffix = output.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DataFileError(
            f"cannot write {output.name}",
            [Problem("--output", "a .csv or .parquet file name", output.suffix or "no suffix")],
        )
    model = build_batch_model(kb)
    net = network_for(kb)
    versions = kb.versions()
    mnm = [
        (j, c, net.must_not_miss[c].threshold)
        for j, c in enumerate(model.conditions)
        if c in net.must_not_miss
    ]
    col_of = {c: j for j, c in enumerate(model.conditions)}
    gtps_col = col_of["gtps"]
    state_cols = [col_of[c] for c in net.states[1:]]
    binary_cols = [col_of[c] for c in net.binaries]
    writer: Any = None
    n = 0
    try:
        for frame in _table_batches(source, chunk):
            unknown = [c for c in frame.columns if c not in _META and c not in kb.findings]
            if unknown:
                raise DataFileError(
                    f"unknown columns in {source.name}",
                    [
                        Problem(
                            f"{source.name} column {c}",
                            "a finding id or " + ", ".join(_META),
                            repr(c),
                        )
                        for c in unknown[:20]
                    ],
                )
            n_rows = len(frame)
            finding_cols = [c for c in frame.columns if c in kb.findings]
            codes = model.encode_columns({c: frame[c].tolist() for c in finding_cols}, n_rows)
            if setting is not None:
                settings = [setting] * n_rows
            elif "setting" in frame:
                given = np.char.strip(np.asarray(frame["setting"].tolist(), dtype="U"))
                given = np.where(given == "", "primary_care", given)
                bad = ~np.isin(given, SETTINGS)
                if bad.any():
                    i = int(np.argmax(bad))
                    raise DataFileError(
                        f"unknown setting in {source.name}",
                        [
                            Problem(
                                f"{source.name} row {n + i + 2} setting",
                                "one of " + ", ".join(SETTINGS),
                                repr(str(given[i])),
                            )
                        ],
                    )
                settings = given.tolist()
            else:
                settings = ["primary_care"] * n_rows
            ages = (
                pd.to_numeric(frame["age_years"], errors="coerce").to_numpy(dtype=float)
                if "age_years" in frame
                else None
            )
            sexes = [str(x) for x in frame["sex"]] if "sex" in frame else None
            post = model.posteriors(codes, settings, ages, sexes)
            names = (
                [str(x) or f"row{n + i + 1}" for i, x in enumerate(frame["case"].tolist())]
                if "case" in frame
                else [f"row{n + i + 1}" for i in range(n_rows)]
            )
            out = pd.DataFrame({"case": names})
            out["setting"] = settings
            # the leading entry as in assess(): the tendon variable by P(GTPS), named by its
            # most probable state; every other condition by its own probability
            lead = np.asarray([gtps_col, *binary_cols])
            best = lead[np.argmax(post[:, lead], axis=1)]
            map_state = np.asarray(state_cols)[np.argmax(post[:, state_cols], axis=1)]
            best = np.where(best == gtps_col, map_state, best)
            out["top_condition"] = [model.conditions[j] for j in best]
            out["must_not_miss"] = [
                ";".join(c for j, c, t in mnm if post[i, j] >= t) for i in range(n_rows)
            ]
            for j, c in enumerate(model.conditions):
                out[f"p_{c}"] = np.round(post[:, j], 4)
            out["engine_version"] = versions["engine"]
            out["kb_version"] = versions["kb"]
            if suffix == ".csv":
                out.to_csv(output, index=False, mode="w" if n == 0 else "a", header=n == 0)
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(out, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(output, table.schema)
                writer.write_table(table)
            n += n_rows
            if progress is not None:
                progress(n_rows)
    finally:
        if writer is not None:
            writer.close()
    return {"cases": n, "output": str(output), "versions": versions}
