"""Queries for post-mortems and their action items."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.paging_models import PageRow
from storage.postmortem_models import ActionItemRow, PostmortemRow


class PostmortemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_incident(
        self, incident_id: int, *, for_update: bool = False
    ) -> PostmortemRow | None:
        stmt = select(PostmortemRow).where(PostmortemRow.incident_id == incident_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get(self, postmortem_id: int, *, for_update: bool = False) -> PostmortemRow | None:
        stmt = select(PostmortemRow).where(PostmortemRow.id == postmortem_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def items(self, postmortem_id: int) -> Sequence[ActionItemRow]:
        stmt = (
            select(ActionItemRow)
            .where(ActionItemRow.postmortem_id == postmortem_id)
            .order_by(ActionItemRow.id)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def replace_open_items(self, postmortem_id: int, items: list[ActionItemRow]) -> None:
        """A re-saved post-mortem's action items replace the open ones; done ones stay."""
        await self.session.execute(
            delete(ActionItemRow)
            .where(ActionItemRow.postmortem_id == postmortem_id)
            .where(ActionItemRow.status == "open")
        )
        self.session.add_all(items)
        await self.session.flush()

    async def item(self, item_id: int, *, for_update: bool = False) -> ActionItemRow | None:
        stmt = select(ActionItemRow).where(ActionItemRow.id == item_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def open_items(
        self, *, owner: str | None = None, due_before: date | None = None, limit: int = 200
    ) -> Sequence[ActionItemRow]:
        stmt = select(ActionItemRow).where(ActionItemRow.status == "open")
        if owner is not None:
            stmt = stmt.where(ActionItemRow.owner_id == owner)
        if due_before is not None:
            stmt = stmt.where(ActionItemRow.due_on < due_before)
        return (
            (
                await self.session.execute(
                    stmt.order_by(ActionItemRow.due_on, ActionItemRow.id).limit(limit)
                )
            )
            .scalars()
            .all()
        )

    async def page_counts(self, incident_id: int) -> tuple[int, int]:
        """(pages sent, of which escalations) for an incident."""
        total, escalations = (
            await self.session.execute(
                select(
                    func.count(PageRow.id), func.count(PageRow.id).filter(PageRow.step > 0)
                ).where(PageRow.incident_id == incident_id)
            )
        ).one()
        return int(total or 0), int(escalations or 0)
