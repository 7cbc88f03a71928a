"""slack channel names: a configured #name resolved to its id once, the search resumable

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_channel_names",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=True),
        sa.Column("list_cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_slack_channel_names")),
    )


def downgrade() -> None:
    op.drop_table("slack_channel_names")
