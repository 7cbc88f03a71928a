"""The DM paging someone for an alert group: what fires, how bad, where its card is,
since when, by when to answer, and the Acknowledge button (the card's own action, so
either acknowledges the group). Everything a monitor sent is user text: escaped."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from bot.domain.alert_pages import AlertPageStatus
from bot.domain.alerts import FIRING
from bot.domain.policy import Policy
from bot.services.alert_paging import AlertPageView
from bot.slack.blocks.common import (
    Payload,
    Zone,
    actions,
    button,
    context,
    escape,
    fit,
    mention,
    policy_zone,
    rendered,
    role_title,
    section,
    sections,
    severity_label,
    slack_date,
)
from bot.slack.ids import Action

TITLE_CHARS = 300
ALERT_CHARS = 300


def card_place(view: AlertPageView) -> str:
    """Where the group's card is: its channel once posted (or configured by id), else the
    configured `#name`, as text."""
    group = view.group
    if group.card_channel_id:
        return f"in <#{group.card_channel_id}>"
    channel = group.channel or ""
    if channel[:1] in ("C", "G"):
        return f"in <#{channel}>"
    return f"in {escape(channel)}" if channel else "(no channel for its card)"


def _outcome(view: AlertPageView, zone: Zone) -> tuple[str | None, bool]:
    """What became of the page, and whether the group can still be acknowledged."""
    page, group = view.page, view.group
    if group.acknowledged_at is not None:
        who, when = mention(group.acknowledged_by, "someone"), group.acknowledged_at
        return f":white_check_mark: Acknowledged by {who} {slack_date(when, zone)}", False
    if page.status is AlertPageStatus.RESOLVED or group.status != FIRING:
        return ":large_green_circle: The alert resolved before anyone acknowledged it.", False
    if page.status is AlertPageStatus.ESCALATED:
        to = mention(page.escalated_to, "the next person")
        return f":arrow_up: No answer in time: escalated to {to}.", True
    if page.status is AlertPageStatus.UNANSWERED:
        return ":warning: Nobody acknowledged this page in time; nobody is left to page.", True
    return None, True


def alert_page_dm(view: AlertPageView, policy: Policy) -> tuple[str, list[Payload]]:
    """The DM to the paged person, as the page and its group are now."""
    page, group, zone = view.page, view.group, policy_zone(policy)
    title = fit(group.title, TITLE_CHARS)
    severity = escape(severity_label(policy, group.severity))
    role = escape(role_title(policy, page.role))
    text = f"You are paged as {role} for an alert: {severity} {title}"
    head = f":rotating_light: You are paged as *{role}* for an alert: *{title}*"
    facts = [
        f"Severity *{severity}*",
        f"{group.firing} of {group.total} alert{'s' if group.total != 1 else ''} firing",
        f"started {slack_date(group.first_seen_at, zone)}",
        f"card {card_place(view)}",
    ]
    blocks: list[Block] = [section(head), context(" · ".join(facts))]
    lines = [
        f"{':red_circle:' if a.status == FIRING else ':large_green_circle:'} "
        f"{fit(a.summary, ALERT_CHARS)} · since {slack_date(a.starts_at, zone)}"
        for a in view.alerts
    ]
    blocks += sections(lines, most=2)
    outcome, can_ack = _outcome(view, zone)
    if outcome:
        blocks.append(context(outcome))
    if can_ack and page.status is AlertPageStatus.WAITING:
        deadline = slack_date(page.ack_deadline, zone)
        blocks.append(context(f"Acknowledge by {deadline}, or the next person is paged."))
    if can_ack:
        blocks.append(
            actions(
                button("Acknowledge", Action.ALERT_ACKNOWLEDGE, str(group.id), style="primary"),
                block_id=f"alert_page_{page.id}",
            )
        )
    return text, rendered(blocks)
