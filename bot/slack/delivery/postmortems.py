"""Outbox handlers for post-mortem requests, reviews, final reports and channel archiving."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.domain.incident import Incident
from bot.services import effects
from bot.services.changes import ChangeService
from bot.services.outbox_worker import EffectHandler, OutboxItem
from bot.services.postmortems import Postmortem, PostmortemService
from bot.slack import messages
from bot.slack.blocks import postmortems as postmortem_blocks
from bot.slack.blocks.common import policy_zone
from bot.slack.delivery.handler import Handler
from bot.slack.delivery.incidents import IncidentEffects, channel_or_thread
from bot.slack.delivery.live_channel import add_bookmarks, permalink
from bot.slack.delivery.web_api import call, tolerating

# Why a review or final report waits: the incident has nowhere to post yet.
NOWHERE_YET = "no channel or announcement to post in"
# A message to a post-mortem's owner, built from the incident and the post-mortem.
ToOwner = Callable[[Incident, Postmortem, str], tuple[str, list[dict[str, Any]]]]


@dataclass
class PostmortemEffects:
    """Builds the outbox handlers of the post-mortem and of closing the incident channel."""

    base: IncidentEffects
    postmortems: PostmortemService
    changes: ChangeService

    def handlers(self) -> dict[str, EffectHandler]:
        return {
            effects.POSTMORTEM_REQUEST: Handler(self.request),
            effects.POSTMORTEM_REVIEW: Handler(self.review),
            effects.POSTMORTEM_CHANGES: Handler(self.changes_requested),
            effects.POSTMORTEM_FINAL: Handler(self.final_report),
            effects.ARCHIVE_CHANNEL: Handler(self.archive),
        }

    async def request(self, item: OutboxItem) -> dict[str, Any]:
        return await self._to_owner(item, postmortem_blocks.request_message)

    async def review(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        pm = await self.postmortems.get(item.payload["postmortem_id"])
        text, body = postmortem_blocks.review_message(incident, pm, self.base.policy())
        channel, thread = channel_or_thread(incident, NOWHERE_YET)
        ts, channel, _ = await self.base.post(item, channel, text, body, thread_ts=thread)
        return {"channel": channel, "ts": ts}

    async def changes_requested(self, item: OutboxItem) -> dict[str, Any]:
        return await self._to_owner(item, postmortem_blocks.changes_requested)

    async def _to_owner(self, item: OutboxItem, render: ToOwner) -> dict[str, Any]:
        """A DM to the post-mortem's owner, rendered from the record as it is now."""
        incident = await self.base.incidents.get(item.payload["incident_id"])
        pm = await self.postmortems.get(item.payload["postmortem_id"])
        text, body = render(incident, pm, policy_zone(self.base.policy()))
        ts, channel, _ = await self.base.post(item, pm.owner_id, text, body)
        return {"channel": channel, "ts": ts}

    async def final_report(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        pm = await self.postmortems.get(item.payload["postmortem_id"])
        facts = await self.postmortems.facts(
            incident.id, await self.changes.for_incident(incident.id)
        )
        text, body = postmortem_blocks.final_report(incident, pm, facts, self.base.policy())
        channel, thread = channel_or_thread(incident, NOWHERE_YET)
        ts, channel, _ = await self.base.post(item, channel, text, body, thread_ts=thread)
        if channel == incident.channel_id:
            await self._bookmark(channel, ts)
        return {"channel": channel, "ts": ts}

    async def _bookmark(self, channel: str, ts: str) -> None:
        """The approved post-mortem bookmarked in the incident's channel (once)."""
        client = self.base.client

        async def link() -> str:
            return await permalink(client, channel, ts)

        await add_bookmarks(client, channel, [(messages.BOOKMARK_POSTMORTEM, link)])

    async def archive(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        if not incident.channel_id:
            return {"skipped": "no channel"}
        with tolerating("already_archived"):
            await call(self.base.client, "conversations.archive", channel=incident.channel_id)
        return {"archived": incident.channel_id}
