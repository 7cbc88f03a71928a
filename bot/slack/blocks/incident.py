"""Block Kit builders: small functions from domain objects to Slack's JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.checklist import leaves
from bot.domain.incident import Incident, Kind
from bot.domain.policy import Policy
from bot.domain.timeline import TimelineEntry
from bot.slack import messages
from bot.slack.ids import Action

SLACK_OPTION_TEXT_MAX = 75
SLACK_SECTION_TEXT_MAX = 3000


escape = messages.escape


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_date(when: datetime | None) -> str:
    """Shown in each reader's own time zone by Slack."""
    if when is None:
        return "—"
    epoch = int(when.timestamp())
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def _facts(incident: Incident, policy: Policy) -> list[MarkdownTextObject]:
    severity = policy.severities.get(incident.severity)
    label = severity.label if severity else incident.severity
    channel = f"<#{incident.channel_id}>" if incident.channel_id else "—"
    return [
        MarkdownTextObject(text=f"*Severity*\n{escape(label)}"),
        MarkdownTextObject(text=f"*Status*\n{incident.status.value.capitalize()}"),
        MarkdownTextObject(text=f"*Reporter*\n<@{incident.reporter_id}>"),
        MarkdownTextObject(text=f"*Channel*\n{channel}"),
        MarkdownTextObject(text=f"*Declared*\n{slack_date(incident.declared_at)}"),
        MarkdownTextObject(text=f"*Response due*\n{slack_date(incident.response_deadline)}"),
    ]


def _section(label: str, body: str, *, escaped: bool = False) -> SectionBlock:
    text = f"*{label}*\n{(body if escaped else escape(body)) or '—'}"
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SLACK_SECTION_TEXT_MAX)))


def announcement(incident: Incident, policy: Policy) -> tuple[str, list[dict[str, Any]]]:
    text = messages.announcement_text(incident, policy)
    rich = messages.announcement_text(incident, policy, mrkdwn=True)
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=f":rotating_light: {rich}")),
        SectionBlock(fields=_facts(incident, policy)),
    ]
    return text, [b.to_dict() for b in blocks]


def incident_report(
    incident: Incident, policy: Policy, *, note: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    discovery = {m.key: m.label for m in policy.report.discovery_methods}
    text = f"Incident report · {incident.ref}: {incident.title}"
    blocks: list[Any] = []
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f":warning: {escape(note)}")]))
    blocks += [
        HeaderBlock(text=PlainTextObject(text=clip(text, 150))),
        SectionBlock(fields=_facts(incident, policy)),
        DividerBlock(),
        _section("What is happening?", incident.nature),
        _section("How was it discovered?", discovery.get(incident.discovery, incident.discovery)),
        _section("Potential impact", incident.impact),
        _section("Evidence", incident.evidence),
    ]
    if incident.service:
        blocks.append(_section("Affected service", incident.service))
    checklist = checklist_summary(incident, policy)
    if checklist:
        blocks.append(_section("Incident checklist", checklist, escaped=True))
    if incident.kind is Kind.INCIDENT and incident.is_open:
        blocks.append(
            ActionsBlock(
                block_id="report_actions",
                elements=[
                    ButtonElement(
                        text="Change severity",
                        action_id=Action.CHANGE_SEVERITY,
                        value=str(incident.id),
                    )
                ],
            )
        )
    return text, [b.to_dict() for b in blocks]


def checklist_summary(incident: Incident, policy: Policy) -> str:
    """The stored checklist answers as ticks, plus the verdict (mrkdwn, already escaped)."""
    record = incident.checklist
    if not record:
        return ""
    ticked = set(record.get("answers", []))
    lines = [
        f"{'☑' if entry.leaf.key in ticked else '☐'} {entry.number}. {escape(entry.leaf.label)}"
        for entry in leaves(policy.checklist)
    ]
    if record.get("qualifies"):
        lines.append("*Verdict:* qualifies as an incident")
    else:
        lines.append(
            "*Verdict:* does not qualify — " + escape("; ".join(record.get("failures", [])))
        )
        if record.get("override_reason"):
            lines.append(f"*Declared anyway:* {escape(record['override_reason'])}")
    return "\n".join(lines)


def _age(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def incident_list(incidents: list[Incident], policy: Policy, now: datetime) -> list[dict[str, Any]]:
    """`/incident list`: open incidents with severity, status, age and time to deadline."""
    if not incidents:
        return [SectionBlock(text=MarkdownTextObject(text="No open incidents. :tada:")).to_dict()]
    lines = []
    for incident in incidents:
        severity = policy.severities.get(incident.severity)
        label = severity.label if severity else incident.severity
        age = _age((now - incident.declared_at).total_seconds())
        if incident.response_deadline is None:
            due = "no deadline"
        else:
            left = (incident.response_deadline - now).total_seconds()
            due = f"{_age(left)} left" if left >= 0 else f"*overdue by {_age(left)}*"
        where = f"<#{incident.channel_id}>" if incident.channel_id else ""
        lines.append(
            f"*{incident.ref}* {escape(incident.title)} · {label} · "
            f"{incident.status.value} · {age} old · {due} {where}".rstrip()
        )
    header = f"*Open incidents ({len(incidents)})*"
    text = clip(header + "\n" + "\n".join(lines), SLACK_SECTION_TEXT_MAX)
    return [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]


def raci_chart(policy: Policy) -> list[dict[str, Any]]:
    """`/incident raci`: who is Responsible, Accountable, Consulted, Informed per task."""

    def names(parties: tuple[str, ...] | list[str]) -> str:
        titles = []
        for party in parties:
            role = policy.roles.get(party)
            titles.append(f"{role.title} ({party})" if role else party)
        return ", ".join(titles) or "—"

    lines = [
        f"*{escape(task.title)}*\nR: {names(task.responsible)} · A: {names([task.accountable])}"
        f" · C: {names(task.consulted)} · I: {names(task.informed)}"
        for task in policy.raci.values()
    ]
    text = clip("*RACI chart*\n\n" + "\n".join(lines), SLACK_SECTION_TEXT_MAX)
    return [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]


# A grouped echo: lines packed into mrkdwn sections (3,000 characters each at most), at
# most 50 blocks per message (Slack's limits).
ECHO_SECTION_CHARS = 2900
ECHO_MAX_BLOCKS = 50
# The message's fallback text repeats the entries; it stays whole (Slack truncates
# `text` beyond 40,000 characters).
ECHO_TEXT_CHARS = 39000


def timeline_entries(
    entries: list[TimelineEntry],
) -> tuple[str, list[dict[str, Any]], int]:
    """Timeline entries echoed in the incident channel, one line each, packed into as few
    blocks as fit; returns the fallback text, the blocks and how many entries (from the
    first) the message shows — the rest go in the next message."""
    sections: list[list[str]] = []
    size = 0
    shown = 0
    text_size = 0
    for entry in entries:
        text_size += len(entry.text) + 1
        if shown and text_size > ECHO_TEXT_CHARS:
            break
        who = f"<@{entry.actor}>" if entry.actor else "Firewatch"
        line = clip(f":memo: {escape(entry.text)} · {who} · {slack_date(entry.at)}", 2000)
        if sections and size + len(line) + 1 <= ECHO_SECTION_CHARS:
            sections[-1].append(line)
            size += len(line) + 1
        elif len(sections) < ECHO_MAX_BLOCKS:
            sections.append([line])
            size = len(line)
        else:
            break
        shown += 1
    body = [
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines))).to_dict() for lines in sections
    ]
    text = "\n".join(entry.text for entry in entries[:shown])
    return clip(text, 39000), body, max(shown, 1) if entries else 0
