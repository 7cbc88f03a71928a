"""alerts: alert groups (one card each), alerts, silences and storm cards

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[object]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "alert_storms",
        _id(),
        sa.Column("channel", sa.String(length=80), nullable=False),
        _when("opened_at"),
        _when("last_seen_at"),
        sa.Column("card_channel_id", sa.String(length=40), nullable=True),
        sa.Column("card_ts", sa.String(length=40), nullable=True),
        sa.Column("card_queued", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_storms")),
    )
    op.create_index(
        "ix_alert_storms_channel_last_seen", "alert_storms", ["channel", "last_seen_at"]
    )
    op.create_table(
        "alert_groups",
        _id(),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("group_hash", sa.String(length=64), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=40), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("firing", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        _when("first_seen_at"),
        _when("last_seen_at"),
        _when("resent_at", nullable=True),
        _when("resolved_at", nullable=True),
        sa.Column("storm_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("card_channel_id", sa.String(length=40), nullable=True),
        sa.Column("card_ts", sa.String(length=40), nullable=True),
        sa.Column("card_queued", sa.Boolean(), nullable=False),
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("acknowledged_by", sa.String(length=40), nullable=True),
        _when("acknowledged_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["storm_id"], ["alert_storms.id"], name=op.f("fk_alert_groups_storm_id_alert_storms")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_alert_groups_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_groups")),
        sa.UniqueConstraint("source", "group_hash", name="uq_alert_groups_source_hash"),
    )
    op.create_index(
        "ix_alert_groups_channel_first_seen", "alert_groups", ["channel", "first_seen_at"]
    )
    op.create_index("ix_alert_groups_incident", "alert_groups", ["incident_id"])
    op.create_table(
        "alerts",
        _id(),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        _when("starts_at"),
        sa.Column("status", sa.String(length=12), nullable=False),
        _when("ends_at", nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        _when("first_seen_at"),
        _when("last_seen_at"),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            name=op.f("fk_alerts_group_id_alert_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("source", "fingerprint", "starts_at", name="uq_alerts_firing"),
    )
    op.create_index("ix_alerts_group_status", "alerts", ["group_id", "status"])
    op.create_table(
        "alert_silences",
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        _when("until"),
        sa.Column("silenced_by", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _when("silenced_at"),
        sa.PrimaryKeyConstraint("source", "fingerprint", name=op.f("pk_alert_silences")),
    )


def downgrade() -> None:
    op.drop_table("alert_silences")
    op.drop_index("ix_alerts_group_status", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_alert_groups_incident", table_name="alert_groups")
    op.drop_index("ix_alert_groups_channel_first_seen", table_name="alert_groups")
    op.drop_table("alert_groups")
    op.drop_index("ix_alert_storms_channel_last_seen", table_name="alert_storms")
    op.drop_table("alert_storms")
