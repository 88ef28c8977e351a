"""The records as FHIR-layer patient records: export, import, CDS Hooks feedback, CLI helpers.

* :func:`patient_record` reads one patient of the actor's clinic into a pseudonymous
  :class:`glutemed.fhir.PatientRecord` (the id, birth year and sex; no name, record number or
  notes) with every visit: its case, newest assessment and care plan, outcome scores and movement
  measures.
* :func:`save_imported_record` stores a record read from FHIR (:func:`glutemed.fhir.import_bundle`)
  as a new patient of the actor's clinic: patient, visits, assessments (re-run with this
  installation's engine and knowledge base, so every stored result carries its own versions),
  care plans, outcomes and movement measures. It only flushes: the caller commits, so one
  failure stores nothing. Every row is audit-logged like any other write, plus one ``import``
  event on the patient.
* :func:`record_cds_feedback` keeps CDS Hooks feedback entries in the audit log
  (``entity_type`` ``cds_feedback``).
* :func:`export_patient_bundle` and :func:`import_bundle_file` are the command-line entry points
  (``glutemed fhir export`` / ``glutemed fhir import``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from glutemed._checks import short_repr
from glutemed.errors import DataFileError, GlutemedError, InputValueError, NotFoundError, Problem
from glutemed.fhir import (
    AdherenceSummary,
    MovementRecord,
    PatientRecord,
    ScoreRecord,
    export_bundle,
    import_bundle,
    movements_from_motion,
)
from glutemed.fhir import Visit as RecordVisit
from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.reasoning import assess, case_from_dict, validate_case
from glutemed.store._adherence import add_adherence, decide_adherence, list_adherence
from glutemed.store._auth import Actor
from glutemed.store._db import (
    default_database_url,
    make_engine,
    make_sessionmaker,
    require_existing_database,
    session_scope,
    upgrade_to_head,
)
from glutemed.store._models import AuditEvent, OutcomeEntry, User, Visit
from glutemed.store._repo import (
    _audit,
    add_assessment,
    add_care_plan,
    add_movement,
    add_outcome,
    create_patient,
    create_visit,
    get_patient,
    latest_assessment,
    latest_care_plan,
    list_movements,
    list_outcomes,
    list_visits,
    record_access,
)

__all__ = [
    "export_patient_bundle",
    "import_bundle_file",
    "patient_record",
    "record_cds_feedback",
    "save_imported_record",
]

_SCALAR = (bool, int, float, str)


# --------------------------------------------------------------------------- export


def _score_record(entry: OutcomeEntry) -> ScoreRecord:
    answers = None
    if isinstance(entry.answers, Mapping):
        answers = {
            str(k): v
            for k, v in entry.answers.items()
            if isinstance(v, _SCALAR) and not (isinstance(v, str) and not v)
        } or None
    subscales: dict[str, float] = {}
    raw = entry.score.get("subscales") if isinstance(entry.score, Mapping) else None
    if isinstance(raw, Mapping):
        for name, value in raw.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                subscales[str(name)] = float(value)
    return ScoreRecord(
        instrument=entry.instrument,
        date=entry.measured_on,
        total=entry.total,
        answers=answers,
        subscales=subscales,
    )


def _visit_for_outcome(entry: OutcomeEntry, visits: Sequence[Visit]) -> Visit | None:
    """The visit an outcome belongs to: its own, else the last one on or before its date."""
    if not visits:
        return None
    for v in visits:
        if entry.visit_id == v.id:
            return v
    earlier = [v for v in visits if v.visit_date <= entry.measured_on]
    return earlier[-1] if earlier else visits[0]


def patient_record(session: Session, actor: Actor, patient_id: int) -> PatientRecord:
    """Read a patient of the actor's clinic as a pseudonymous FHIR-layer record.

    Parameters
    ----------
    session
        An open database session.
    actor
        The user reading (any role); another clinic's patient is not found.
    patient_id
        The patient's id in this database.

    Returns
    -------
    PatientRecord
        ``id`` = the patient id as text, ``birth_year`` (never the full date), ``sex`` and the
        visits (oldest first) with case, newest assessment and care plan (``to_dict()`` form),
        outcome scores and movement measures. Names, record numbers and notes are left out.

    Raises
    ------
    NotFoundError
        For a missing patient or one of another clinic.
    """
    patient = get_patient(session, actor, patient_id)
    visits = sorted(list_visits(session, actor, patient.id), key=lambda v: (v.visit_date, v.id))
    scores: dict[int, list[ScoreRecord]] = {v.id: [] for v in visits}
    for entry in list_outcomes(session, actor, patient.id):
        owner = _visit_for_outcome(entry, visits)
        if owner is not None:
            scores[owner.id].append(_score_record(entry))
    out: list[RecordVisit] = []
    for v in visits:
        assessment = latest_assessment(session, actor, v.id)
        plan = latest_care_plan(session, actor, v.id)
        adherence = [
            AdherenceSummary(
                programme=r.programme_id,
                stage=r.stage_id,
                programme_week=r.programme_week,
                sessions_done=r.sessions_done,
                sessions_prescribed=r.sessions_prescribed,
                pain_during_max=r.pain_during_max,
                pain_after_max=r.pain_after_max,
                suggestion=(r.suggestion or {}).get("action"),
                decision=r.decision or None,
            )
            for r in list_adherence(session, actor, patient.id, visit_id=v.id)
        ]
        movements: list[MovementRecord] = []
        for m in reversed(list_movements(session, actor, v.id)):
            movements.extend(movements_from_motion(m.result, date=v.visit_date))
        out.append(
            RecordVisit(
                id=str(v.id),
                date=v.visit_date,
                case=case_from_dict(dict(v.case), where=f"visit {v.id} case"),
                assessment=None if assessment is None else dict(assessment.result),
                plan=None if plan is None else dict(plan.generated),
                scores=scores[v.id],
                movements=movements,
                adherence=adherence,
            )
        )
    return PatientRecord(
        id=str(patient.id),
        birth_year=patient.birth_year if patient.birth_date is None else patient.birth_date.year,
        sex=patient.sex if patient.sex in ("female", "male", "other") else "unknown",
        visits=out,
    )


# --------------------------------------------------------------------------- import


def _feature(module: str, attr: str) -> Callable[..., Any] | None:
    try:
        fn = getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return None
    return fn if callable(fn) else None


def _json(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))


def _score_dict(
    kb: KnowledgeBase, score: ScoreRecord, where: str
) -> tuple[float | None, dict[str, Any]]:
    inst = kb.instruments.get(score.instrument)
    if inst is None:
        raise InputValueError(
            "imported score of an unknown instrument",
            [
                Problem(
                    f"{where}.instrument",
                    "an instrument id of the knowledge base",
                    short_repr(score.instrument),
                )
            ],
        )
    total = score.total
    if total is None and score.answers:
        score_fn = _feature("glutemed.questionnaires", "score")
        if score_fn is not None:
            result = score_fn(score.instrument, dict(score.answers), kb=kb)
            scored: dict[str, Any] = json.loads(result.model_dump_json())
            return result.total, scored
    if total is not None:
        lo, hi = inst.range
        if not lo <= total <= hi:
            raise InputValueError(
                "imported score out of range",
                [
                    Problem(
                        f"{where}.total",
                        f"a number in [{lo:g}, {hi:g}] for {inst.name}",
                        short_repr(total),
                    )
                ],
            )
    return total, {
        "instrument": score.instrument,
        "name": inst.name,
        "total": total,
        "range": list(inst.range),
        "higher_is_better": inst.higher_is_better,
        "subscales": dict(score.subscales),
        "method": "imported from a FHIR Bundle (total as recorded by the sending system)",
        "versions": kb.versions(),
    }


def _movement_result(
    kb: KnowledgeBase, task: str, records: Sequence[MovementRecord]
) -> dict[str, Any]:
    """A ``MotionResult.to_dict()``-shaped result holding imported measures (no signals)."""
    measures: dict[str, Any] = {}
    for r in records:
        entry = measures.setdefault(r.measure, {"unit": r.unit})
        stats = {"mean": r.value, "sd": r.sd, "n": r.n_strides}
        stats = {k: v for k, v in stats.items() if v is not None}
        if r.side in ("left", "right"):
            entry[r.side] = stats
        else:
            entry.update(stats)
    return {
        "task": task,
        "sampling_rate_hz": None,
        "events": {},
        "per_side": {},
        "quality": {"source": "imported from a FHIR Bundle: measures only, no recording"},
        "findings": {},
        "measures": measures,
        "versions": kb.versions(),
    }


def save_imported_record(
    session: Session,
    actor: Actor,
    record: PatientRecord,
    *,
    kb: KnowledgeBase | None = None,
) -> int:
    """Store an imported record as a new patient of the actor's clinic (flushes, no commit).

    Parameters
    ----------
    session
        An open database session; the caller commits (or rolls back: nothing is stored then).
    actor
        A clinician or administrator; the patient joins the actor's clinic.
    record
        From :func:`glutemed.fhir.import_bundle` (``ImportResult.record``).
    kb
        The knowledge base the cases are validated and assessed with (default: the bundled one).

    Returns
    -------
    int
        The new patient's id.

    Notes
    -----
    The patient is stored pseudonymously: family name ``Imported``, given name ``FHIR <id>``
    (the sending system's pseudonymous id), the birth year (also in the notes) when only the
    year is known. Each visit's case is validated and assessed again with this installation's engine
    and knowledge base (the sender's probabilities are not copied), and a care plan is
    proposed when :mod:`glutemed.pathway` is available.

    Raises
    ------
    PermissionDeniedError
        For a read-only user.
    CaseValidationError, InputValueError
        When a case or score does not fit this knowledge base (every problem listed).
    """
    actor.require_write()
    kb = kb or load_kb()
    notes = [f"Imported from a FHIR Bundle (sender's pseudonymous patient id {record.id})."]
    if record.birth_date is None and record.birth_year is not None:
        notes.append(f"Birth year {record.birth_year} (no full birth date received).")
    patient = create_patient(
        session,
        actor,
        {
            "family_name": "Imported",
            "given_name": f"FHIR {record.id}"[:120],
            "identifier": None,
            "birth_date": record.birth_date,
            "sex": record.sex,
            "notes": " ".join(notes),
        },
    )
    if record.birth_date is None and record.birth_year is not None:
        patient.birth_year = record.birth_year
        session.flush()
    plan_fn = _feature("glutemed.pathway", "plan")
    n_scores = 0
    seen_scores: set[tuple[str, dt.date]] = set()
    for i, rv in enumerate(sorted(record.visits, key=lambda v: (v.date, v.id))):
        where = f"visits[{i}]"
        validate_case(rv.case, kb, where=f"{where}.case")
        case_json: dict[str, Any] = rv.case.model_dump(mode="json")
        visit = create_visit(
            session,
            actor,
            patient.id,
            visit_date=rv.date,
            case=case_json,
            note="Imported from a FHIR Bundle.",
        )
        assessment = assess(rv.case, kb)
        stored = add_assessment(
            session, actor, visit.id, case=case_json, result=_json(assessment.to_dict())
        )
        if plan_fn is not None:
            plan = _json(plan_fn(rv.case, assessment=assessment, kb=kb).to_dict())
            plan.setdefault("versions", kb.versions())
            add_care_plan(session, actor, visit.id, generated=plan, assessment_id=stored.id)
        for j, score in enumerate(rv.scores):
            key = (score.instrument, score.date)
            if key in seen_scores:
                continue
            seen_scores.add(key)
            total, score_data = _score_dict(kb, score, f"{where}.scores[{j}]")
            add_outcome(
                session,
                actor,
                patient.id,
                instrument=score.instrument,
                measured_on=score.date,
                total=total,
                score=score_data,
                versions=kb.versions(),
                answers=None if not score.answers else dict(score.answers),
                visit_id=visit.id,
            )
            n_scores += 1
        by_task: dict[str, list[MovementRecord]] = {}
        for m in rv.movements:
            by_task.setdefault(m.task, []).append(m)
        for task, records in by_task.items():
            content = json.dumps(
                [r.model_dump(mode="json", exclude_none=True) for r in records],
                sort_keys=True,
            ).encode()
            add_movement(
                session,
                actor,
                visit.id,
                task=task,
                file_name="fhir-import.json",
                file_bytes=content,
                file_sha256=hashlib.sha256(content).hexdigest(),
                result=_movement_result(kb, task, records),
                plot_png=None,
            )
        for j, summary in enumerate(rv.adherence):
            _save_adherence(session, actor, kb, visit.id, summary, f"{where}.adherence[{j}]")
    _audit(
        session,
        actor,
        "import",
        patient,
        {
            "source": [None, "FHIR Bundle"],
            "visits": [None, len(record.visits)],
            "outcomes": [None, n_scores],
        },
    )
    session.flush()
    return int(patient.id)


def _save_adherence(
    session: Session,
    actor: Actor,
    kb: KnowledgeBase,
    visit_id: int,
    summary: AdherenceSummary,
    where: str,
) -> None:
    """Store an imported adherence summary as a programme-wide entry (suggestion recomputed)."""
    from glutemed.pathway import PROGRAMME_WIDE, read_adherence, suggest_progression

    entry = {
        "exercise": PROGRAMME_WIDE,
        "sessions_done": summary.sessions_done,
        "sessions_prescribed": summary.sessions_prescribed,
        "pain_during_nrs_0_10": summary.pain_during_max,
        "pain_after_nrs_0_10": summary.pain_after_max,
    }
    data = {
        "programme": summary.programme,
        "stage": summary.stage,
        "programme_week": summary.programme_week,
        "entries": [entry],
    }
    try:
        report = read_adherence(data, kb=kb)
    except GlutemedError as exc:
        raise InputValueError(
            f"{where}: the exercise adherence does not fit this knowledge base", exc.problems
        ) from None
    suggestion = suggest_progression(report, kb=kb).to_dict()
    record = add_adherence(
        session, actor, visit_id, report, suggestion=suggestion, versions=kb.versions()
    )
    if summary.decision is not None:
        decide_adherence(
            session,
            actor,
            record.id,
            decision=summary.decision,
            expected_version=record.version,
        )


# --------------------------------------------------------------------------- CDS feedback


def record_cds_feedback(
    session: Session,
    service_id: str,
    entries: Sequence[Mapping[str, Any]],
    *,
    client: str = "",
) -> list[int]:
    """Keep CDS Hooks feedback entries in the audit log (flushes, no commit).

    One audit event per entry: ``action`` ``feedback``, ``entity_type`` ``cds_feedback``, the
    entry (card uuid, outcome, accepted suggestions, override reason, timestamp), the service id
    and the client's issuer in ``snapshot``. CDS clients are not users of a clinic, so the
    events have no user or clinic.

    Returns
    -------
    list of int
        The audit event ids.
    """
    ids: list[int] = []
    for entry in entries:
        event = AuditEvent(
            user_id=None,
            clinic_id=None,
            action="feedback",
            entity_type="cds_feedback",
            changes={"outcome": [None, entry.get("outcome")]},
            snapshot={"service": service_id, "client": client, "feedback": dict(entry)},
        )
        session.add(event)
        session.flush()
        ids.append(int(event.id))
    return ids


# --------------------------------------------------------------------------- command line


def _cli_actor(session: Session, username: str | None) -> Actor:
    if username:
        user = session.scalar(sa.select(User).where(User.username == username.strip().lower()))
        if user is None or not user.is_active:
            raise NotFoundError(
                "user not found",
                [
                    Problem(
                        "--user",
                        "the user name of an active account",
                        short_repr(username),
                        "see `glutemed users list`",
                    )
                ],
            )
    else:
        admins = list(
            session.scalars(
                sa.select(User).where(User.role == "admin", User.is_active.is_(True)).limit(2)
            )
        )
        if len(admins) != 1:
            found = "no administrator" if not admins else "several administrators"
            raise InputValueError(
                "whose records? name a user",
                [
                    Problem(
                        "--user",
                        "the user name to act as (their clinic's records)",
                        found,
                        "pass --user NAME"
                        if admins
                        else "create one with `glutemed users create NAME --admin`, or pass --user",
                    )
                ],
            )
        user = admins[0]
    return Actor(user.id, user.username, user.clinic_id, user.role, user.display_name)


def export_patient_bundle(
    patient_id: int,
    *,
    database_url: str | None = None,
    username: str | None = None,
    kb: KnowledgeBase | None = None,
) -> dict[str, Any]:
    """Export a patient as a FHIR R4 Bundle (``glutemed fhir export PATIENT -o bundle.json``).

    Parameters
    ----------
    patient_id
        The patient's id in the app.
    database_url
        Default: the embedded SQLite database in the per-user data directory (as ``glutemed
        serve``); migrated to the newest schema first.
    username
        Act as this user (their clinic's patients); default: the only administrator.
    kb
        Default: the bundled knowledge base.

    Returns
    -------
    dict
        The Bundle (``glutemed.fhir.export_bundle``).

    Raises
    ------
    NotFoundError
        No database, unknown user, or no such patient in the user's clinic.
    InputValueError
        No ``username`` and not exactly one administrator.
    """
    url = require_existing_database(database_url)
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            actor = _cli_actor(session, username)
            record = patient_record(session, actor, int(patient_id))
            record_access(session, actor, "export", "patients", int(patient_id), "FHIR bundle")
    finally:
        engine.dispose()
    return export_bundle(record, kb=kb)


def import_bundle_file(
    path: str | Path,
    *,
    database_url: str | None = None,
    username: str | None = None,
    kb: KnowledgeBase | None = None,
) -> tuple[int, list[Problem]]:
    """Import a FHIR Bundle file as a new patient (``glutemed fhir import bundle.json``).

    ``database_url``, ``username`` and ``kb`` as in :func:`export_patient_bundle`.

    Returns
    -------
    patient_id, warnings
        The new patient's id and what was skipped or approximated (each with its JSON path).

    Raises
    ------
    DataFileError
        The file cannot be read.
    FhirInputError
        Malformed JSON or FHIR (nothing is stored).
    """
    file = Path(path)
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise DataFileError(
            f"cannot read {file.name}",
            [Problem(str(file), "a readable FHIR Bundle JSON file", type(exc).__name__)],
        ) from None
    kb = kb or load_kb()
    result = import_bundle(text, kb=kb)
    url = database_url or default_database_url()
    upgrade_to_head(url)
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            actor = _cli_actor(session, username)
            pid = save_imported_record(session, actor, result.record, kb=kb)
    finally:
        engine.dispose()
    return pid, list(result.warnings)
