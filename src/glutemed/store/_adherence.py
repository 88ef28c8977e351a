"""Adherence records: a programme stage's sessions done and exercise pain, recorded at a visit.

The record is validated by :func:`glutemed.pathway.read_adherence` before it reaches the
database and keeps the progression suggestion that was shown with it; the clinician's decision
is a separate, audited update. Records are voided (never deleted) like the other clinical
records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from glutemed._checks import check_option
from glutemed.pathway import AdherenceReport
from glutemed.store._auth import Actor
from glutemed.store._models import AdherenceRecord
from glutemed.store._repo import (
    _audit,
    _complete_inserted,
    _get_owned,
    _not_voided,
    _stamp,
    _text,
    _update,
    get_patient,
    get_visit,
)

__all__ = [
    "DECISIONS",
    "add_adherence",
    "decide_adherence",
    "get_adherence",
    "list_adherence",
]

#: The clinician's decision on a progression suggestion ("" = not decided yet).
DECISIONS = ("", "progress", "stay", "regress")


def add_adherence(
    session: Session,
    actor: Actor,
    visit_id: int,
    report: AdherenceReport,
    *,
    suggestion: Mapping[str, Any],
    versions: Mapping[str, Any],
) -> AdherenceRecord:
    """Store a validated adherence record with the suggestion shown for it (audited)."""
    actor.require_write()
    visit = get_visit(session, actor, visit_id)
    _not_voided(visit, "visit")
    record = AdherenceRecord(
        patient_id=visit.patient_id,
        visit_id=visit.id,
        programme_id=report.programme_id,
        stage_id=report.stage_id,
        programme_week=report.programme_week,
        entries=[e.to_dict() for e in report.entries],
        sessions_done=report.sessions_done,
        sessions_prescribed=report.sessions_prescribed,
        pain_during_max=report.pain_during_max,
        pain_after_max=report.pain_after_max,
        suggestion=dict(suggestion),
        decision="",
        next_stage_id="",
        note=_text("note", report.note, 2000),
        created_by=actor.user_id,
        updated_by=actor.user_id,
        **_stamp(versions),
    )
    session.add(record)
    session.flush()
    _complete_inserted(session, record)
    _audit(
        session,
        actor,
        "create",
        record,
        {
            "programme_id": [None, record.programme_id],
            "stage_id": [None, record.stage_id],
            "sessions_done": [None, record.sessions_done],
            "sessions_prescribed": [None, record.sessions_prescribed],
        },
    )
    return record


def get_adherence(session: Session, actor: Actor, record_id: int) -> AdherenceRecord:
    """Return an adherence record of the actor's clinic."""
    return _get_owned(session, actor, AdherenceRecord, "adherence", record_id, "patient")


def list_adherence(
    session: Session,
    actor: Actor,
    patient_id: int,
    *,
    visit_id: int | None = None,
    include_voided: bool = False,
) -> list[AdherenceRecord]:
    """Return a patient's adherence records, oldest visit first (voided ones only if asked)."""
    from glutemed.store._models import Visit

    get_patient(session, actor, patient_id)
    stmt = (
        sa.select(AdherenceRecord)
        .join(Visit, Visit.id == AdherenceRecord.visit_id)
        .where(AdherenceRecord.patient_id == patient_id)
    )
    if visit_id is not None:
        stmt = stmt.where(AdherenceRecord.visit_id == visit_id)
    if not include_voided:
        stmt = stmt.where(AdherenceRecord.voided_at.is_(None), Visit.voided_at.is_(None))
    return list(session.scalars(stmt.order_by(Visit.visit_date, AdherenceRecord.id)))


def decide_adherence(
    session: Session,
    actor: Actor,
    record_id: int,
    *,
    decision: str,
    next_stage_id: str = "",
    expected_version: int | None,
) -> AdherenceRecord:
    """Record the clinician's decision on the suggestion (audited, version-checked)."""
    check_option("decision", decision, DECISIONS)
    record = get_adherence(session, actor, record_id)
    _not_voided(record, "adherence record")
    changes = {"decision": decision, "next_stage_id": _text("next_stage_id", next_stage_id, 64)}
    return _update(session, actor, record, "adherence record", changes, expected_version)
