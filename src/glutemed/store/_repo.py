"""Repositories: every read and write of the clinical records.

Rules every function here follows
---------------------------------
* Clinic scoping: a record of another clinic is reported as not found (the same error as a
  missing id), so its existence does not leak.
* Roles: read-only users can read; writes need a clinician or an administrator.
* Optimistic locking: updates take the ``expected_version`` the caller read; a different stored
  version raises :class:`~glutemed.store.ConflictError` with the current version, and SQLAlchemy's
  version column catches a concurrent update between read and write. Nothing is overwritten
  silently.
* Audit: every write adds an :class:`~glutemed.store._models.AuditEvent` with who, when, the
  changed fields (``{field: [old, new]}``) and the full state after the write, so the history of
  each record can be rebuilt (:func:`history`).
* Functions flush but do not commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import ColumnProperty, Session, aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from glutemed._checks import check_option, short_repr
from glutemed.errors import InputValueError, NotFoundError, Problem
from glutemed.store._auth import Actor
from glutemed.store._errors import ConflictError
from glutemed.store._models import (
    AssessmentRecord,
    AuditEvent,
    Base,
    CarePlanRecord,
    MovementAnalysis,
    OutcomeEntry,
    Patient,
    PatientTerm,
    TreatmentGiven,
    Visit,
)

__all__ = [
    "PATIENT_FIELDS",
    "SEXES",
    "TREATMENT_RESPONSES",
    "VOIDABLE_TYPES",
    "add_assessment",
    "add_care_plan",
    "add_movement",
    "add_outcome",
    "add_treatment_given",
    "audit_events",
    "create_patient",
    "create_visit",
    "decide_care_plan",
    "get_assessment",
    "get_care_plan",
    "get_movement",
    "get_outcome",
    "get_patient",
    "get_treatment_given",
    "get_visit",
    "history",
    "latest_assessment",
    "latest_care_plan",
    "list_assessments",
    "list_movements",
    "list_outcomes",
    "list_treatments_given",
    "list_visits",
    "patient_terms",
    "query_terms",
    "search_patients",
    "snapshot",
    "update_outcome",
    "update_patient",
    "update_treatment_given",
    "update_visit",
    "void_record",
]

SEXES = ("female", "male", "other", "unknown")
TREATMENT_RESPONSES = ("none", "partial", "good", "worse", "unknown")
PATIENT_FIELDS = (
    "identifier",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "notes",
    "archived",
)
_PLAN_STATUSES = ("proposed", "accepted", "modified")
_MAX_QUERY_TERMS = 5
#: Above this many matches of a search word, walk the name index instead of sorting matches.
_DENSE_MATCHES = 4000
_NOT_AUDITED = {"file_bytes", "plot_png", "password_hash"}

M = TypeVar("M", bound=Base)

#: The tables written with plain INSERTs (no ORM object is needed back)
_AUDIT_EVENTS = cast(sa.Table, AuditEvent.__table__)
_PATIENT_TERMS = cast(sa.Table, PatientTerm.__table__)


# --------------------------------------------------------------------------- helpers


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def snapshot(obj: Base) -> dict[str, Any]:
    """Return the stored state of a record as a JSON-ready dict (no binary content)."""
    mapper = sa.inspect(type(obj))
    state = sa.inspect(obj)
    out: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        if attr.key in _NOT_AUDITED or attr.key in state.unloaded:
            continue
        out[attr.key] = _json_value(getattr(obj, attr.key))
    return out


def _complete_inserted(session: Session, obj: Base) -> None:
    """Complete the state of a record just inserted (flushed) without reading the row back.

    After the INSERT the ORM holds every value it wrote: the given ones and the Python-side
    defaults. A nullable column left out was stored as NULL unless it has a server-side
    default, so it is set to None here; only columns with a server-side default (none today)
    are read back. The audit snapshot then sees the whole row, as after ``session.refresh``,
    with one SELECT fewer inside the writing transaction.
    """
    state = sa.inspect(obj)
    read_back = []
    for key in state.unloaded:
        attr = state.mapper.attrs.get(key)
        if not isinstance(attr, ColumnProperty):
            continue
        if any(c.server_default is not None or c.computed is not None for c in attr.columns):
            read_back.append(key)
        else:
            set_committed_value(obj, key, None)
    if read_back:
        session.refresh(obj, attribute_names=read_back)


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    skip = {"updated_at", "version"}
    return {k: [before.get(k), v] for k, v in after.items() if k not in skip and before.get(k) != v}


#: Immutable content kept out of audit snapshots (the row itself never changes, so the snapshot
#: would only duplicate it).
_IMMUTABLE_CONTENT = {
    "assessments": {"case", "result"},
    "care_plans": {"generated"},
    "movement_analyses": {"result"},
}


def _audit(
    session: Session,
    actor: Actor | None,
    action: str,
    obj: Base,
    changes: dict[str, Any],
) -> None:
    snap = snapshot(obj)
    for key in _IMMUTABLE_CONTENT.get(str(obj.__tablename__), ()):
        snap.pop(key, None)
    # a plain INSERT in the same transaction: nothing reads the event back as an object, and
    # the ORM's unit of work would cost more than the statement itself
    session.execute(
        sa.insert(_AUDIT_EVENTS).values(
            user_id=None if actor is None else actor.user_id,
            clinic_id=None if actor is None else actor.clinic_id,
            action=action,
            entity_type=str(obj.__tablename__),
            entity_id=snap.get("id"),
            entity_version=snap.get("version"),
            changes=changes,
            snapshot=snap,
        )
    )


#: Largest id a database row can have (signed 64-bit, SQLite and PostgreSQL ``bigint``).
MAX_ROW_ID = 2**63 - 1


def _check_id(what: str, ident: Any) -> None:
    """Raise NotFoundError for an id no row can have (not a positive 64-bit integer).

    Such an id would otherwise reach the database driver: OverflowError on SQLite, a data error
    on PostgreSQL.
    """
    if isinstance(ident, bool) or not isinstance(ident, int) or not 1 <= ident <= MAX_ROW_ID:
        raise _not_found(what, ident)


def _not_found(what: str, ident: Any) -> NotFoundError:
    return NotFoundError(
        f"{what} not found",
        [Problem(f"{what}_id", f"the id of a {what} in your clinic", short_repr(ident))],
    )


def _check_version(what: str, current: int, expected: int | None) -> None:
    if expected is None:
        raise InputValueError(
            f"missing version of the {what}",
            [
                Problem(
                    "version",
                    f"the version of the {what} you edited",
                    "nothing",
                    "read the record first and send its version back",
                )
            ],
        )
    if current != expected:
        raise ConflictError(
            f"the {what} was changed by someone else",
            [
                Problem(
                    "version",
                    f"the current version {current}",
                    short_repr(expected),
                    "reload the record, re-apply your change and save again",
                )
            ],
            current_version=current,
        )


def _flush(session: Session, what: str) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(
            f"the {what} was changed by someone else while you saved",
            [Problem("version", "an unchanged record", "a concurrent update", "reload and retry")],
        ) from None
    except sa.exc.IntegrityError:  # e.g. a record number taken meanwhile by another request
        raise ConflictError(
            f"the {what} conflicts with a record saved at the same time",
            [Problem(what, "values not used by another record", "a duplicate", "reload and retry")],
        ) from None


def _update(
    session: Session,
    actor: Actor,
    obj: M,
    what: str,
    changes: Mapping[str, Any],
    expected_version: int | None,
    *,
    action: str = "update",
    reason: str = "",
) -> M:
    """Change a record and audit the difference (with the reason of a correction, if given).

    Records without a version column (movement analyses) are not version-checked.
    """
    actor.require_write()
    if hasattr(obj, "version"):
        _check_version(what, int(getattr(obj, "version")), expected_version)  # noqa: B009
    before = snapshot(obj)
    for key, value in changes.items():
        setattr(obj, key, value)
    if hasattr(obj, "updated_by"):
        obj.updated_by = actor.user_id
    _flush(session, what)
    session.refresh(obj)
    diff: dict[str, Any] = _diff(before, snapshot(obj))
    if diff:
        if reason:
            diff["reason"] = [None, reason]
        _audit(session, actor, action, obj, diff)
    return obj


def _reason(value: Any, *, required: bool) -> str:
    return _text("reason", value, 2000, required=required)


def _date(field: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputValueError(
            f"invalid {field}", [Problem(field, "a date YYYY-MM-DD", short_repr(value))]
        ) from None


def _text(field: str, value: Any, max_len: int, *, required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise InputValueError(f"missing {field}", [Problem(field, "a value", "an empty value")])
    if len(text) > max_len:
        raise InputValueError(
            f"{field} too long",
            [Problem(field, f"at most {max_len} characters", f"{len(text)} characters")],
        )
    return text


# --------------------------------------------------------------------------- patient search


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


_WORD = re.compile(r"[a-z0-9]+")
_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b|\b(\d{2})[./](\d{2})[./](\d{4})\b")


def _chunk_terms(text: str) -> set[str]:
    """Words of a text, plus each whitespace-separated chunk with its punctuation removed.

    "Anne-Marie" gives anne, marie and annemarie; "MRN-0042" gives mrn, 0042 and mrn0042.
    """
    folded = _fold(text or "")
    terms = set(_WORD.findall(folded))
    for chunk in folded.split():
        joined = "".join(_WORD.findall(chunk))
        if joined:
            terms.add(joined)
    return terms


def patient_terms(
    given_name: str, family_name: str, identifier: str | None, birth_date: dt.date | None
) -> set[str]:
    """Return the normalised search words of a patient (accents folded, lower case)."""
    terms: set[str] = set()
    for text in (given_name, family_name, identifier or ""):
        terms |= _chunk_terms(text)
    if birth_date is not None:
        terms.add(birth_date.strftime("%Y%m%d"))
    return {t[:64] for t in terms if t}


def query_terms(query: str) -> list[str]:
    """Split a search query into normalised prefixes, one per whitespace-separated chunk.

    Punctuation inside a chunk is dropped ("MRN-0042" -> mrn0042, matching the stored joined
    record number; "Anne-Marie" -> annemarie); dates (1958-03-14, 14/03/1958, 14.03.1958) become
    YYYYMMDD. The longest prefixes come first (most selective).
    """
    folded = _fold(query or "")

    def _date_term(m: re.Match[str]) -> str:
        if m.group(1):
            return f" {m.group(1)}{m.group(2)}{m.group(3)} "
        return f" {m.group(6)}{m.group(5)}{m.group(4)} "

    folded = _DATE.sub(_date_term, folded)
    words = {"".join(_WORD.findall(chunk)) for chunk in folded.split()} - {""}
    unique = sorted(words, key=lambda w: (-len(w), w))
    return [w[:64] for w in unique[:_MAX_QUERY_TERMS]]


def _prefix_upper(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _set_terms(session: Session, patient: Patient, *, new: bool = False) -> None:
    """Store a patient's search terms (``new``: a patient just inserted, who has none yet)."""
    if not new:
        session.execute(sa.delete(PatientTerm).where(PatientTerm.patient_id == patient.id))
    terms = patient_terms(
        patient.given_name, patient.family_name, patient.identifier, patient.birth_date
    )
    if terms:
        session.execute(
            sa.insert(_PATIENT_TERMS),
            [{"patient_id": patient.id, "term": t, "clinic_id": patient.clinic_id} for t in terms],
        )


