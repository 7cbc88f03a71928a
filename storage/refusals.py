"""Every refusal of an action, on an incident or not: who tried what, when, as what kind
of person. Refusals on an incident are on its timeline too; this table also holds the
ones that concern no incident (declaring, a component's state, maintenance), so that
each refusal is recorded somewhere an operator can read (`firewatch refusals`).

Purged with the timeline's retention (`retention.timeline_days`); a forgotten person's
id is replaced here as everywhere (storage/lifecycle_repository.py reads every table).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId
from storage.session import Repository


class RefusalRow(Base):
    __tablename__ = "refusals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(40))
    actor_kind: Mapped[str] = mapped_column(String(12))  # member, guest, external
    action: Mapped[str] = mapped_column(String(60))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True
    )

    __table_args__ = (Index("ix_refusals_at", "at"),)


class RefusalRepository(Repository):
    async def add(
        self, *, at: datetime, actor: str, actor_kind: str, action: str, incident_id: int | None
    ) -> None:
        self.session.add(
            RefusalRow(
                at=at, actor=actor, actor_kind=actor_kind, action=action, incident_id=incident_id
            )
        )
        await self.session.flush()

    async def recent(self, *, limit: int, since: datetime | None = None) -> Sequence[RefusalRow]:
        """The newest first."""
        stmt = select(RefusalRow).order_by(RefusalRow.at.desc(), RefusalRow.id.desc())
        if since is not None:
            stmt = stmt.where(RefusalRow.at >= since)
        return (await self.session.execute(stmt.limit(limit))).scalars().all()

    async def count_before(self, cutoff: datetime) -> int:
        stmt = select(func.count()).select_from(RefusalRow).where(RefusalRow.at < cutoff)
        return int((await self.session.execute(stmt)).scalar_one())

    async def delete_before(self, cutoff: datetime, *, limit: int) -> int:
        """At most `limit` of the oldest refusals before `cutoff`; how many went."""
        oldest = select(RefusalRow.id).where(RefusalRow.at < cutoff).order_by(RefusalRow.id)
        ids = (await self.session.execute(oldest.limit(limit))).scalars().all()
        if ids:
            await self.session.execute(delete(RefusalRow).where(RefusalRow.id.in_(ids)))
        return len(ids)
