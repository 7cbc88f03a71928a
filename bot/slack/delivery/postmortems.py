"""Outbox handlers for post-mortem requests, reviews, final reports and channel archiving."""

from __future__ import annotations

from typing import Any

from bot.services import effects
from bot.services.changes import ChangeService
from bot.services.outbox_worker import EffectHandler, NotReady, OutboxItem, PermanentFailure
from bot.services.postmortems import PostmortemService
from bot.slack.blocks import postmortems as postmortem_blocks
from bot.slack.delivery.incidents import Handler, SlackEffects, call, slack_error


class PostmortemEffects:
    def __init__(
        self, base: SlackEffects, postmortems: PostmortemService, changes: ChangeService
    ) -> None:
        self.base = base
        self.postmortems = postmortems
        self.changes = changes

    def handlers(self) -> dict[str, EffectHandler]:
        return {
            effects.POSTMORTEM_REQUEST: Handler(self.request),
            effects.POSTMORTEM_REVIEW: Handler(self.review),
            effects.POSTMORTEM_CHANGES: Handler(self.changes_requested),
            effects.POSTMORTEM_FINAL: Handler(self.final_report),
            effects.ARCHIVE_CHANNEL: Handler(self.archive),
        }

    async def _where(self, incident_id: int) -> tuple[str, str | None]:
        """The incident channel, or else the announcement's thread."""
        incident = await self.base.incidents.get(incident_id)
        if incident.channel_id:
            return incident.channel_id, None
        if incident.announcement_channel_id and incident.announcement_ts:
            return incident.announcement_channel_id, incident.announcement_ts
        raise NotReady("no channel or announcement to post in")

    async def request(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        pm = await self.postmortems.get(item.payload["postmortem_id"])
        text, body = postmortem_blocks.request_message(incident, pm)
        ts, channel = await self.base.post_with_channel(item, pm.owner_id, text, body)
        return {"channel": channel, "ts": ts}

    async def review(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        pm = await self.postmortems.get(item.payload["postmortem_id"])
        text, body = postmortem_blocks.review_message(incident, pm, self.base.policy())
        channel, thread = await self._where(incident.id)
        ts, channel = await self.base.post_with_channel(item, channel, text, body, thread_ts=thread)
        return {"channel": channel, "ts": ts}

    async def changes_requested(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        pm = await self.postmortems.get(item.payload["postmortem_id"])
        note = f": {pm.decision_note}" if pm.decision_note else "."
        text = f"<@{pm.decided_by}> asked for changes to the post-mortem of {incident.ref}{note}"
        _, body = postmortem_blocks.request_message(incident, pm)
        ts, channel = await self.base.post_with_channel(item, pm.owner_id, text, body[-1:])
        return {"channel": channel, "ts": ts}

    async def final_report(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        pm = await self.postmortems.get(item.payload["postmortem_id"])
        facts = await self.postmortems.facts(
            incident.id, await self.changes.for_incident(incident.id)
        )
        text, body = postmortem_blocks.final_report(incident, pm, facts, self.base.policy())
        channel, thread = await self._where(incident.id)
        ts, channel = await self.base.post_with_channel(item, channel, text, body, thread_ts=thread)
        return {"channel": channel, "ts": ts}

    async def archive(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        if not incident.channel_id:
            return {"skipped": "no channel"}
        try:
            await call(self.base.client, "conversations.archive", channel=incident.channel_id)
        except PermanentFailure as exc:
            if slack_error(exc) != "already_archived":
                raise
        return {"archived": incident.channel_id}
