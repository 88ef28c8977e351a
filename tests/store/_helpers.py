"""Helpers shared by the store tests."""

from __future__ import annotations

from sqlalchemy.orm import Session

import glutemed.store as store


def make_actor(db: Session, name: str, clinic: str, role: str = "clinician") -> store.Actor:
    """Create a user in ``clinic`` (created if new) and return it as an actor."""
    c = store.get_or_create_clinic(db, clinic)
    user = store.User(
        username=name, display_name=name, password_hash="x", role=role, clinic_id=c.id
    )
    db.add(user)
    db.flush()
    return store.Actor(user.id, name, c.id, role, name)
