"""alert pages: a role paged for an alert group, escalating step by step

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=nullable)


def _big() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_pages",
        sa.Column("id", _big(), autoincrement=True),
        sa.Column("group_id", _big(), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=40), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        _when("paged_at"),
        _when("ack_deadline"),
        sa.Column("acknowledged_by", sa.String(length=40), nullable=True),
        _when("acknowledged_at", nullable=True),
        sa.Column("escalated_to", sa.String(length=40), nullable=True),
        sa.Column("dm_channel", sa.String(length=40), nullable=True),
        sa.Column("dm_ts", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            name=op.f("fk_alert_pages_group_id_alert_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_pages")),
        sa.UniqueConstraint("group_id", "chain", "step", name="uq_alert_pages_group_chain_step"),
    )
    op.create_index("ix_alert_pages_status_deadline", "alert_pages", ["status", "ack_deadline"])


def downgrade() -> None:
    op.drop_index("ix_alert_pages_status_deadline", table_name="alert_pages")
    op.drop_table("alert_pages")
