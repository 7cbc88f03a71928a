"""Alert page queries: pages of a group's chains, due deadlines, status transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.domain.alert_pages import UNACKNOWLEDGED, AlertPage, AlertPageStatus
from bot.domain.alerts import RESOLVED
from storage.alert_models import AlertGroupRow
from storage.alert_page_models import AlertPageRow
from storage.rows import from_row
from storage.session import Repository

_pages = cast(Table, AlertPageRow.__table__)


def _page(row: Any) -> AlertPage:
    return from_row(AlertPage, row, status=AlertPageStatus(row.status))


class AlertPageRepository(Repository):
    async def add(self, **values: Any) -> AlertPage | None:
        """Store a page (`values`: its columns); None if its (group, chain, step) exists
        already (another process paged that step first)."""
        conn = await self.session.connection()
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = (
            insert(_pages)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["group_id", "chain", "step"])
            .returning(_pages.c.id)
        )
        page_id = (await self.session.execute(stmt)).scalar_one_or_none()
        return None if page_id is None else await self.page(int(page_id))

    async def page(self, page_id: int) -> AlertPage | None:
        """The page as stored now (re-read, not as this transaction first saw it)."""
        row = await self.session.get(AlertPageRow, page_id, populate_existing=True)
        return _page(row) if row is not None else None

    async def pages(self, group_id: int, chain: str | None = None) -> list[AlertPage]:
        stmt = select(AlertPageRow).where(AlertPageRow.group_id == group_id)
        if chain is not None:
            stmt = stmt.where(AlertPageRow.chain == chain)
        stmt = stmt.order_by(AlertPageRow.id).execution_options(populate_existing=True)
        return [_page(r) for r in (await self.session.execute(stmt)).scalars()]

    async def chains(self, group_id: int) -> set[str]:
        stmt = select(AlertPageRow.chain).where(AlertPageRow.group_id == group_id).distinct()
        return set((await self.session.execute(stmt)).scalars())

    async def due(self, now: datetime, limit: int = 100) -> list[tuple[int, int]]:
        """(page id, group id) of pages still waiting whose deadline passed, or whose
        group resolved (to be closed without waiting for the deadline)."""
        stmt = (
            select(AlertPageRow.id, AlertPageRow.group_id)
            .join(AlertGroupRow, AlertGroupRow.id == AlertPageRow.group_id)
            .where(AlertPageRow.status == AlertPageStatus.WAITING.value)
            .where(or_(AlertPageRow.ack_deadline <= now, AlertGroupRow.status == RESOLVED))
            .order_by(AlertPageRow.ack_deadline, AlertPageRow.id)
            .limit(limit)
        )
        return [(int(a), int(b)) for a, b in (await self.session.execute(stmt)).all()]

    async def transition(
        self, page_id: int, old: AlertPageStatus, new: AlertPageStatus, **values: Any
    ) -> bool:
        """Move a page from `old` to `new` only if it is still `old`: the claim that lets
        exactly one process act on a deadline."""
        result = await self.session.execute(
            update(AlertPageRow)
            .where(AlertPageRow.id == page_id, AlertPageRow.status == old.value)
            .values(status=new.value, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def acknowledge_all(self, group_id: int, user: str, now: datetime) -> list[AlertPage]:
        """Every unacknowledged page of the group marked acknowledged by `user` at `now`;
        the pages changed, as they are now."""
        waiting = [p for p in await self.pages(group_id) if p.status in UNACKNOWLEDGED]
        if not waiting:
            return []
        await self.session.execute(
            update(AlertPageRow)
            .where(
                AlertPageRow.id.in_([p.id for p in waiting]),
                AlertPageRow.status.in_([s.value for s in UNACKNOWLEDGED]),
            )
            .values(
                status=AlertPageStatus.ACKNOWLEDGED.value,
                acknowledged_by=user,
                acknowledged_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        changed = [await self.page(p.id) for p in waiting]
        return [p for p in changed if p is not None]

    async def dm_posted(self, page_id: int, channel: str, ts: str) -> None:
        await self.session.execute(
            update(AlertPageRow)
            .where(AlertPageRow.id == page_id)
            .values(dm_channel=channel, dm_ts=ts)
            .execution_options(synchronize_session=False)
        )
