"""Adherence and progression: sessions done, exercise pain and the next level, per visit.

One row per programme stage recorded at a visit: the entries per exercise, their totals, the
progression suggestion (stamped with the engine and knowledge-base versions) and the clinician's
decision. Voidable and versioned like the other clinical records; every write is audited.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: JSON columns are JSONB on PostgreSQL.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "adherence_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.String(length=64), nullable=False),
        sa.Column("stage_id", sa.String(length=64), nullable=False),
        sa.Column("programme_week", sa.Integer(), nullable=True),
        sa.Column("entries", JSON, nullable=False),
        sa.Column("sessions_done", sa.Integer(), nullable=True),
        sa.Column("sessions_prescribed", sa.Integer(), nullable=True),
        sa.Column("pain_during_max", sa.Integer(), nullable=True),
        sa.Column("pain_after_max", sa.Integer(), nullable=True),
        sa.Column("suggestion", JSON, nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("next_stage_id", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_by", sa.Integer(), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("engine_version", sa.String(length=40), nullable=False),
        sa.Column("kb_version", sa.String(length=40), nullable=False),
        sa.Column("kb_manifest_sha256", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "decision IN ('', 'progress', 'stay', 'regress')",
            name=op.f("ck_adherence_records_decision"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_adherence_records_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_adherence_records_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_adherence_records_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_adherence_records_visit_id_visits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["voided_by"],
            ["users.id"],
            name=op.f("fk_adherence_records_voided_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adherence_records")),
    )
    with op.batch_alter_table("adherence_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_adherence_records_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_adherence_records_visit_id"), ["visit_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("adherence_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_adherence_records_visit_id"))
        batch_op.drop_index(batch_op.f("ix_adherence_records_patient_id"))
    op.drop_table("adherence_records")
