"""The Slack side effects the services ask for, as outbox row kinds and ordering keys.

A row names *what* should happen ("announce incident 42"), not the Block Kit: the Slack
delivery layer renders from the stored record when it delivers, so an update always
shows the current state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain.incident import ChannelStatus, Incident
from bot.domain.timeline import TimelineEntry

# One outbox row: (kind, ordering key, payload, incident id), as
# `OutboxRepository.enqueue_many` and `enqueue_rows` queue them.
Effect = tuple[str, str, dict[str, Any], int | None]

CREATE_CHANNEL = "incident.create_channel"
INVITE = "incident.invite"
POST_REPORT = "incident.post_report"
PIN_REPORT = "incident.pin_report"
ANNOUNCE = "incident.announce"
REPORT_FALLBACK = "incident.report_fallback"
UPDATE_ANNOUNCEMENT = "incident.update_announcement"
UPDATE_REPORT = "incident.update_report"
TIMELINE_ECHO = "timeline.echo"
STATUS_BROADCAST = "incident.status_broadcast"
POST_CHANGE = "change.post"
UPDATE_CHANGE = "change.update"
EPHEMERAL = "notice.ephemeral"
POSTMORTEM_REQUEST = "postmortem.request"
POSTMORTEM_REVIEW = "postmortem.review"
POSTMORTEM_CHANGES = "postmortem.changes_requested"
POSTMORTEM_FINAL = "postmortem.final_report"
ARCHIVE_CHANNEL = "incident.archive_channel"
HOME_REFRESH = "home.refresh"  # one person's App Home published again (views.publish)
# The live channel (issue 23): topic and bookmarks brought up to date, the archive notice.
SYNC_CHANNEL = "incident.sync_channel"
ARCHIVE_NOTICE = "incident.archive_notice"
RENAME_CHANNEL = "incident.rename_channel"

# Monitoring alerts (issue 22): a group's card, a channel's storm card, posted or updated.
ALERT_CARD = "alert.card"
ALERT_STORM_CARD = "alert.storm_card"

BROADCAST_KEY = "broadcast"


def incident_channel_key(incident_id: int) -> str:
    """Everything said in one incident's channel, in order (creation first)."""
    return f"incident:{incident_id}"


def alerts_key(channel: str) -> str:
    """Everything alerts say in one channel, in order and paced like timeline echoes."""
    return f"alerts:{channel}"


def dm_key(user_id: str) -> str:
    return f"dm:{user_id}"


# Every App Home refresh, whoever's: one ordering key for the workspace, so that their
# pace (views.publish's rate is the workspace's) is kept by every replica together.
HOMES_KEY = "homes"


def has_channel(channel_status: str) -> bool:
    """The incident has its own channel, or is getting one: what is said there (echoes,
    pages, the report's updates) is queued behind the channel's creation."""
    return channel_status in _CHANNEL_ON_ITS_WAY


_CHANNEL_ON_ITS_WAY = (ChannelStatus.PENDING.value, ChannelStatus.CREATED.value)


def about(kind: str, key: str, incident_id: int, **payload: Any) -> Effect:
    """A row about one incident: its payload names the incident, then `payload`."""
    return (kind, key, {"incident_id": incident_id, **payload}, incident_id)


def echoes(channel_status: str, entries: Sequence[TimelineEntry | None]) -> list[Effect]:
    """The one place a timeline entry's echo in the incident's channel is queued from:
    one row per new entry (None: already recorded, nothing new to say), none while the
    incident has no channel."""
    if not has_channel(channel_status):
        return []
    return [
        about(TIMELINE_ECHO, incident_channel_key(e.incident_id), e.incident_id, entry_id=e.id)
        for e in entries
        if e is not None
    ]


def note_echo(incident_id: int, source_key: str) -> Effect:
    """A note's echo, queued when the note is acknowledged (storage/note_intake.py): it
    names the note by its source key, as it has no entry yet."""
    return about(TIMELINE_ECHO, incident_channel_key(incident_id), incident_id, note_key=source_key)


def report_update(incident: Incident) -> list[Effect]:
    """The pinned report, the channel's topic and bookmarks brought up to date, where there
    is (or will be) a channel."""
    if not has_channel(incident.channel_status):
        return []
    key = incident_channel_key(incident.id)
    return [about(UPDATE_REPORT, key, incident.id), about(SYNC_CHANNEL, key, incident.id)]
