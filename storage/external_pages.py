"""What an incident's timeline says of its pages outside Slack: the page entries (where
each trigger went) and the entries recording the resolves queued for them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from bot.domain.timeline import TimelineEntry
from storage.models import TimelineEntryRow
from storage.repositories import entry_from_row
from storage.session import Repository


class ExternalPageLog(Repository):
    async def entries(self, incident_id: int, kinds: Sequence[str]) -> list[TimelineEntry]:
        """The incident's timeline entries of these kinds, oldest first."""
        rows = (
            await self.session.execute(
                select(TimelineEntryRow)
                .where(
                    TimelineEntryRow.incident_id == incident_id,
                    TimelineEntryRow.kind.in_(list(kinds)),
                )
                .order_by(TimelineEntryRow.seq)
            )
        ).scalars()
        return [entry_from_row(r) for r in rows]
