"""capture requests and events handled with their fact (issue 21 items 1-2)

A 📌 reaction or the "Add to incident timeline" shortcut is answered once its capture
request is stored (with the Events API delivery's id in `slack_events`, in the same
transaction); the capture worker completes it. The capture form keeps only the request's
key in its private metadata (issue 19).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = storage.types.UTCDateTime(timezone=True)
    op.create_table(
        "capture_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_key", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        # No foreign key: a request whose incident was purged says so instead of vanishing.
        sa.Column("incident_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("message_ts", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=True),
        sa.Column("asked_in", sa.String(length=40), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=40), nullable=True),
        sa.Column("permalink", sa.Text(), nullable=False),
        sa.Column("requested_at", when, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", when, nullable=False),
        sa.Column("claimed_until", when, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_requests")),
        sa.UniqueConstraint("request_key", name=op.f("uq_capture_requests_request_key")),
    )
    op.create_index(
        "ix_capture_requests_state_next", "capture_requests", ["state", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_capture_requests_state_next", table_name="capture_requests")
    op.drop_table("capture_requests")
