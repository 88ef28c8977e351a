"""SQLAlchemy 2.0 models of the clinic records.

Tables
------
``clinics``, ``users``, ``sessions``, ``login_failures``
    Accounts, server-side login sessions (only a keyed hash of the cookie token is stored) and the
    failed-login record that throttles password guessing.
``patients`` and ``patient_terms``
    Patients belong to one clinic. ``patient_terms`` holds normalised search words (name parts,
    record number, birth date) with an index on ``(clinic_id, term)``, so a prefix search is an
    index range scan on SQLite and PostgreSQL alike.
``visits``, ``assessments``, ``care_plans``, ``treatments_given``, ``outcomes``,
``movement_analyses``
    The clinical record. Assessments are immutable (a re-assessment adds a row); every assessment,
    plan, outcome and movement analysis keeps the engine and knowledge-base versions.
``adherence_records``
    At a visit: the exercise programme stage the patient is on, sessions done out of sessions
    prescribed and exercise pain per exercise (``entries``), the progression suggestion computed
    from the knowledge base's rules and the clinician's decision.
``audit_events``
    Every write: who, when, what changed (field -> [old, new]) and the full state after the write,
    so the history of every record can be rebuilt.

Rows that users edit carry a ``version`` column used by SQLAlchemy's optimistic locking: an update
from a stale copy fails instead of silently overwriting someone else's edit.

Every schema change is an Alembic migration in ``store/migrations/versions``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ROLES",
    "AdherenceRecord",
    "AssessmentRecord",
    "AuditEvent",
    "Base",
    "CarePlanRecord",
    "Clinic",
    "LoginFailure",
    "MovementAnalysis",
    "OutcomeEntry",
    "Patient",
    "PatientTerm",
    "SessionRecord",
    "TreatmentGiven",
    "User",
    "Visit",
    "utcnow",
]

#: Roles, most to least privileged.
ROLES = ("admin", "clinician", "read_only")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Return the current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite has no time zones; PostgreSQL stores ``timestamptz``. Both come back as aware UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


#: JSON everywhere; JSONB on PostgreSQL.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: Search terms compare byte-wise ("C" collation on PostgreSQL) so prefix ranges use the index.
TermType = sa.String(64).with_variant(postgresql.VARCHAR(64, collation="C"), "postgresql")


class Base(DeclarativeBase):
    """Declarative base with a naming convention (stable constraint names for migrations)."""

    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


class _Versioned:
    """Optimistic locking: ``version`` increases on every update."""

    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        return {"version_id_col": cls.version}


class _Voidable:
    """A clinical record that can be voided (entered in error): kept, struck through, left out.

    A voided record stays in the database and its history; lists leave it out of every
    computation (case building, outcome series, letters) unless asked to include it.
    """

    voided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    voided_by: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    void_reason: Mapped[str] = mapped_column(sa.Text, default="")

    @property
    def voided(self) -> bool:
        """Whether the record was voided."""
        return self.voided_at is not None


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(_Versioned, Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("role IN ('admin', 'clinician', 'read_only')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20))
    clinic_id: Mapped[int] = mapped_column(sa.ForeignKey("clinics.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    clinic: Mapped[Clinic] = relationship(lazy="joined")


class SessionRecord(Base):
    """A login session; ``id`` is a keyed hash of the cookie token, never the token itself."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class LoginFailure(Base):
    """One failed login, keyed by a hash of the user name (or client address)."""

    __tablename__ = "login_failures"
    __table_args__ = (sa.Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(80))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CdsTokenUse(Base):
    """A CDS Hooks client token seen once: a hash of its issuer and ``jti``, kept until it expires.

    Shared by every server worker and kept across restarts, so a token cannot be replayed to
    another worker or after a restart.
    """

    __tablename__ = "cds_token_uses"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class Patient(_Versioned, Base):
    __tablename__ = "patients"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "identifier"),
        sa.Index(
            "ix_patients_clinic_id_family_name_given_name", "clinic_id", "family_name", "given_name"
        ),
        sa.CheckConstraint("sex IN ('female', 'male', 'other', 'unknown')", name="sex"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(sa.ForeignKey("clinics.id"))
    identifier: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    given_name: Mapped[str] = mapped_column(sa.String(120), default="")
    family_name: Mapped[str] = mapped_column(sa.String(120))
    birth_date: Mapped[dt.date | None] = mapped_column(default=None)
    #: The birth year when only the year is known (a pseudonymous import); ``birth_date`` wins.
    birth_year: Mapped[int | None] = mapped_column(default=None)
    sex: Mapped[str] = mapped_column(sa.String(10), default="unknown")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class PatientTerm(Base):
    """A normalised search word of a patient (prefix-searchable through its index)."""

    __tablename__ = "patient_terms"
    # patient_id in the index: prefix scans and word intersections never touch the table
    __table_args__ = (
        sa.Index("ix_patient_terms_clinic_id_term_patient_id", "clinic_id", "term", "patient_id"),
    )

    patient_id: Mapped[int] = mapped_column(
        sa.ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(TermType, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(sa.ForeignKey("clinics.id"))


class Visit(_Voidable, _Versioned, Base):
    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    visit_date: Mapped[dt.date]
    case: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class _Stamped:
    """The engine and knowledge-base versions a result was computed with."""

    engine_version: Mapped[str] = mapped_column(sa.String(40))
    kb_version: Mapped[str] = mapped_column(sa.String(40))
    kb_manifest_sha256: Mapped[str] = mapped_column(sa.String(64))


class AssessmentRecord(_Stamped, Base):
    """One run of the diagnosis engine on a visit's case (immutable)."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True
    )
    case: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class CarePlanRecord(_Versioned, _Stamped, Base):
    """A generated care plan and the clinician's decision on it."""

    __tablename__ = "care_plans"
    __table_args__ = (
        sa.CheckConstraint("status IN ('proposed', 'accepted', 'modified')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True
    )
    assessment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("assessments.id", ondelete="SET NULL")
    )
    generated: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(sa.String(20), default="proposed")
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class TreatmentGiven(_Voidable, _Versioned, Base):
    """A treatment given to a patient (knowledge-base treatment id), with its response."""

    __tablename__ = "treatments_given"
    __table_args__ = (
        sa.CheckConstraint(
            "response IN ('none', 'partial', 'good', 'worse', 'unknown')", name="response"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visits.id", ondelete="SET NULL"))
    treatment_id: Mapped[str] = mapped_column(sa.String(64))
    given_on: Mapped[dt.date]
    weeks: Mapped[float | None] = mapped_column(default=None)
    dose: Mapped[str] = mapped_column(sa.String(200), default="")
    note: Mapped[str] = mapped_column(sa.Text, default="")
    response: Mapped[str] = mapped_column(sa.String(10), default="unknown")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class OutcomeEntry(_Voidable, _Versioned, _Stamped, Base):
    """One questionnaire or rating-scale result on a date."""

    __tablename__ = "outcomes"
    __table_args__ = (
        sa.Index(
            "ix_outcomes_patient_id_instrument_measured_on",
            "patient_id",
            "instrument",
            "measured_on",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id", ondelete="CASCADE"))
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visits.id", ondelete="SET NULL"))
    instrument: Mapped[str] = mapped_column(sa.String(64))
    measured_on: Mapped[dt.date]
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    total: Mapped[float | None] = mapped_column(default=None)
    score: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Free text with the entry, e.g. the activities the patient named on the PSFS.
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class MovementAnalysis(_Voidable, _Stamped, Base):
    """A movement file analysed with :func:`glutemed.motion.analyse_file`, kept with its visit."""

    __tablename__ = "movement_analyses"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True
    )
    task: Mapped[str] = mapped_column(sa.String(40))
    file_name: Mapped[str] = mapped_column(sa.String(255))
    file_sha256: Mapped[str] = mapped_column(sa.String(64))
    file_bytes: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    result: Mapped[dict[str, Any]]
    plot_png: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True, default=None)
    #: Video frame at peak pelvic drop with the pelvis and trunk lines drawn (PNG), if the
    #: clinician chose to keep one; the video itself is never stored.
    still_png: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class AdherenceRecord(_Voidable, _Versioned, _Stamped, Base):
    """Adherence to an exercise programme stage since the last visit, recorded at a visit.

    ``entries`` holds one item per exercise (or ``"programme"`` for the programme as a whole),
    as validated by :func:`glutemed.pathway.read_adherence`; ``suggestion`` is the output of
    :func:`glutemed.pathway.suggest_progression` (stamped with the versions it was computed
    with); ``decision`` is the clinician's: ``progress``, ``stay``, ``regress`` or empty.
    """

    __tablename__ = "adherence_records"
    __table_args__ = (
        sa.CheckConstraint("decision IN ('', 'progress', 'stay', 'regress')", name="decision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        sa.ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    visit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True
    )
    programme_id: Mapped[str] = mapped_column(sa.String(64))
    stage_id: Mapped[str] = mapped_column(sa.String(64))
    programme_week: Mapped[int | None] = mapped_column(default=None)
    entries: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    sessions_done: Mapped[int | None] = mapped_column(default=None)
    sessions_prescribed: Mapped[int | None] = mapped_column(default=None)
    pain_during_max: Mapped[int | None] = mapped_column(default=None)
    pain_after_max: Mapped[int | None] = mapped_column(default=None)
    suggestion: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decision: Mapped[str] = mapped_column(sa.String(10), default="")
    next_stage_id: Mapped[str] = mapped_column(sa.String(64), default="")
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class AuditEvent(Base):
    """One write to the records (or a login event): who, when, what changed."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_entity_type_entity_id", "entity_type", "entity_id"),
        sa.Index("ix_audit_events_clinic_id_at", "clinic_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    clinic_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clinics.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(20))
    entity_type: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[int | None] = mapped_column(default=None)
    entity_version: Mapped[int | None] = mapped_column(default=None)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
