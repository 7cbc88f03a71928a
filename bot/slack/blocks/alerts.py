"""Alert cards: one message per alert group, updated in place, and a channel's storm
card. Everything a monitor sent is user text: escaped, clipped, and links only when they
are http(s) URLs Slack accepts."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ButtonElement, InteractiveElement

from bot.domain.alert_pages import AlertPageStatus, latest_per_chain
from bot.domain.alerts import FIRING, AlertStorm, StoredAlert
from bot.domain.policy import Policy
from bot.services.alert_cards import CARD_ALERTS, AlertCard
from bot.slack.blocks.common import (
    OPTION_TEXT_MAX,
    Payload,
    actions,
    button,
    context,
    escape,
    fields,
    fit,
    mention,
    plain,
    policy_zone,
    rendered,
    role_title,
    section,
    sections,
    severity_label,
    slack_date,
)
from bot.slack.ids import Action

URL_MAX = 3000  # a button's url
LINK_BUTTONS_MAX = 4
LINK_TITLES = {
    "generator": "Source",
    "dashboard": "Dashboard",
    "panel": "Panel",
    "runbook": "Runbook",
    "silence": "Silence in Grafana",
    "url": "Open",
}
SOURCE_NAMES = {"alertmanager": "Alertmanager", "grafana": "Grafana", "webhook": "webhook"}


def alert_card(card: AlertCard, policy: Policy) -> tuple[str, list[Payload]]:
    """The card's notification text and blocks, as the group is now."""
    group, zone = card.group, policy_zone(policy)
    firing = group.status == FIRING
    state = "FIRING" if firing else "RESOLVED"
    icon = ":rotating_light:" if firing else ":white_check_mark:"
    severity = severity_label(policy, group.severity)
    title = fit(group.title, 300)
    text = f"{state} {severity}: {title}"
    blocks: list[Block] = [section(f"{icon} *{state}* · {escape(severity)} · *{title}*")]
    shown = _labels(group.labels or (card.alerts[0].labels if card.alerts else {}), policy)
    if shown:
        blocks.append(fields(*shown))
    counts = f"{group.firing} of {group.total} alert{'s' if group.total != 1 else ''} firing"
    facts = [
        f"Started {slack_date(group.first_seen_at, zone)}",
        counts,
        f"from {SOURCE_NAMES.get(group.source, escape(group.source))}",
    ]
    if firing and group.resent_at is not None:
        facts.append(f"still firing, last seen {slack_date(group.resent_at, zone)}")
    if not firing:
        facts.append(f"resolved {slack_date(group.resolved_at, zone)}")
    blocks.append(context(" · ".join(facts)))
    blocks += sections([_alert_line(a, zone) for a in card.alerts], most=3)
    if group.total > CARD_ALERTS:
        blocks.append(context(f"and {group.total - len(card.alerts)} more in this group"))
    blocks += [context(line) for line in _status_lines(card, policy)]
    links = _link_buttons(card.alerts)
    if links:
        blocks.append(actions(*links))
    blocks.append(actions(*_buttons(card), block_id=f"alert_actions_{group.id}"))
    return text, rendered(blocks)


def _labels(labels: dict[str, str] | object, policy: Policy) -> list[str]:
    assert isinstance(labels, dict)
    out = []
    for key in policy.alerts.card_labels:
        value = labels.get(key)
        if value:
            out.append(f"*{escape(key)}*\n{fit(str(value), 200)}")
    return out[:10]  # a section holds ten fields


def _alert_line(alert: StoredAlert, zone: str) -> str:
    icon = ":red_circle:" if alert.status == FIRING else ":large_green_circle:"
    where = alert.labels.get("instance")
    place = f" ({fit(where, 80)})" if where else ""
    since = slack_date(alert.starts_at, zone)
    return f"{icon} {fit(alert.summary, 300)}{place} · since {since}"


