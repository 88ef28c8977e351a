"""FHIR-layer errors and their conversion to a FHIR OperationOutcome.

The classes derive from the existing :mod:`glutemed.errors` classes, so a handler that knows only
``InputValueError`` or ``GlutemedError`` still catches them; the server maps them to HTTP statuses
with :func:`http_status_for` and to a body with :func:`to_operation_outcome`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fhir.resources.R4B.operationoutcome import OperationOutcome

from glutemed.errors import (
    DataFileError,
    GlutemedError,
    InputValueError,
    KnowledgeBaseError,
    NotFoundError,
    Problem,
)

__all__ = [
    "CdsAuthenticationError",
    "FhirInputError",
    "PrefetchMissingError",
    "http_status_for",
    "to_operation_outcome",
]


class FhirInputError(InputValueError):
    """A FHIR resource, Bundle or CDS Hooks body is malformed; each problem names its JSON path."""


class PrefetchMissingError(InputValueError):
    """A CDS Hooks request lacks prefetch data the service requires (HTTP 412).

    The service is pure logic and does not query the client's FHIR server, so a required prefetch
    key that is absent (not satisfied by the client) or holds an OperationOutcome cannot be made
    up for.
    """


class CdsAuthenticationError(GlutemedError):
    """A CDS client's bearer JWT is missing, malformed, untrusted, expired or misaddressed (401)."""


_PATH = re.compile(r"^[A-Za-z_$][\w$-]*(\[\d+\]|\.[A-Za-z_$][\w$-]*)*$")


def _issue_code(error: GlutemedError) -> str:
    if isinstance(error, CdsAuthenticationError):
        return "security"
    if isinstance(error, PrefetchMissingError):
        return "required"
    if isinstance(error, NotFoundError):
        return "not-found"
    if isinstance(error, KnowledgeBaseError):
        return "processing"
    if isinstance(error, InputValueError | DataFileError):
        return "invalid"
    return "processing"


def http_status_for(error: GlutemedError) -> int:
    """Return the HTTP status a server should answer ``error`` with.

    ``PrefetchMissingError`` -> 412, ``CdsAuthenticationError`` -> 401, ``NotFoundError`` -> 404,
    other input and file errors -> 400, anything else (e.g. a broken knowledge base) -> 500.
    """
    if isinstance(error, PrefetchMissingError):
        return 412
    if isinstance(error, CdsAuthenticationError):
        return 401
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, KnowledgeBaseError):
        return 500
    if isinstance(error, InputValueError | DataFileError):
        return 400
    return 500


def _issue(code: str, problem: Problem | None, message: str) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code}
    if problem is None:
        issue["diagnostics"] = message
        return issue
    issue["diagnostics"] = str(problem)
    location = problem.location.strip()
    if location and _PATH.match(location):
        issue["expression"] = [location]
    return issue


def to_operation_outcome(error: GlutemedError) -> dict[str, Any]:
    """Turn any :class:`~glutemed.errors.GlutemedError` into a FHIR R4 OperationOutcome.

    One ``issue`` per :class:`~glutemed.errors.Problem` (or one for the message when there are
    none): ``severity`` error; ``code`` ``invalid`` (bad input or file), ``required`` (missing
    prefetch), ``security`` (authentication), ``not-found`` or ``processing``; ``diagnostics``
    the "where: expected X, got Y (hint)" sentence; ``expression`` the field path when the
    problem's location is a path such as ``Bundle.entry[2].resource.status``.

    Returns
    -------
    dict
        The OperationOutcome as JSON-ready data, validated by ``fhir.resources``.
    """
    code = _issue_code(error)
    problems: list[Problem | None] = list(error.problems) or [None]
    issues = [_issue(code, p, error.message) for p in problems]
    if error.problems:
        issues[0]["details"] = {"text": error.message}
    model = OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": issues})
    out: dict[str, Any] = json.loads(model.model_dump_json())
    return out
