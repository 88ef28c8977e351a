"""The ``glutemed`` command line.

Every command that prints results accepts ``--json`` and then prints one JSON document on
standard output. Errors go to standard error with the exit status 2 (1 for ``kb check`` when the
knowledge base has problems), and name the file or field at fault.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from glutemed import __kb_version__, __version__
from glutemed.errors import GlutemedError, KnowledgeBaseError

__all__ = ["app", "main"]

app = typer.Typer(
    name="glutemed",
    help=(
        "Evidence-based decision support for lateral hip pain (gluteal tendinopathy, gluteus "
        "medius/minimus tears, GTPS). It supports a clinician's judgement; it is not a medical "
        "device and does not diagnose on its own."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
kb_app = typer.Typer(help="Inspect and check the knowledge base.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
users_app = typer.Typer(help="Manage the web app's user accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
fhir_app = typer.Typer(help="FHIR R4 export and import of patient records.", no_args_is_help=True)
app.add_typer(fhir_app, name="fhir")
programme_app = typer.Typer(
    help="Exercise programmes from the trials: list, prescribe, print the patient sheet.",
    no_args_is_help=True,
)
app.add_typer(programme_app, name="programme")

out = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, soft_wrap=True)

#: A care-plan role printed otherwise than with its underscores as spaces.
_ROLE_WORDS = {"first_line": "first-line"}

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def _errors(exit_code: int = 2) -> Iterator[None]:
    try:
        yield
    except GlutemedError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        for problem in exc.problems:
            err.print(f"  - {escape(str(problem))}")
        raise typer.Exit(exit_code) from None


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"glutemed {__version__} (knowledge base {__kb_version__})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Show versions."),
    ] = False,
) -> None:
    """glutemed command line."""


# --------------------------------------------------------------------------- kb


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_defaults=True)


@kb_app.command("check")
def kb_check(
    folder: Annotated[
        Path | None, typer.Argument(help="A knowledge-base folder (default: the bundled one).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Validate every file against the schema and run the cross-file checks."""
    from glutemed.knowledge import load_kb

    try:
        kb = load_kb(folder)
    except KnowledgeBaseError as exc:
        if json_out:
            _emit_json({"ok": False, "problems": [p.as_dict() for p in exc.problems]})
        else:
            err.print(f"[bold red]knowledge base check failed:[/] {escape(exc.message)}")
            for problem in exc.problems:
                err.print(f"  - {escape(str(problem))}")
        raise typer.Exit(1) from None
    from glutemed.knowledge import network_numbers

    counts = {kind: len(kb.kind_items(kind)) for kind in kb.KINDS}
    n_numbers = kb.sourced_numbers()
    net = network_numbers(kb.network) if kb.network is not None else []
    net_counts = {
        "total": len(net),
        "from_studies": sum(p.basis in ("study", "case_series") for p in net),
        "labelled_assumptions": sum(p.basis == "assumption" for p in net),
        "logic": sum(p.basis == "logic" for p in net),
    }
    if json_out:
        _emit_json(
            {
                "ok": True,
                "versions": kb.versions(),
                "counts": counts,
                "sourced_numbers": n_numbers,
                "network_numbers": net_counts,
            }
        )
        return
    table = Table(title=f"knowledge base {kb.version}: OK", show_header=True)
    table.add_column("kind")
    table.add_column("entries", justify="right")
    for kind, n in counts.items():
        table.add_row(kind, str(n))
    out.print(table)
    out.print(f"{n_numbers} sourced numbers; manifest sha256 {kb.manifest_sha256[:16]}...")
    out.print(
        f"diagnosis network: {net_counts['total']} numbers, {net_counts['from_studies']} from "
        f"studies, {net_counts['labelled_assumptions']} labelled assumptions (each with its "
        f"reason and a wide interval), {net_counts['logic']} by definition"
    )


@kb_app.command("list")
def kb_list(
    kind: Annotated[str, typer.Argument(help="findings, conditions, treatments, instruments, ...")],
    json_out: JsonOpt = False,
) -> None:
    """List the entries of one kind."""
    from glutemed.knowledge import load_kb

    with _errors():
        kb = load_kb()
        items = kb.kind_items(kind)
    if json_out:
        _emit_json(
            [
                {"id": k, "name": getattr(v, "name", getattr(v, "citation", ""))}
                for k, v in items.items()
            ]
        )
        return
    table = Table(title=f"{kind} ({len(items)})")
    table.add_column("id", style="bold")
    table.add_column("name")
    for ident, entry in items.items():
        table.add_row(ident, escape(str(getattr(entry, "name", getattr(entry, "citation", "")))))
    out.print(table)


@kb_app.command("show")
def kb_show(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="Any knowledge-base id.")],
    json_out: JsonOpt = False,
) -> None:
    """Show one entry in full, with the sources it cites."""
    from glutemed.knowledge import load_kb

    with _errors():
        kb = load_kb()
        kind, entry = kb.get(entry_id)
    data = _dump(entry)
    cited = kb.cited_source_ids(entry)
    if json_out:
        _emit_json(
            {
                "kind": kind,
                "entry": data,
                "sources": {s: kb.sources[s].citation for s in cited if s in kb.sources},
                "versions": kb.versions(),
            }
        )
        return
    out.print(f"[bold]{escape(str(getattr(entry, 'name', entry_id)))}[/]  ({kind}: {entry_id})")
    _print_entry(data, indent=0)
    if cited:
        out.print("\n[bold]Sources[/]")
        for s in cited:
            if s in kb.sources:
                out.print(f"  {escape(f'[{s}]')} {escape(kb.sources[s].citation)}")


def _fmt_estimate(est: dict[str, Any]) -> str:
    text = f"{est['value']:g}"
    if est.get("ci"):
        text += f" (95 % CI {est['ci'][0]:g}-{est['ci'][1]:g})"
    marks = {"computed": "†", "secondary": "‡", "case_control": "CC", "unverified": "✖"}
    if est.get("marks"):
        text += " " + " ".join(marks.get(m, m) for m in est["marks"])
    return text


