"""Bounded reading of untrusted YAML and JSON (case files, answer files, request bodies).

Every limit is checked before or while parsing, so no input can exhaust memory or time, and every
failure is a :class:`~glutemed.errors.DataFileError` naming the file (and line) at fault:

* size: the file or text is at most ``max_bytes`` bytes (the file is never read past the limit);
* encoding: UTF-8 (a byte-order mark is allowed), otherwise the byte offset of the first bad byte;
* depth: at most ``max_depth`` nested mappings/sequences (deeper input would otherwise end in a
  ``RecursionError``);
* YAML aliases: at most ``max_aliases`` alias uses, no recursive anchors, and at most
  ``max_nodes`` values once aliases are expanded (a "billion laughs" file of 1 kB expands to
  billions of values: it is refused before anything is built from it);
* YAML tags: only the safe loader's plain types.

Examples
--------
>>> load_data_text('{"a": [1, 2]}', where="inline")
{'a': [1, 2]}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from glutemed.errors import DataFileError, Problem

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "check_json_depth",
    "decode_utf8",
    "load_data_argument",
    "load_data_file",
    "load_data_text",
    "parse_json",
    "parse_yaml",
    "read_bytes",
]

#: Longest path name most file systems accept; longer arguments are inline data, never paths.
_MAX_PATH_CHARS = 255


@dataclass(frozen=True)
class Limits:
    """Bounds for one kind of untrusted document.

    Parameters
    ----------
    max_bytes
        Largest file or text accepted, in bytes.
    max_depth
        Deepest nesting of mappings and sequences.
    max_nodes
        Most values (scalars, mappings, sequences) after YAML aliases are expanded.
    max_aliases
        Most YAML alias uses (``*name``).
    """

    max_bytes: int = 2 * 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 200_000
    max_aliases: int = 100


#: Case and questionnaire-answer files: a real case is a few kilobytes, 12 levels deep at most.
DEFAULT_LIMITS = Limits()


def _fail(where: str, what: str, expected: str, found: str, hint: str = "") -> DataFileError:
    return DataFileError(f"cannot read {what}", [Problem(where, expected, found, hint)])


def read_bytes(path: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Read a file, refusing it once it is larger than ``limits.max_bytes``.

    Raises
    ------
    DataFileError
        If the file cannot be opened (naming the OS error) or is too large.
    """
    path = Path(path)
    name = path.name or str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        raise _fail(name, name, "a readable file", reason) from None
    if len(data) > limits.max_bytes:
        raise _fail(
            name,
            name,
            f"a file of at most {limits.max_bytes} bytes",
            f"more than {limits.max_bytes} bytes",
        )
    return data


def decode_utf8(data: bytes, *, where: str) -> str:
    """Decode UTF-8 bytes (an initial byte-order mark is dropped).

    Raises
    ------
    DataFileError
        Naming the byte offset of the first byte that is not UTF-8.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(
            where,
            where,
            "UTF-8 text",
            f"a byte that is not UTF-8 at offset {exc.start}",
            "save the file as UTF-8",
        ) from None


def check_json_depth(data: Any, *, where: str, max_depth: int) -> None:
    """Raise DataFileError if ``data`` nests mappings/sequences deeper than ``max_depth``.

    Iterative (no recursion), one visit per container.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            raise _fail(
                where, where, f"at most {max_depth} nested levels", f"more than {max_depth}"
            )
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(
    text: str | bytes | bytearray, *, where: str, limits: Limits = DEFAULT_LIMITS
) -> Any:
    """Parse JSON within the size and depth limits (NaN and Infinity are refused).

    Raises
    ------
    DataFileError
        For a document too large or too deep, text that is not UTF-8 or not JSON (with line and
        column).
    """
    if len(text) > limits.max_bytes:
        raise _fail(where, where, f"at most {limits.max_bytes} bytes", f"{len(text)} bytes")
    if isinstance(text, bytes | bytearray):
        text = decode_utf8(bytes(text), where=where)
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise _fail(
            where, where, f"at most {limits.max_depth} nested levels", "far deeper nesting"
        ) from None
    except json.JSONDecodeError as exc:
        raise _fail(
            where,
            where,
            "valid JSON",
            f"{exc.msg} at line {exc.lineno}, column {exc.colno}",
        ) from None
    except ValueError as exc:  # NaN/Infinity, integers longer than Python converts
        raise _fail(where, where, "valid JSON numbers", str(exc).split(":")[0][:80]) from None
    check_json_depth(data, where=where, max_depth=limits.max_depth)
    return data


