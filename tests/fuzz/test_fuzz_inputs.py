"""Fuzz and property suite (issue 14): hostile or broken input gets a typed glutemed error, in
bounded time, on every input path: case files, questionnaire answers, FHIR bundles, HTTP bodies.

Two kinds of input:

* **seeded mutations of real inputs** (the bundled example cases, a questionnaire answer file, a
  FHIR export of a synthetic patient): byte flips, insertions of YAML/JSON syntax (brackets,
  anchors, aliases, tags, control bytes), truncations and duplications, drawn by hypothesis
  from a fixed seed (``derandomize``), so a failure reproduces;
* **generated structures** (hypothesis strategies of nested JSON values) for the parsers and
  the HTTP endpoints.

Everything runs in CI in a few seconds; each single input must finish within ``PER_INPUT_S``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glutemed._safeio import load_data_text, parse_json
from glutemed.errors import GlutemedError
from glutemed.knowledge import KnowledgeBase, load_kb

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "src" / "glutemed" / "examples" / "cases").glob("*.yaml"))
#: Generous for a loaded CI machine; the blow-ups this guards against took minutes.
PER_INPUT_S = 10.0
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: Fragments that stress YAML and JSON parsers (syntax, anchors, aliases, tags, bad bytes).
TOKENS = [
    b"[", b"]", b"{", b"}", b":", b": ", b"- ", b"\n", b"\t", b"'", b'"', b"&a ", b"*a",
    b"&b [*a, *a] ",
    b"!!python/object:os.system ", b"!!binary ", b"<<: *a", b"---\n", b"...\n", b"%YAML 1.1\n",
    b"\x00", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"9" * 400, b"1e999", b"2024-13-45",
    b"NaN", b".inf", b"~", b"?", b"|", b">", b"#", b"[" * 200, b"{a: " * 100,
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 20))]
        elif kind == "truncate":
            del data[pos:]
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 200))] * draw(st.integers(1, 4))
    return bytes(data)


def _typed_or_ok(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``: it may succeed or raise a glutemed error, within the time bound."""
    start = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    except GlutemedError:
        return None
    finally:
        assert time.perf_counter() - start < PER_INPUT_S


@pytest.fixture(scope="module")
def bundled_kb() -> KnowledgeBase:
    return load_kb()


# --------------------------------------------------------------------------- case files


@FUZZ
@given(data=mutated([p.read_bytes() for p in CASES]))
def test_mutated_case_files_give_typed_errors(
    data: bytes, tmp_path_factory: pytest.TempPathFactory, bundled_kb: KnowledgeBase
) -> None:
    from glutemed.cli import _load_case_file
    from glutemed.reasoning import assess

    path = tmp_path_factory.mktemp("case") / "case.yaml"
    path.write_bytes(data)
    case = _typed_or_ok(_load_case_file, path)
    if case is not None:
        _typed_or_ok(assess, case, bundled_kb, with_intervals=False)


ANSWERS = b"q1: 7\nq2: 5\nq3: 6\nq4: 4\nq5: 8\nq6: 3\nq7: 6\nq8: 5\n"


@FUZZ
@given(data=mutated([ANSWERS, b'{"pain": 4}', b"4\n"]))
def test_mutated_answers_give_typed_errors(data: bytes, bundled_kb: KnowledgeBase) -> None:
    from glutemed.questionnaires import score

    text = data.decode("utf-8", "replace")
    answers = _typed_or_ok(load_data_text, text, where="answers")
    for instrument in ("visa_g", "nprs"):
        _typed_or_ok(score, instrument, answers, kb=bundled_kb)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@FUZZ
@given(value=json_values, depth=st.integers(0, 300))
def test_parsers_bound_depth(value: Any, depth: int) -> None:
    text = "[" * depth + json.dumps(value) + "]" * depth
    parsed = _typed_or_ok(parse_json, text, where="x.json")
    if depth + _depth(value) <= 64:  # within the limit: parsed exactly
        assert parsed == json.loads(text)
    else:
        assert parsed is None
    _typed_or_ok(load_data_text, text, where="x.yaml")


# --------------------------------------------------------------------------- FHIR bundles


@pytest.fixture(scope="module")
def exported_bundle(bundled_kb: KnowledgeBase) -> bytes:
    from glutemed.fhir import PatientRecord, Visit, export_bundle
    from glutemed.reasoning import load_case

    case = load_case(CASES[0])
    record = PatientRecord(
        id="fuzz-1",
        sex="female",
        birth_year=1970,
        visits=[Visit(id="v1", date=dt.date(2026, 1, 5), case=case)],
    )
    return json.dumps(export_bundle(record, kb=bundled_kb)).encode()


@FUZZ
@given(st.data())
def test_mutated_fhir_bundles_give_typed_errors(
    exported_bundle: bytes, bundled_kb: KnowledgeBase, data: st.DataObject
) -> None:
    from glutemed.fhir import import_bundle

    body = data.draw(mutated([exported_bundle]))
    _typed_or_ok(import_bundle, body, kb=bundled_kb)


@FUZZ
@given(st.data())
def test_structurally_mutated_fhir_bundles_give_typed_errors(
    exported_bundle: bytes, bundled_kb: KnowledgeBase, data: st.DataObject
) -> None:
    """Replace one value anywhere in a valid bundle by a generated one."""
    from glutemed.fhir import import_bundle

    bundle = json.loads(exported_bundle)
    paths: list[tuple[Any, Any]] = []
    stack: list[Any] = [bundle]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            paths.append((node, key))
            if isinstance(child, dict | list):
                stack.append(child)
    for _ in range(data.draw(st.integers(1, 3))):
        node, key = data.draw(st.sampled_from(paths))
        node[key] = data.draw(json_values)
    _typed_or_ok(import_bundle, bundle, kb=bundled_kb)
