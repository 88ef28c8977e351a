"""Batch input and output: folders of case files and CSV/Parquet tables.

Table layout (one row per case)::

    case, setting, age_years, sex, side, <finding id>, <finding id>, ...

Finding columns hold ``positive``, ``negative``, ``not_done`` (or an ordinal level for ordinal
imaging findings); an empty cell means not recorded. Imaging findings are recognised by their
kind in the knowledge base. Result tables have one row per case with each ranked condition's
probability and interval, the top condition, red flags, the imaging advice and the versions.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from glutemed.errors import DataFileError, Problem
from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.reasoning._case import (
    SIDE_FINDING,
    SIDES,
    Case,
    case_from_dict,
    load_case,
    side_value,
)
from glutemed.reasoning._engine import Assessment

__all__ = ["assess_table", "read_cases", "write_results"]

_META = ("case", "setting", "age_years", "sex", "side", "label")
#: Rows inferred at a time within a chunk: the inference's working arrays (a few float64
#: matrices of rows x findings) stay at a few tens of MB.
_INFER_ROWS = 8_192


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
        rec["red_flags"] = ";".join(f.get("group") or f["id"] for f in a.red_flags)
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


def _table_error(source: Path, exc: Exception) -> DataFileError:
    return DataFileError(
        f"cannot read table {source.name}",
        [Problem(source.name, "a CSV or Parquet table", f"{type(exc).__name__}: {exc}"[:200])],
    )


def _count_csv_rows(source: Path) -> int:
    """Rows of a CSV file (line breaks after the header), read in blocks: the progress total."""
    lines = 0
    last = b"\n"
    with source.open("rb") as fh:
        while block := fh.read(1 << 22):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(0, lines - 1 + (last != b"\n"))


def _open_table(source: Path, chunk: int) -> tuple[list[str], int, Iterator[Any]]:
    """Column names, number of rows and a stream of Arrow record batches of a CSV/Parquet table.

    Nothing but the current batch is held in memory: Parquet is read by row group and batch,
    CSV by blocks (every column as text, an empty cell as an empty string).
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    try:
        if source.suffix.lower() == ".parquet":
            pf = pq.ParquetFile(source)
            names = list(pf.schema_arrow.names)
            return names, int(pf.metadata.num_rows), pf.iter_batches(batch_size=chunk)
        with source.open(newline="", encoding="utf-8") as fh:
            names = next(csv.reader(fh), [])
        reader = pcsv.open_csv(
            source,
            read_options=pcsv.ReadOptions(block_size=1 << 22),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
            ),
        )
        return names, _count_csv_rows(source), iter(reader)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise _table_error(source, exc) from None


def _batches(source: Path, chunk: int, stream: Iterator[Any]) -> Iterator[Any]:
    """The record batches of ``stream`` in pieces of at most ``chunk`` rows (typed errors)."""
    while True:
        try:
            batch = next(stream)
        except StopIteration:
            return
        except (OSError, ValueError) as exc:
            raise _table_error(source, exc) from None
        for start in range(0, batch.num_rows, chunk):
            yield batch.slice(start, chunk)


def _text(column: Any, strip: bool = True) -> Any:
    """An Arrow column as text: missing values empty, whitespace trimmed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.fill_null(pc.cast(column, pa.string()), "")
    return pc.utf8_trim_whitespace(text) if strip else text


def _codes(column: Any, levels: tuple[str, ...] | None) -> NDArray[np.int8]:
    """Finding codes of an Arrow column: +1 positive, -1 negative, ordinal level index + 1."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = _text(column)
    if levels is not None:
        idx = pc.fill_null(pc.index_in(text, value_set=pa.array(list(levels))), -1)
        return (np.asarray(idx.to_numpy(zero_copy_only=False)) + 1).astype(np.int8)
    pos = np.asarray(pc.equal(text, "positive").to_numpy(zero_copy_only=False), dtype=np.int8)
    neg = np.asarray(pc.equal(text, "negative").to_numpy(zero_copy_only=False), dtype=np.int8)
    return pos - neg


