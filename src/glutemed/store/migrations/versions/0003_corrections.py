"""Corrections: visits, treatments given, outcomes and movement analyses can be voided.

A voided record is kept (struck through in its history) with who voided it, when and why.
Outcome entries also get a free-text note (e.g. the activities named on the PSFS).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("visits", "treatments_given", "outcomes", "movement_analyses")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column("voided_by", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("void_reason", sa.Text(), nullable=False, server_default=""))
            batch.create_foreign_key(
                op.f(f"fk_{table}_voided_by_users"),
                "users",
                ["voided_by"],
                ["id"],
                ondelete="SET NULL",
            )

    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("note")
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"fk_{table}_voided_by_users"), type_="foreignkey")
            batch.drop_column("void_reason")
            batch.drop_column("voided_by")
            batch.drop_column("voided_at")
