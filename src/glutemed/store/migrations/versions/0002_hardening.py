"""Shared CDS Hooks token replay store; the audit log becomes append-only in the database.

* ``patients.birth_year``: the birth year when only the year is known (a FHIR import), so an
  export -> import -> export round trip keeps it.
* ``cds_token_uses``: one row per CDS client token seen (hash of issuer and ``jti``) until the
  token expires, shared by all server workers.
* ``audit_events``: triggers refuse ``DELETE`` (and ``TRUNCATE`` on PostgreSQL) and every
  ``UPDATE`` except the one the foreign keys make when a user or clinic row is deleted (setting
  ``user_id``/``clinic_id`` to NULL).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MESSAGE = "audit_events is append-only"
#: Columns an UPDATE may not change (user_id and clinic_id may only become NULL).
_FIXED = ("id", "at", "action", "entity_type", "entity_id", "entity_version", "changes", "snapshot")


def _changed_sqlite() -> str:
    fixed = [f"NEW.{c} IS NOT OLD.{c}" for c in _FIXED]
    nullable = [
        f"(NEW.{c} IS NOT NULL AND NEW.{c} IS NOT OLD.{c})" for c in ("user_id", "clinic_id")
    ]
    return " OR ".join(fixed + nullable)


def _changed_postgresql() -> str:
    fixed = [f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _FIXED]
    nullable = [
        f"(NEW.{c} IS NOT NULL AND NEW.{c} IS DISTINCT FROM OLD.{c})"
        for c in ("user_id", "clinic_id")
    ]
    return " OR ".join(fixed + nullable)


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_year", sa.Integer(), nullable=True))
    op.create_table(
        "cds_token_uses",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_cds_token_uses")),
    )
    with op.batch_alter_table("cds_token_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_token_uses_expires_at"), ["expires_at"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP <> 'UPDATE' THEN
                    RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF {_changed_postgresql()} THEN
                    RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            f"WHEN {_changed_sqlite()} BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    with op.batch_alter_table("cds_token_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_token_uses_expires_at"))
    op.drop_table("cds_token_uses")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_column("birth_year")
