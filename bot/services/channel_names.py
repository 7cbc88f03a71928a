"""Configured `#name` channels: the id Slack has for each, found once and kept.

The Slack delivery layer pages conversations.list to find a name; this keeps what it
found, and until then how far it got, in the database (`slack_channel_names`), so that
neither a retry nor a restart nor another replica pages from the start again.
"""

from __future__ import annotations

from bot.domain.clock import Clock
from storage.channel_names import ChannelNameRepository
from storage.engine import Database


class ChannelNameService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def find(self, name: str) -> tuple[str | None, str | None]:
        """(the channel id found for `name`, the cursor its search goes on from); (None,
        None) for a name never looked up."""
        async with self.db.session(write=False) as session:
            known = await ChannelNameRepository(session).find(name)
        return (known.channel_id, known.list_cursor) if known else (None, None)

    async def found(self, name: str, channel_id: str) -> None:
        await self._save(name, channel_id=channel_id, list_cursor=None)

    async def searched_to(self, name: str, list_cursor: str | None) -> None:
        """The search for `name` goes on from `list_cursor` (None: from the first page)."""
        await self._save(name, channel_id=None, list_cursor=list_cursor)

    async def forget(self, name: str) -> None:
        async with self.db.session() as session:
            await ChannelNameRepository(session).forget(name)

    async def _save(self, name: str, *, channel_id: str | None, list_cursor: str | None) -> None:
        async with self.db.session() as session:
            await ChannelNameRepository(session).save(
                name, channel_id=channel_id, list_cursor=list_cursor, now=self.clock.now()
            )