def _equals(column: Any, text: str) -> NDArray[np.bool_]:
    """Where an Arrow column's trimmed text is ``text``."""
    import pyarrow.compute as pc

    return np.asarray(pc.equal(_text(column), text).to_numpy(zero_copy_only=False), dtype=bool)


def _first_bad(
    source: Path, column: str, bad: NDArray[np.bool_], values: Any, first: int, expected: str
) -> DataFileError:
    """The error naming the first row (numbered as in the file) whose ``column`` is invalid."""
    i = int(np.argmax(bad))
    return DataFileError(
        f"unknown {column} in {source.name}",
        [Problem(f"{source.name} row {first + i + 2} {column}", expected, repr(str(values[i])))],
    )


def _fill_side(batch: Any, codes: dict[str, NDArray[np.int8]], source: Path, first: int) -> None:
    """Fill :data:`SIDE_FINDING` from the ``side`` column where its own cell (when the table
    has that column) is empty, by :func:`side_value` as :meth:`Case.observed_with_side` does.

    Raises
    ------
    DataFileError
        If a side is not left, right, bilateral, unknown or empty.
    """

    known = (*SIDES, "")
    index = _codes(batch.column("side"), known).astype(np.intp) - 1  # -1: not a known side
    if (index < 0).any():
        side = _text(batch.column("side"))
        raise _first_bad(
            source, "side", index < 0, side, first, "left, right, bilateral or unknown"
        )
    code = {"positive": 1, "negative": -1, None: 0}
    implied = np.array([code[side_value(s)] for s in known], dtype=np.int8)[index]
    if SIDE_FINDING in codes:
        empty = _equals(batch.column(SIDE_FINDING), "")
        codes[SIDE_FINDING] = np.where(empty, implied, codes[SIDE_FINDING]).astype(np.int8)
    else:
        codes[SIDE_FINDING] = implied


def _joined(flags: NDArray[np.bool_], names: list[str]) -> NDArray[np.object_]:
    """Per row, the names whose flag is set joined by ';' (one string per distinct pattern)."""
    out = np.full(flags.shape[0], "", dtype=object)
    if not names:
        return out
    key = flags.astype(np.int64) @ (np.int64(1) << np.arange(len(names), dtype=np.int64))
    for k in np.unique(key[key > 0]):
        out[key == k] = ";".join(n for b, n in enumerate(names) if (int(k) >> b) & 1)
    return out


