"""The App Home view: what needs the viewer first, then the open incidents.

Slack refuses a Home view of more than 100 blocks; each list here is cut to fit, the most
urgent first, and a context block says how many more there are.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from slack_sdk.models.blocks import Block as SlackBlock
from slack_sdk.models.blocks import DividerBlock

from bot.domain.home import HomeIncident
from bot.domain.incident import reference
from bot.domain.policy import Policy
from bot.services.home import HomeView
from bot.slack import messages
from bot.slack.blocks.common import (
    Payload,
    actions,
    button,
    channel_link,
    context,
    escape,
    header,
    policy_zone,
    rendered,
    role_title,
    section,
    severity_label,
    slack_date,
    slack_day,
)
from bot.slack.ids import Action

HOME_BLOCKS_MAX = 100
# Headings and button captions (the sentences are in messages.py).
TITLE, DECLARE, INCIDENTS = "Firewatch", "Declare incident", "Open incidents"
PAGES, ACKNOWLEDGE = "Pages waiting for you", "Acknowledge"
POSTMORTEMS, WRITE = "Post-mortems you owe", "Write"
ITEMS, DONE = "Your overdue action items", "Done"
ROLES, GO_AWAY, COME_BACK = "Your roles", "Mark me away for a day", "I'm back"
MINE_MAX = 10  # pages, post-mortems and action items: at most this many each


def home_view(view: HomeView, policy: Policy) -> Payload:
    """The `views.publish` view for `view.user`."""
    blocks: list[SlackBlock] = [
        header(TITLE),
        actions(button(DECLARE, Action.HOME_DECLARE, "declare", style="primary")),
    ]
    blocks += _pages(view, policy)
    blocks += _postmortems(view, policy_zone(policy))
    blocks += _items(view, policy_zone(policy))
    blocks += _roles(view, policy)
    blocks += _incidents(view, policy, HOME_BLOCKS_MAX - len(blocks))
    return {"type": "home", "blocks": rendered(blocks)}


def _pages(view: HomeView, policy: Policy) -> list[SlackBlock]:
    pages = view.snapshot.pages
    if not pages:
        return []
    blocks: list[SlackBlock] = [DividerBlock(), header(PAGES)]
    for page in pages[:MINE_MAX]:
        line = messages.HOME_PAGE_LINE.format(
            incident=f"{reference(page.incident_id)} {escape(page.incident_title)}",
            paged_at=slack_date(page.paged_at, policy_zone(policy)),
            role=escape(role_title(policy, page.role) if page.role else "—"),
            deadline=slack_date(page.ack_deadline, policy_zone(policy)),
        )
        ack = button(ACKNOWLEDGE, Action.PAGE_ACKNOWLEDGE, str(page.id))
        blocks.append(section(line, accessory=ack))
    total = view.snapshot.pages_total
    return blocks + _more((len(pages) if total is None else total) - MINE_MAX, messages.HOME_MORE)


def _postmortems(view: HomeView, zone: str) -> list[SlackBlock]:
    owed = view.snapshot.postmortems
    if not owed:
        return []
    blocks: list[SlackBlock] = [DividerBlock(), header(POSTMORTEMS)]
    for pm in owed[:MINE_MAX]:
        line = messages.HOME_POSTMORTEM_LINE.format(
            incident=f"{reference(pm.incident_id)} {escape(pm.incident_title)}",
            status=pm.status.replace("_", " "),
            due=slack_date(pm.due_at, zone),
        )
        write = button(WRITE, Action.WRITE_POSTMORTEM, str(pm.incident_id))
        blocks.append(section(line, accessory=write))
    total = view.snapshot.postmortems_total
    return blocks + _more((len(owed) if total is None else total) - MINE_MAX, messages.HOME_MORE)


def _items(view: HomeView, zone: str) -> list[SlackBlock]:
    items = view.snapshot.items
    if not items:
        return []
    blocks: list[SlackBlock] = [DividerBlock(), header(ITEMS)]
    for item in items[:MINE_MAX]:
        line = messages.HOME_ITEM_LINE.format(
            text=escape(item.text[:500]),
            incident=reference(item.incident_id),
            due=slack_day(item.due_on, zone),
        )
        done = button(DONE, Action.FOLLOWUP_DONE, str(item.id))
        blocks.append(section(line, accessory=done))
    shown = min(len(items), MINE_MAX)
    return blocks + _more(view.snapshot.items_total - shown, messages.HOME_MORE_MINE)


def _roles(view: HomeView, policy: Policy) -> list[SlackBlock]:
    lines = [
        messages.HOME_ROLE_LINE.format(
            title=escape(role.title), acting=f"<@{role.acting}>" if role.acting else "nobody"
        )
        for role in view.roles
    ]
    lines += [
        messages.HOME_ROLE_ASSIGNED.format(
            title=escape(role_title(policy, role)), incident=reference(incident_id)
        )
        for incident_id, roles in list(view.snapshot.assigned.items())[:MINE_MAX]
        for role in roles
    ]
    if view.away_until is not None:
        until = slack_date(view.away_until, policy_zone(policy))
        lines.append(messages.HOME_AWAY_NOW.format(until=until))
        toggle = button(COME_BACK, Action.HOME_AWAY, "back")
    else:
        toggle = button(GO_AWAY, Action.HOME_AWAY, "away")
    text = "\n".join(lines[: MINE_MAX * 2]) or messages.HOME_NO_ROLES
    return [DividerBlock(), header(ROLES), section(text), actions(toggle)]


def _incidents(view: HomeView, policy: Policy, room: int) -> list[SlackBlock]:
    snapshot = view.snapshot
    blocks: list[SlackBlock] = [DividerBlock(), header(INCIDENTS)]
    if not snapshot.incidents:
        return [*blocks, section(messages.HOME_NO_INCIDENTS)]
    fits = max(0, room - len(blocks) - 1)  # one block kept for "…and N more"
    shown = snapshot.incidents[:fits]
    blocks += [section(_incident_line(i, view.now, policy)) for i in shown]
    return blocks + _more(snapshot.incidents_total - len(shown), messages.HOME_MORE)


def _incident_line(incident: HomeIncident, now: datetime, policy: Policy) -> str:
    zone = policy_zone(policy)
    deadline = slack_date(incident.response_deadline, zone)
    if incident.response_deadline is not None and incident.response_deadline <= now:
        deadline = messages.HOME_DEADLINE_PASSED.format(deadline=deadline)
    return messages.HOME_INCIDENT_LINE.format(
        severity=escape(severity_label(policy, incident.severity)),
        status=incident.status.capitalize(),
        link=channel_link(incident.channel_id, reference(incident.id)),
        title=escape(incident.title),
        declared=slack_date(incident.declared_at, zone),
        age=age(now - incident.declared_at),
        deadline=deadline,
    )


def age(delta: timedelta) -> str:
    """How long ago, in the two largest units: `2d 3h`, `3h 20m`, `5m`."""
    minutes = max(0, int(delta.total_seconds()) // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def _more(count: int, sentence: str) -> list[SlackBlock]:
    return [context(sentence.format(count=count))] if count > 0 else []
