"""Paging tables: pages, per-incident role assignments, absences, breaches, paging state.

Every deadline is a column, driven by the periodic tick; nothing waits in memory. The
unique keys are what make paging exactly-once when several processes tick together.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


def _incident_key() -> Mapped[int]:
    """A table keyed by its incident, whose rows go with it."""
    return mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)


class PageRow(Base):
    """One person paged for one role (a chain step) or by hand, in one incident."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    # The role key for automatic pages; "manual:<trigger>" for a page by hand. Steps of a
    # chain are unique: two processes escalating the same page cannot both insert step n+1.
    chain: Mapped[str] = mapped_column(String(120))
    step: Mapped[int] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))
    via: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    paged_by: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    paged_at: Mapped[datetime]
    ack_deadline: Mapped[datetime]
    acknowledged_by: Mapped[str | None] = mapped_column(String(40))
    acknowledged_at: Mapped[datetime | None]
    escalated_to: Mapped[str | None] = mapped_column(String(40))
    dm_channel: Mapped[str | None] = mapped_column(String(40))
    dm_ts: Mapped[str | None] = mapped_column(String(40))
    channel_ts: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        UniqueConstraint("incident_id", "chain", "step", name="uq_pages_incident_chain_step"),
        Index("ix_pages_status_deadline", "status", "ack_deadline"),
    )


class PagingStateRow(Base):
    """Which severity's roles an incident has been paged for: the tick pages the rest."""

    __tablename__ = "paging_state"

    incident_id: Mapped[int] = _incident_key()
    severity: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime]


class RoleAssignmentRow(Base):
    """Who holds a role for one incident (`/incident assign sme @carol`)."""

    __tablename__ = "role_assignments"

    incident_id: Mapped[int] = _incident_key()
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    person: Mapped[str] = mapped_column(String(40))
    assigned_by: Mapped[str] = mapped_column(String(40))
    assigned_at: Mapped[datetime]


class AbsenceRow(Base):
    """A member unavailable until a time (`/incident away until 17:00`)."""

    __tablename__ = "absences"

    person: Mapped[str] = mapped_column(String(40), primary_key=True)
    until: Mapped[datetime]
    set_at: Mapped[datetime]


class BreachRow(Base):
    """A response deadline passed without acknowledgement; one per incident (digest)."""

    __tablename__ = "response_breaches"

    incident_id: Mapped[int] = _incident_key()
    severity: Mapped[str] = mapped_column(String(40))
    deadline: Mapped[datetime]
    recorded_at: Mapped[datetime]

    __table_args__ = (Index("ix_response_breaches_recorded_at", "recorded_at"),)
