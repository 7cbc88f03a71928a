"""A configured `#name` (the broadcast channel, a role's channel) as a channel id.

Slack has no lookup by name: the name is found by paging conversations.list, a few
hundred channels a page and rate limited (Tier 2). In a workspace of thousands of
channels that is dozens of calls, and a 429 half-way used to start the search over on
the next attempt. So the search keeps its place: the id once found, and until then the
cursor of the page it goes on from, are stored (`ChannelNameService`); a rate-limited
page is retried after Retry-After from where it stopped, and a retry that got further
than the last one does not count as a failed attempt.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import Clock
from bot.services.outbox_worker import PermanentFailure, RetryLater
from bot.slack.delivery.web_api import call, slack_error

PAGE_SIZE = 200  # Slack's recommended page size for conversations.list


class ChannelNameStore(Protocol):
    """Where a name's search stands (ChannelNameService)."""

    async def find(self, name: str) -> tuple[str | None, str | None]: ...
    async def found(self, name: str, channel_id: str) -> None: ...
    async def searched_to(self, name: str, list_cursor: str | None) -> None: ...
    async def forget(self, name: str) -> None: ...


class ChannelNames:
    """Resolves `#name`s once (SlackPoster.resolve_channel caches the answer per process;
    the store keeps it across processes)."""

    def __init__(self, client: AsyncWebClient, store: ChannelNameStore, clock: Clock) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        # One search per name at a time in this process (the broadcast channel's rows and
        # a page for it would otherwise page side by side), and none before the end of
        # the Retry-After Slack gave the last one.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._not_before: dict[str, datetime] = {}

    async def channel_id(self, name: str) -> str:
        """The id of the unarchived public channel called `name` (without `#`), which the
        bot has joined. PermanentFailure when there is none; RetryLater to go on later."""
        async with self._locks[name]:
            return await self._resolve(name)

    async def _resolve(self, name: str) -> str:
        known, cursor = await self.store.find(name)
        if known is not None:
            if await self._still_named(known, name):
                return known
            await self.store.forget(name)  # renamed, archived or deleted: search again
            cursor = None
        wait = (self._not_before.get(name, self.clock.now()) - self.clock.now()).total_seconds()
        if wait > 0:
            raise RetryLater(
                f"conversations.list: rate limited (#{name})", retry_after=wait, counts=False
            )
        try:
            match = await self._search(name, cursor)
        except RetryLater as exc:
            if exc.retry_after:
                self._not_before[name] = self.clock.now() + timedelta(seconds=exc.retry_after)
            raise
        if match is None:
            raise PermanentFailure(f"conversations.list: channel_not_found (#{name})")
        channel_id = str(match["id"])
        if not match.get("is_member"):
            await call(self.client, "conversations.join", channel=channel_id)
        await self.store.found(name, channel_id)
        return channel_id

    async def _still_named(self, channel_id: str, name: str) -> bool:
        """Whether the stored id is still the public channel `name` (joined if need be)."""
        try:
            info = (await call(self.client, "conversations.info", channel=channel_id))["channel"]
        except PermanentFailure as exc:
            if slack_error(exc) == "channel_not_found":
                return False
            raise
        if info.get("name") != name or info.get("is_archived"):
            return False
        if not info.get("is_member"):
            await call(self.client, "conversations.join", channel=channel_id)
        return True

    async def _search(self, name: str, cursor: str | None) -> dict[str, Any] | None:
        """Page conversations.list from `cursor` until `name` turns up. When a page fails,
        the cursor reached is stored before the failure goes on to the outbox worker."""
        start = cursor
        try:
            while True:
                data = await self._page(cursor)
                channels: list[dict[str, Any]] = data.get("channels", [])
                match = next((c for c in channels if c.get("name") == name), None)
                if match is not None:
                    return match
                cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
                if cursor is None:
                    if start is not None:
                        await self.store.searched_to(name, None)  # next time from the start
                    return None
        except RetryLater as exc:
            if cursor == start:
                raise
            await self.store.searched_to(name, cursor)
            # Pages were read this time: waiting (Retry-After) is progress, not a failure.
            raise RetryLater(
                exc.reason,
                retry_after=exc.retry_after,
                outcome_unknown=exc.outcome_unknown,
                counts=False,
            ) from None
        except PermanentFailure:
            if cursor != start:
                await self.store.searched_to(name, cursor)
            raise

    async def _page(self, cursor: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {
            "limit": PAGE_SIZE,
            "exclude_archived": True,
            "types": "public_channel",
        }
        if cursor is None:
            return await call(self.client, "conversations.list", **args)
        try:
            return await call(self.client, "conversations.list", cursor=cursor, **args)
        except PermanentFailure as exc:
            if slack_error(exc) != "invalid_cursor":
                raise
        # A stored cursor Slack no longer takes (they expire): from the first page.
        return await call(self.client, "conversations.list", **args)
