"""Outbox row kinds for paging. Rows name the page; delivery renders it as it is then."""

from __future__ import annotations

PAGE_DM = "page.dm"  # DM the paged person, with the Acknowledge button
PAGE_POST = "page.post"  # the page, in the incident channel
PAGE_INVITE = "page.invite"  # the paged person, into the incident channel
PAGE_UPDATE_DM = "page.update_dm"  # acknowledged / escalated: the DM shows it
PAGE_UPDATE_POST = "page.update_post"  # the same, on the incident channel's message
PAGE_BROADCAST = "page.broadcast"  # "unanswered" or "breach", in the broadcast channel
PAGERDUTY = "page.pagerduty"  # PagerDuty Events API v2 (trigger / acknowledge)
WEBHOOK = "page.webhook"  # a generic outgoing webhook

UNANSWERED = "unanswered"
BREACH = "breach"


def external_key(kind: str, page_id: int) -> str:
    """One ordering key per page and channel: a slow PagerDuty never delays Slack."""
    return f"{kind}:{page_id}"
