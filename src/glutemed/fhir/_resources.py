"""Small helpers shared by export, import and CDS Hooks: ids, references, validation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from glutemed._checks import short_repr
from glutemed.errors import Problem
from glutemed.fhir._codes import BASE, EXT

__all__ = [
    "NAMESPACE",
    "fhir_problems",
    "format_loc",
    "known_resource_type",
    "ref",
    "uid",
    "validated",
    "versions_extension",
]

#: Namespace of the deterministic (uuid5) resource ids glutemed exports.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, BASE)


def uid(*parts: object) -> str:
    """Return a deterministic UUID (string) for the given key parts."""
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def ref(resource_id: str, display: str | None = None) -> dict[str, Any]:
    """Return a Reference to a resource in the same Bundle (``urn:uuid:`` form)."""
    out: dict[str, Any] = {"reference": f"urn:uuid:{resource_id}"}
    if display:
        out["display"] = display
    return out


def versions_extension(versions: Mapping[str, Any]) -> dict[str, Any]:
    """Return the glutemed ``versions`` extension (engine, kb, kbManifestSha256)."""
    subs = [
        {"url": url, "valueString": str(versions[key])}
        for key, url in (
            ("engine", "engine"),
            ("kb", "kb"),
            ("kb_manifest_sha256", "kbManifestSha256"),
        )
        if versions.get(key)
    ]
    return {"url": EXT.versions, "extension": subs}


def format_loc(prefix: str, loc: Iterable[Any]) -> str:
    """Format a pydantic error location as a JSON path: ``Bundle.entry[2].resource.status``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if text == "__root__" or not text:
                continue
            out += f".{text}" if out else text
    return out


def fhir_problems(exc: ValidationError, prefix: str) -> list[Problem]:
    """Turn a fhir.resources ValidationError into Problems with JSON paths."""
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        where = format_loc(prefix, loc)
        msg = " ".join(str(err["msg"]).split())
        found = "nothing" if "missing" in err["type"] else short_repr(err.get("input"))
        problems.append(Problem(where, f"a valid FHIR R4 value ({msg})", found))
    return problems


def known_resource_type(name: object) -> bool:
    """Return True if ``name`` is a FHIR R4B resource type fhir.resources knows."""
    if not isinstance(name, str) or not name[:1].isupper():
        return False
    try:
        get_fhir_model_class(name)
    except (ValueError, KeyError, AttributeError):
        return False
    return True


def validated(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a resource dict with its fhir.resources R4B model; return JSON-ready data.

    Raises
    ------
    pydantic.ValidationError
        Only on a programming error in the exporter (the inputs are validated before).
    """
    cls = get_fhir_model_class(str(resource["resourceType"]))
    model = cls.model_validate(dict(resource))
    out: dict[str, Any] = json.loads(model.model_dump_json())
    return out
