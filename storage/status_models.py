"""The public status page's facts (issue 24): what each incident declares about the
components it affects, the texts written for the public, scheduled maintenance and the
states set by hand.

Kept apart from the timeline on purpose: only these tables feed `/status`, so nothing
written for responders can reach the public page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class IncidentComponentRow(Base):
    """The state an incident declares for one component: `state` now, `worst` the worst
    it ever declared (what the 90-day history shows for the incident's span)."""

    __tablename__ = "incident_components"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    component: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    worst: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_incident_components_component", "component"),)


class PublicUpdateRow(Base):
    """A text written for the public (the status and resolve forms' "public update").
    `actor` is kept for the record and never published."""

    __tablename__ = "public_updates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(40))
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    __table_args__ = (Index("ix_public_updates_incident", "incident_id", "at"),)


class MaintenanceRow(Base):
    """Scheduled maintenance, announced on the page: in progress in [starts_at, ends_at)."""

    __tablename__ = "maintenances"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    components: Mapped[dict[str, Any]]  # {"keys": [...]}
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    __table_args__ = (Index("ix_maintenances_ends_at", "ends_at"),)


class ComponentOverrideRow(Base):
    """A component's state set by hand: wins over incidents and maintenance until cleared."""

    __tablename__ = "component_overrides"

    component: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    set_by: Mapped[str] = mapped_column(String(40))
    set_at: Mapped[datetime]
