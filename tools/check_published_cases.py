"""Check the structure of the published-case files in ``benchmarks/published_cases/``.

Run from the repository root:

    python tools/check_published_cases.py [FOLDER]

Prints one line per problem (file, field, what was expected, what was found) and exits 1 if
there is any. It checks the layout only: that every file parses, has the fields the case set's
README describes, and that ids, values and provenance are well formed. Whether each finding,
condition, setting and treatment id exists in the knowledge base is for the diagnosis engine's
own case validation, so no vocabulary is repeated here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "benchmarks" / "published_cases"
MAX_FILE_BYTES = 64_000
FIRST_LINE_END = "Translated from a published case report; facts as stated in the source."
ID = re.compile(r"^[a-z][a-z0-9_]*$")
CASE_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)+$")
LABEL = re.compile(r"^(?:other:)?[a-z][a-z0-9_]*$")
TOP_KEYS = {"source", "truth", "case", "judgement_calls"}
SOURCE_KEYS = {"citation", "url"}
SOURCE_OPTIONAL = {"vignette"}
TRUTH_KEYS = {"label", "text", "accept", "must_not_miss"}
TRUTH_OPTIONAL = {"excluded_reason"}
CASE_KEYS = {"label", "patient", "setting", "side", "findings", "imaging", "treatments_tried"}
SIDES = {"left", "right", "bilateral", "unknown"}
SEXES = {"female", "male"}
RESPONSES = {"none", "partial", "good", "worse", "unknown"}
BINARY_VALUES = {"positive", "negative", "not_done"}


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loader that refuses a mapping with the same key twice (plain YAML keeps the last)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _keys(where: str, value: object, required: set[str], optional: set[str]) -> Iterator[str]:
    if not isinstance(value, dict):
        yield f"{where}: expected a mapping, got {type(value).__name__}"
        return
    missing = sorted(required - value.keys())
    extra = sorted(value.keys() - required - optional)
    if missing:
        yield f"{where}: missing field(s) {', '.join(missing)}"
    if extra:
        yield f"{where}: unexpected field(s) {', '.join(map(str, extra))}"


def _text(where: str, value: object) -> Iterator[str]:
    if not isinstance(value, str) or not value.strip():
        yield f"{where}: expected non-empty text, got {value!r}"


def _observations(where: str, value: object) -> Iterator[str]:
    if not isinstance(value, dict):
        yield f"{where}: expected a mapping of id to value, got {type(value).__name__}"
        return
    for key, level in value.items():
        if not isinstance(key, str) or not ID.match(key):
            yield f"{where}: expected a snake_case id, got {key!r}"
        if not isinstance(level, str) or not (level in BINARY_VALUES or ID.match(level)):
            yield (
                f"{where}.{key}: expected positive, negative, not_done or a level id, got {level!r}"
            )


def _source(data: dict[str, Any], stem: str) -> Iterator[str]:
    source = data["source"]
    yield from _keys("source", source, SOURCE_KEYS, SOURCE_OPTIONAL)
    if not isinstance(source, dict):
        return
    yield from _text("source.citation", source.get("citation"))
    url = source.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        yield f"source.url: expected an http(s) address, got {url!r}"
    if "vignette" in source and source["vignette"] != stem:
        yield f"source.vignette: expected the file name {stem!r}, got {source['vignette']!r}"


def _truth(data: dict[str, Any]) -> Iterator[str]:
    truth = data["truth"]
    yield from _keys("truth", truth, TRUTH_KEYS, TRUTH_OPTIONAL)
    if not isinstance(truth, dict):
        return
    label = truth.get("label")
    if not isinstance(label, str) or not LABEL.match(label):
        yield f"truth.label: expected a label id (optionally 'other:...'), got {label!r}"
    yield from _text("truth.text", truth.get("text"))
    accept = truth.get("accept")
    if not isinstance(accept, list) or not all(isinstance(a, str) and ID.match(a) for a in accept):
        yield f"truth.accept: expected a list of condition ids, got {accept!r}"
    elif len(set(accept)) != len(accept):
        yield f"truth.accept: expected each condition once, got {accept!r}"
    elif not accept and "excluded_reason" not in truth:
        yield "truth.excluded_reason: expected a reason when accept is empty, got none"
    elif accept and "excluded_reason" in truth:
        yield "truth.excluded_reason: expected only when accept is empty, got one with accept set"
    if "excluded_reason" in truth:
        yield from _text("truth.excluded_reason", truth["excluded_reason"])
    if not isinstance(truth.get("must_not_miss"), bool):
        yield f"truth.must_not_miss: expected true or false, got {truth.get('must_not_miss')!r}"


def _patient(patient: object) -> Iterator[str]:
    yield from _keys("case.patient", patient, {"sex"}, {"age_years"})
    if not isinstance(patient, dict):
        return
    if patient.get("sex") not in SEXES:
        yield f"case.patient.sex: expected one of {sorted(SEXES)}, got {patient.get('sex')!r}"
    age = patient.get("age_years")
    if "age_years" in patient and not (isinstance(age, int) and 0 <= age <= 120):
        yield f"case.patient.age_years: expected a whole number 0-120, got {age!r}"


def _treatments(value: object) -> Iterator[str]:
    if not isinstance(value, list):
        yield f"case.treatments_tried: expected a list, got {type(value).__name__}"
        return
    for i, item in enumerate(value):
        where = f"case.treatments_tried[{i}]"
        yield from _keys(where, item, {"id", "response"}, set())
        if not isinstance(item, dict):
            continue
        if not isinstance(item.get("id"), str) or not ID.match(item["id"]):
            yield f"{where}.id: expected a treatment id, got {item.get('id')!r}"
        if item.get("response") not in RESPONSES:
            yield (
                f"{where}.response: expected one of {sorted(RESPONSES)}, "
                f"got {item.get('response')!r}"
            )


def _case(data: dict[str, Any]) -> Iterator[str]:
    case = data["case"]
    yield from _keys("case", case, CASE_KEYS, set())
    if not isinstance(case, dict):
        return
    yield from _text("case.label", case.get("label"))
    yield from _patient(case.get("patient"))
    setting = case.get("setting")
    if not isinstance(setting, str) or not ID.match(setting):
        yield f"case.setting: expected a setting id, got {setting!r}"
    if case.get("side") not in SIDES:
        yield f"case.side: expected one of {sorted(SIDES)}, got {case.get('side')!r}"
    yield from _observations("case.findings", case.get("findings"))
    yield from _observations("case.imaging", case.get("imaging"))
    yield from _treatments(case.get("treatments_tried"))
    findings, imaging = case.get("findings"), case.get("imaging")
    if isinstance(findings, dict) and isinstance(imaging, dict):
        for key in sorted(findings.keys() & imaging.keys()):
            yield f"case: {key!r} is given under both findings and imaging; expected one place"


def check_file(path: Path) -> list[str]:
    """Return the structural problems of one case file (empty if it is well formed)."""
    if not CASE_NAME.match(path.stem):
        return [f"file name: expected '<firstauthor><year>-<slug>.yaml', got {path.name!r}"]
    if path.stat().st_size > MAX_FILE_BYTES:
        return [f"file size: expected at most {MAX_FILE_BYTES} bytes, got {path.stat().st_size}"]
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0] if text else ""
    problems = []
    if not (first.startswith("# ") and first.endswith(FIRST_LINE_END)):
        problems.append(f"line 1: expected '# <description>. {FIRST_LINE_END}', got {first!r}")
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        return [*problems, f"YAML: {exc}".replace("\n", " ")]
    problems.extend(_keys("top level", data, TOP_KEYS, set()))
    if problems or not isinstance(data, dict):
        return problems
    problems.extend(_source(data, path.stem))
    problems.extend(_truth(data))
    problems.extend(_case(data))
    calls = data["judgement_calls"]
    if not isinstance(calls, list) or not calls:
        problems.append("judgement_calls: expected a non-empty list of text, got none")
    else:
        for i, call in enumerate(calls):
            problems.extend(_text(f"judgement_calls[{i}]", call))
    return problems


def check_folder(folder: Path) -> dict[str, list[str]]:
    """Return the problems of every ``*.yaml`` file in *folder*, by file name."""
    return {path.name: check_file(path) for path in sorted(folder.glob("*.yaml"))}


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else DEFAULT_FOLDER
    results = check_folder(folder)
    bad = 0
    for name, problems in results.items():
        for problem in problems:
            sys.stdout.write(f"{name}: {problem}\n")
        bad += bool(problems)
    sys.stdout.write(f"{len(results)} case files, {bad} with problems\n")
    return 1 if bad or not results else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
