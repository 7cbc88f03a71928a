"""Pages sent for alert groups: one row per person paged, a chain per (group, role).

The unique (group, chain, step) key is what makes paging from alerts exactly-once when
several processes tick together: two of them escalating the same page cannot both
insert the next step. Deadlines are a column the paging tick reads (status, deadline).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class AlertPageRow(Base):
    __tablename__ = "alert_pages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("alert_groups.id", ondelete="CASCADE"))
    chain: Mapped[str] = mapped_column(String(64))  # the role key
    step: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(40))
    via: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    paged_at: Mapped[datetime]
    ack_deadline: Mapped[datetime]
    acknowledged_by: Mapped[str | None] = mapped_column(String(40))
    acknowledged_at: Mapped[datetime | None]
    escalated_to: Mapped[str | None] = mapped_column(String(40))
    dm_channel: Mapped[str | None] = mapped_column(String(40))
    dm_ts: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        UniqueConstraint("group_id", "chain", "step", name="uq_alert_pages_group_chain_step"),
        Index("ix_alert_pages_status_deadline", "status", "ack_deadline"),
    )
