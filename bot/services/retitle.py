"""Retitling an incident (`/incident title <new title>`, issue 23): the record and the
timeline changed, the channel renamed to match (by the outbox), and the old channel name
kept on the timeline ("Channel renamed from #old"), so it stays searchable."""

from __future__ import annotations

import logging

from bot.domain.incident import (
    TITLE_MAX,
    ChannelStatus,
    Incident,
    Kind,
    Status,
    channel_name,
    has_letter_or_digit,
)
from bot.domain.timeline import EntryKind, TimelineEntry
from bot.services import effects
from bot.services.base import Service, locked_incident
from bot.services.incidents import InvalidChange
from storage.outbox import OutboxRepository
from storage.repositories import IncidentRepository, TimelineRepository

log = logging.getLogger(__name__)


def checked_title(title: str) -> str:
    """The new title as stored, or InvalidChange saying what is wrong with it."""
    text = title.strip()
    if not text:
        raise InvalidChange("Give the new title: `/incident title <new title>`.")
    if len(text) > TITLE_MAX:
        raise InvalidChange(f"Keep the title under {TITLE_MAX} characters (it has {len(text)}).")
    if not has_letter_or_digit(text):
        raise InvalidChange("Use at least one letter or digit in the title.")
    return text


class Retitling(Service):
    async def retitle(self, incident_id: int, title: str, *, actor: str) -> Incident:
        """Set a new title: on the timeline, the report, the announcement and the topic
        brought up to date, and the channel renamed when its name follows the title."""
        new = checked_title(title)
        now = self.clock.now()
        async with self.db.session() as session:
            incident = await locked_incident(session, incident_id)
            if incident.kind is not Kind.INCIDENT or incident.status is Status.CLOSED:
                raise InvalidChange(f"{incident.ref} is closed; its title is final.")
            old = incident.title
            if old == new:
                return incident
            incident = await IncidentRepository(session).update(
                incident_id, title=new, updated_at=now
            )
            entry = await TimelineRepository(session).append(
                incident_id,
                EntryKind.SYSTEM,
                f"Title changed from “{old}” to “{new}”",
                at=now,
                actor=actor,
                data={"from": old, "to": new},
            )
            await OutboxRepository(session).enqueue_many(self._effects(incident, entry), now=now)
        self._on_commit()
        log.info("incident retitled", extra={"incident": incident.ref})
        return incident

    def _effects(self, incident: Incident, entry: TimelineEntry | None) -> list[effects.Effect]:
        key = effects.incident_channel_key(incident.id)
        queued = [effects.about(effects.UPDATE_ANNOUNCEMENT, effects.BROADCAST_KEY, incident.id)]
        if effects.has_channel(incident.channel_status):
            name = channel_name(
                self.policy.templates.channel_name,
                number=incident.id,
                title=incident.title,
                severity=incident.severity,
            )
            queued.append(effects.about(effects.RENAME_CHANNEL, key, incident.id, name=name))
        if incident.channel_status is ChannelStatus.CREATED:  # else the report shows it
            queued += effects.echoes(incident.channel_status, [entry])
        return queued + effects.report_update(incident)

    async def channel_renamed(self, incident_id: int, name: str) -> None:
        """Slack renamed the channel: the new name stored, the old one on the timeline."""
        now = self.clock.now()
        async with self.db.session() as session:
            incident = await locked_incident(session, incident_id)
            old = incident.channel_name
            if old == name:
                return
            await IncidentRepository(session).update(incident_id, channel_name=name, updated_at=now)
            await TimelineRepository(session).append(
                incident_id,
                EntryKind.CHANNEL,
                f"Channel renamed from #{old} to #{name}",
                at=now,
                actor=None,
                data={"channel": incident.channel_id, "from": old, "to": name},
                source_key=f"rename:{incident_id}:{old}:{name}",
            )