def _term_match(clinic_id: int, term: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        PatientTerm.clinic_id == clinic_id,
        PatientTerm.term >= term,
        PatientTerm.term < _prefix_upper(term),
    )


def _term_ids(clinic_id: int, term: str) -> sa.Select[Any]:
    return sa.select(PatientTerm.patient_id).where(_term_match(clinic_id, term))


def _capped_count(session: Session, clinic_id: int, term: str) -> int:
    """How many terms start with ``term``, counted up to ``_DENSE_MATCHES + 1`` (index only)."""
    capped = _term_ids(clinic_id, term).limit(_DENSE_MATCHES + 1).subquery()
    return int(session.scalar(sa.select(sa.func.count()).select_from(capped)) or 0)


def search_patients(
    session: Session,
    actor: Actor,
    query: str = "",
    *,
    limit: int = 50,
    offset: int = 0,
    include_archived: bool = False,
) -> tuple[list[Patient], bool]:
    """Find the clinic's patients whose words start with every word of ``query``.

    Matches name parts, record number and birth date (``1970-01-31`` or ``31/01/1970``), in any
    order, ignoring case and accents.

    The plan depends on how many patients each word matches (index-only counts capped at
    ``_DENSE_MATCHES``): a single common word walks the name index in order and keeps the
    patients whose terms match, stopping after one page; otherwise the rarest word's ids are
    collected from the term index and the other words are probed per patient. The work is
    bounded by the page or by the matches of the rarest word, not by the number of patients.

    Returns
    -------
    patients, more
        Up to ``limit`` patients ordered by family and given name, and whether more match.
    """
    limit = max(1, min(int(limit), 200))
    offset = max(0, int(offset))
    clinic = actor.clinic_id
    terms = query_terms(query)
    stmt = sa.select(Patient).where(Patient.clinic_id == clinic)
    if not include_archived:
        stmt = stmt.where(Patient.archived.is_(False))
    counts = [_capped_count(session, clinic, t) for t in terms]
    sparse = [t for t, n in zip(terms, counts, strict=True) if n <= _DENSE_MATCHES]
    if len(terms) == 1 and not sparse:
        # one common prefix: walk the name index, keep matches, stop after the page
        exists = sa.exists().where(
            PatientTerm.patient_id == Patient.id, _term_match(clinic, terms[0])
        )
        stmt = stmt.where(exists)
    elif terms:
        # the rarest word drives; the other words are probed in the term index (index only).
        # The matching ids form a DISTINCT derived table joined on the primary key: planners
        # materialise it first, so only matching patients are fetched and sorted.
        driver = min(zip(counts, terms, strict=True))[1]
        ids = _term_ids(clinic, driver)
        for term in terms:
            if term != driver:
                other = aliased(PatientTerm)
                ids = ids.where(
                    sa.exists().where(
                        other.patient_id == PatientTerm.patient_id,
                        other.clinic_id == clinic,
                        other.term >= term,
                        other.term < _prefix_upper(term),
                    )
                )
        matched = ids.distinct().subquery("matched")
        stmt = stmt.join(matched, Patient.id == matched.c.patient_id)
    stmt = stmt.order_by(Patient.family_name, Patient.given_name, Patient.id)
    if session.get_bind().dialect.name == "postgresql":
        # a page of results: starting parallel workers would cost more than the whole query
        session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
    rows = list(session.scalars(stmt.limit(limit + 1).offset(offset)))
    return rows[:limit], len(rows) > limit


