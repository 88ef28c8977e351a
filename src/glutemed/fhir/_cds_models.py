"""Pydantic v2 models of CDS Hooks 2.0 bodies, written from the specification's tables.

Sources: CDS Hooks 2.0 (https://cds-hooks.hl7.org/2.0/), sections Discovery, Calling a CDS
Service, CDS Service Response (Card, Source, Suggestion, Action, Link, System Action), Feedback
(AcceptedSuggestion, OverrideReason) and Data Types (Coding); the HL7 logical models'
invariants where they restate the specification (a card with suggestions needs
``selectionBehavior``; override reasons need ``display``; ``fhirAuthorization`` needs
``fhirServer``; ``acceptedSuggestions`` only with ``accepted``).

Models of what glutemed *sends* (services, cards, responses) forbid unknown fields so a typo
fails a test; models of what a client *sends* (requests, feedback) ignore unknown fields other
than the reserved ``extension``. Optional fields default to ``None`` and are dropped on output
(:func:`~glutemed.fhir.strip_empty`), because the specification forbids ``null``, ``""``, ``[]``
and ``{}`` for optional fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AcceptedSuggestion",
    "Action",
    "Card",
    "CdsRequest",
    "CdsResponse",
    "CdsService",
    "CdsServices",
    "Coding",
    "Feedback",
    "FeedbackEntry",
    "FhirAuthorization",
    "Link",
    "OverrideReason",
    "Source",
    "Suggestion",
]

NonEmpty = Annotated[str, Field(min_length=1)]
#: "One-sentence, <140-character summary".
Summary = Annotated[str, Field(min_length=1, max_length=139)]
Extension = dict[str, Any]


def _absolute_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("expected an absolute http(s) URL")
    return value


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Coding(_Out):
    """CDS Hooks Coding: ``code`` and ``system`` REQUIRED, ``display`` CONDITIONAL."""

    code: NonEmpty
    system: NonEmpty
    display: NonEmpty | None = None


class CdsService(_Out):
    """One entry of the discovery response."""

    hook: NonEmpty
    title: NonEmpty | None = None
    description: NonEmpty
    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._~-]+$")]
    prefetch: dict[str, NonEmpty] | None = None
    usageRequirements: NonEmpty | None = None  # noqa: N815 - JSON name from the specification
    extension: Extension | None = None


class CdsServices(_Out):
    """The discovery response ``{"services": [...]}`` (may be empty)."""

    services: list[CdsService]


class Source(_Out):
    """A card's source: ``label`` REQUIRED; ``url``/``icon`` absolute URLs; ``topic`` Coding."""

    label: NonEmpty
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None

    _check_url = field_validator("url", "icon")(_absolute_url)


class Action(_Out):
    """A suggested (or system) action: ``create``/``update`` carry a resource, ``delete`` an id."""

    type: Literal["create", "update", "delete"]
    description: NonEmpty
    resource: dict[str, Any] | None = None
    resourceId: NonEmpty | None = None  # noqa: N815

    @model_validator(mode="after")
    def _resource_for_type(self) -> Action:
        if self.type in ("create", "update") and not self.resource:
            raise ValueError(f"a {self.type} action needs a resource")
        if self.type == "delete" and not (self.resourceId or self.resource):
            raise ValueError("a delete action needs a resourceId")
        if self.resource is not None and not self.resource.get("resourceType"):
            raise ValueError("resource needs a resourceType")
        return self


class Suggestion(_Out):
    """A suggestion: ``label`` REQUIRED; ``uuid`` for feedback; ``actions`` AND-ed together."""

    label: NonEmpty
    uuid: UUID | None = None
    isRecommended: bool | None = None  # noqa: N815
    actions: Annotated[list[Action], Field(min_length=1)] | None = None


class Link(_Out):
    """A link: ``type`` absolute or smart; ``appContext`` only with smart links."""

    label: NonEmpty
    url: NonEmpty
    type: Literal["absolute", "smart"]
    appContext: NonEmpty | None = None  # noqa: N815
    autolaunchable: bool | None = None

    _check_url = field_validator("url")(_absolute_url)

    @model_validator(mode="after")
    def _app_context_only_smart(self) -> Link:
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is valid only for smart links")
        return self


class Card(_Out):
    """A card: ``summary`` (<140 characters), ``indicator`` and ``source`` REQUIRED."""

    uuid: UUID | None = None
    summary: Summary
    detail: NonEmpty | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: Annotated[list[Suggestion], Field(min_length=1)] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None  # noqa: N815
    overrideReasons: Annotated[list[Coding], Field(min_length=1)] | None = None  # noqa: N815
    links: Annotated[list[Link], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _rules(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("a card with suggestions needs selectionBehavior")
        if self.selectionBehavior is not None and not self.suggestions:
            raise ValueError("selectionBehavior is given without suggestions")
        if self.overrideReasons and any(not c.display for c in self.overrideReasons):
            raise ValueError("override reasons need a display")
        recommended = [s for s in self.suggestions or [] if s.isRecommended]
        if self.selectionBehavior == "at-most-one" and len(recommended) > 1:
            raise ValueError("at most one suggestion can be recommended with at-most-one")
        return self


class CdsResponse(_Out):
    """A service response: ``cards`` REQUIRED (may be empty), ``systemActions`` optional."""

    cards: list[Card]
    systemActions: Annotated[list[Action], Field(min_length=1)] | None = None  # noqa: N815


class FhirAuthorization(_In):
    """The ``fhirAuthorization`` object of a request."""

    access_token: NonEmpty
    token_type: Literal["Bearer"]
    expires_in: int
    scope: NonEmpty
    subject: NonEmpty
    patient: NonEmpty | None = None


class CdsRequest(_In):
    """A hook call: ``hook``, ``hookInstance`` (UUID) and ``context`` REQUIRED."""

    hook: NonEmpty
    hookInstance: UUID  # noqa: N815
    fhirServer: NonEmpty | None = None  # noqa: N815
    fhirAuthorization: FhirAuthorization | None = None  # noqa: N815
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: Extension | None = None

    @model_validator(mode="after")
    def _server_with_token(self) -> CdsRequest:
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirServer is required when fhirAuthorization is given")
        return self


class AcceptedSuggestion(_In):
    """``{"id": suggestion uuid}``."""

    id: NonEmpty


class OverrideReason(_In):
    """The reason a user overrode a card: a Coding and/or a comment."""

    reason: Coding | None = None
    userComment: NonEmpty | None = None  # noqa: N815

    @model_validator(mode="after")
    def _something(self) -> OverrideReason:
        if self.reason is None and self.userComment is None:
            raise ValueError("overrideReason needs a reason or a userComment")
        return self


class FeedbackEntry(_In):
    """One feedback entry: the card's uuid, the outcome and when it happened (UTC)."""

    card: NonEmpty
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: Annotated[list[AcceptedSuggestion], Field(min_length=1)] | None = None  # noqa: N815
    overrideReason: OverrideReason | None = None  # noqa: N815
    outcomeTimestamp: dt.datetime  # noqa: N815

    @model_validator(mode="after")
    def _outcome_rules(self) -> FeedbackEntry:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("an accepted outcome needs acceptedSuggestions")
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions are only for accepted outcomes")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("overrideReason is only for overridden outcomes")
        if self.outcomeTimestamp.tzinfo is None:
            raise ValueError("outcomeTimestamp needs a time zone (UTC)")
        return self


class Feedback(_In):
    """The feedback request body ``{"feedback": [...]}``."""

    feedback: Annotated[list[FeedbackEntry], Field(min_length=1)]