def _status_lines(card: AlertCard, policy: Policy) -> list[str]:
    group, zone = card.group, policy_zone(policy)
    lines = []
    if group.acknowledged_at is not None:
        who = mention(group.acknowledged_by, "someone")
        lines.append(f":eyes: Acknowledged by {who} {slack_date(group.acknowledged_at, zone)}")
    lines += _page_lines(card, policy)
    if card.incident is not None:
        incident = card.incident
        where = f" in <#{incident.channel_id}>" if incident.channel_id else ""
        lines.append(f":fire: Linked to {incident.ref} {fit(incident.title, 150)}{where}")
        if incident.status.ended:
            ended = incident.resolved_at or incident.closed_at
            told = (
                f"; PagerDuty alerts resolved: {card.pagerduty_resolved}"
                if card.pagerduty_resolved
                else ""
            )
            lines.append(
                f":white_check_mark: {incident.ref} {escape(incident.status.value)} "
                f"{slack_date(ended, zone)}{told}"
            )
    for silence in card.silences[:3]:
        lines.append(
            f":no_bell: Silenced in Firewatch until {slack_date(silence.until, zone)} by "
            f"{mention(silence.by, 'someone')}: {fit(silence.reason, 200)}"
        )
    return lines


def _page_lines(card: AlertCard, policy: Policy) -> list[str]:
    """Who is paged for the group now, and the roles nobody answered for."""
    lines = []
    for page in latest_per_chain(card.pages):
        title = escape(role_title(policy, page.role))
        if page.status is AlertPageStatus.WAITING:
            lines.append(f":pager: Paging {mention(page.person, 'someone')} as {title}")
        elif page.status is AlertPageStatus.UNANSWERED:
            lines.append(f":warning: Page unanswered: nobody acknowledged for {title}")
    return lines


def _link_buttons(alerts: list[StoredAlert]) -> list[InteractiveElement]:
    seen: dict[str, str] = {}
    for alert in alerts:
        for name, url in alert.links.items():
            if name not in seen and _usable(url):
                seen[name] = url
    ordered = sorted(
        seen.items(),
        key=lambda kv: list(LINK_TITLES).index(kv[0]) if kv[0] in LINK_TITLES else len(LINK_TITLES),
    )
    out: list[InteractiveElement] = []
    for name, url in ordered[:LINK_BUTTONS_MAX]:
        title = LINK_TITLES.get(name, name.replace("_", " ").capitalize())
        out.append(
            ButtonElement(
                text=plain(title, OPTION_TEXT_MAX),
                action_id=f"{Action.ALERT_OPEN_LINK}_{name}"[:255],
                url=url,
            )
        )
    return out


def _usable(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) <= URL_MAX and " " not in url


def _buttons(card: AlertCard) -> list[InteractiveElement]:
    group, value = card.group, str(card.group.id)
    out: list[InteractiveElement] = []
    if group.acknowledged_at is None and group.status == FIRING:
        out.append(button("Acknowledge", Action.ALERT_ACKNOWLEDGE, value, style="primary"))
    if card.incident is None:
        out.append(button("Declare incident", Action.ALERT_DECLARE, value, style="danger"))
        out.append(button("Link to incident", Action.ALERT_LINK, value))
    out.append(button("Silence", Action.ALERT_SILENCE, value))
    return out


def storm_card(storm: AlertStorm, policy: Policy) -> tuple[str, list[Payload]]:
    """The groups beyond the channel's card bound, counted on one message."""
    zone = policy_zone(policy)
    text = (
        f"Alert storm: {storm.group_count} more alert groups ({storm.firing_alerts} alerts firing)"
    )
    head = (
        f":cloud_with_lightning: *Alert storm* since {slack_date(storm.opened_at, zone)}: "
        f"{storm.group_count} more alert groups ({storm.firing_groups} firing, "
        f"{storm.firing_alerts} of {storm.total_alerts} alerts firing), counted here instead "
        "of a card each."
    )
    lines = [
        f"{':red_circle:' if g.status == FIRING else ':large_green_circle:'} "
        f"{fit(g.title, 150)} · {escape(severity_label(policy, g.severity))} · "
        f"{g.firing}/{g.total} firing"
        for g in storm.groups
    ]
    blocks: list[Block] = [section(head), *sections(lines, most=3)]
    if storm.group_count > len(storm.groups):
        blocks.append(context(f"and {storm.group_count - len(storm.groups)} more groups"))
    blocks.append(context(f"Last alert {slack_date(storm.last_seen_at, zone)}"))
    return text, rendered(blocks)
