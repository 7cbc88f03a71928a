"""paging: pages, paging state, role assignments, absences, response breaches

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=nullable)


def _incident_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["incident_id"],
        ["incidents.id"],
        name=op.f(f"fk_{table}_incident_id_incidents"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "pages",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("chain", sa.String(length=120), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=True),
        sa.Column("person", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("paged_by", sa.String(length=40), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        _when("paged_at"),
        _when("ack_deadline"),
        sa.Column("acknowledged_by", sa.String(length=40), nullable=True),
        _when("acknowledged_at", nullable=True),
        sa.Column("escalated_to", sa.String(length=40), nullable=True),
        sa.Column("dm_channel", sa.String(length=40), nullable=True),
        sa.Column("dm_ts", sa.String(length=40), nullable=True),
        sa.Column("channel_ts", sa.String(length=40), nullable=True),
        _incident_fk("pages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
        sa.UniqueConstraint(
            "incident_id", "chain", "step", name=op.f("uq_pages_incident_chain_step")
        ),
    )
    op.create_index("ix_pages_status_deadline", "pages", ["status", "ack_deadline"], unique=False)
    op.create_table(
        "paging_state",
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("severity", sa.String(length=40), nullable=False),
        _when("updated_at"),
        _incident_fk("paging_state"),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_paging_state")),
    )
    op.create_table(
        "role_assignments",
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=40), nullable=False),
        sa.Column("assigned_by", sa.String(length=40), nullable=False),
        _when("assigned_at"),
        _incident_fk("role_assignments"),
        sa.PrimaryKeyConstraint("incident_id", "role", name=op.f("pk_role_assignments")),
    )
    op.create_table(
        "absences",
        sa.Column("person", sa.String(length=40), nullable=False),
        _when("until"),
        _when("set_at"),
        sa.PrimaryKeyConstraint("person", name=op.f("pk_absences")),
    )
    op.create_table(
        "response_breaches",
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("severity", sa.String(length=40), nullable=False),
        _when("deadline"),
        _when("recorded_at"),
        _incident_fk("response_breaches"),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_response_breaches")),
    )
    op.create_index(
        "ix_response_breaches_recorded_at", "response_breaches", ["recorded_at"], unique=False
    )
    # Incidents declared before paging existed are not paged after the upgrade.
    op.execute(
        "INSERT INTO paging_state (incident_id, severity, updated_at) "
        "SELECT id, severity, updated_at FROM incidents"
    )


def downgrade() -> None:
    op.drop_index("ix_response_breaches_recorded_at", table_name="response_breaches")
    op.drop_table("response_breaches")
    op.drop_table("absences")
    op.drop_table("role_assignments")
    op.drop_table("paging_state")
    op.drop_index("ix_pages_status_deadline", table_name="pages")
    op.drop_table("pages")
