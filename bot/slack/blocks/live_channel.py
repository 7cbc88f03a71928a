"""The live incident channel's words: its topic and its bookmarks' titles (issue 23).

`channel_topic` is pure: the delivery handler sets it only when it differs from the
channel's topic now, so an unchanged incident costs no `conversations.setTopic`.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.incident import Incident
from bot.domain.policy import Policy
from bot.domain.status import LABELS
from bot.slack import messages
from bot.slack.blocks.common import (
    Payload,
    clip_markup,
    escape,
    fit,
    policy_zone,
    rendered,
    section,
    severity_label,
)

TOPIC_MAX = 250  # Slack refuses a longer topic (too_long)
SEPARATOR = " · "
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_URL = re.compile(r"https?://[^\s<>|]+")


def respond_by(deadline: datetime, zone: str = "UTC") -> str:
    """A topic is not parsed for `<!date>`: the deadline in the policy's `zone`, naming
    it, with its weekday (a business-time deadline may fall on another day)."""
    local = deadline.astimezone(ZoneInfo(zone))
    return f"{local:%a %H:%M} {local.tzname()}"


def channel_topic(incident: Incident, policy: Policy, lead: str | None) -> str:
    """``SEV1 · Investigating · lead <@U1> · respond by Sun 14:30 UTC``, at most 250
    characters (Slack's limit). The lead is a live mention when it is a user id; anything
    else (a roster email Slack could not resolve) is text, escaped, and what is shortened
    to fit, so the severity, status and deadline always show whole."""

    def render(who: str) -> str:
        parts = [escape(severity_label(policy, incident.severity)), LABELS[incident.status]]
        parts.append(who)
        deadline = incident.response_deadline
        if incident.is_open and deadline is not None and incident.acknowledged_at is None:
            when = respond_by(deadline, policy_zone(policy))
            parts.append(messages.TOPIC_RESPOND_BY.format(when=when))
        return SEPARATOR.join(parts)

    if not lead:
        topic = render(messages.TOPIC_NO_LEAD)
    elif _USER_ID.fullmatch(lead):
        topic = render(messages.TOPIC_LEAD.format(lead=f"<@{lead}>"))
    else:
        room = TOPIC_MAX - len(render(messages.TOPIC_LEAD.format(lead="")))
        topic = render(messages.TOPIC_LEAD.format(lead=fit(lead, max(room, 1))))
    return clip_markup(topic, TOPIC_MAX)


def alert_link(evidence: str) -> str | None:
    """The report's evidence when it is one link (the source alert), else None."""
    text = evidence.strip()
    return text if _URL.fullmatch(text) else None


LEAD_TASK = "decide_handling"  # the RACI task whose accountable role leads the incident


def lead_role(policy: Policy) -> str | None:
    """The role that leads an incident: the one accountable for deciding how to handle it
    (the Product Manager in the default policy), when the policy names a role there."""
    accountable = policy.raci[LEAD_TASK].accountable if LEAD_TASK in policy.raci else None
    return accountable if accountable in policy.roles else None


def archive_notice(days: int) -> tuple[str, list[Payload]]:
    """The one notice that the closed incident's channel will be archived."""
    if days <= 0:
        text = messages.ARCHIVE_NOTICE_NOW
    elif days == 1:
        text = messages.ARCHIVE_NOTICE_ONE
    else:
        text = messages.ARCHIVE_NOTICE.format(days=days)
    return text, rendered([section(text)])