def assess_table(
    source: Path,
    output: Path,
    kb: KnowledgeBase,
    *,
    setting: str | None = None,
    chunk: int = 20_000,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Assess a CSV/Parquet table with the vectorised network, streaming rows to ``output``.

    Memory stays bounded by ``chunk`` rows, whatever the number of rows: the table is read as
    Arrow batches (no Python object per cell), assessed and written one chunk at a time. Point
    estimates only (no intervals or explanations); the same network and the same exact
    inference as :func:`~glutemed.reasoning.assess` (a test checks that they agree). Output
    columns: ``case``, ``setting``, ``top_condition``, ``must_not_miss`` (the must-not-miss
    conditions above their thresholds, and the id of a group that one test rules out together
    when P(any of its members) reaches the group's threshold), ``p_<condition>`` for every
    condition, and the versions.
    ``total`` is called once with the number of rows before the first is read, ``progress``
    with the rows of each chunk as it is read and assessed.

    Raises
    ------
    DataFileError
        When the table cannot be read or has unknown finding columns, or the output suffix is
        neither .csv nor .parquet.
    """
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
    condition_ids = np.asarray(model.conditions, dtype=object)
    names, n_total, stream = _open_table(source, chunk)
    unknown = [c for c in names if c not in _META and c not in kb.findings]
    if unknown:
        raise DataFileError(
            f"unknown columns in {source.name}",
            [
                Problem(f"{source.name} column {c}", "a finding id or " + ", ".join(_META), repr(c))
                for c in unknown[:20]
            ],
        )
    finding_cols = [c for c in names if c in kb.findings]
    if total is not None:
        total(n_total)
    writer: Any = None
    n = 0
    try:
        for batch in _batches(source, chunk, stream):
            n_rows = batch.num_rows
            by_column = {
                c: _codes(batch.column(c), model.ordinal_levels.get(c)) for c in finding_cols
            }
            if "side" in names:
                _fill_side(batch, by_column, source, n)
            # a finding recorded "not done" is not left out of the record (see encode_codes)
            not_done = {
                c: _equals(batch.column(c), "not_done") for c in finding_cols if c in net.unrecorded
            }
            codes = model.encode_codes(by_column, n_rows, not_done)
            if setting is not None:
                settings = np.full(n_rows, setting, dtype=object)
            elif "setting" in names:
                given = np.asarray(
                    _text(batch.column("setting")).to_numpy(zero_copy_only=False), dtype=object
                )
                given[given == ""] = "primary_care"
                bad = ~np.isin(given, SETTINGS)
                if bad.any():
                    raise _first_bad(
                        source, "setting", bad, given, n, "one of " + ", ".join(SETTINGS)
                    )
                settings = given
            else:
                settings = np.full(n_rows, "primary_care", dtype=object)
            ages = (
                pd.to_numeric(
                    pd.Series(
                        _text(batch.column("age_years"), strip=False).to_numpy(zero_copy_only=False)
                    ),
                    errors="coerce",
                ).to_numpy(dtype=float)
                if "age_years" in names
                else None
            )
            sexes = (
                _text(batch.column("sex"), strip=False).to_numpy(zero_copy_only=False)
                if "sex" in names
                else None
            )
            post, shared = model.posteriors_and_shared(
                codes, settings, ages, sexes, chunk=_INFER_ROWS
            )
            row_names = np.char.add("row", np.arange(n + 1, n + n_rows + 1).astype(str))
            case_names = row_names.astype(object)
            if "case" in names:
                given_names = np.asarray(
                    _text(batch.column("case"), strip=False).to_numpy(zero_copy_only=False),
                    dtype=object,
                )
                case_names = np.where(given_names == "", case_names, given_names)
            # the leading entry as in assess(): the tendon variable by P(GTPS), named by its
            # most probable state; every other condition by its own probability
            lead = np.asarray([gtps_col, *binary_cols])
            best = lead[np.argmax(post[:, lead], axis=1)]
            map_state = np.asarray(state_cols)[np.argmax(post[:, state_cols], axis=1)]
            best = np.where(best == gtps_col, map_state, best)
            flags = (
                np.stack([post[:, j] >= t for j, _, t in mnm], axis=1)
                if mnm
                else np.zeros((n_rows, 0), dtype=bool)
            )
            # a group that one test rules out together, as assess() flags it: P(any member) at
            # its threshold while no member is at its own (that member's flag and test stand)
            group_names = [gid for gid, _, _ in model.shared_groups]
            for g, (_, members, _) in enumerate(model.shared_groups):
                own = np.zeros(n_rows, dtype=bool)
                for b in members:
                    cid = net.binaries[b]
                    own |= post[:, col_of[cid]] >= net.must_not_miss[cid].threshold
                shared[:, g] &= ~own
            flags = np.concatenate([flags, shared], axis=1)
            probs = np.round(post, 4)
            columns: dict[str, Any] = {
                "case": case_names,
                "setting": settings,
                "top_condition": condition_ids[best],
                "must_not_miss": _joined(flags, [c for _, c, _ in mnm] + group_names),
                **{f"p_{c}": probs[:, j] for j, c in enumerate(model.conditions)},
                "engine_version": np.full(n_rows, versions["engine"], dtype=object),
                "kb_version": np.full(n_rows, versions["kb"], dtype=object),
            }
            if suffix == ".csv":
                pd.DataFrame(columns).to_csv(
                    output, index=False, mode="w" if n == 0 else "a", header=n == 0
                )
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.table({k: pa.array(v) for k, v in columns.items()})
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
