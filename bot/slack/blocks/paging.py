"""Block Kit for paging: the page DM, its incident-channel copy, broadcasts, the roster."""

from __future__ import annotations

from typing import Any

from bot.domain.incident import Incident
from bot.domain.paging import Page, PageStatus
from bot.domain.paging import Roster as RosterView
from bot.domain.policy import Policy
from bot.slack.blocks.incident import clip, escape, slack_date

# The Acknowledge button, on the DM and on the channel message; its value is the page id.
ACK_ACTION = "firewatch_page_ack"

Blocks = list[dict[str, Any]]


def _md(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, 3000)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _md(text)}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_md(text)]}


def _ack_button(page: Page) -> dict[str, Any]:
    button = {
        "type": "button",
        "action_id": ACK_ACTION,
        "text": {"type": "plain_text", "text": "Acknowledge"},
        "style": "primary",
        "value": str(page.id),
    }
    return {"type": "actions", "block_id": f"page_{page.id}", "elements": [button]}


def role_title(policy: Policy, role: str | None) -> str:
    if role and role in policy.roles:
        return policy.roles[role].title
    return role or "responder"


def _severity(incident: Incident, policy: Policy) -> str:
    severity = policy.severities.get(incident.severity)
    return severity.label if severity else incident.severity


def _outcome(page: Page) -> tuple[str | None, bool]:
    """What became of the page, and whether it can still be acknowledged."""
    if page.status is PageStatus.ACKNOWLEDGED:
        who = f"<@{page.acknowledged_by}>" if page.acknowledged_by else "someone"
        return f":white_check_mark: Acknowledged by {who} {slack_date(page.acknowledged_at)}", False
    if page.status is PageStatus.ESCALATED:
        return (
            f":arrow_up: No acknowledgement in time; <@{page.escalated_to}> was paged next. "
            "You can still acknowledge.",
            True,
        )
    if page.status is PageStatus.UNANSWERED:
        return ":warning: Unanswered: nobody is left to page. You can still acknowledge.", True
    if page.status is PageStatus.CLOSED:
        return "The incident ended before the page was acknowledged.", False
    return None, True


def page_dm(page: Page, incident: Incident, policy: Policy) -> tuple[str, Blocks]:
    """The DM to the paged person: what, how bad, by when, where, and the button."""
    title = role_title(policy, page.role)
    label = _severity(incident, policy)
    text = f"You are paged as {title} for {incident.ref} ({label}): {incident.title}"
    channel = f"<#{incident.channel_id}>" if incident.channel_id else "the broadcast channel"
    lines = [
        f":pager: You are paged as *{escape(title)}* for "
        f"*{incident.ref}: {escape(incident.title)}*",
        f"*Severity:* {escape(label)} · *Acknowledge by:* {slack_date(page.ack_deadline)} · "
        f"*Response due:* {slack_date(incident.response_deadline)}",
        f"*Channel:* {channel}",
        f"> {escape(clip(incident.nature, 500))}",
    ]
    if page.paged_by:
        lines.append(f"*From <@{page.paged_by}>:* {escape(page.message or '')}".rstrip(": "))
    body: Blocks = [_section("\n".join(lines))]
    outcome, can_ack = _outcome(page)
    if outcome:
        body.append(_context(outcome))
    if can_ack:
        body.append(_ack_button(page))
    return text, body


def page_post(page: Page, incident: Incident, policy: Policy) -> tuple[str, Blocks]:
    """The page in the incident channel: anyone there may acknowledge it."""
    title = role_title(policy, page.role)
    text = f"{incident.ref}: paged {title} <@{page.person}>"
    line = (
        f":pager: Paged <@{page.person}> as *{escape(title)}* · acknowledge by "
        f"{slack_date(page.ack_deadline)}"
    )
    if page.message:
        line += f"\n> {escape(page.message)}"
    body: Blocks = [_section(line)]
    outcome, can_ack = _outcome(page)
    if outcome:
        body.append(_context(outcome))
    if can_ack:
        body.append(_ack_button(page))
    return text, body


def unanswered(incident: Incident, policy: Policy, role: str) -> tuple[str, Blocks]:
    label = _severity(incident, policy)
    where = f" <#{incident.channel_id}>" if incident.channel_id else ""
    text = f"{incident.ref} ({label}): the page for {role} is unanswered"
    line = (
        f":rotating_light: *{incident.ref}* ({escape(label)}) {escape(incident.title)}: "
        f"the page for *{escape(role)}* is unanswered.{where}"
    )
    return text, [_section(line)]


def breach(incident: Incident, policy: Policy) -> tuple[str, Blocks]:
    label = _severity(incident, policy)
    text = f"{incident.ref} ({label}) breached its response time"
    line = (
        f":warning: *{incident.ref}* ({escape(label)}) {escape(incident.title)}: the response "
        f"deadline {slack_date(incident.response_deadline)} passed without an acknowledgement."
    )
    return text, [_section(line)]


def roster(view: RosterView, *, assignments: dict[str, str] | None = None) -> Blocks:
    """`/incident roster`: each role, its people in order, and who acts in it now."""
    lines = ["*Incident roles*"]
    for line in view.lines:
        people = ", ".join(f"<@{p}>" for p in line.people) or "chosen per incident"
        acting = line.acting
        now = f"<@{acting.person}> ({acting.via.replace('_', '-')})" if acting.person else "nobody"
        extra = ""
        if assignments and line.key in assignments:
            extra = f" · this incident: <@{assignments[line.key]}>"
        lines.append(
            f"• *{escape(line.title)}* (`{line.key}`): {people} — acting now: {now}{extra}"
        )
    if view.away:
        lines.append("\n*Away*")
        lines += [f"• <@{p}> until {slack_date(until)}" for p, until in sorted(view.away.items())]
    return [_section("\n".join(lines))]
