"""note intake: notes acknowledged and not yet on their incident's timeline

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "note_intake",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_note_intake_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_intake")),
        sa.UniqueConstraint("source_key", name=op.f("uq_note_intake_source_key")),
    )
    op.create_index("ix_note_intake_incident_id", "note_intake", ["incident_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_note_intake_incident_id", table_name="note_intake")
    op.drop_table("note_intake")