def _is_ref(data: Any) -> bool:
    return isinstance(data, dict) and set(data) == {"id", "locator"}


def _print_entry(data: Any, indent: int) -> None:
    pad = "  " * indent
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("id", "name") and indent == 0:
                continue
            if key == "accuracy" and isinstance(value, list) and value:
                _print_accuracy(value, pad)
            elif _is_ref(value):
                out.print(f"{pad}[cyan]{key}[/]: {escape(value['id'])}, {escape(value['locator'])}")
            elif isinstance(value, dict) and "value" in value and "source" in value:
                src = value["source"]
                out.print(
                    f"{pad}[cyan]{key}[/]: {escape(_fmt_estimate(value))}  "
                    f"[dim]{escape(src['id'])}, {escape(src['locator'])}[/]"
                )
            elif isinstance(value, dict | list):
                out.print(f"{pad}[cyan]{escape(str(key))}[/]:")
                _print_entry(value, indent + 1)
            else:
                out.print(f"{pad}[cyan]{escape(str(key))}[/]: {escape(str(value))}")
    elif isinstance(data, list):
        for item in data:
            if _is_ref(item):
                out.print(f"{pad}- {escape(item['id'])}, {escape(item['locator'])}")
            elif isinstance(item, dict | list):
                out.print(f"{pad}-")
                _print_entry(item, indent + 1)
            else:
                out.print(f"{pad}- {escape(str(item))}")
    else:
        out.print(f"{pad}{escape(str(data))}")


def _print_accuracy(rows: list[dict[str, Any]], pad: str) -> None:
    table = Table(
        title="accuracy († computed, ‡ secondary, CC case-control; * = used by the model)",
        title_justify="left",
    )
    for col in ("target", "n", "design", "sens", "spec", "LR+", "LR-", "source"):
        table.add_column(col, overflow="fold")

    def cell(row: dict[str, Any], key: str) -> str:
        return escape(_fmt_estimate(row[key])) if row.get(key) else "-"

    for row in rows:
        table.add_row(
            ("* " if row.get("use_in_model") else "") + row["target"],
            str(row.get("n", "-")),
            row["design"],
            cell(row, "sensitivity"),
            cell(row, "specificity"),
            cell(row, "lr_positive"),
            cell(row, "lr_negative"),
            escape(f"{row['source']['id']}: {row['source']['locator']}"),
        )
    out.print(table)
    for k, row in enumerate(rows, 1):
        if row.get("notes"):
            out.print(f"{pad}  [dim]row {k} ({row['target']}): {escape(row['notes'])}[/]")


