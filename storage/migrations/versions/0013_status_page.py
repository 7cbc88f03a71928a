"""status page: incident components, public updates, maintenance, states set by hand

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=nullable)


def _big() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _incident_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["incident_id"],
        ["incidents.id"],
        name=op.f(f"fk_{table}_incident_id_incidents"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "incident_components",
        sa.Column("incident_id", _big(), nullable=False),
        sa.Column("component", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("worst", sa.String(length=32), nullable=False),
        _when("since"),
        _when("updated_at"),
        _incident_fk("incident_components"),
        sa.PrimaryKeyConstraint("incident_id", "component", name=op.f("pk_incident_components")),
    )
    op.create_index("ix_incident_components_component", "incident_components", ["component"])
    op.create_table(
        "public_updates",
        sa.Column("id", _big(), autoincrement=True),
        sa.Column("incident_id", _big(), nullable=False),
        _when("at"),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=True),
        _incident_fk("public_updates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_updates")),
        sa.UniqueConstraint("source_key", name=op.f("uq_public_updates_source_key")),
    )
    op.create_index("ix_public_updates_incident", "public_updates", ["incident_id", "at"])
    op.create_table(
        "maintenances",
        sa.Column("id", _big(), autoincrement=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        _when("starts_at"),
        _when("ends_at"),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        _when("created_at"),
        _when("cancelled_at", nullable=True),
        sa.Column("source_key", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenances")),
        sa.UniqueConstraint("source_key", name=op.f("uq_maintenances_source_key")),
    )
    op.create_index("ix_maintenances_ends_at", "maintenances", ["ends_at"])
    op.create_table(
        "component_overrides",
        sa.Column("component", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("set_by", sa.String(length=40), nullable=False),
        _when("set_at"),
        sa.PrimaryKeyConstraint("component", name=op.f("pk_component_overrides")),
    )


def downgrade() -> None:
    op.drop_table("component_overrides")
    op.drop_index("ix_maintenances_ends_at", table_name="maintenances")
    op.drop_table("maintenances")
    op.drop_index("ix_public_updates_incident", table_name="public_updates")
    op.drop_table("public_updates")
    op.drop_index("ix_incident_components_component", table_name="incident_components")
    op.drop_table("incident_components")
