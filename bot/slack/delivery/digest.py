"""Outbox handlers of the weekly meeting: post the digest, DM the reminders.

Each renders from the record as it is at delivery: a post-mortem submitted since the
reminder was queued is not chased, and a reminder with nothing left is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.services.digest import (
    FOLLOWUP_REMINDER,
    POST_DIGEST,
    POSTMORTEM_REMINDER,
    DigestService,
)
from bot.services.outbox_worker import EffectHandler, OutboxItem
from bot.slack.blocks import digest as digest_blocks
from bot.slack.delivery.handler import Handler
from bot.slack.delivery.incidents import IncidentEffects


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass
class DigestEffects:
    """Builds the outbox handlers of the weekly meeting's messages."""

    base: IncidentEffects
    digest: DigestService

    def handlers(self) -> dict[str, EffectHandler]:
        return {
            POST_DIGEST: Handler(self.post_digest),
            POSTMORTEM_REMINDER: Handler(self.postmortem_reminder),
            FOLLOWUP_REMINDER: Handler(self.followup_reminder),
        }

    def _note(self, payload: dict[str, Any]) -> str | None:
        """Said under a message sent late: since when Firewatch was down."""
        late = _when(payload.get("late_since"))
        return digest_blocks.late_note(payload.get("note"), late, self.digest.zone)

    async def post_digest(self, item: OutboxItem) -> dict[str, Any]:
        p = item.payload
        start, end = _when(p["start"]), _when(p["end"])
        assert start is not None
        assert end is not None
        meeting = p.get("meeting")
        digest = await self.digest.build(start, end)
        answers = await self.digest.answers(meeting) if meeting else {}
        text, blocks = digest_blocks.digest_message(
            digest,
            self.base.policy(),
            zone=self.digest.zone,
            meeting=meeting,
            note=self._note(p),
            answers=answers,
        )
        channel = await self.base.resolve_channel(p["channel"])
        ts, channel, _ = await self.base.post(item, channel, text, blocks)
        return {"channel": channel, "ts": ts, "meeting": meeting}

    async def postmortem_reminder(self, item: OutboxItem) -> dict[str, Any]:
        p = item.payload
        since = _when(p.get("since"))
        assert since is not None
        owed = await self.digest.owed_for_reminder(p["user"], since)
        if not owed:
            return {"skipped": "nothing owed any more"}
        text, blocks = digest_blocks.postmortem_reminder(
            owed, meeting_at=_when(p.get("meeting_at")), zone=self.digest.zone, note=self._note(p)
        )
        ts, channel, _ = await self.base.post(item, p["user"], text, blocks)
        return {"channel": channel, "ts": ts, "postmortems": len(owed)}

    async def followup_reminder(self, item: OutboxItem) -> dict[str, Any]:
        p = item.payload
        items = await self.digest.overdue_for_reminder(p["user"])
        if not items:
            return {"skipped": "nothing overdue any more"}
        text, blocks = digest_blocks.followup_reminder(
            items, zone=self.digest.zone, note=self._note(p)
        )
        ts, channel, _ = await self.base.post(item, p["user"], text, blocks)
        return {"channel": channel, "ts": ts, "items": len(items)}
