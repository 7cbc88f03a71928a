"""The outbox as operators and health checks see it: listing, counts, a dead row queued
again, leases freed at start, an ordering key's queue cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select, update

from storage.models import OutboxRow
from storage.outbox_table import CANCELLED, DEAD, PENDING, OutboxQueries


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    dead: int
    oldest_pending: datetime | None


class OutboxAdminQueries(OutboxQueries):
    async def get(self, row_id: int) -> OutboxRow | None:
        return await self.session.get(OutboxRow, row_id, populate_existing=True)

    async def cancel_pending(self, ordering_key: str, *, reason: str) -> int:
        result = await self.session.execute(
            update(OutboxRow)
            .where(and_(OutboxRow.ordering_key == ordering_key, OutboxRow.status == PENDING))
            .values(
                status=CANCELLED,
                last_error=reason,
                claimed_by=None,
                claimed_until=None,
                claim_token=None,  # a worker still delivering one settles nothing
            )
        )
        return int(getattr(result, "rowcount", 0))

    async def release_leases(self, *, worker_prefix: str | None = None) -> int:
        """Free leases left by a process that died (SQLite: only one process delivers)."""
        stmt = (
            update(OutboxRow)
            .where(OutboxRow.status == PENDING)
            .where(OutboxRow.claimed_by.is_not(None))
        )
        if worker_prefix is not None:
            stmt = stmt.where(OutboxRow.claimed_by.startswith(worker_prefix))
        freed = stmt.values(claimed_by=None, claimed_until=None, claim_token=None)
        result = await self.session.execute(freed)
        return int(getattr(result, "rowcount", 0))

    async def requeue(self, row_id: int, *, now: datetime) -> bool:
        result = await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .where(OutboxRow.status.in_([DEAD, CANCELLED]))
            .values(status=PENDING, attempts=0, next_attempt_at=now, last_error=None)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def waiting(self, kind: str, ordering_key: str) -> list[tuple[int, dict[str, Any]]]:
        """The rows of `kind` on `ordering_key` not yet delivered (id, payload), oldest first."""
        rows = await self.session.execute(
            select(OutboxRow.id, OutboxRow.payload)
            .where(OutboxRow.ordering_key == ordering_key)
            .where(OutboxRow.status == PENDING)
            .where(OutboxRow.kind == kind)
            .order_by(OutboxRow.id)
        )
        return [(int(i), dict(p)) for i, p in rows.all()]

    async def listing(self, status: str | None = None, limit: int = 100) -> Sequence[OutboxRow]:
        stmt = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(OutboxRow.status == status)
        return (await self.session.execute(stmt)).scalars().all()

    async def stats(self) -> OutboxStats:
        pending, oldest = (
            await self.session.execute(
                select(func.count(OutboxRow.id), func.min(OutboxRow.created_at)).where(
                    OutboxRow.status == PENDING
                )
            )
        ).one()
        dead = (
            await self.session.execute(
                select(func.count(OutboxRow.id)).where(OutboxRow.status == DEAD)
            )
        ).scalar_one()
        oldest_dt = oldest
        if isinstance(oldest_dt, str):  # func.min bypasses the column type on SQLite
            oldest_dt = datetime.fromisoformat(oldest_dt)
        if oldest_dt is not None and oldest_dt.tzinfo is None:
            oldest_dt = oldest_dt.replace(tzinfo=UTC)
        return OutboxStats(pending=int(pending), dead=int(dead), oldest_pending=oldest_dt)
