"""Outbox handlers of the live incident channel (issue 23): its topic kept current, its
bookmarks added once, and the notice that it will be archived.

Slack is the record of what the channel shows: the topic is set only when
`conversations.info` says it differs (an unchanged incident costs no write), and a
bookmark is added only when `bookmarks.list` has none of its title, so a retry after a
lost answer adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.incident import Incident, with_suffix
from bot.services import effects
from bot.services.outbox_worker import EffectHandler, OutboxItem, PermanentFailure
from bot.services.paging import PagingService
from bot.services.retitle import Retitling
from bot.slack import messages
from bot.slack.blocks import live_channel as blocks
from bot.slack.delivery.handler import Handler
from bot.slack.delivery.incidents import MAX_NAME_ATTEMPTS, IncidentEffects
from bot.slack.delivery.web_api import call, slack_error

# A bookmark's link, computed only when the channel lacks the bookmark.
Link = Callable[[], Awaitable[str | None]]


async def permalink(client: AsyncWebClient, channel: str, ts: str) -> str:
    data = await call(client, "chat.getPermalink", channel=channel, message_ts=ts)
    return str(data["permalink"])


async def add_bookmarks(
    client: AsyncWebClient, channel: str, wanted: list[tuple[str, Link]]
) -> list[str]:
    """Add each (title, link) the channel has no bookmark of that title for; the titles
    added. A link that turns out to be None is left out."""
    if not wanted:
        return []
    listed = await call(client, "bookmarks.list", channel_id=channel)
    have = {str(b.get("title")) for b in listed.get("bookmarks", [])}
    added: list[str] = []
    for title, link in wanted:
        if title in have:
            continue
        url = await link()
        if url is None:
            continue
        await call(client, "bookmarks.add", channel_id=channel, title=title, type="link", link=url)
        added.append(title)
    return added


@dataclass
class LiveChannelEffects:
    """Builds the handlers that keep an incident's channel showing its state."""

    base: IncidentEffects
    paging: PagingService
    retitling: Retitling

    def handlers(self) -> dict[str, EffectHandler]:
        return {
            effects.SYNC_CHANNEL: Handler(self.sync),
            effects.ARCHIVE_NOTICE: Handler(self.archive_notice),
            effects.RENAME_CHANNEL: Handler(self.rename),
        }

    async def lead(self, incident_id: int) -> str | None:
        """Who leads the incident now: the person assigned the lead role in it, else the
        roster's acting holder."""
        role = blocks.lead_role(self.base.policy())
        if role is None:
            return None
        assigned = (await self.paging.assignments(incident_id)).get(role)
        if assigned:
            return assigned
        holders = sorted(await self.paging.holders(role, incident_id))
        return holders[0] if holders else None

    async def sync(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.with_channel(item)
        assert incident.channel_id is not None
        client, channel = self.base.client, incident.channel_id
        topic = blocks.channel_topic(incident, self.base.policy(), await self.lead(incident.id))
        info = await call(client, "conversations.info", channel=channel)
        if info.get("channel", {}).get("is_archived"):
            return {"skipped": "archived"}  # an archived channel's topic is history
        current = (info.get("channel", {}).get("topic") or {}).get("value", "")
        changed = current != topic
        if changed:
            await call(client, "conversations.setTopic", channel=channel, topic=topic)
        added = await add_bookmarks(client, channel, self._bookmarks(incident))
        return {"topic": topic, "topic_set": changed, "bookmarked": added}

    def _bookmarks(self, incident: Incident) -> list[tuple[str, Link]]:
        client, channel = self.base.client, incident.channel_id
        assert channel is not None
        wanted: list[tuple[str, Link]] = []
        report_ts = incident.report_ts
        if report_ts:

            async def report() -> str:
                return await permalink(client, channel, report_ts)

            wanted.append((messages.BOOKMARK_REPORT, report))
        alert = blocks.alert_link(incident.evidence)
        if alert:

            async def source() -> str:
                return alert

            wanted.append((messages.BOOKMARK_ALERT, source))
        return wanted

    async def archive_notice(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.with_channel(item)
        assert incident.channel_id is not None
        text, body = blocks.archive_notice(int(item.payload["days"]))
        ts, channel, _ = await self.base.post(item, incident.channel_id, text, body)
        return {"channel": channel, "ts": ts}

    async def rename(self, item: OutboxItem) -> dict[str, Any]:
        """The channel renamed after the title, with the rules and the collisions of its
        creation (`inc-42-db`, else `inc-42-db-2` …). The name it has now is read first:
        a retry after a rename whose answer was lost finds it done."""
        incident = await self.base.with_channel(item)
        assert incident.channel_id is not None
        client, channel = self.base.client, incident.channel_id
        base = str(item.payload["name"])
        names = [with_suffix(base, attempt) for attempt in range(1, MAX_NAME_ATTEMPTS + 1)]
        info = await call(client, "conversations.info", channel=channel)
        current = str(info.get("channel", {}).get("name", ""))
        if current in names:
            await self.retitling.channel_renamed(incident.id, current)
            return {"name": current}
        for name in names:
            try:
                await call(client, "conversations.rename", channel=channel, name=name)
            except PermanentFailure as exc:
                if slack_error(exc) == "name_taken":
                    continue
                raise
            await self.retitling.channel_renamed(incident.id, name)
            return {"name": name, "was": current}
        raise PermanentFailure(
            f"conversations.rename: no free name after {MAX_NAME_ATTEMPTS} tries"
        )