class _LimitError(Exception):
    def __init__(self, line: int | None, expected: str, found: str) -> None:
        super().__init__(expected)
        self.line = line
        self.expected = expected
        self.found = found


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that counts nesting depth and alias uses while composing."""

    def __init__(self, stream: str, limits: Limits) -> None:
        super().__init__(stream)
        self.limits = limits
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, AliasEvent):
            self.aliases += 1
            if self.aliases > self.limits.max_aliases:
                raise _LimitError(
                    line, f"at most {self.limits.max_aliases} aliases", "more aliases"
                )
        self.depth += 1
        try:
            if self.depth > self.limits.max_depth:
                raise _LimitError(
                    line,
                    f"at most {self.limits.max_depth} nested levels",
                    f"more than {self.limits.max_depth}",
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _expanded_size(root: Node, limits: Limits) -> None:
    """Check the node graph once aliases are expanded: no cycles, bounded size and depth."""
    sizes: dict[int, tuple[int, int]] = {}  # id -> (values, depth) when expanded
    # iterative post-order walk; "open" nodes on the path detect recursive anchors
    open_ids: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if isinstance(node, MappingNode):
            children: list[Node] = [n for pair in node.value for n in pair]
        elif isinstance(node, SequenceNode):
            children = list(node.value)
        else:
            children = []
        if done:
            open_ids.discard(key)
            total, depth = 1, 1
            for child in children:
                n, d = sizes[id(child)]
                total += n
                depth = max(depth, d + 1)
            if total > limits.max_nodes or depth > limits.max_depth:
                line = node.start_mark.line + 1 if node.start_mark else None
                expected = (
                    f"at most {limits.max_nodes} values once aliases are expanded"
                    if total > limits.max_nodes
                    else f"at most {limits.max_depth} nested levels once aliases are expanded"
                )
                raise _LimitError(line, expected, "more")
            sizes[key] = (total, depth)
            continue
        if key in sizes:
            continue
        if key in open_ids:
            line = node.start_mark.line + 1 if node.start_mark else None
            raise _LimitError(line, "no alias inside its own anchor", "a recursive alias")
        open_ids.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def parse_yaml(text: str, *, where: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse one YAML document with PyYAML's safe loader within the limits.

    Raises
    ------
    DataFileError
        For text too large, too deep, with too many or recursive aliases, or invalid YAML (with
        the line), or values the safe loader cannot build (e.g. a date such as 2024-13-45).
    """
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise _fail(where, where, f"at most {limits.max_bytes} bytes", "a larger text")
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text, limits)
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, limits)
        return loader.construct_document(node)
    except _LimitError as exc:
        at = f"{where}:{exc.line}" if exc.line else where
        raise _fail(at, where, exc.expected, exc.found) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        at = f"{where}:{mark.line + 1}" if mark is not None else where
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None)
        problem = problem or type(exc).__name__
        raise _fail(at, where, "valid YAML", str(problem)[:120]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an impossible timestamp
        raise _fail(
            where, where, "valid YAML values", type(exc).__name__ + ": " + str(exc)[:80]
        ) from None
    except RecursionError:  # pragma: no cover - the depth limit stops it first
        raise _fail(where, where, f"at most {limits.max_depth} nested levels", "deeper") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_data_text(
    text: str, *, where: str, json_only: bool = False, limits: Limits = DEFAULT_LIMITS
) -> Any:
    """Parse JSON (when ``json_only``) or YAML (a superset of JSON) text within the limits."""
    if json_only:
        return parse_json(text, where=where, limits=limits)
    return parse_yaml(text, where=where, limits=limits)


def load_data_file(path: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Read a YAML or JSON file (JSON when the suffix is ``.json``) within the limits.

    Raises
    ------
    DataFileError
        If the file is unreadable, too large, not UTF-8, malformed or beyond a limit.
    """
    path = Path(path)
    name = path.name or str(path)
    text = decode_utf8(read_bytes(path, limits=limits), where=name)
    return load_data_text(text, where=name, json_only=path.suffix.lower() == ".json", limits=limits)


def load_data_argument(
    value: str, *, where: str = "inline data", limits: Limits = DEFAULT_LIMITS
) -> Any:
    """Read a command-line argument that is either a file path or inline YAML/JSON.

    An argument is a path when it names an existing file; text that starts like JSON (``{`` or
    ``[``) or is longer than a path can be is always inline data.
    """
    stripped = value.lstrip()
    inline = stripped.startswith(("{", "[")) or len(value) > _MAX_PATH_CHARS or "\n" in value
    if not inline:
        try:
            is_file = Path(value).is_file()
        except (OSError, ValueError):  # e.g. a name too long for this file system, or a NUL
            is_file = False
        if is_file:
            return load_data_file(value, limits=limits)
    return load_data_text(value, where=where, limits=limits)
