"""Outbox handlers for the timeline in Slack: entries echoed in the incident channel,
status broadcasts, emergency-change messages, and private notices."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.services import effects
from bot.services.changes import ChangeService
from bot.services.notes import NoteIntake
from bot.services.outbox_worker import EffectHandler, OutboxItem, PermanentFailure
from bot.services.timeline import TimelineService
from bot.slack.blocks import timeline as timeline_blocks
from bot.slack.blocks.common import policy_zone, rendered, section
from bot.slack.delivery.handler import Handler
from bot.slack.delivery.incidents import IncidentEffects, channel_or_thread
from bot.slack.delivery.web_api import call, slack_error, update_message

# Timeline entries claimed for one echoed message at most; blocks.timeline_entries
# packs them into Slack's 50 blocks and carries over what does not fit. Slack posts
# about one message a second to a channel: in a storm of 300 notes a second, a message
# must carry a second's notes or more for the channel to keep up (a cap of 200 left a
# backlog of 30-40 s after a 60-s storm).
ECHO_BATCH = 1000


@dataclass
class TimelineEffects:
    """Builds the outbox handlers that show the timeline and emergency changes in Slack."""

    base: IncidentEffects
    changes: ChangeService
    timeline: TimelineService
    notes: NoteIntake  # a note's echo is queued before its entry exists

    def handlers(self) -> dict[str, EffectHandler]:
        return {
            effects.TIMELINE_ECHO: Handler(self.echo_timeline_entry, batch_limit=ECHO_BATCH),
            effects.STATUS_BROADCAST: Handler(self.status_broadcast),
            effects.POST_CHANGE: Handler(self.post_change),
            effects.UPDATE_CHANGE: Handler(self.update_change),
            effects.EPHEMERAL: Handler(self.ephemeral),
        }

    async def echo_timeline_entry(self, item: OutboxItem) -> dict[str, Any]:
        """Echo entries in the incident channel. Entries queued together go out as one
        message, so a storm of notes is not held back by Slack's ~1 message/s per channel."""
        incident = await self.base.with_channel(item)
        queued = (item, *item.batch)
        shows = await self.notes.echoed(incident.id, [q.payload for q in queued])
        entries = sorted({e.id: e for e in shows if e is not None}.values(), key=lambda e: e.seq)
        if not entries:
            return {"skipped": "entries purged"}
        zone = policy_zone(self.base.policy())
        text, body, shown = timeline_blocks.timeline_entries(entries, zone)
        # Rows whose entries did not fit in one message wait for the next one; rows whose
        # entries were purged meanwhile are done.
        shown_ids = {e.id for e in entries[:shown]}
        carried = [q for q, e in zip(queued, shows, strict=True) if e is None or e.id in shown_ids]
        if len(carried) < len(queued):
            item = replace(item, batch=[q for q in carried if q.id != item.id])
        assert incident.channel_id is not None
        ts, channel, delivered = await self.base.post(item, incident.channel_id, text, body)
        return {"channel": channel, "ts": ts, "delivered_ids": delivered}

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
            try:  # posted once, like every other message: found again if an answer is lost
                body = rendered([section(p["text"])])
                await self.base.post(item, p["user"], p["text"], body)
            except PermanentFailure as dm_exc:
                return {"skipped": str(dm_exc)}
            return {"sent": "dm"}
        return {"sent": True}

    async def status_broadcast(self, item: OutboxItem) -> dict[str, Any]:
        """The stakeholder update, in the thread of the incident's announcement."""
        incident = await self.base.incidents.get(item.payload["incident_id"])
        entry = await self.timeline.entry(item.payload["entry_id"])
        if entry is None or not (incident.announcement_channel_id and incident.announcement_ts):
            return {"skipped": "no announcement to thread under"}
        text, body = timeline_blocks.status_update(incident, entry)
        ts, channel, _ = await self.base.post(
            item, incident.announcement_channel_id, text, body, thread_ts=incident.announcement_ts
        )
        return {"channel": channel, "ts": ts}

    async def post_change(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.base.incidents.get(item.payload["incident_id"])
        change = await self.changes.get(item.payload["change_id"])
        text, body = timeline_blocks.change_message(change, incident, self.base.policy())
        channel, thread = channel_or_thread(incident, "no channel or announcement yet")
        ts, channel, _ = await self.base.post(item, channel, text, body, thread_ts=thread)
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
