"""The patient record the FHIR layer exports and imports.

A :class:`PatientRecord` is a plain, pseudonymous description of one patient's glutemed data: no
names, addresses or contact details, only a pseudonymous id, birth year (or date) and sex, and the
visits. The web app builds it from its database; :func:`~glutemed.fhir.import_bundle` builds it
from FHIR. Every field is JSON-ready (``model_dump(mode="json")``).

Example
-------
>>> import datetime as dt
>>> from glutemed.reasoning import case_from_dict
>>> rec = PatientRecord(
...     id="p-0001", birth_year=1972, sex="female",
...     visits=[Visit(id="v1", date=dt.date(2026, 5, 1),
...                   case=case_from_dict({"side": "left", "findings": {"lateral_hip_pain": True}}),
...                   scores=[ScoreRecord(instrument="nprs", date=dt.date(2026, 5, 1), total=6)])],
... )
>>> rec.visits[0].case.side
'left'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from glutemed.errors import Problem
from glutemed.reasoning import Case

__all__ = [
    "AdherenceSummary",
    "ImportResult",
    "MovementRecord",
    "PatientRecord",
    "ScoreRecord",
    "Visit",
    "movements_from_motion",
]

Side = Literal["left", "right", "bilateral", "unknown"]
AnswerValue = bool | int | float | str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreRecord(_Model):
    """One outcome-measure result: a questionnaire's total and/or its item answers.

    Parameters
    ----------
    instrument
        Instrument id from the knowledge base (``nprs``, ``visa_g``, ``psfs``, ...).
    date
        Date the questionnaire was completed.
    total
        The score (within the instrument's range), if known.
    answers
        Item id -> answer, in the instrument's item ids (exported as a QuestionnaireResponse).
    subscales
        Subscale name -> score (exported as Observation components), optional.
    """

    instrument: str = Field(min_length=1)
    date: dt.date
    total: float | None = None
    answers: dict[str, AnswerValue] | None = None
    subscales: dict[str, float] = Field(default_factory=dict)


class MovementRecord(_Model):
    """One movement measure from glutemed's motion analysis (e.g. contralateral pelvic drop).

    Parameters
    ----------
    measure
        Movement-measure id from the knowledge base (``contralateral_pelvic_drop_deg``, ...).
    value
        The stride-averaged value, in ``unit``.
    unit
        The knowledge base's unit of the measure (``deg``, ``m``, ``s``, ``steps_per_min``,
        ``count``, ``hz``); checked against the knowledge base on export.
    task
        ``walk``, ``single_leg_stance`` or ``single_leg_squat``.
    side
        The stance (measured) side.
    date
        Recording date (default: the visit's date).
    n_strides
        Number of strides or repetitions averaged.
    sd
        Standard deviation across strides, in ``unit``.
    method
        Free text: capture method and software (e.g. "2D video, frontal view").
    """

    measure: str = Field(min_length=1)
    value: float
    unit: Literal["deg", "m", "s", "steps_per_min", "count", "hz"]
    task: Literal["walk", "single_leg_stance", "single_leg_squat"]
    side: Side = "unknown"
    date: dt.date | None = None
    n_strides: int | None = Field(default=None, ge=0)
    sd: float | None = Field(default=None, ge=0)
    method: str = ""


class AdherenceSummary(_Model):
    """Exercise adherence recorded at a visit (see :func:`glutemed.pathway.read_adherence`).

    Parameters
    ----------
    programme, stage
        Knowledge-base programme and stage ids.
    sessions_done, sessions_prescribed
        Since the visit before, summed over the exercises recorded.
    pain_during_max, pain_after_max
        Highest exercise pain recorded (0-10 numeric rating).
    suggestion, decision
        The progression suggestion and the clinician's decision.
    """

    programme: str = Field(min_length=1)
    stage: str = Field(min_length=1)
    programme_week: int | None = Field(default=None, ge=1, le=104)
    sessions_done: int | None = Field(default=None, ge=0)
    sessions_prescribed: int | None = Field(default=None, ge=1)
    pain_during_max: int | None = Field(default=None, ge=0, le=10)
    pain_after_max: int | None = Field(default=None, ge=0, le=10)
    suggestion: Literal["progress", "stay", "regress"] | None = None
    decision: Literal["progress", "stay", "regress"] | None = None


class Visit(_Model):
    """One assessment visit.

    Parameters
    ----------
    id
        The app's visit id (pseudonymous, stable).
    date
        Visit date.
    case
        The clinical case entered at the visit.
    assessment
        ``Assessment.to_dict()`` of the case, if assessed.
    plan
        ``CarePlan.to_dict()`` from :mod:`glutemed.pathway`, if a plan was made.
    scores
        Outcome-measure results recorded at (or up to) the visit. Outcomes in ``case.outcomes``
        are exported too; the two lists are merged by (instrument, date), ``scores`` winning.
    movements
        Movement measures recorded at the visit.
    adherence
        Exercise adherence recorded at the visit.
    report_text
        The clinician report's text, if one was produced (DiagnosticReport).
    """

    id: str = Field(min_length=1)
    date: dt.date
    case: Case
    assessment: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    scores: list[ScoreRecord] = Field(default_factory=list)
    movements: list[MovementRecord] = Field(default_factory=list)
    adherence: list[AdherenceSummary] = Field(default_factory=list)
    report_text: str | None = None


class PatientRecord(_Model):
    """A pseudonymous patient with their visits (see the module docstring).

    Parameters
    ----------
    id
        The app's pseudonymous patient id (never a name or a national number).
    birth_year, birth_date
        Either, for age; ``birth_date`` wins when both are given.
    sex
        ``female``, ``male``, ``other`` or ``unknown``.
    visits
        In any order; exported in date order.
    """

    id: str = Field(min_length=1)
    birth_year: int | None = Field(default=None, ge=1850, le=2200)
    birth_date: dt.date | None = None
    sex: Literal["female", "male", "other", "unknown"] = "unknown"
    visits: list[Visit] = Field(default_factory=list)


@dataclass(frozen=True)
class ImportResult:
    """What :func:`~glutemed.fhir.import_bundle` read.

    Attributes
    ----------
    record
        The patient record.
    warnings
        Resources or elements that were skipped or approximated, each with its JSON path
        (e.g. ``Bundle.entry[4].resource.code``); nothing in them was imported.
    """

    record: PatientRecord
    warnings: list[Problem] = field(default_factory=list)


def movements_from_motion(
    result: Mapping[str, Any], *, date: dt.date | None = None, method: str = ""
) -> list[MovementRecord]:
    """Turn ``glutemed.motion``'s ``MotionResult.to_dict()`` into movement records.

    One record per measure and side with a mean (``measures[id][side]`` = ``{"mean", "sd",
    "n"}``); the whole-trial ``pelvic_obliquity_deg`` becomes one record without a side. The
    file name (``source``) is deliberately not copied: it may identify the patient.

    Parameters
    ----------
    result
        ``MotionResult.to_dict()``.
    date
        Recording date (default: the visit's date at export).
    method
        Free text for the capture method, e.g. "2D video, frontal view".
    """
    task = str(result.get("task", "walk"))
    out: list[MovementRecord] = []
    for mid, entry in (result.get("measures") or {}).items():
        if not isinstance(entry, Mapping):
            continue
        unit = entry.get("unit")
        rows: list[tuple[str, Mapping[str, Any]]] = []
        if "mean" in entry:
            rows.append(("unknown", {"mean": entry.get("mean"), "sd": entry.get("sd")}))
        for side in ("left", "right"):
            if isinstance(entry.get(side), Mapping):
                rows.append((side, entry[side]))
        for side, stats in rows:
            if not isinstance(stats.get("mean"), int | float):
                continue
            out.append(
                MovementRecord.model_validate(
                    {
                        "measure": mid,
                        "value": float(stats["mean"]),
                        "unit": unit,
                        "task": task,
                        "side": side,
                        "date": date,
                        "n_strides": stats.get("n"),
                        "sd": stats.get("sd"),
                        "method": method,
                    }
                )
            )
    return out
