"""Block Kit for paging: the page DM, its incident-channel copy, broadcasts, the roster."""

from __future__ import annotations

from bot.domain.incident import Incident
from bot.domain.paging import Page, PageStatus
from bot.domain.paging import Roster as RosterView
from bot.domain.policy import Policy
from bot.slack import messages
from bot.slack.blocks import common
from bot.slack.blocks.common import (
    Payload,
    SlackBlock,
    Zone,
    actions,
    button,
    channel_link,
    clip,
    context,
    escape,
    fit,
    mention,
    policy_zone,
    rendered,
    section,
    sections,
    severity_label,
    slack_date,
)
from bot.slack.ids import Action, page_block_id


def role_title(policy: Policy, role: str | None) -> str:
    return common.role_title(policy, role) if role else messages.RESPONDER


def _outcome(page: Page, zone: Zone) -> tuple[str | None, bool]:
    """What became of the page, and whether it can still be acknowledged."""
    if page.status is PageStatus.ACKNOWLEDGED:
        who = mention(page.acknowledged_by, messages.SOMEONE)
        when = slack_date(page.acknowledged_at, zone)
        return messages.PAGE_ACKNOWLEDGED.format(who=who, when=when), False
    if page.status is PageStatus.ESCALATED:
        return messages.PAGE_ESCALATED.format(user=page.escalated_to), True
    if page.status is PageStatus.UNANSWERED:
        return messages.PAGE_UNANSWERED, True
    if page.status is PageStatus.CLOSED:
        return messages.PAGE_CLOSED, False
    return None, True


# The sender's message in a page, escaped (the page's other lines take up to ~1,500).
PAGE_MESSAGE_CHARS = 1200


def _page_blocks(page: Page, text: str, zone: Zone) -> list[Payload]:
    """The page's text, what became of it, and the Acknowledge button while it applies."""
    blocks: list[SlackBlock] = [section(text)]
    outcome, can_ack = _outcome(page, zone)
    if outcome:
        blocks.append(context(outcome))
    if can_ack:
        # Written as raw JSON before the models, without the emoji flag; kept as it was.
        ack = button(
            "Acknowledge", Action.PAGE_ACKNOWLEDGE, str(page.id), style="primary", emoji=False
        )
        blocks.append(actions(ack, block_id=page_block_id(page.id)))
    return rendered(blocks)


def page_dm(page: Page, incident: Incident, policy: Policy) -> tuple[str, list[Payload]]:
    """The DM to the paged person: what, how bad, by when, where, and the button."""
    title = role_title(policy, page.role)
    label = severity_label(policy, incident.severity)
    lines = [
        messages.PAGE_DM_HEADING.format(
            role=escape(title), ref=incident.ref, title=escape(incident.title)
        ),
        messages.PAGE_DM_TERMS.format(
            severity=escape(label),
            ack_by=slack_date(page.ack_deadline, policy_zone(policy)),
            due=slack_date(incident.response_deadline, policy_zone(policy)),
        ),
        messages.PAGE_DM_CHANNEL.format(
            channel=channel_link(incident.channel_id, messages.BROADCAST_CHANNEL)
        ),
        f"> {escape(clip(incident.nature, 500))}",
    ]
    if page.paged_by:
        sender = messages.PAGE_DM_FROM.format(user=page.paged_by)
        lines.append(f"{sender} {fit(page.message or '', PAGE_MESSAGE_CHARS)}".rstrip(": "))
    text = messages.PAGE_DM_TEXT.format(
        role=escape(title), ref=incident.ref, severity=escape(label), title=escape(incident.title)
    )
    return text, _page_blocks(page, "\n".join(lines), policy_zone(policy))


def page_post(page: Page, incident: Incident, policy: Policy) -> tuple[str, list[Payload]]:
    """The page in the incident channel: anyone there may acknowledge it."""
    title = role_title(policy, page.role)
    line = messages.PAGE_POSTED.format(
        user=page.person,
        role=escape(title),
        ack_by=slack_date(page.ack_deadline, policy_zone(policy)),
    )
    if page.message:
        line += f"\n> {fit(page.message, PAGE_MESSAGE_CHARS)}"
    text = messages.PAGE_POSTED_TEXT.format(ref=incident.ref, role=escape(title), user=page.person)
    return text, _page_blocks(page, line, policy_zone(policy))


def unanswered(incident: Incident, policy: Policy, role: str) -> tuple[str, list[Payload]]:
    label = severity_label(policy, incident.severity)
    where = f" <#{incident.channel_id}>" if incident.channel_id else ""
    line = messages.PAGE_UNANSWERED_NOTICE.format(
        ref=incident.ref,
        severity=escape(label),
        title=escape(incident.title),
        role=escape(role),
        channel=where,
    )
    text = messages.PAGE_UNANSWERED_TEXT.format(
        ref=incident.ref, severity=escape(label), role=escape(role)
    )
    return text, rendered([section(line)])


def breach(incident: Incident, policy: Policy) -> tuple[str, list[Payload]]:
    label = severity_label(policy, incident.severity)
    line = messages.BREACH_NOTICE.format(
        ref=incident.ref,
        severity=escape(label),
        title=escape(incident.title),
        deadline=slack_date(incident.response_deadline, policy_zone(policy)),
    )
    text = messages.BREACH_TEXT.format(ref=incident.ref, severity=escape(label))
    return text, rendered([section(line)])


def roster(
    view: RosterView, *, assignments: dict[str, str] | None = None, zone: Zone = "UTC"
) -> list[Payload]:
    """`/incident roster`: each role, its people in order, and who acts in it now; times
    fall back to `zone` (the policy's)."""
    lines = [f"*{messages.INCIDENT_ROLES}*"]
    for line in view.lines:
        people = ", ".join(f"<@{p}>" for p in line.people) or messages.CHOSEN_PER_INCIDENT
        acting = line.acting
        now = (
            f"<@{acting.person}> ({acting.via.replace('_', '-')})"
            if acting.person
            else messages.NOBODY
        )
        extra = ""
        if assignments and line.key in assignments:
            extra = messages.ROSTER_ASSIGNED.format(user=assignments[line.key])
        lines.append(
            messages.ROSTER_LINE.format(
                title=escape(line.title), key=line.key, people=people, now=now, extra=extra
            )
        )
    if view.away:
        lines.append(f"\n*{messages.AWAY}*")
        lines += [
            messages.AWAY_LINE.format(user=p, until=slack_date(until, zone))
            for p, until in sorted(view.away.items())
        ]
    return rendered(sections(lines))
