"""Typed SQLAlchemy models. The schema itself is owned by the Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger primary keys autoincrement on PostgreSQL; SQLite only does so for INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The modal (view id) or command that declared it: a retried submission finds this row.
    declare_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="incident")
    title: Mapped[str] = mapped_column(String(200))
    nature: Mapped[str] = mapped_column(Text)
    discovery: Mapped[str] = mapped_column(String(60))
    impact: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="")
    service: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    reporter_id: Mapped[str] = mapped_column(String(40))
    checklist: Mapped[dict[str, Any]] = mapped_column(default=dict)

    channel_status: Mapped[str] = mapped_column(String(20))
    channel_id: Mapped[str | None] = mapped_column(String(40))
    channel_name: Mapped[str | None] = mapped_column(String(80))
    channel_note: Mapped[str | None] = mapped_column(Text)
    report_ts: Mapped[str | None] = mapped_column(String(40))
    announcement_channel_id: Mapped[str | None] = mapped_column(String(40))
    announcement_ts: Mapped[str | None] = mapped_column(String(40))

    declared_at: Mapped[datetime]
    response_deadline: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    mitigated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_incidents_status_declared", "status", "declared_at"),
        Index("ix_incidents_channel_id", "channel_id"),
        Index("ix_incidents_declared_at", "declared_at"),
        Index("ix_incidents_resolved_at", "resolved_at"),
    )


class TimelineEntryRow(Base):
    """Append-only: entries are never updated; corrections are new entries."""

    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # A Slack event id, message ts or view id: the same capture never makes two entries.
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_timeline_incident_seq", "incident_id", "seq", unique=True),
        Index("ix_timeline_at", "at"),
    )


class OutboxRow(Base):
    """One Slack side effect, written in the same transaction as the fact behind it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(60))
    ordering_key: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set when an attempt starts and cleared when Slack gives a definite answer: after a
    # crash or a timeout the next attempt first looks for the message it may have posted.
    outcome_unknown: Mapped[bool] = mapped_column(default=False)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None]
    # New at every claim: what settles, renews or saves progress must still find it
    # (a worker whose lease ran out and was taken over changes nothing).
    claim_token: Mapped[str | None] = mapped_column(String(40))
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True
    )

    __table_args__ = (
        Index("ix_outbox_key_status_id", "ordering_key", "status", "id"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
    )


class SlackEventRow(Base):
    """Events API deliveries already handled (Slack retries them with X-Slack-Retry-Num)."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    received_at: Mapped[datetime]


class DeclareDraftRow(Base):
    """A declare form held while its reporter decides what to do with a failed checklist."""

    __tablename__ = "declare_drafts"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class DeclarationIntakeRow(Base):
    """A declare-modal submission acknowledged but not yet turned into an incident.

    The answer to Slack waits only for this one row; the incident, its timeline and its
    outbox rows are written right after, by the intake worker, which deletes the row in
    the transaction that declares (or finds) the incident."""

    __tablename__ = "declaration_intake"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    declare_key: Mapped[str] = mapped_column(String(120), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime]
    # A row whose declaring failed waits until `next_attempt_at` (back-off) and is moved
    # aside (`set_aside_at`) after FIREWATCH_INTAKE_MAX_ATTEMPTS tries: it then shows in
    # /health and `firewatch intake list`, and holds back no other row.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    set_aside_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_declaration_intake_due", "set_aside_at", "next_attempt_at", "id"),)


class CaptureRequestRow(Base):
    """A message to add to (or take off) an incident's timeline, stored before Slack is
    answered (a 📌 reaction, the "Add to incident timeline" shortcut); the capture worker
    fetches the message if needed and records the entry, deleting the row in that
    transaction. `state` "form": waiting for the person to choose the incident."""

    __tablename__ = "capture_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    action: Mapped[str] = mapped_column(String(12))
    via: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12))
    incident_id: Mapped[int | None] = mapped_column(BigInteger)  # no FK: "gone" is said
    channel_id: Mapped[str] = mapped_column(String(40))
    message_ts: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40))
    team_id: Mapped[str | None] = mapped_column(String(40))
    asked_in: Mapped[str | None] = mapped_column(String(40))
    text: Mapped[str | None] = mapped_column(Text)  # None: fetched from Slack
    author: Mapped[str | None] = mapped_column(String(40))
    permalink: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_capture_requests_state_next", "state", "next_attempt_at"),)


class ChangeRow(Base):
    """An emergency change (CHG) proposed to handle an incident (seed 003)."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    # The modal's view id: a resubmitted form finds this row.
    propose_key: Mapped[str] = mapped_column(String(120), unique=True)
    summary: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(Text)
    rollback_plan: Mapped[str] = mapped_column(Text)
    risk: Mapped[str] = mapped_column(Text)
    checklist: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20))
    proposed_by: Mapped[str] = mapped_column(String(40))
    proposed_at: Mapped[datetime]
    # Who did each step and when, by step name ("approved", "verified", …).
    steps: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message_channel_id: Mapped[str | None] = mapped_column(String(40))
    message_ts: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_changes_incident", "incident_id"),)


class SlackChannelNameRow(Base):
    """A configured `#name` (the broadcast channel, a role's channel) and the channel id
    Slack has for it, found once by paging conversations.list; while the search is under
    way, the cursor of the page it goes on from (a retry resumes there)."""

    __tablename__ = "slack_channel_names"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    channel_id: Mapped[str | None] = mapped_column(String(40))
    list_cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
