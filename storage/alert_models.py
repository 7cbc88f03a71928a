"""Alert tables: alert groups (one card each), alerts (one firing each), silences and the
storm cards that count groups beyond a channel's bound.

The unique keys make intake idempotent: a group is (source, hash of its group key), an
alert is (source, fingerprint, starts_at) — a monitor's resend of the same firing finds
its row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class AlertGroupRow(Base):
    __tablename__ = "alert_groups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))
    group_hash: Mapped[str] = mapped_column(String(64))
    group_key: Mapped[str] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(40))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    firing: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    resent_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    storm_id: Mapped[int | None] = mapped_column(ForeignKey("alert_storms.id"))
    # The card: set once posted; `card_queued` while an update waits in the outbox, so a
    # burst of changes is told once (the delivery clears it before it reads the group).
    card_channel_id: Mapped[str | None] = mapped_column(String(40))
    card_ts: Mapped[str | None] = mapped_column(String(40))
    card_queued: Mapped[bool] = mapped_column(Boolean, default=False)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    acknowledged_by: Mapped[str | None] = mapped_column(String(40))
    acknowledged_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("source", "group_hash", name="uq_alert_groups_source_hash"),
        Index("ix_alert_groups_channel_first_seen", "channel", "first_seen_at"),
        Index("ix_alert_groups_incident", "incident_id"),
    )


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("alert_groups.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20))
    fingerprint: Mapped[str] = mapped_column(String(128))
    starts_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12))
    ends_at: Mapped[datetime | None]
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    links: Mapped[dict[str, Any]] = mapped_column(default=dict)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    received: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        UniqueConstraint("source", "fingerprint", "starts_at", name="uq_alerts_firing"),
        Index("ix_alerts_group_status", "group_id", "status"),
    )


class AlertSilenceRow(Base):
    """A fingerprint muted in Firewatch until a time (never written to Alertmanager)."""

    __tablename__ = "alert_silences"

    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(128), primary_key=True)
    until: Mapped[datetime]
    silenced_by: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    silenced_at: Mapped[datetime]


class AlertStormRow(Base):
    """One channel's storm card: the groups beyond its per-minute bound, counted."""

    __tablename__ = "alert_storms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(80))
    opened_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    card_channel_id: Mapped[str | None] = mapped_column(String(40))
    card_ts: Mapped[str | None] = mapped_column(String(40))
    card_queued: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_alert_storms_channel_last_seen", "channel", "last_seen_at"),)
