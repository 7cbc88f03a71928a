"""The Slack side effects the services ask for, as outbox row kinds and ordering keys.

A row names *what* should happen ("announce incident 42"), not the Block Kit: the Slack
delivery layer renders from the stored record when it delivers, so an update always
shows the current state.
"""

from __future__ import annotations

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

BROADCAST_KEY = "broadcast"


def incident_channel_key(incident_id: int) -> str:
    """Everything said in one incident's channel, in order (creation first)."""
    return f"incident:{incident_id}"


def dm_key(user_id: str) -> str:
    return f"dm:{user_id}"
