"""declaration intake attempts and rows moved aside (issue 21 item 4)

A submission whose declaring fails is tried again with back-off, and after
FIREWATCH_INTAKE_MAX_ATTEMPTS tries it is moved aside (kept, shown in /health and
`firewatch intake list`) instead of being read again on every pass.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("declaration_intake") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("next_attempt_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("set_aside_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_index(
            "ix_declaration_intake_due", ["set_aside_at", "next_attempt_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("declaration_intake") as batch:
        batch.drop_index("ix_declaration_intake_due")
        batch.drop_column("set_aside_at")
        batch.drop_column("last_error")
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
