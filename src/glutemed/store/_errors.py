"""Errors of the records layer (turned into HTTP problem+json by the server).

They derive from :class:`glutemed.errors.GlutemedError` and, like every glutemed error, never
contain patient identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

from glutemed.errors import GlutemedError

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DatabaseBusyError",
    "PermissionDeniedError",
    "ThrottledError",
]


@dataclass
class ConflictError(GlutemedError):
    """A record changed since the caller read it (stale ``version``), or a duplicate key.

    ``current_version`` is the version now stored (None for duplicates).
    """

    current_version: int | None = None


class PermissionDeniedError(GlutemedError):
    """The user's role does not allow the action."""


class AuthenticationError(GlutemedError):
    """Wrong user name or password, or an inactive account (deliberately not saying which)."""


@dataclass
class ThrottledError(GlutemedError):
    """Too many failed logins; ``retry_after_s`` says when to try again."""

    retry_after_s: int = 0


@dataclass
class DatabaseBusyError(GlutemedError):
    """Another writer held the database for longer than a writer waits; nothing was written.

    ``retry_after_s`` says when to try again.
    """

    retry_after_s: int = 1
