"""Post-mortems, their action items, and the weekly meeting's scheduled runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class PostmortemRow(Base):
    """One per incident: requested at resolution, drafted, submitted, approved."""

    __tablename__ = "postmortems"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[str] = mapped_column(String(40))
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime]
    resolution_summary: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    impact: Mapped[str] = mapped_column(Text, default="")
    # Seed 003's assessments: {question key: {"answer": "yes"|"no", "note": str}}.
    assessments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    submitted_by: Mapped[str | None] = mapped_column(String(40))
    submitted_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_postmortems_status_due", "status", "due_at"),)


class ActionItemRow(Base):
    """A follow-up recommendation of a post-mortem, tracked until done."""

    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    postmortem_id: Mapped[int] = mapped_column(ForeignKey("postmortems.id", ondelete="CASCADE"))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[str] = mapped_column(String(40))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="open")
    done_by: Mapped[str | None] = mapped_column(String(40))
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_action_items_status_due", "status", "due_on"),
        Index("ix_action_items_owner", "owner_id", "status"),
    )


class JobRunRow(Base):
    """A scheduled job's run for one scheduled time: the unique key makes it happen once,
    whichever process or restart gets there first."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(60))
    scheduled_for: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(12))  # ran | late | missed
    ran_at: Mapped[datetime]
    claimed_by: Mapped[str] = mapped_column(String(80))

    __table_args__ = (UniqueConstraint("job", "scheduled_for", name="uq_job_runs_job_scheduled"),)


class MeetingAnswerRow(Base):
    """The weekly meeting's agenda questions ticked for a post-mortem."""

    __tablename__ = "meeting_answers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    meeting: Mapped[str] = mapped_column(String(40))  # the digest's scheduled time, ISO
    postmortem_id: Mapped[int] = mapped_column(ForeignKey("postmortems.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(64))
    checked: Mapped[bool] = mapped_column(default=False)
    answered_by: Mapped[str] = mapped_column(String(40))
    answered_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("meeting", "postmortem_id", "question", name="uq_meeting_answers_key"),
    )