# --------------------------------------------------------------------------- patients


def _patient_values(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    unknown = sorted(set(data) - set(PATIENT_FIELDS))
    if unknown:
        raise InputValueError(
            "unknown patient fields",
            [
                Problem(f"patient.{k}", "one of " + ", ".join(PATIENT_FIELDS), "an unknown field")
                for k in unknown
            ],
        )
    out: dict[str, Any] = {}
    if "family_name" in data or not partial:
        out["family_name"] = _text("family_name", data.get("family_name"), 120, required=True)
    if "given_name" in data or not partial:
        out["given_name"] = _text("given_name", data.get("given_name"), 120)
    if "identifier" in data or not partial:
        ident = _text("identifier", data.get("identifier"), 64)
        out["identifier"] = ident or None
    if "birth_date" in data or not partial:
        value = data.get("birth_date")
        out["birth_date"] = None if value in (None, "") else _date("birth_date", value)
        if out["birth_date"] is not None and out["birth_date"] > dt.date.today():
            raise InputValueError(
                "invalid birth_date",
                [Problem("birth_date", "a date in the past", out["birth_date"].isoformat())],
            )
    if "sex" in data or not partial:
        out["sex"] = check_option("sex", data.get("sex") or "unknown", SEXES)
    if "notes" in data or not partial:
        out["notes"] = _text("notes", data.get("notes"), 4000)
    if "archived" in data:
        out["archived"] = bool(data["archived"])
    return out


def _unique_identifier(
    session: Session, actor: Actor, identifier: str | None, exclude: int | None
) -> None:
    if not identifier:
        return
    stmt = sa.select(Patient.id).where(
        Patient.clinic_id == actor.clinic_id, Patient.identifier == identifier
    )
    if exclude is not None:
        stmt = stmt.where(Patient.id != exclude)
    if session.scalar(stmt) is not None:
        raise _duplicate_identifier()


def _duplicate_identifier() -> ConflictError:
    return ConflictError(
        "record number already used",
        [Problem("identifier", "a record number not used by another patient", "a duplicate")],
    )


def _flush_patient(session: Session) -> None:
    """Flush; a record number taken by a concurrent request in the meantime is a conflict."""
    try:
        session.flush()
    except sa.exc.IntegrityError:
        raise _duplicate_identifier() from None


def create_patient(session: Session, actor: Actor, data: Mapping[str, Any]) -> Patient:
    """Create a patient in the actor's clinic.

    ``data`` keys: ``family_name`` (required), ``given_name``, ``identifier`` (the clinic's
    record number, unique in the clinic), ``birth_date``, ``sex``, ``notes``.
    """
    actor.require_write()
    values = _patient_values(data, partial=False)
    _unique_identifier(session, actor, values.get("identifier"), None)
    patient = Patient(
        clinic_id=actor.clinic_id, created_by=actor.user_id, updated_by=actor.user_id, **values
    )
    session.add(patient)
    _flush_patient(session)
    _complete_inserted(session, patient)
    _set_terms(session, patient, new=True)
    _audit(
        session, actor, "create", patient, {k: [None, _json_value(v)] for k, v in values.items()}
    )
    return patient


def get_patient(session: Session, actor: Actor, patient_id: int) -> Patient:
    """Return a patient of the actor's clinic (NotFoundError otherwise)."""
    _check_id("patient", patient_id)
    patient = session.get(Patient, patient_id)
    if patient is None or patient.clinic_id != actor.clinic_id:
        raise _not_found("patient", patient_id)
    return patient


def update_patient(
    session: Session,
    actor: Actor,
    patient_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> Patient:
    """Change a patient's details (optimistic locking; audited)."""
    patient = get_patient(session, actor, patient_id)
    values = _patient_values(changes, partial=True)
    if "identifier" in values:
        _unique_identifier(session, actor, values["identifier"], patient.id)
    patient = _update(session, actor, patient, "patient", values, expected_version)
    _set_terms(session, patient)
    return patient


# --------------------------------------------------------------------------- visits


def create_visit(
    session: Session,
    actor: Actor,
    patient_id: int,
    *,
    visit_date: dt.date | str,
    case: Mapping[str, Any],
    note: str = "",
) -> Visit:
    """Add a visit with its case (findings, imaging, factors ...) to a patient."""
    actor.require_write()
    patient = get_patient(session, actor, patient_id)
    visit = Visit(
        patient_id=patient.id,
        visit_date=_date("visit_date", visit_date),
        case=dict(case),
        note=_text("note", note, 8000),
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    session.add(visit)
    session.flush()
    _complete_inserted(session, visit)
    _audit(session, actor, "create", visit, {"visit_date": [None, visit.visit_date.isoformat()]})
    return visit


def get_visit(session: Session, actor: Actor, visit_id: int) -> Visit:
    """Return a visit of a patient of the actor's clinic."""
    _check_id("visit", visit_id)
    row = session.execute(
        sa.select(Visit, Patient.clinic_id)
        .join(Patient, Patient.id == Visit.patient_id)
        .where(Visit.id == visit_id)
    ).first()
    if row is None or row[1] != actor.clinic_id:
        raise _not_found("visit", visit_id)
    visit: Visit = row[0]
    return visit


def list_visits(
    session: Session, actor: Actor, patient_id: int, *, include_voided: bool = False
) -> list[Visit]:
    """Return a patient's visits, newest first (voided ones only if asked)."""
    get_patient(session, actor, patient_id)
    stmt = sa.select(Visit).where(Visit.patient_id == patient_id)
    if not include_voided:
        stmt = stmt.where(Visit.voided_at.is_(None))
    return list(session.scalars(stmt.order_by(Visit.visit_date.desc(), Visit.id.desc())))


def update_visit(
    session: Session,
    actor: Actor,
    visit_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
    *,
    reason: str = "",
) -> Visit:
    """Change a visit's date, case or note (optimistic locking; audited with the reason)."""
    visit = get_visit(session, actor, visit_id)
    allowed = {"visit_date", "case", "note"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InputValueError(
            "unknown visit fields",
            [
                Problem(f"visit.{k}", "one of case, note, visit_date", "an unknown field")
                for k in unknown
            ],
        )
    values: dict[str, Any] = {}
    if "visit_date" in changes:
        values["visit_date"] = _date("visit_date", changes["visit_date"])
    if "case" in changes:
        values["case"] = dict(changes["case"])
    if "note" in changes:
        values["note"] = _text("note", changes["note"], 8000)
    _not_voided(visit, "visit")
    return _update(
        session,
        actor,
        visit,
        "visit",
        values,
        expected_version,
        reason=_reason(reason, required=False),
    )


# --------------------------------------------------------------------------- assessments


def _stamp(versions: Mapping[str, Any]) -> dict[str, str]:
    try:
        return {
            "engine_version": str(versions["engine"]),
            "kb_version": str(versions["kb"]),
            "kb_manifest_sha256": str(versions["kb_manifest_sha256"]),
        }
    except (KeyError, TypeError):
        raise InputValueError(
            "result without versions",
            [Problem("versions", "engine, kb and kb_manifest_sha256", short_repr(versions))],
        ) from None


def add_assessment(
    session: Session,
    actor: Actor,
    visit_id: int,
    *,
    case: Mapping[str, Any],
    result: Mapping[str, Any],
) -> AssessmentRecord:
    """Store one run of the diagnosis engine (``Assessment.to_dict()``) for a visit."""
    actor.require_write()
    visit = get_visit(session, actor, visit_id)
    record = AssessmentRecord(
        visit_id=visit.id,
        case=dict(case),
        result=dict(result),
        created_by=actor.user_id,
        **_stamp(result.get("versions", {})),
    )
    session.add(record)
    session.flush()
    _audit(session, actor, "create", record, {"visit_id": [None, visit.id]})
    return record


def _get_owned(
    session: Session,
    actor: Actor,
    model: type[M],
    kind: str,
    record_id: int,
    owner: str,
) -> M:
    """Return a record whose ``<owner>_id`` (a patient or a visit) belongs to the actor's clinic.

    A missing id and another clinic's record are both "not found", never "forbidden".
    """
    _check_id(kind, record_id)
    record = session.get(model, record_id)
    if record is None:
        raise _not_found(kind, record_id)
    parent = get_visit if owner == "visit" else get_patient
    try:
        parent(session, actor, getattr(record, f"{owner}_id"))
    except NotFoundError:
        raise _not_found(kind, record_id) from None
    return record


def get_assessment(session: Session, actor: Actor, assessment_id: int) -> AssessmentRecord:
    """Return a stored assessment of the actor's clinic."""
    return _get_owned(session, actor, AssessmentRecord, "assessment", assessment_id, "visit")


def list_assessments(session: Session, actor: Actor, visit_id: int) -> list[AssessmentRecord]:
    """Return every assessment of a visit, newest first."""
    get_visit(session, actor, visit_id)
    return list(
        session.scalars(
            sa.select(AssessmentRecord)
            .where(AssessmentRecord.visit_id == visit_id)
            .order_by(AssessmentRecord.id.desc())
        )
    )


def latest_assessment(session: Session, actor: Actor, visit_id: int) -> AssessmentRecord | None:
    """Return the newest assessment of a visit, if any."""
    rows = list_assessments(session, actor, visit_id)
    return rows[0] if rows else None


# --------------------------------------------------------------------------- care plans


def add_care_plan(
    session: Session,
    actor: Actor,
    visit_id: int,
    *,
    generated: Mapping[str, Any],
    assessment_id: int | None = None,
) -> CarePlanRecord:
    """Store a generated care plan (``CarePlan.to_dict()``) as *proposed*."""
    actor.require_write()
    visit = get_visit(session, actor, visit_id)
    record = CarePlanRecord(
        visit_id=visit.id,
        assessment_id=assessment_id,
        generated=dict(generated),
        status="proposed",
        decision={},
        created_by=actor.user_id,
        updated_by=actor.user_id,
        **_stamp(generated.get("versions", {})),
    )
    session.add(record)
    session.flush()
    _complete_inserted(session, record)
    _audit(session, actor, "create", record, {"status": [None, "proposed"]})
    return record


def get_care_plan(session: Session, actor: Actor, plan_id: int) -> CarePlanRecord:
    """Return a stored care plan of the actor's clinic."""
    return _get_owned(session, actor, CarePlanRecord, "care_plan", plan_id, "visit")


def latest_care_plan(session: Session, actor: Actor, visit_id: int) -> CarePlanRecord | None:
    """Return the newest care plan of a visit, if any."""
    get_visit(session, actor, visit_id)
    return session.scalar(
        sa.select(CarePlanRecord)
        .where(CarePlanRecord.visit_id == visit_id)
        .order_by(CarePlanRecord.id.desc())
        .limit(1)
    )


def decide_care_plan(
    session: Session,
    actor: Actor,
    plan_id: int,
    *,
    status: str,
    decision: Mapping[str, Any],
    expected_version: int | None,
) -> CarePlanRecord:
    """Record the clinician's decision: ``accepted`` or ``modified`` (with what changed)."""
    check_option("status", status, _PLAN_STATUSES)
    record = get_care_plan(session, actor, plan_id)
    return _update(
        session,
        actor,
        record,
        "care plan",
        {"status": status, "decision": dict(decision)},
        expected_version,
    )


# --------------------------------------------------------------------------- treatments given


def _treatment_values(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "treatment_id" in data or not partial:
        out["treatment_id"] = _text("treatment_id", data.get("treatment_id"), 64, required=True)
    if "given_on" in data or not partial:
        out["given_on"] = _date("given_on", data.get("given_on"))
    if "weeks" in data:
        weeks = data.get("weeks")
        if weeks in (None, ""):
            out["weeks"] = None
        else:
            try:
                out["weeks"] = float(weeks)
            except (TypeError, ValueError):
                raise InputValueError(
                    "invalid weeks", [Problem("weeks", "a number of weeks", short_repr(weeks))]
                ) from None
            if not 0 <= out["weeks"] <= 520:
                raise InputValueError(
                    "invalid weeks", [Problem("weeks", "0-520 weeks", short_repr(weeks))]
                )
    if "dose" in data:
        out["dose"] = _text("dose", data.get("dose"), 200)
    if "note" in data:
        out["note"] = _text("note", data.get("note"), 4000)
    if "response" in data or not partial:
        out["response"] = check_option(
            "response", data.get("response") or "unknown", TREATMENT_RESPONSES
        )
    if "visit_id" in data:
        out["visit_id"] = data.get("visit_id")
    return out


def add_treatment_given(
    session: Session, actor: Actor, patient_id: int, data: Mapping[str, Any]
) -> TreatmentGiven:
    """Record a treatment given (``treatment_id`` from the knowledge base, ``given_on``, ...)."""
    actor.require_write()
    patient = get_patient(session, actor, patient_id)
    values = _treatment_values(data, partial=False)
    if values.get("visit_id") is not None:
        visit = get_visit(session, actor, int(values["visit_id"]))
        if visit.patient_id != patient.id:
            raise _not_found("visit", values["visit_id"])
    record = TreatmentGiven(
        patient_id=patient.id, created_by=actor.user_id, updated_by=actor.user_id, **values
    )
    session.add(record)
    session.flush()
    _complete_inserted(session, record)
    _audit(session, actor, "create", record, {k: [None, _json_value(v)] for k, v in values.items()})
    return record


def get_treatment_given(session: Session, actor: Actor, record_id: int) -> TreatmentGiven:
    """Return a treatment record of the actor's clinic."""
    return _get_owned(session, actor, TreatmentGiven, "treatment", record_id, "patient")


def list_treatments_given(
    session: Session, actor: Actor, patient_id: int, *, include_voided: bool = False
) -> list[TreatmentGiven]:
    """Return a patient's treatments, most recent first (voided ones only if asked)."""
    get_patient(session, actor, patient_id)
    stmt = sa.select(TreatmentGiven).where(TreatmentGiven.patient_id == patient_id)
    if not include_voided:
        stmt = stmt.where(TreatmentGiven.voided_at.is_(None))
    return list(
        session.scalars(stmt.order_by(TreatmentGiven.given_on.desc(), TreatmentGiven.id.desc()))
    )


def update_treatment_given(
    session: Session,
    actor: Actor,
    record_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
    *,
    reason: str = "",
) -> TreatmentGiven:
    """Change a treatment record (e.g. its response) with optimistic locking."""
    record = get_treatment_given(session, actor, record_id)
    _not_voided(record, "treatment")
    values = _treatment_values(changes, partial=True)
    values.pop("visit_id", None)
    return _update(
        session,
        actor,
        record,
        "treatment",
        values,
        expected_version,
        reason=_reason(reason, required=False),
    )


# --------------------------------------------------------------------------- outcomes


def add_outcome(
    session: Session,
    actor: Actor,
    patient_id: int,
    *,
    instrument: str,
    measured_on: dt.date | str,
    total: float | None,
    score: Mapping[str, Any],
    versions: Mapping[str, Any],
    answers: Mapping[str, Any] | None = None,
    visit_id: int | None = None,
    note: str = "",
) -> OutcomeEntry:
    """Store a scored questionnaire (the caller scores it with :mod:`glutemed.questionnaires`).

    ``note``: free text kept with the entry (e.g. the activities named on the PSFS).
    """
    actor.require_write()
    patient = get_patient(session, actor, patient_id)
    if visit_id is not None and get_visit(session, actor, visit_id).patient_id != patient.id:
        raise _not_found("visit", visit_id)
    record = OutcomeEntry(
        patient_id=patient.id,
        visit_id=visit_id,
        instrument=_text("instrument", instrument, 64, required=True),
        measured_on=_date("measured_on", measured_on),
        total=None if total is None else float(total),
        answers=None if answers is None else dict(answers),
        score=dict(score),
        note=_text("note", note, 2000),
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
        {"instrument": [None, record.instrument], "total": [None, record.total]},
    )
    return record


def get_outcome(session: Session, actor: Actor, outcome_id: int) -> OutcomeEntry:
    """Return an outcome record of the actor's clinic."""
    return _get_owned(session, actor, OutcomeEntry, "outcome", outcome_id, "patient")


def list_outcomes(
    session: Session,
    actor: Actor,
    patient_id: int,
    instrument: str | None = None,
    *,
    include_voided: bool = False,
) -> list[OutcomeEntry]:
    """Return a patient's outcome records, oldest first (voided ones only if asked)."""
    get_patient(session, actor, patient_id)
    stmt = sa.select(OutcomeEntry).where(OutcomeEntry.patient_id == patient_id)
    if not include_voided:
        stmt = stmt.where(OutcomeEntry.voided_at.is_(None))
    if instrument:
        stmt = stmt.where(OutcomeEntry.instrument == instrument)
    return list(session.scalars(stmt.order_by(OutcomeEntry.measured_on, OutcomeEntry.id)))


def update_outcome(
    session: Session,
    actor: Actor,
    outcome_id: int,
    *,
    measured_on: dt.date | str,
    total: float | None,
    score: Mapping[str, Any],
    versions: Mapping[str, Any],
    answers: Mapping[str, Any] | None,
    expected_version: int | None,
    reason: str = "",
) -> OutcomeEntry:
    """Correct an outcome record (re-scored by the caller) with optimistic locking."""
    record = get_outcome(session, actor, outcome_id)
    _not_voided(record, "outcome")
    values = {
        "measured_on": _date("measured_on", measured_on),
        "total": None if total is None else float(total),
        "score": dict(score),
        "answers": None if answers is None else dict(answers),
        **_stamp(versions),
    }
    return _update(
        session,
        actor,
        record,
        "outcome",
        values,
        expected_version,
        reason=_reason(reason, required=False),
    )


# --------------------------------------------------------------------------- movement


def add_movement(
    session: Session,
    actor: Actor,
    visit_id: int,
    *,
    task: str,
    file_name: str,
    file_bytes: bytes,
    file_sha256: str,
    result: Mapping[str, Any],
    plot_png: bytes | None,
) -> MovementAnalysis:
    """Store an analysed movement file, its result and plot with a visit."""
    actor.require_write()
    visit = get_visit(session, actor, visit_id)
    record = MovementAnalysis(
        visit_id=visit.id,
        task=task,
        file_name=_text("file_name", file_name, 255) or "upload",
        file_sha256=file_sha256,
        file_bytes=file_bytes,
        result=dict(result),
        plot_png=plot_png,
        created_by=actor.user_id,
        **_stamp(result.get("versions", {})),
    )
    session.add(record)
    session.flush()
    _audit(
        session, actor, "create", record, {"task": [None, task], "file_sha256": [None, file_sha256]}
    )
    return record


def set_movement_still(
    session: Session, actor: Actor, movement_id: int, still_png: bytes
) -> MovementAnalysis:
    """Keep the annotated still frame (PNG) of a movement analysis made from a video."""
    actor.require_write()
    record = get_movement(session, actor, movement_id)
    record.still_png = still_png
    session.flush()
    digest = hashlib.sha256(still_png).hexdigest()
    _audit(session, actor, "update", record, {"still_png_sha256": [None, digest]})
    return record


def get_movement(session: Session, actor: Actor, movement_id: int) -> MovementAnalysis:
    """Return a movement analysis of the actor's clinic."""
    return _get_owned(session, actor, MovementAnalysis, "movement", movement_id, "visit")


def list_movements(
    session: Session, actor: Actor, visit_id: int, *, include_voided: bool = False
) -> list[MovementAnalysis]:
    """Return a visit's movement analyses, newest first (voided ones only if asked)."""
    get_visit(session, actor, visit_id)
    stmt = sa.select(MovementAnalysis).where(MovementAnalysis.visit_id == visit_id)
    if not include_voided:
        stmt = stmt.where(MovementAnalysis.voided_at.is_(None))
    return list(session.scalars(stmt.order_by(MovementAnalysis.id.desc())))


# --------------------------------------------------------------------------- audit


def _get_adherence(session: Session, actor: Actor, record_id: int) -> Any:
    from glutemed.store._adherence import get_adherence

    return get_adherence(session, actor, record_id)


_ENTITY_GETTERS = {
    "patients": get_patient,
    "visits": get_visit,
    "assessments": get_assessment,
    "care_plans": get_care_plan,
    "treatments_given": get_treatment_given,
    "outcomes": get_outcome,
    "movement_analyses": get_movement,
    "adherence_records": _get_adherence,
}


#: Records a clinician can void (entered in error): kept, struck through, left out of computations.
VOIDABLE_TYPES: tuple[str, ...] = (
    "visits",
    "treatments_given",
    "outcomes",
    "movement_analyses",
    "adherence_records",
)
_WHAT = {
    "visits": "visit",
    "treatments_given": "treatment",
    "outcomes": "outcome",
    "movement_analyses": "movement analysis",
    "adherence_records": "adherence record",
}


def _not_voided(obj: Any, what: str) -> None:
    if getattr(obj, "voided_at", None) is not None:
        raise ConflictError(
            f"the {what} was voided",
            [
                Problem(
                    "voided_at", f"a {what} in use", "a voided record", "record it again instead"
                )
            ],
        )


def void_record(
    session: Session,
    actor: Actor,
    entity_type: str,
    entity_id: int,
    *,
    reason: str,
    expected_version: int | None = None,
) -> Any:
    """Void a record entered in error: it is kept with who, when and why, and audited.

    Parameters
    ----------
    entity_type
        One of :data:`VOIDABLE_TYPES`.
    reason
        Why the record is void (required: the history shows it).
    expected_version
        The version read (records with a version are checked; 409 if it changed).

    Raises
    ------
    InputValueError
        No reason, or a record type that cannot be voided.
    ConflictError
        The record was already voided, or changed since it was read.
    """
    check_option("entity_type", entity_type, VOIDABLE_TYPES)
    what = _WHAT[entity_type]
    obj = _ENTITY_GETTERS[entity_type](session, actor, entity_id)
    text = _reason(reason, required=True)
    _not_voided(obj, what)
    values = {"voided_at": dt.datetime.now(dt.UTC), "voided_by": actor.user_id, "void_reason": text}
    return _update(session, actor, obj, what, values, expected_version, action="void")


def history(session: Session, actor: Actor, entity_type: str, entity_id: int) -> list[AuditEvent]:
    """Return every audited write of one record, oldest first (its edit history)."""
    check_option("entity_type", entity_type, _ENTITY_GETTERS)
    _ENTITY_GETTERS[entity_type](session, actor, entity_id)
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(
                AuditEvent.entity_type == entity_type,
                AuditEvent.entity_id == entity_id,
                AuditEvent.action.not_in(READ_ACTIONS),
            )
            .order_by(AuditEvent.id)
        )
    )


#: Audit actions of reads: in the audit log, not in a record's edit history.
READ_ACTIONS = ("read", "export")


def record_access(
    session: Session, actor: Actor, action: str, entity_type: str, entity_id: int, what: str = ""
) -> None:
    """Audit that ``actor`` viewed (``read``) or exported (``export``) a record (flushes).

    ``what`` names the export (``"FHIR bundle"``, ``"clinician report"``, ...); the event holds
    no record content.
    """
    check_option("action", action, READ_ACTIONS)
    session.add(
        AuditEvent(
            user_id=actor.user_id,
            clinic_id=actor.clinic_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            changes={"what": [None, what]} if what else {},
        )
    )
    session.flush()


def audit_events(
    session: Session,
    actor: Actor,
    *,
    limit: int = 100,
    before_id: int | None = None,
    entity_types: Sequence[str] | None = None,
) -> list[AuditEvent]:
    """Return the clinic's audit log, newest first (administrators only)."""
    actor.require_admin()
    stmt = sa.select(AuditEvent).where(AuditEvent.clinic_id == actor.clinic_id)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    if entity_types:
        stmt = stmt.where(AuditEvent.entity_type.in_(list(entity_types)))
    return list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 500)))))
