"""Outbox handlers for status broadcasts and emergency-change messages."""

from __future__ import annotations

from typing import Any

from bot.services import effects
from bot.services.changes import ChangeService
from bot.services.outbox_worker import EffectHandler, NotReady, OutboxItem, PermanentFailure
from bot.slack.blocks import timeline as timeline_blocks
from bot.slack.delivery.incidents import Handler, SlackEffects, call, slack_error, update_message


class TimelineEffects:
    def __init__(self, base: SlackEffects, changes: ChangeService) -> None:
        self.base = base
        self.changes = changes

    def handlers(self) -> dict[str, EffectHandler]:
        return {
            effects.STATUS_BROADCAST: Handler(self.status_broadcast),
            effects.POST_CHANGE: Handler(self.post_change),
            effects.UPDATE_CHANGE: Handler(self.update_change),
            effects.EPHEMERAL: Handler(self.ephemeral),
        }

    async def ephemeral(self, item: OutboxItem) -> dict[str, Any]:
        """A private notice. Someone clicking in a channel they have not joined gets it
        by DM instead; if Slack refuses both, it is not worth a dead message."""
        p = item.payload
        try:
            await call(
                self.base.client,
                "chat.postEphemeral",
                channel=p["channel"],
                user=p["user"],
                text=p["text"],
            )
        except PermanentFailure as exc:
            if slack_error(exc) not in (
                "user_not_in_channel",
                "channel_not_found",
                "not_in_channel",
            ):
                return {"skipped": str(exc)}
            try:
                await call(self.base.client, "chat.postMessage", channel=p["user"], text=p["text"])
            except PermanentFailure as dm_exc:
                return {"skipped": str(dm_exc)}
            return {"sent": "dm"}
        return {"sent": True}

    async def status_broadcast(self, item: OutboxItem) -> dict[str, Any]:
        """The stakeholder update, in the thread of the incident's announcement."""
        incident = await self.base.incidents.get(item.payload["incident_id"])
        entry = await self.base.incidents.timeline_entry(item.payload["entry_id"])
        if entry is None or not (incident.announcement_channel_id and incident.announcement_ts):
            return {"skipped": "no announcement to thread under"}
        text, body = timeline_blocks.status_update(incident, entry)
        ts, channel = await self.base.post_with_channel(
            item, incident.announcement_channel_id, text, body, thread_ts=incident.announcement_ts
        )
        return {"channel": channel, "ts": ts}

    async def post_change(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        change = await self.changes.get(item.payload["change_id"])
        text, body = timeline_blocks.change_message(change, incident, self.base.policy())
        if incident.channel_id:
            channel, thread = incident.channel_id, None
        elif incident.announcement_channel_id and incident.announcement_ts:
            channel, thread = incident.announcement_channel_id, incident.announcement_ts
        else:
            raise NotReady("no channel or announcement yet")
        ts, channel = await self.base.post_with_channel(item, channel, text, body, thread_ts=thread)
        await self.changes.message_posted(change.id, channel, ts)
        return {"channel": channel, "ts": ts}

    async def update_change(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        change = await self.changes.get(item.payload["change_id"])
        if not (change.message_channel_id and change.message_ts):
            return {"skipped": "change message not posted"}
        text, body = timeline_blocks.change_message(change, incident, self.base.policy())
        await update_message(
            self.base.client, change.message_channel_id, change.message_ts, text, body
        )
        return {"ts": change.message_ts}
