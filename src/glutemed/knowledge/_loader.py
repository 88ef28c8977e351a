"""Load, validate and cross-check the knowledge base.

The knowledge base is a folder of YAML files (``knowledge/data`` in the package) plus a
``MANIFEST.json`` that stamps the version and the SHA-256 of every file, as pydicom stamps its
data dictionary. :func:`load_kb` validates every file against the strict schema and then runs the
cross-file checks (every referenced id exists, every source is known, priors sum sensibly). All
problems are collected and raised together in one :class:`~glutemed.errors.KnowledgeBaseError`,
each naming the file, line and field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from glutemed._checks import closest, short_repr
from glutemed.errors import KnowledgeBaseError, NotFoundError, Problem
from glutemed.knowledge._schema import (
    Condition,
    ConditionPrior,
    Correction,
    Estimate,
    Finding,
    FindingCluster,
    Instrument,
    MovementMeasure,
    Parameter,
    RedFlag,
    RiskFactor,
    SettingPriors,
    Source,
    SourceRef,
    Structure,
    Symptom,
    Treatment,
)
from glutemed.knowledge._schema_exercise import (
    EXERCISE_KEYS,
    Exercise,
    Programme,
    check_exercises,
)
from glutemed.knowledge._schema_network import NetworkSpec, check_network
from glutemed.knowledge._schema_pathway import PATHWAY_KEYS, Pathway, build_pathway, check_pathway

__all__ = [
    "DATA_FILES",
    "KnowledgeBase",
    "build_manifest",
    "data_dir",
    "load_kb",
]

#: file name -> {top-level key -> model}
DATA_FILES: dict[str, dict[str, type[BaseModel]]] = {
    "sources.yaml": {"sources": Source},
    "anatomy.yaml": {"structures": Structure},
    "conditions.yaml": {"conditions": Condition},
    "risk_factors.yaml": {"risk_factors": RiskFactor},
    "symptoms.yaml": {"symptoms": Symptom},
    "findings.yaml": {"findings": Finding, "clusters": FindingCluster},
    "priors.yaml": {"settings": SettingPriors},
    "red_flags.yaml": {"red_flags": RedFlag},
    "treatments.yaml": {"treatments": Treatment},
    "instruments.yaml": {"instruments": Instrument},
    "movement.yaml": {"measures": MovementMeasure, "parameters": Parameter},
    "corrections.yaml": {"corrections": Correction},
    "pathway.yaml": PATHWAY_KEYS,
    "exercises.yaml": EXERCISE_KEYS,
    "network.yaml": {},  # one document, validated whole (see _validate_network)
}
MANIFEST = "MANIFEST.json"

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

#: libyaml's safe loader when PyYAML was built with it (several times faster), else PyYAML's.
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def data_dir() -> Path:
    """Return the folder of the bundled knowledge-base files."""
    return Path(str(resources.files("glutemed.knowledge") / "data"))


# --------------------------------------------------------------------------- YAML with lines


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out)


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def _fmt_loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class _RawFile:
    name: str
    data: Any
    lines: dict[tuple[Any, ...], int]
    sha256: str


def _read_yaml(path: Path, problems: list[Problem]) -> _RawFile | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(path.name, "a readable file", type(exc).__name__))
        return None
    text = raw.decode("utf-8", errors="replace")
    loader = _YamlLoader(text)  # a safe loader (C or Python)
    try:
        # parse once: the node tree gives the line numbers, the data is built from it
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}" if mark is not None else path.name
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(Problem(where, "valid YAML", f"a syntax error ({what})"))
        return None
    finally:
        loader.dispose()
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _line_index(node, (), lines)
    return _RawFile(path.name, data, lines, hashlib.sha256(raw).hexdigest())


# --------------------------------------------------------------------------- the KB


@dataclass(frozen=True, eq=False)
class KnowledgeBase:
    """The validated knowledge base: dictionaries of models keyed by their stable ids."""

    version: str
    manifest_sha256: str
    file_hashes: dict[str, str]
    sources: dict[str, Source]
    structures: dict[str, Structure]
    conditions: dict[str, Condition]
    risk_factors: dict[str, RiskFactor]
    symptoms: dict[str, Symptom]
    findings: dict[str, Finding]
    clusters: dict[str, FindingCluster]
    priors: dict[str, dict[str, ConditionPrior]]
    setting_descriptions: dict[str, str]
    red_flags: dict[str, RedFlag]
    treatments: dict[str, Treatment]
    instruments: dict[str, Instrument]
    movement_measures: dict[str, MovementMeasure]
    parameters: dict[str, Parameter]
    corrections: dict[str, Correction]
    exercises: dict[str, Exercise] = field(default_factory=dict)
    programmes: dict[str, Programme] = field(default_factory=dict)
    pathway: Pathway = field(default_factory=Pathway)
    network: NetworkSpec | None = None
    _index: dict[str, tuple[str, BaseModel]] = field(default_factory=dict, repr=False)

    #: kind name -> attribute, in display order
    KINDS = (
        "sources",
        "structures",
        "conditions",
        "risk_factors",
        "symptoms",
        "findings",
        "clusters",
        "red_flags",
        "treatments",
        "instruments",
        "movement_measures",
        "parameters",
        "corrections",
        "exercises",
        "programmes",
    )

    def kind_items(self, kind: str) -> dict[str, BaseModel]:
        """Return the dictionary of one kind (e.g. ``"findings"``)."""
        if kind not in self.KINDS:
            hint = closest(kind, self.KINDS)
            raise NotFoundError(
                f"unknown kind {kind!r}",
                [
                    Problem(
                        "kind",
                        "one of " + ", ".join(self.KINDS),
                        short_repr(kind),
                        f"did you mean {', '.join(hint)}?" if hint else "",
                    )
                ],
            )
        items: dict[str, BaseModel] = getattr(self, kind)
        return items

    def iter_entries(self) -> Iterator[tuple[str, BaseModel]]:
        """Yield ``(kind, entry)`` for every entry of every kind."""
        for kind in self.KINDS:
            for entry in getattr(self, kind).values():
                yield kind, entry

    def get(self, entry_id: str) -> tuple[str, BaseModel]:
        """Return ``(kind, entry)`` for any id in the knowledge base.

        Raises
        ------
        NotFoundError
            With the closest known ids as a hint.
        """
        if entry_id in self._index:
            return self._index[entry_id]
        near = closest(entry_id, self._index)
        raise NotFoundError(
            f"no knowledge-base entry {entry_id!r}",
            [
                Problem(
                    "id",
                    "an id in the knowledge base",
                    short_repr(entry_id),
                    f"did you mean {', '.join(near)}?" if near else "try `glutemed kb search`",
                )
            ],
        )

    def cited_source_ids(self, entry: BaseModel) -> list[str]:
        """Return the ids of the sources an entry cites, sorted."""
        return sorted({ref.id for _, ref in iter_instances(entry, SourceRef)})

    def sourced_numbers(self) -> int:
        """Count the sourced numbers (estimates) in the entries and the priors."""
        tables: list[Any] = [entry for _, entry in self.iter_entries()]
        tables.append(self.priors)
        return sum(1 for table in tables for _ in iter_instances(table, Estimate))

    def versions(self) -> dict[str, str]:
        """Return the version stamp every result carries."""
        from glutemed import __version__

        return {
            "engine": __version__,
            "kb": self.version,
            "kb_manifest_sha256": self.manifest_sha256,
        }


def _validate_network(raw: _RawFile | None, problems: list[Problem]) -> NetworkSpec | None:
    """Validate ``network.yaml`` as one document, every problem with its line."""
    if raw is None:
        return None
    try:
        return NetworkSpec.model_validate(raw.data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_for(loc, raw.lines)
            found = short_repr(err.get("input")) if err["type"] != "missing" else "nothing"
            problems.append(
                Problem(f"{raw.name}:{line} {_fmt_loc(loc)}", err["msg"].lower(), found)
            )
    return None


def _check_routes_follow_network(pathway: Pathway, network: NetworkSpec) -> list[Problem]:
    """Must-not-miss conditions follow their network action; the others have their own route."""
    problems: list[Problem] = []
    mnm = {m.condition for m in network.must_not_miss}
    for cid, route in pathway.condition_routes.items():
        where = f"pathway.yaml:{pathway.lines.get(route.id)} condition_routes.{route.id}.route"
        if cid in mnm and route.route != "must_not_miss_action":
            problems.append(Problem(where, "must_not_miss_action (a must-not-miss condition)", cid))
        if cid not in mnm and route.route == "must_not_miss_action":
            problems.append(Problem(where, "a condition listed under must_not_miss", cid))
    return problems


def _validate_list(
    raw: _RawFile, key: str, model: type[M], problems: list[Problem]
) -> list[tuple[M, int | None]]:
    items = raw.data.get(key) if isinstance(raw.data, dict) else None
    if not isinstance(items, list):
        problems.append(
            Problem(
                f"{raw.name}:{_line_for((key,), raw.lines) or 1} {key}",
                f"a list under the top-level key {key!r}",
                short_repr(type(items).__name__ if items is not None else "nothing"),
            )
        )
        return []
    out: list[tuple[M, int | None]] = []
    for i, item in enumerate(items):
        try:
            out.append((model.model_validate(item), _line_for((key, i), raw.lines)))
        except ValidationError as exc:
            item_id = item.get("id") if isinstance(item, dict) else None
            for err in exc.errors():
                loc = (key, i, *err["loc"])
                line = _line_for(loc, raw.lines)
                label = _fmt_loc(loc)
                if item_id:
                    label += f" (id {item_id})"
                found = short_repr(err.get("input")) if err["type"] != "missing" else "nothing"
                problems.append(Problem(f"{raw.name}:{line} {label}", err["msg"].lower(), found))
    return out


def iter_instances(obj: Any, cls: type[T], path: str = "") -> Iterator[tuple[str, T]]:
    """Yield ``(field path, value)`` for every ``cls`` instance inside models, lists and dicts.

    A matching value is not searched further.
    """
    if isinstance(obj, cls):
        yield path, obj
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from iter_instances(getattr(obj, name), cls, f"{path}.{name}")
    elif isinstance(obj, list | tuple):
        for i, x in enumerate(obj):
            yield from iter_instances(x, cls, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from iter_instances(v, cls, f"{path}.{k}")


def build_manifest(folder: Path, version: str) -> dict[str, Any]:
    """Return a manifest for the YAML files in ``folder`` (used by ``glutemed kb manifest``)."""
    files = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in DATA_FILES}
    return {"kb_version": version, "files": files}


def load_kb(folder: str | Path | None = None, *, check_manifest: bool = True) -> KnowledgeBase:
    """Load and validate the knowledge base.

    Parameters
    ----------
    folder
        A folder with the YAML files and ``MANIFEST.json``; default: the bundled one.
    check_manifest
        Verify that every file's SHA-256 matches the manifest (catches edited data whose version
        stamp was not updated).

    Returns
    -------
    KnowledgeBase

    Raises
    ------
    KnowledgeBaseError
        Listing every problem found, each with file, line and field.
    """
    if folder is None:
        return _load_bundled(check_manifest)
    return _load(Path(folder), check_manifest)


@lru_cache(maxsize=2)
def _load_bundled(check_manifest: bool) -> KnowledgeBase:
    return _load(data_dir(), check_manifest)


def _load(folder: Path, check_manifest: bool) -> KnowledgeBase:
    problems: list[Problem] = []
    raws: dict[str, _RawFile] = {}
    for name in DATA_FILES:
        path = folder / name
        if not path.exists():
            problems.append(Problem(name, "the file to exist in " + folder.name, "no file"))
            continue
        raw = _read_yaml(path, problems)
        if raw is not None:
            raws[name] = raw

    manifest: dict[str, Any] = {}
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(Problem(MANIFEST, "a readable JSON manifest", type(exc).__name__))
    version = str(manifest.get("kb_version", "unknown"))
    if check_manifest and manifest:
        for name, raw in raws.items():
            want = manifest.get("files", {}).get(name)
            if want != raw.sha256:
                problems.append(
                    Problem(
                        f"{MANIFEST} files.{name}",
                        f"the SHA-256 of {name} ({raw.sha256[:12]}...)",
                        short_repr(want),
                        "data changed: bump kb_version and run `glutemed kb manifest --write`",
                    )
                )

    parsed: dict[str, dict[str, list[tuple[Any, int | None]]]] = {}
    for name, keys in DATA_FILES.items():
        if name not in raws or not keys:
            continue
        raw = raws[name]
        if isinstance(raw.data, dict):
            unknown = sorted(set(raw.data) - set(keys))
            for key in unknown:
                problems.append(
                    Problem(
                        f"{name}:{_line_for((key,), raw.lines)} {key}",
                        "only the top-level keys " + ", ".join(keys),
                        short_repr(key),
                    )
                )
        parsed[name] = {
            key: _validate_list(raw, key, model, problems) for key, model in keys.items()
        }

    def as_dict(file: str, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for model, line in parsed.get(file, {}).get(key, []):
            ident = getattr(model, "id", None)
            if ident is None:
                continue
            if ident in out:
                problems.append(
                    Problem(f"{file}:{line} {key}", "unique ids", f"a second entry {ident!r}")
                )
            out[ident] = model
        return out

    sources: dict[str, Source] = as_dict("sources.yaml", "sources")
    structures: dict[str, Structure] = as_dict("anatomy.yaml", "structures")
    conditions: dict[str, Condition] = as_dict("conditions.yaml", "conditions")
    risk_factors: dict[str, RiskFactor] = as_dict("risk_factors.yaml", "risk_factors")
    symptoms: dict[str, Symptom] = as_dict("symptoms.yaml", "symptoms")
    findings: dict[str, Finding] = as_dict("findings.yaml", "findings")
    clusters: dict[str, FindingCluster] = as_dict("findings.yaml", "clusters")
    red_flags: dict[str, RedFlag] = as_dict("red_flags.yaml", "red_flags")
    treatments: dict[str, Treatment] = as_dict("treatments.yaml", "treatments")
    instruments: dict[str, Instrument] = as_dict("instruments.yaml", "instruments")
    measures: dict[str, MovementMeasure] = as_dict("movement.yaml", "measures")
    parameters: dict[str, Parameter] = as_dict("movement.yaml", "parameters")
    corrections: dict[str, Correction] = as_dict("corrections.yaml", "corrections")
    exercises: dict[str, Exercise] = as_dict("exercises.yaml", "exercises")
    programmes: dict[str, Programme] = as_dict("exercises.yaml", "programmes")

    priors: dict[str, dict[str, ConditionPrior]] = {}
    setting_descriptions: dict[str, str] = {}
    for sp, line in parsed.get("priors.yaml", {}).get("settings", []):
        if sp.setting in priors:
            problems.append(
                Problem(f"priors.yaml:{line} settings", "one block per setting", sp.setting)
            )
        priors[sp.setting] = {p.condition: p for p in sp.priors}
        setting_descriptions[sp.setting] = sp.description

    # ------------------------------------------------------------- cross-file checks
    all_ids: dict[str, str] = {}
    for kind, table in (
        ("structures", structures),
        ("conditions", conditions),
        ("risk_factors", risk_factors),
        ("symptoms", symptoms),
        ("findings", findings),
        ("clusters", clusters),
        ("red_flags", red_flags),
        ("treatments", treatments),
        ("instruments", instruments),
        ("movement_measures", measures),
        ("parameters", parameters),
        ("corrections", corrections),
        ("exercises", exercises),
        ("programmes", programmes),
    ):
        for ident in table:
            if ident in all_ids:
                problems.append(
                    Problem(
                        f"{kind}.{ident}",
                        "ids unique across the knowledge base",
                        f"{ident!r} also used in {all_ids[ident]}",
                    )
                )
            all_ids.setdefault(ident, kind)

    def need(table: dict[str, Any], ident: str | None, where: str, what: str) -> None:
        if ident is None or ident in table:
            return
        near = closest(ident, table)
        problems.append(
            Problem(
                where,
                f"a known {what} id",
                short_repr(ident),
                f"did you mean {', '.join(near)}?" if near else "",
            )
        )

    for file, keys in DATA_FILES.items():
        for key in keys:
            for model, line in parsed.get(file, {}).get(key, []):
                label = getattr(model, "id", None) or getattr(model, "setting", "")
                for ref_path, ref in iter_instances(model, SourceRef, f"{key}.{label}"):
                    need(sources, ref.id, f"{file}:{line} {ref_path}", "source")

    for s in structures.values():
        for r in s.related:
            need(structures, r, f"anatomy.yaml structures.{s.id}.related", "structure")
    for c in conditions.values():
        need(conditions, c.parent, f"conditions.yaml conditions.{c.id}.parent", "condition")
    for rf in risk_factors.values():
        for cid in rf.conditions:
            need(conditions, cid, f"risk_factors.yaml {rf.id}.conditions", "condition")
    for sy in symptoms.values():
        for cid in sy.conditions:
            need(conditions, cid, f"symptoms.yaml {sy.id}.conditions", "condition")
        need(findings, sy.finding, f"symptoms.yaml {sy.id}.finding", "finding")
    for f in findings.values():
        for i, a in enumerate(f.accuracy):
            need(conditions, a.target, f"findings.yaml {f.id}.accuracy[{i}].target", "condition")
    for cl in clusters.values():
        need(conditions, cl.target, f"findings.yaml clusters.{cl.id}.target", "condition")
        for fid in cl.findings:
            need(findings, fid, f"findings.yaml clusters.{cl.id}.findings", "finding")
    for setting, setting_priors in priors.items():
        for cid in setting_priors:
            need(conditions, cid, f"priors.yaml {setting}.priors", "condition")
    for rf2 in red_flags.values():
        for cid in rf2.suspected:
            need(conditions, cid, f"red_flags.yaml {rf2.id}.suspected", "condition")
        for fid in (*rf2.triggers, *rf2.context_factors):
            need(findings, fid, f"red_flags.yaml {rf2.id}.triggers", "finding")
    for m in measures.values():
        need(findings, m.finding, f"movement.yaml measures.{m.id}.finding", "finding")
    for co in corrections.values():
        for rid in co.related:
            need(all_ids, rid, f"corrections.yaml {co.id}.related", "knowledge-base")
    pathway = Pathway()
    if "pathway.yaml" in parsed:
        pathway = build_pathway(parsed["pathway.yaml"], problems)
        problems.extend(
            check_pathway(
                pathway,
                treatments=treatments,
                instruments=instruments,
                findings={f.id: list(f.levels) for f in findings.values()},
                conditions=conditions,
            )
        )

    if "exercises.yaml" in parsed:
        problems.extend(
            check_exercises(exercises, programmes, treatments=treatments, conditions=conditions)
        )

    network = _validate_network(raws.get("network.yaml"), problems)
    if network is not None:
        problems.extend(
            check_network(
                network,
                conditions=conditions,
                findings={f.id: list(f.levels) for f in findings.values()},
                sources=sources,
            )
        )

    if network is not None:
        problems.extend(_check_routes_follow_network(pathway, network))

    if problems:
        raise KnowledgeBaseError(
            f"the knowledge base in {folder.name!r} has {len(problems)} problem(s)", problems
        )

    manifest_sha = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode("utf-8")).hexdigest()
    kb = KnowledgeBase(
        version=version,
        manifest_sha256=manifest_sha,
        file_hashes={n: r.sha256 for n, r in raws.items()},
        sources=sources,
        structures=structures,
        conditions=conditions,
        risk_factors=risk_factors,
        symptoms=symptoms,
        findings=findings,
        clusters=clusters,
        priors=priors,
        setting_descriptions=setting_descriptions,
        red_flags=red_flags,
        treatments=treatments,
        instruments=instruments,
        movement_measures=measures,
        parameters=parameters,
        corrections=corrections,
        exercises=exercises,
        programmes=programmes,
        pathway=pathway,
        network=network,
    )
    for kind, entry in kb.iter_entries():
        kb._index[getattr(entry, "id")] = (kind, entry)  # noqa: B009
    return kb