@kb_app.command("search")
def kb_search(
    text: Annotated[str, typer.Argument(help="Free text, e.g. 'trendelenburg' or 'PRP'.")],
    kind: Annotated[str | None, typer.Option(help="Restrict to one kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    show_top: Annotated[
        bool, typer.Option("--show/--no-show", help="Show the best hit in full.")
    ] = True,
    json_out: JsonOpt = False,
) -> None:
    """Ranked search over names, synonyms and descriptions."""
    from glutemed.knowledge import load_kb, search

    with _errors():
        kb = load_kb()
        if kind is not None:
            kb.kind_items(kind)
        hits = search(kb, text, kind=kind, limit=limit)
    if json_out:
        _emit_json(
            {
                "query": text,
                "hits": [
                    {
                        "kind": h.kind,
                        "id": h.id,
                        "name": h.name,
                        "score": h.score,
                        "matched": list(h.matched_fields),
                    }
                    for h in hits
                ],
                "versions": kb.versions(),
            }
        )
        return
    if not hits:
        out.print(f"no entries match {escape(text)!r}")
        raise typer.Exit(0)
    table = Table(title=f"search: {escape(text)}")
    table.add_column("score", justify="right")
    table.add_column("kind")
    table.add_column("id", style="bold")
    table.add_column("name")
    for h in hits:
        table.add_row(f"{h.score:.2f}", h.kind, h.id, escape(h.name))
    out.print(table)
    if show_top:
        # show the best examination/history/imaging finding if the query matches one
        findings = [h for h in hits if h.kind == "findings"]
        with_accuracy = [h for h in findings if kb.findings[h.id].accuracy]
        best = (with_accuracy or findings or hits)[0]
        out.print()
        kb_show(best.id, json_out=False)


@kb_app.command("manifest")
def kb_manifest(
    version: Annotated[str | None, typer.Option(help="New knowledge-base version.")] = None,
    write: Annotated[bool, typer.Option("--write", help="Write MANIFEST.json.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show (or, for maintainers, rewrite) the manifest of file hashes."""
    from glutemed.knowledge import build_manifest, data_dir

    folder = data_dir()
    current = json.loads((folder / "MANIFEST.json").read_text("utf-8"))
    manifest = build_manifest(folder, version or current["kb_version"])
    if write:
        (folder / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    if json_out:
        _emit_json(manifest)
        return
    out.print(f"knowledge base {manifest['kb_version']}" + (" (written)" if write else ""))
    for name, digest in manifest["files"].items():
        flag = "" if current.get("files", {}).get(name) == digest else "  [yellow]changed[/]"
        out.print(f"  {name:20s} {digest[:16]}...{flag}")


# --------------------------------------------------------------------------- examples


def example_cases_dir() -> Path:
    """Return the folder of the bundled example cases."""
    from importlib import resources

    return Path(str(resources.files("glutemed") / "examples" / "cases"))


def _resolve_case_path(case: str) -> Path:
    path = Path(case)
    try:
        if path.exists() or path.suffix:
            return path
    except (OSError, ValueError):  # a name too long for the file system, or a NUL byte
        return path
    bundled = example_cases_dir() / f"{case}.yaml"
    return bundled if bundled.exists() else path


def _load_case_file(path: Path) -> Any:
    """Read a case file within the size, depth and alias limits of :mod:`glutemed._safeio`."""
    from glutemed._safeio import load_data_file
    from glutemed.reasoning import case_from_dict

    return case_from_dict(load_data_file(path), where=path.name)


@app.command("examples")
def examples_cmd(json_out: JsonOpt = False) -> None:
    """List the bundled example cases (usable by name in assess, plan and handout)."""
    from glutemed.reasoning import load_case

    rows = []
    for path in sorted(example_cases_dir().glob("*.yaml")):
        rows.append({"name": path.stem, "label": load_case(path).label, "path": str(path)})
    if json_out:
        _emit_json(rows)
        return
    table = Table(title="bundled example cases (synthetic)")
    table.add_column("name", style="bold")
    table.add_column("description")
    for r in rows:
        table.add_row(r["name"], escape(r["label"]))
    out.print(table)


# --------------------------------------------------------------------------- assess

SettingOpt = Annotated[
    str | None,
    typer.Option(
        help="Care setting (overrides the case): primary_care, physiotherapy, sports_medicine,"
        " orthopaedic, specialist, spine, emergency_department or community."
    ),
]


def _bar(p: float, width: int = 20) -> str:
    n = round(p * width)
    return "█" * n + "░" * (width - n)


@app.command("assess")
def assess_cmd(
    case: Annotated[str, typer.Argument(help="A case file (YAML/JSON) or a bundled example name.")],
    setting: SettingOpt = None,
    explain: Annotated[int, typer.Option(help="Explanation lines per condition.")] = 3,
    json_out: JsonOpt = False,
) -> None:
    """Post-test probabilities with reasons, the next best test, imaging advice and red flags."""
    from glutemed.knowledge import load_kb
    from glutemed.reasoning import assess, percent

    with _errors():
        kb = load_kb()
        c = _load_case_file(_resolve_case_path(case))
        if setting is not None:
            from glutemed._checks import check_option
            from glutemed.reasoning import SETTINGS

            c = c.model_copy(update={"setting": check_option("--setting", setting, SETTINGS)})
        result = assess(c, kb)
    data = result.to_dict()
    if json_out:
        _emit_json(data)
        return
    if c.label:
        out.print(f"[bold]{escape(c.label)}[/]  (setting: {c.setting.replace('_', ' ')})")
    for flag in data["red_flags"]:
        out.print(
            f"[bold white on red] MUST NOT MISS [/] [bold]{escape(flag['name'])}[/] "
            f"({flag['urgency'].replace('_', ' ')}): {escape(flag['action'])}"
        )
        out.print(f"   because its {escape(flag['reason'])}")
    by_id = {c["id"]: c for c in data["conditions"]}
    shown = [e for e in data["differential"] if (e["probability"] or 0) >= 0.02][:12]
    if shown:
        table = Table(title="Differential (conditions can coexist; ranked by probability)")
        table.add_column("#", justify="right")
        table.add_column("condition")
        table.add_column("pre", justify="right")
        table.add_column("post", justify="right")
        table.add_column("95 % interval", justify="right")
        table.add_column("")
        for e in shown:
            cond = by_id["gtps" if e["variable"] == "gluteal_tendon" else e["id"]]
            lo, hi = cond["interval"] or (cond["probability"], cond["probability"])
            name = e["label"] + (" [red](must not miss)[/]" if e["must_not_miss"] else "")
            table.add_row(
                str(e["rank"]),
                name if e["must_not_miss"] else escape(name),
                percent(cond["prior"]) + ("*" if cond["prior_is_assumption"] else ""),
                f"[bold]{percent(cond['probability'])}[/]",
                f"{percent(lo)} to {percent(hi)}",
                _bar(cond["probability"]),
            )
        out.print(table)
        nested = [
            by_id[k]
            for k in (
                "gtps",
                "gluteal_tendinopathy",
                "gluteal_tendon_tear",
                "gluteal_tendon_full_thickness_tear",
            )
        ]
        out.print(
            "Gluteal tendon: "
            + "; ".join(f"{escape(c['name'])} {percent(c['probability'])}" for c in nested)
        )
        out.print("[dim]* pre-test probability is a labelled assumption (no case-mix study)[/]")
        for e in shown[:3]:
            cond = by_id["gtps" if e["variable"] == "gluteal_tendon" else e["id"]]
            lines = [x for x in cond["contributions"] if x["counted"]][:explain]
            if lines:
                out.print(f"[bold]{escape(cond['name'])}[/]")
                for x in lines:
                    out.print(f"  • {escape(x['explanation'])}")
    watch = [m for m in data["must_not_miss"] if not m["above_threshold"]][:3]
    if watch:
        out.print(
            "[bold]Must-not-miss, below threshold:[/] "
            + "; ".join(
                f"{escape(m['name'])} {m['probability']:.1%} (threshold {m['threshold']:.0%})"
                for m in watch
            )
        )
    if data["next_tests"]:
        table = Table(title="Most useful next tests (information gain per burden)")
        table.add_column("test")
        table.add_column("informs")
        table.add_column("now", justify="right")
        table.add_column("if +", justify="right")
        table.add_column("if -", justify="right")
        table.add_column("bits", justify="right")
        for t in data["next_tests"]:
            table.add_row(
                escape(t["name"]),
                escape(t["condition_name"]),
                percent(t["current"]),
                percent(t["if_positive"]),
                percent(t["if_negative"]),
                f"{t['value']:.3f}",
            )
        out.print(table)
    ref = data["referral"]
    if ref.get("refer"):
        out.print(
            f"[bold]Referral:[/] {escape(ref['to'])} ({ref['urgency'].replace('_', ' ')}): "
            f"{escape(ref['reason'])}"
        )
    img = data["imaging"]
    when = img["urgency"]
    when_text = "" if when in ("none", "routine") else f" ({when.replace('_', ' ')})"
    out.print(f"[bold]Imaging:[/] {escape(img['recommendation'])}{when_text}")
    for r in img["reasons"]:
        out.print(f"  • {escape(r['text'])}")
    sev = data["severity"]
    if sev["grade"] != "not_imaged":
        out.print(
            f"[bold]Imaging severity:[/] {sev['grade'].replace('_', ' ')}"
            + (f"; {escape('; '.join(sev['flags']))}" if sev["flags"] else "")
        )
    for note in data["notes"]:
        out.print(f"[italic]{escape(note)}[/]")
    v = data["versions"]
    out.print(f"[dim]glutemed {v['engine']}, knowledge base {v['kb']}. {data['disclaimer']}[/]")


@app.command("assess-batch")
def assess_batch_cmd(
    source: Annotated[Path, typer.Argument(help="A folder of case files, or a CSV/Parquet table.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Result table (.csv or .parquet).")
    ],
    setting: SettingOpt = None,
    intervals: Annotated[
        bool,
        typer.Option(help="Full engine per case with uncertainty intervals (slower)."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Assess many cases and write one table; bad files or cases are listed and skipped (exit 1).

    A CSV or Parquet table is assessed with the vectorised network and streamed to the output
    one chunk at a time (point estimates); with --intervals, or for a folder of case files, every
    case goes through the full engine (intervals, explanations, advice).
    """
    from rich.progress import Progress

    from glutemed.knowledge import load_kb
    from glutemed.reasoning import assess, assess_table, read_cases, write_results

    failed: list[tuple[str, GlutemedError]] = []
    with _errors():
        kb = load_kb()
        if setting is not None:
            from glutemed._checks import check_option
            from glutemed.reasoning import SETTINGS

            setting = check_option("--setting", setting, SETTINGS)
        if source.is_file() and source.suffix.lower() in (".csv", ".parquet") and not intervals:
            with Progress(console=err, disable=json_out, transient=True) as bar:
                # the bar advances as rows are read (each chunk is read, assessed and written
                # before the next is read); its total comes from the table before reading
                task = bar.add_task("reading and assessing rows", total=None)
                summary = assess_table(
                    source,
                    output,
                    kb,
                    setting=setting,
                    progress=lambda k: bar.advance(task, k),
                    total=lambda n: bar.update(task, total=n),
                )
        else:
            if source.is_dir():
                cases = []
                for name, loaded in _read_case_folder(source):
                    if isinstance(loaded, GlutemedError):
                        failed.append((name, loaded))
                    else:
                        cases.append((name, loaded))
            else:
                cases = read_cases(source)
            if setting is not None:
                cases = [(n, c.model_copy(update={"setting": setting})) for n, c in cases]
            rows = []
            with Progress(console=err, disable=json_out, transient=True) as bar:
                task = bar.add_task("assessing", total=len(cases))
                for name, case in cases:
                    try:
                        rows.append((name, assess(case, kb, with_intervals=intervals)))
                    except GlutemedError as error:
                        failed.append((name, error))
                    bar.advance(task)
            summary = write_results(rows, output, kb)
    summary["failed"] = len(failed)
    summary["errors"] = [
        {"case": name, "error": e.message, "problems": [p.as_dict() for p in e.problems]}
        for name, e in failed
    ]
    if json_out:
        _emit_json(summary)
    else:
        out.print(f"{summary['cases']} cases assessed -> {output}")
        for name, e in failed:
            err.print(f"[bold red]skipped {escape(name)}:[/] {escape(e.message)}")
            for problem in e.problems:
                err.print(f"  - {escape(str(problem))}")
    if failed:
        raise typer.Exit(1)


def _read_case_folder(folder: Path) -> list[tuple[str, Any]]:
    """Read every case file of a folder: ``(name, Case)``, or ``(name, error)`` for a bad one."""
    from glutemed.errors import DataFileError, Problem

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".json"))
    if not files:
        raise DataFileError(
            f"no case files in {folder.name}",
            [Problem(folder.name, "YAML or JSON case files", "none")],
        )
    result: list[tuple[str, Any]] = []
    for path in files:
        try:
            result.append((path.stem, _load_case_file(path)))
        except GlutemedError as exc:
            result.append((path.stem, exc))
    return result


# --------------------------------------------------------------------------- plan, handout

DateOpt = Annotated[
    str | None, typer.Option("--date", help="Plan date YYYY-MM-DD (default: today).")
]


def _parse_date(value: str | None) -> Any:
    import datetime as dt

    from glutemed.errors import InputValueError, Problem

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputValueError(
            "invalid --date", [Problem("--date", "a date YYYY-MM-DD", repr(value))]
        ) from None


@app.command("routes")
def routes_cmd(
    case: Annotated[str, typer.Argument(help="A case file (YAML/JSON) or a bundled example name.")],
    top: Annotated[int, typer.Option("--top", help="Other conditions to route.")] = 3,
    json_out: JsonOpt = False,
) -> None:
    """Where care goes for the conditions of the differential: must-not-miss actions first."""
    from glutemed.knowledge import load_kb
    from glutemed.pathway import care_routes
    from glutemed.reasoning import assess, load_case

    with _errors():
        kb = load_kb()
        assessment = assess(load_case(_resolve_case_path(case)), kb=kb)
        routes = care_routes(assessment, kb, top=top)
    if json_out:
        _emit_json({"routes": [r.to_dict() for r in routes], "versions": kb.versions()})
        return
    table = Table(title="where care goes (most urgent first)")
    for col in ("condition", "probability", "urgency", "route", "what to do", "refer to"):
        table.add_column(col)
    for r in routes:
        prob = "" if r.probability is None else f"{r.probability * 100:.0f} %"
        what = r.action or "the staged care plan (`glutemed plan`)"
        what += " [assumption]" if r.assumption else ""
        table.add_row(
            escape(r.name),
            prob,
            r.urgency_text,
            r.route.replace("_", " "),
            escape(what),
            escape(r.refer_to),
        )
    out.print(table)


@app.command("plan")
def plan_cmd(
    case: Annotated[str, typer.Argument(help="A case file (YAML/JSON) or a bundled example name.")],
    ask: Annotated[
        list[str] | None,
        typer.Option("--ask", help="Show this treatment id with its evidence (repeatable)."),
    ] = None,
    orthobiologics: Annotated[
        bool,
        typer.Option(
            "--orthobiologics", help="Show prolozone, MMAT, BMAC ... with their true evidence."
        ),
    ] = False,
    date: DateOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A staged care plan: what to do now, why, the evidence, and when to escalate."""
    from glutemed.knowledge import load_kb
    from glutemed.pathway import plan
    from glutemed.reasoning import load_case

    with _errors():
        kb = load_kb()
        c = load_case(_resolve_case_path(case))
        care = plan(
            c,
            kb=kb,
            ask_about=tuple(ask or ()),
            show_orthobiologics=orthobiologics,
            today=_parse_date(date),
        )
    data = care.to_dict()
    if json_out:
        _emit_json(data)
        return
    if c.label:
        out.print(f"[bold]{escape(c.label)}[/]")
    out.print(f"[bold]Stage {data['stage']}: {escape(data['stage_name'])}[/]")
    if data.get("indicated_stage") not in (None, data["stage"]):
        out.print(f"  (indicated stage {data['indicated_stage']}; see the notes)")
    out.print(f"  {escape(data['stage_rule']['text'])}")
    for r in data["recommendations"]:
        level = r.get("evidence_level")
        role = _ROLE_WORDS.get(r.get("role", ""), r.get("role", "").replace("_", " "))
        head = f"[bold]{escape(r['treatment'])}[/] ({role}"
        head += f"; evidence level {level}" if level else "; no graded evidence"
        head += f"; {r.get('evidence_status', '').replace('_', ' ')})"
        out.print(f"\n• {head}")
        if r.get("why"):
            out.print(f"  why: {escape(r['why'][0])}")
        if r.get("evidence_summary"):
            out.print(f"  evidence: {escape(r['evidence_summary'])}")
        for c_ in r.get("cautions", [])[:2]:
            out.print(f"  [yellow]caution:[/] {escape(str(c_))}")
        if r.get("regulatory_status"):
            out.print(f"  regulatory: {escape(r['regulatory_status'])}")
        if r.get("sources"):
            out.print(
                "  [dim]sources: "
                + escape("; ".join(list(dict.fromkeys(s["citation"] for s in r["sources"]))[:4]))
                + "[/]"
            )
    for n in data.get("not_recommended", []):
        out.print(
            f"[red]not recommended:[/] {escape(str(n.get('treatment', n)))}: "
            f"{escape(str(n.get('reason', '')))}"
        )
    if data.get("review_after_weeks"):
        out.print(f"\n[bold]Review after {data['review_after_weeks']} weeks.[/]")
    for e in data.get("escalate_if", []):
        out.print(f"[bold]Escalate if:[/] {escape(e['text'])}")
    for note in data.get("notes", []):
        out.print(f"[italic]{escape(str(note))}[/]")
    v = data["versions"]
    out.print(
        f"[dim]glutemed {v['engine']}, knowledge base {v['kb']}. {data.get('disclaimer', '')}[/]"
    )


@app.command("handout")
def handout_cmd(
    case: Annotated[str, typer.Argument(help="A case file (YAML/JSON) or a bundled example name.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="FILE.html or FILE.pdf")],
    date: DateOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a plain-language patient handout (HTML or PDF)."""
    from glutemed.knowledge import load_kb
    from glutemed.reasoning import load_case
    from glutemed.report import write_handout

    with _errors():
        write_handout(
            load_case(_resolve_case_path(case)), output, kb=load_kb(), today=_parse_date(date)
        )
    if json_out:
        _emit_json({"output": str(output)})
    else:
        out.print(f"handout written to {output}")


# --------------------------------------------------------------------------- programme

StageOpt = Annotated[
    str | None, typer.Option("--stage", help="Stage id (default: the first stage).")
]
OmitOpt = Annotated[
    list[str] | None, typer.Option("--omit", help="Exercise id to leave out (repeatable).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Change a dose: EXERCISE.FIELD=VALUE, e.g. ex_offset_squat.sets_min=1 (repeatable).",
    ),
]


def _prescription(
    programme: str, stage: str | None, omit: list[str] | None, sets: list[str] | None
) -> Any:
    from glutemed.pathway import parse_dose_changes, prescribe

    return prescribe(programme, stage, omit=omit or (), adjust=parse_dose_changes(sets or []))


@programme_app.command("list")
def programme_list(json_out: JsonOpt = False) -> None:
    """List the exercise programmes and their stages."""
    from glutemed.knowledge import load_kb

    with _errors():
        kb = load_kb()
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "kind": p.kind,
            "evidence_level": p.evidence_level,
            "weeks": p.duration_weeks,
            "stages": [s.id for s in p.stages],
            "prescribable": bool(p.stages),
        }
        for p in kb.programmes.values()
    ]
    if json_out:
        _emit_json(rows)
        return
    table = Table(title=f"exercise programmes ({len(rows)})")
    for col in ("id", "name", "kind", "level", "weeks", "stages"):
        table.add_column(col)
    for p in kb.programmes.values():
        table.add_row(
            p.id,
            escape(p.name),
            p.kind.replace("_", " "),
            "-" if p.evidence_level is None else str(p.evidence_level),
            str(p.duration_weeks),
            ", ".join(s.id for s in p.stages) or "content not captured",
        )
    out.print(table)


@programme_app.command("show")
def programme_show(
    programme: Annotated[str, typer.Argument(help="Programme id (see `glutemed programme list`).")],
    stage: StageOpt = None,
    omit: OmitOpt = None,
    set_: SetOpt = None,
    fhir: Annotated[
        bool, typer.Option("--fhir", help="Print the prescription as a FHIR R4 CarePlan.")
    ] = False,
    date: DateOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a prescription: each exercise with its dose, and the rules."""
    import datetime as dt

    with _errors():
        rx = _prescription(programme, stage, omit, set_)
    if fhir:
        from glutemed.fhir import exercise_care_plan

        start = _parse_date(date) or dt.date.today()
        _emit_json(exercise_care_plan(rx, patient={"display": "the patient"}, start=start))
        return
    if json_out:
        _emit_json(rx.to_dict())
        return
    out.print(f"[bold]{escape(rx.programme.name)}[/] - {escape(rx.stage.name)}")
    out.print(escape(rx.programme.evidence_note))
    table = Table()
    table.add_column("exercise", style="bold")
    table.add_column("dose")
    table.add_column("source")
    for item in rx.items:
        mark = " (changed)" if item.adjusted else ""
        table.add_row(
            escape(item.exercise.name),
            escape("; ".join(item.dose_lines) + mark),
            ", ".join(item.source_ids),
        )
    out.print(table)
    for name, rule in rx.rules.items():
        out.print(f"{name}: {escape(rule.text)}")


@programme_app.command("sheet")
def programme_sheet(
    programme: Annotated[str, typer.Argument(help="Programme id (see `glutemed programme list`).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="FILE.html or FILE.pdf")],
    stage: StageOpt = None,
    omit: OmitOpt = None,
    set_: SetOpt = None,
    date: DateOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the patient's exercise sheet (HTML or PDF): a picture, dose and rules per exercise."""
    from glutemed.report import write_exercise_sheet

    with _errors():
        rx = _prescription(programme, stage, omit, set_)
        write_exercise_sheet(rx, output, today=_parse_date(date))
    if json_out:
        _emit_json({"output": str(output), "prescription": rx.to_dict()})
    else:
        out.print(f"exercise sheet written to {output}")


@programme_app.command("log")
def programme_log(
    programme: Annotated[str, typer.Argument(help="Programme id (see `glutemed programme list`).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="FILE.html or FILE.pdf")],
    stage: StageOpt = None,
    omit: OmitOpt = None,
    set_: SetOpt = None,
    days: Annotated[int, typer.Option(help="Days in the log (1 to 56).")] = 14,
    start: Annotated[
        str | None, typer.Option(help="First day YYYY-MM-DD (default: days left undated).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the patient's exercise log: a row per day and exercise, boxes for done and pain."""
    from glutemed.report import write_exercise_log

    with _errors():
        rx = _prescription(programme, stage, omit, set_)
        write_exercise_log(rx, output, days=days, start=_parse_date(start))
    if json_out:
        _emit_json({"output": str(output), "days": days, "prescription": rx.to_dict()})
    else:
        out.print(f"exercise log written to {output}")


@programme_app.command("progress")
def programme_progress(
    record: Annotated[
        str,
        typer.Argument(
            help="A YAML/JSON file (or inline JSON) of an adherence record: programme, stage, "
            "programme_week and entries with sessions done/prescribed and exercise pain."
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Suggest the next level (progress, stay or regress) from an adherence record."""
    from glutemed._safeio import load_data_argument
    from glutemed.pathway import read_adherence, suggest_progression

    with _errors():
        data = load_data_argument(record, where="the adherence record")
        report = read_adherence(data)
        suggestion = suggest_progression(report)
    if json_out:
        _emit_json({"adherence": report.to_dict(), "suggestion": suggestion.to_dict()})
        return
    words = {"progress": "progress", "stay": "stay at this level", "regress": "go back"}
    if report.done_pct is not None:
        out.print(
            f"sessions done: {report.sessions_done} of {report.sessions_prescribed} "
            f"({report.done_pct:.0f} %)"
        )
    target = f" to {suggestion.target_stage_name}" if suggestion.target_stage_name else ""
    out.print(f"[bold]suggested: {words[suggestion.action]}{escape(target)}[/] (you decide)")
    for reason in suggestion.reasons:
        out.print(f"  - {escape(reason)}")
    for ex in suggestion.exercises:
        if ex.how:
            out.print(f"  - {escape(ex.name)}: {escape(ex.how)}")
    for rule in suggestion.rules:
        if rule["basis"] == "assumption":
            out.print(f"  assumption used: {escape(rule['text'])}")


# --------------------------------------------------------------------------- score


@app.command("score")
def score_cmd(
    instrument: Annotated[
        str, typer.Argument(help="Instrument id, e.g. visa_g, nprs, groc, psfs.")
    ],
    answers: Annotated[
        str, typer.Argument(help="A YAML/JSON file of item answers, or inline JSON.")
    ],
    baseline: Annotated[
        float | None, typer.Option(help="Baseline total, to interpret change.")
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            help="The patient's context, where the published MCIDs differ by it: a word of the "
            "context, e.g. endoscopic, open, Fitzpatrick."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Score a questionnaire (range checks, missing-item rules) and interpret change."""
    from glutemed._safeio import load_data_argument
    from glutemed.questionnaires import interpret_change, score

    with _errors():
        data = load_data_argument(answers, where="the answers")
        result = score(instrument, data)
        change = (
            interpret_change(instrument, baseline, result, context=context)
            if baseline is not None
            else None
        )
    payload = result.model_dump(mode="json")
    if change is not None:
        payload["change"] = change.model_dump(mode="json")
    if json_out:
        _emit_json(payload)
        return
    out.print(
        f"[bold]{escape(payload['name'])}[/]: {payload['total']:g} "
        f"(range {payload['range'][0]:g}-{payload['range'][1]:g}, "
        f"{'higher' if payload['higher_is_better'] else 'lower'} is better)"
    )
    for key, value in (payload.get("subscales") or {}).items():
        out.print(f"  {key}: {value:g}")
    for note in payload.get("notes") or []:
        out.print(f"  [dim]{escape(str(note))}[/]")
    if change is not None:
        out.print(escape(payload["change"]["explanation"]))


# --------------------------------------------------------------------------- motion

TaskOpt = Annotated[str, typer.Option(help="walk, single-leg-stance or single-leg-squat.")]
RateOpt = Annotated[
    float | None,
    typer.Option("--rate", help="Frame rate in Hz (needed for OpenPose folders without one)."),
]
ImageSizeOpt = Annotated[
    str | None,
    typer.Option("--image-size", help="WIDTHxHEIGHT in pixels, for normalised MediaPipe output."),
]
KneeWidthOpt = Annotated[
    float | None,
    typer.Option(
        "--knee-width", help="Knee width in metres (improves hip adduction and knee angle)."
    ),
]


def _motion_options(
    rate: float | None, image_size: str | None, knee_width: float | None
) -> dict[str, Any]:
    from glutemed.errors import InputValueError, Problem

    options: dict[str, Any] = {}
    if rate is not None:
        options["sampling_rate_hz"] = rate
    if image_size is not None:
        try:
            w, h = (int(x) for x in image_size.lower().split("x"))
        except ValueError:
            raise InputValueError(
                "invalid --image-size",
                [Problem("--image-size", "WIDTHxHEIGHT, e.g. 1920x1080", image_size)],
            ) from None
        options["image_size_px"] = (w, h)
    if knee_width is not None:
        options["knee_width_m"] = knee_width
    return options


#: Files that ``glutemed motion`` treats as videos.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm")


@app.command("motion")
def motion_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="C3D, TRC, OpenPose JSON folder, MediaPipe CSV/JSON, CSV, or a video "
            "(.mp4, .webm, .mov: pose estimation in headless Chromium)."
        ),
    ],
    task: TaskOpt = "walk",
    plot: Annotated[Path | None, typer.Option(help="Write a plot (.png or .svg).")] = None,
    rate: RateOpt = None,
    image_size: ImageSizeOpt = None,
    knee_width: KneeWidthOpt = None,
    keypoints: Annotated[
        str | None,
        typer.Option(
            "--keypoints",
            help="Keypoint model of an OpenPose-style folder: body_25, body_25b, coco_17, "
            "coco_18, halpe_26 or mediapipe_33 (default: detected from the layout).",
        ),
    ] = None,
    vertical_axis: Annotated[
        str | None,
        typer.Option(
            "--vertical-axis",
            help="Vertical axis of a 3D file (+z, +y, -y ...), if the file's own or the "
            "detected one is wrong.",
        ),
    ] = None,
    model: Annotated[
        str, typer.Option(help="Videos: BlazePose model lite (fastest), full or heavy.")
    ] = "full",
    max_duration: Annotated[
        float | None, typer.Option(help="Videos: analyse only the first seconds.", min=0.1)
    ] = None,
    landmarks_out: Annotated[
        Path | None, typer.Option(help="Videos: keep the landmarks as MediaPipe JSON here.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Pelvic drop / Trendelenburg, gait events and single-leg tests from movement data."""
    from glutemed.motion import analyse_file

    with _errors():
        options = _motion_options(rate, image_size, knee_width)
        if file.suffix.lower() in VIDEO_SUFFIXES:
            from glutemed.motion.video import analyse_video

            result = analyse_video(
                file,
                task.replace("-", "_"),
                model=model,
                max_duration_s=max_duration,
                landmarks_out=landmarks_out,
                plot=plot,
                **options,
            )
        else:
            result = analyse_file(
                file,
                task=task.replace("-", "_"),
                plot=plot,
                keypoint_model=keypoints,
                vertical_axis=vertical_axis,
                **options,
            )
    data = result.to_dict()
    if json_out:
        _emit_json(data)
        return
    _print_motion(data)
    if plot is not None:
        out.print(f"plot written to {plot}")


def _print_motion(data: dict[str, Any]) -> None:
    out.print(
        f"[bold]{data['task']}[/] at {data['sampling_rate_hz']:g} Hz, "
        f"{data.get('duration_s', 0):.1f} s, {len(data.get('events', []))} gait events"
    )
    table = Table(title="per side (mean ± SD, n)")
    table.add_column("measure")
    table.add_column("left", justify="right")
    table.add_column("right", justify="right")
    left = data["per_side"].get("left", {})
    right = data["per_side"].get("right", {})
    from glutemed.knowledge import load_kb

    kb = load_kb()
    units = {"deg": "°", "m": "m", "steps_per_min": "steps/min"}

    def label(key: str) -> str:
        m = kb.movement_measures.get(key)
        if m is not None:
            unit = units.get(m.unit, m.unit.replace("_", " "))
            return f"{m.name} ({unit})"
        return {"n_strides": "Strides", "trendelenburg": "Trendelenburg call"}.get(
            key, key.replace("_", " ")
        )

    for key in [k for k in left if k != "trendelenburg"] + ["trendelenburg"]:
        table.add_row(label(key), _fmt_cell(left.get(key)), _fmt_cell(right.get(key)))
    out.print(table)
    for side in ("left", "right"):
        call = data["per_side"].get(side, {}).get("trendelenburg") or {}
        if call.get("reason"):
            out.print(f"{side}: Trendelenburg {call.get('call')}: {escape(str(call['reason']))}")
    for q in data.get("quality", []):
        where = f" ({q['side']})" if q.get("side") else ""
        level = (
            "[red]blocks interpretation[/]" if q.get("blocks_interpretation") else "[yellow]note[/]"
        )
        out.print(f"{level}{where}: {escape(str(q.get('message', q)))}")
    found = data.get("findings") or {}
    shown = "; ".join(
        f"{kb.findings[f].name if f in kb.findings else f.replace('_', ' ')}: {v}"
        for f, v in found.items()
    )
    out.print(f"findings for the diagnosis engine: {shown or 'none'}")


def _fmt_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dict) and "call" in value:
        drop = value.get("mean_drop_deg")
        u = value.get("uncertainty_deg")
        text = str(value["call"])
        if drop is not None and u is not None:
            text += f" ({drop:.1f} ± {u:.1f}° vs {value.get('reference_deg', 0):g}°)"
        return escape(text)
    if isinstance(value, dict) and "mean" in value:
        mean, sd, n = value.get("mean"), value.get("sd"), value.get("n")
        if mean is None:
            return "-"
        return f"{mean:.2f} ± {sd:.2f} ({n})" if sd is not None else f"{mean:.2f} ({n})"
    return escape(str(value))


@app.command("motion-batch")
def motion_batch_cmd(
    folder: Annotated[Path, typer.Argument(help="A folder of movement files.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Result table (.csv or .parquet).")
    ],
    task: TaskOpt = "walk",
    rate: RateOpt = None,
    image_size: ImageSizeOpt = None,
    knee_width: KneeWidthOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Analyse every movement file in a folder and write one table (one row per file)."""
    import pandas as pd
    from rich.progress import track

    from glutemed.motion import analyse_folder, list_motion_files

    with _errors():
        options = _motion_options(rate, image_size, knee_width)
        n_files = len(list_motion_files(folder))
        items = analyse_folder(folder, task=task.replace("-", "_"), **options)
        rows = [
            item.to_row()
            for item in track(
                items, total=n_files, description="analysing", console=err, disable=json_out
            )
        ]
        frame = pd.DataFrame(rows)
        if output.suffix.lower() == ".parquet":
            frame.to_parquet(output, index=False)
        else:
            frame.to_csv(output, index=False)
    if json_out:
        _emit_json({"files": len(rows), "output": str(output)})
    else:
        out.print(f"{len(rows)} files analysed -> {output}")


# --------------------------------------------------------------------------- web app

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL, e.g. postgresql://user@host/db "
        "(default: SQLite in the user data folder).",
    ),
]


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    database_url: DatabaseOpt = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    environment: Annotated[
        str | None, typer.Option(help="development or production (default: from settings).")
    ] = None,
    ssl_certfile: Annotated[str | None, typer.Option(help="TLS certificate (PEM).")] = None,
    ssl_keyfile: Annotated[str | None, typer.Option(help="TLS private key (PEM).")] = None,
) -> None:
    """Start the clinician web app (migrates the database first)."""
    from glutemed.server import run

    with _errors():
        err.print(
            f"glutemed web app on http://{host}:{port} "
            "(create a first account with `glutemed users create NAME --admin`)"
        )
        run(
            host=host,
            port=port,
            database_url=database_url,
            workers=workers,
            environment=environment,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )


@users_app.command("create")
def users_create_cmd(
    username: Annotated[str, typer.Argument(help="Login name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    role: Annotated[
        str, typer.Option(help="clinician or read_only (ignored with --admin).")
    ] = "clinician",
    clinic: Annotated[str, typer.Option(help="Clinic name (created if new).")] = "My clinic",
    display_name: Annotated[str, typer.Option(help="Name shown in the app and letters.")] = "",
    password: Annotated[
        str,
        typer.Option(
            prompt=True, confirmation_prompt=True, hide_input=True, help="Password (prompted)."
        ),
    ] = "",
    database_url: DatabaseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a user account (the first one with --admin)."""
    from glutemed.store import create_user

    with _errors():
        info = create_user(
            username,
            password,
            role="admin" if admin else role,
            clinic=clinic,
            display_name=display_name,
            database_url=database_url,
        )
    data = {"username": info.username, "role": info.role, "clinic": info.clinic_name}
    if json_out:
        _emit_json(data)
    else:
        out.print(
            f"created {data['role']} {escape(data['username'])} in clinic {escape(data['clinic'])}"
        )


@users_app.command("list")
def users_list_cmd(database_url: DatabaseOpt = None, json_out: JsonOpt = False) -> None:
    """List the user accounts."""
    from glutemed.store import list_users

    with _errors():
        users = list_users(database_url)
    rows = [{"username": u.username, "role": u.role, "clinic": u.clinic_name} for u in users]
    if json_out:
        _emit_json(rows)
        return
    table = Table(title="users")
    for col in ("username", "role", "clinic"):
        table.add_column(col)
    for r in rows:
        table.add_row(escape(r["username"]), r["role"], escape(r["clinic"]))
    out.print(table)


UserOpt = Annotated[
    str | None,
    typer.Option("--user", help="Act as this user (default: the only administrator)."),
]


@fhir_app.command("export")
def fhir_export_cmd(
    patient: Annotated[int, typer.Argument(help="The patient's id in glutemed.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="bundle.json (default: standard output).")
    ] = None,
    user: UserOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Export a patient's record as a FHIR R4 Bundle (pseudonymous: no names)."""
    from glutemed.store import export_patient_bundle

    with _errors():
        bundle = export_patient_bundle(patient, database_url=database_url, username=user)
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, "utf-8")
        err.print(f"{len(bundle.get('entry', []))} resources written to {output}")


@fhir_app.command("import")
def fhir_import_cmd(
    bundle: Annotated[Path, typer.Argument(help="A FHIR R4 Bundle (JSON).")],
    user: UserOpt = None,
    database_url: DatabaseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Import a FHIR R4 Bundle as a new patient; nothing is stored if the bundle is invalid."""
    from glutemed.store import import_bundle_file

    with _errors():
        patient_id, warnings = import_bundle_file(bundle, database_url=database_url, username=user)
    if json_out:
        _emit_json({"patient_id": patient_id, "warnings": [w.as_dict() for w in warnings]})
        return
    out.print(f"imported as patient {patient_id}")
    for w in warnings:
        out.print(f"[yellow]warning:[/] {escape(str(w))}")


def main() -> None:
    """Entry point of the ``glutemed`` console script."""
    app()
