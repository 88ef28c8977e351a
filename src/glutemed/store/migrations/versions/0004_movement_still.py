"""Movement analyses keep an optional annotated still frame (peak pelvic drop, from a video).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("movement_analyses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("still_png", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("movement_analyses", schema=None) as batch_op:
        batch_op.drop_column("still_png")
