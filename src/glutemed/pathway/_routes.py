"""Where care goes for the conditions of an assessment's differential.

The staged plan (:func:`glutemed.pathway.plan`) covers the gluteal conditions. Every other
condition of the differential has a route in ``pathway.yaml`` (``condition_routes``): first-line
care or a referral with its urgency; must-not-miss conditions above their threshold follow the
action and urgency that the assessment carries from ``network.yaml``, so the action is written
once, in the network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from glutemed.knowledge import KnowledgeBase, load_kb

__all__ = ["URGENCY_ORDER", "ConditionCare", "care_routes"]

#: most urgent first; "routine" is the urgency of care that can wait for a normal appointment.
#: "urgent" is the must-not-miss urgency of network.yaml between same day and soon (e.g. a
#: suspected-cancer pathway).
URGENCY_ORDER = ("emergency", "same_day", "urgent", "soon", "routine")

_URGENCY_WORDS = {
    "emergency": "emergency: now",
    "same_day": "today",
    "urgent": "urgent (within days, on an urgent pathway)",
    "soon": "soon (within days)",
    "routine": "routine appointment",
}

#: network.yaml's must-not-miss urgencies in this module's words
_FROM_NETWORK = {"emergency_same_day": "emergency", "urgent": "urgent", "soon": "soon"}


@dataclass(frozen=True)
class ConditionCare:
    """The route of care for one condition of the differential."""

    condition: str
    name: str
    probability: float | None
    route: str
    urgency: str
    urgency_text: str
    action: str
    first_line: str
    refer_to: str
    plain: str
    basis: str
    assumption: str = ""
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the route as plain JSON-ready data."""
        return asdict(self)


def care_routes(
    assessment: Any,
    kb: KnowledgeBase | None = None,
    *,
    top: int = 3,
    min_probability: float = 0.2,
) -> list[ConditionCare]:
    """Return the routes of care for an assessment, most urgent first.

    Parameters
    ----------
    assessment
        A :class:`glutemed.reasoning.Assessment` (its ``red_flags`` and ``differential``).
    kb
        The knowledge base (default: the bundled one).
    top
        How many conditions of the differential (other than red flags) to route.
    min_probability
        Conditions of the differential below this posterior probability are not routed.

    Returns
    -------
    list of ConditionCare
        First every must-not-miss condition above its threshold (its action and urgency from
        the assessment), then the most likely other conditions, each with its own route.
    """
    kb = kb or load_kb()
    routes = kb.pathway.condition_routes
    out: list[ConditionCare] = []
    seen: set[str] = set()
    for flag in assessment.red_flags:
        cid = str(flag["id"])
        route = routes.get(cid)
        if route is None or cid in seen:
            continue
        seen.add(cid)
        urgency = _FROM_NETWORK.get(str(flag.get("urgency") or "soon"), "soon")
        out.append(
            ConditionCare(
                condition=cid,
                name=str(flag.get("name") or kb.conditions[cid].name),
                # a shared rule-out group's flag carries P(any of its members)
                probability=float(flag["probability"])
                if flag.get("group")
                else _probability(assessment, cid),
                route=route.route,
                urgency=urgency,
                urgency_text=_URGENCY_WORDS.get(urgency, urgency),
                action=str(flag.get("action") or ""),
                first_line="",
                refer_to=route.refer_to,
                plain=route.plain,
                basis=route.basis,
                assumption=route.reason if route.basis == "assumption" else "",
                sources=sorted({s.id for s in route.sources}),
            )
        )
    ranked = 0
    for entry in assessment.differential:
        cid = str(entry["id"])
        prob = float(entry.get("probability") or 0.0)
        if cid in seen or entry.get("must_not_miss") or prob < min_probability:
            continue
        route = routes.get(cid)
        if route is None:
            continue
        seen.add(cid)
        urgency = route.urgency or "routine"
        out.append(
            ConditionCare(
                condition=cid,
                name=str(entry.get("name") or kb.conditions[cid].name),
                probability=prob,
                route=route.route,
                urgency=urgency,
                urgency_text=_URGENCY_WORDS[urgency],
                action=route.first_line,
                first_line=route.first_line,
                refer_to=route.refer_to,
                plain=route.plain,
                basis=route.basis,
                assumption=route.reason if route.basis == "assumption" else "",
                sources=sorted({s.id for s in route.sources}),
            )
        )
        ranked += 1
        if ranked >= top:
            break
    return sorted(out, key=lambda c: URGENCY_ORDER.index(c.urgency))


def _probability(assessment: Any, cid: str) -> float | None:
    for entry in assessment.differential:
        if entry.get("id") == cid:
            return float(entry["probability"])
    return None
