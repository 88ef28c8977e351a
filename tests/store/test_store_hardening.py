"""The audit log is append-only in the database itself; CDS token uses are recorded once."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import glutemed.store as store
from tests.store._helpers import make_actor


def _one_event(db: Session) -> int:
    make_actor(db, "auditor", "Audit clinic")
    db.commit()
    event_id = db.scalar(sa.select(sa.func.max(store.AuditEvent.id)))
    assert event_id is not None
    return int(event_id)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'forged' WHERE id = :id",
        "UPDATE audit_events SET changes = '{}' WHERE id = :id",
        "UPDATE audit_events SET user_id = 999 WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
        "DELETE FROM audit_events",
    ],
)
def test_audit_events_cannot_be_changed_or_deleted(db: Session, statement: str) -> None:
    event_id = _one_event(db)
    before = db.execute(sa.text("SELECT * FROM audit_events ORDER BY id")).all()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        db.execute(sa.text(statement), {"id": event_id})
        db.flush()
    db.rollback()
    assert db.execute(sa.text("SELECT * FROM audit_events ORDER BY id")).all() == before


def test_audit_events_can_lose_a_deleted_users_reference(db: Session) -> None:
    """The foreign keys set ``user_id`` NULL when a user row goes: that update is allowed."""
    _one_event(db)
    db.execute(sa.text("UPDATE audit_events SET user_id = NULL"))
    db.commit()


def test_audit_truncate_refused_on_postgresql(db: Session) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    _one_event(db)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        db.execute(sa.text("TRUNCATE audit_events CASCADE"))
    db.rollback()


def test_token_use_is_recorded_once_until_it_expires(db: Session) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert store.first_use_of_token(db, "https://ehr.example.org/", "abc", soon)
    db.commit()
    assert not store.first_use_of_token(db, "https://ehr.example.org/", "abc", soon)
    db.commit()
    assert store.first_use_of_token(db, "https://other.example.org/", "abc", soon)
    db.commit()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert store.first_use_of_token(db, "https://ehr.example.org/", "old", past)
    db.commit()
    # expired records are removed on the next use: the same jti is then new again
    assert store.first_use_of_token(db, "https://ehr.example.org/", "old", soon)
    db.commit()
    stored = db.scalars(sa.select(store.CdsTokenUse.key)).all()
    assert len(stored) == 3 and all(len(k) == 64 and "abc" not in k for k in stored)
