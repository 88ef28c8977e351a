"""An exercise prescription as a FHIR R4 CarePlan: one activity per exercise.

Each activity carries the exercise (local code = knowledge-base id), a plain description (start
position, what to do, the dose in words, what to feel) and, when the source gives it, the
frequency as a ``Timing`` (times a day) bounded by the stage's weeks. The pain and regression
rules go into ``CarePlan.note``, an assumption labelled as such; the resource carries the
glutemed ``versions`` extension and is validated with the fhir.resources R4B model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from glutemed.fhir._codes import CS, UCUM, coding, concept
from glutemed.fhir._resources import uid, validated, versions_extension
from glutemed.pathway import Prescription

__all__ = ["exercise_care_plan"]


def _activity(item: Any, weeks: int | None) -> dict[str, Any]:
    ex = item.exercise
    description = " ".join(
        [ex.start_position, ex.cue, "Dose: " + "; ".join(item.dose_lines) + ".", "Feel: " + ex.feel]
    )
    detail: dict[str, Any] = {
        "kind": "ServiceRequest",
        "code": concept(coding(CS.exercise, ex.id, ex.name), text=ex.plain_name),
        "status": "not-started",
        "description": description,
    }
    repeat: dict[str, Any] = {}
    if item.dose.times_per_day:
        repeat.update({"frequency": item.dose.times_per_day, "period": 1, "periodUnit": "d"})
    if weeks:
        repeat["boundsDuration"] = {"value": weeks, "unit": "wk", "system": UCUM, "code": "wk"}
    if repeat:
        detail["scheduledTiming"] = {"repeat": repeat}
    return {"detail": detail}


def exercise_care_plan(
    rx: Prescription,
    *,
    patient: dict[str, Any],
    start: dt.date,
    resource_id: str | None = None,
) -> dict[str, Any]:
    """Return a validated FHIR R4 CarePlan (dict) for an exercise prescription.

    Parameters
    ----------
    rx
        The prescription (:func:`glutemed.pathway.prescribe`).
    patient
        The subject reference, e.g. ``{"reference": "Patient/123"}``.
    start
        First day of the stage.
    resource_id
        The resource id; default: a deterministic UUID from the prescription and the start date.
    """
    stage = rx.stage
    weeks = (
        None
        if stage.week_to is None or stage.week_from is None
        else stage.week_to - max(stage.week_from, 1) + 1
    )
    notes = []
    for rule in rx.rules.values():
        label = "Assumption (no source gives this rule): " if rule.basis == "assumption" else ""
        notes.append({"text": label + rule.text})
    if rx.programme.kind == "postoperative_protocol":
        notes.append(
            {"text": "Surgeons' rehabilitation protocol (expert opinion), not trial evidence."}
        )
    for text in stage.instructions:
        notes.append({"text": text})
    res: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": resource_id or uid("exercise-care-plan", rx.programme.id, rx.stage_id, start),
        "extension": [versions_extension(rx.versions)],
        "status": "draft",
        "intent": "plan",
        "category": [concept(coding(CS.exercise_programme, rx.programme.id, rx.programme.name))],
        "title": f"{rx.programme.name}: {stage.name}",
        "description": rx.programme.evidence_note,
        "subject": patient,
        "period": {"start": start.isoformat()},
        "note": notes,
    }
    if weeks:
        res["period"]["end"] = (
            start + dt.timedelta(weeks=weeks) - dt.timedelta(days=1)
        ).isoformat()
    activities = [_activity(item, weeks) for item in rx.items]
    if activities:
        res["activity"] = activities
    return validated(res)
