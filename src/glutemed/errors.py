"""The glutemed exception tree.

Every error glutemed raises on purpose derives from :class:`GlutemedError`. Messages say where
the problem is (file, line or field), what was expected, what was found and, where it helps, how
to fix it. They never contain patient identifiers. Conversion to HTTP ``problem+json`` or to a
FHIR ``OperationOutcome`` happens only at the edge (server, FHIR layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CaseValidationError",
    "DataFileError",
    "GlutemedError",
    "InputValueError",
    "KnowledgeBaseError",
    "MotionDataError",
    "NotFoundError",
    "Problem",
    "ScoringError",
]


@dataclass(frozen=True)
class Problem:
    """One problem found while checking input.

    Parameters
    ----------
    location
        Where the problem is: a file (optionally ``file:line``) and/or a dotted field path,
        e.g. ``findings.yaml:120 findings.trendelenburg_sign.accuracy[0].sensitivity``.
    expected
        What was expected, in words a user understands.
    found
        What was found instead (a short repr, never patient data).
    hint
        Optional advice on how to fix it.
    """

    location: str
    expected: str
    found: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: expected {self.expected}, got {self.found}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def as_dict(self) -> dict[str, str]:
        """Return the problem as a JSON-ready dictionary."""
        out = {"location": self.location, "expected": self.expected, "found": self.found}
        if self.hint:
            out["hint"] = self.hint
        return out


@dataclass
class GlutemedError(Exception):
    """Base class of every error glutemed raises on purpose.

    Parameters
    ----------
    message
        A one-line summary.
    problems
        Every individual problem found (validation reports them all at once).
    """

    message: str
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class InputValueError(GlutemedError, ValueError):
    """A value given by a caller is outside what the function accepts."""


class DataFileError(GlutemedError):
    """A file could not be read or parsed (wrong format, truncated, missing content)."""


class KnowledgeBaseError(DataFileError):
    """The knowledge base failed its schema or cross-reference checks."""


class CaseValidationError(InputValueError):
    """A clinical case does not fit the knowledge base (unknown ids, impossible values, ...)."""


class ScoringError(InputValueError):
    """Questionnaire answers cannot be scored (out of range, too many missing items, ...)."""


class MotionDataError(DataFileError):
    """A motion-capture or keypoint file is unreadable, truncated or lacks required landmarks."""


class NotFoundError(GlutemedError, KeyError):
    """An id or record does not exist."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return GlutemedError.__str__(self)
