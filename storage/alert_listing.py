"""The operator's listing of alert groups (`firewatch alerts list`): read-only."""

from __future__ import annotations

from sqlalchemy import select

from bot.domain.alerts import FIRING, AlertGroup
from storage.alert_card_queries import group_from_row
from storage.alert_models import AlertGroupRow
from storage.session import Repository


class AlertListing(Repository):
    async def recent_groups(
        self, *, firing_only: bool = False, limit: int = 50
    ) -> list[AlertGroup]:
        """The groups last seen most recently, newest first."""
        stmt = select(AlertGroupRow)
        if firing_only:
            stmt = stmt.where(AlertGroupRow.status == FIRING)
        stmt = stmt.order_by(AlertGroupRow.last_seen_at.desc(), AlertGroupRow.id.desc())
        rows = (await self.session.execute(stmt.limit(limit))).scalars()
        return [group_from_row(row) for row in rows]
