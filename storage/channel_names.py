"""Configured `#name` channels and the ids Slack has for them (slack_channel_names).

A name is resolved by paging conversations.list, which in a large workspace takes many
calls and meets rate limits: the id is kept once found, and until then the cursor of
the page the search goes on from, so that a retry, or another process, resumes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from storage.models import SlackChannelNameRow
from storage.session import Repository


@dataclass(frozen=True)
class ChannelName:
    """What is known of a `#name`: its channel id once found, else where its search
    goes on (None: from the first page)."""

    name: str
    channel_id: str | None
    list_cursor: str | None


class ChannelNameRepository(Repository):
    async def find(self, name: str) -> ChannelName | None:
        row = await self.session.get(SlackChannelNameRow, name)
        if row is None:
            return None
        return ChannelName(row.name, row.channel_id, row.list_cursor)

    async def save(
        self, name: str, *, channel_id: str | None, list_cursor: str | None, now: datetime
    ) -> None:
        """Store the id found for `name`, or the cursor its search goes on from (one of the
        two; a replica that stored first is overwritten: both read Slack's answer)."""
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        values = {"channel_id": channel_id, "list_cursor": list_cursor, "updated_at": now}
        stmt = insert(SlackChannelNameRow).values(name=name, **values)
        await self.session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))

    async def forget(self, name: str) -> None:
        """The id no longer names the channel (renamed, archived, deleted): search again."""
        await self.session.execute(
            delete(SlackChannelNameRow).where(SlackChannelNameRow.name == name)
        )
