"""Block Kit for an incident: its announcement and report, `/incident list` and the RACI chart."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import DividerBlock, SectionBlock

from bot.domain.checklist import leaves
from bot.domain.incident import Incident, Kind
from bot.domain.policy import Policy
from bot.services.alert_actions import LinkedAlerts
from bot.slack import messages
from bot.slack.blocks.alert_forms import alerts_section
from bot.slack.blocks.common import (
    Payload,
    SlackBlock,
    actions,
    button,
    channel_link,
    context,
    escape,
    fields,
    header,
    labelled,
    labelled_whole,
    policy_zone,
    rendered,
    section,
    sections,
    severity_label,
    slack_date,
)
from bot.slack.ids import Action, Block


def _facts(incident: Incident, policy: Policy) -> SectionBlock:
    return fields(
        f"*Severity*\n{escape(severity_label(policy, incident.severity))}",
        f"*Status*\n{incident.status.value.capitalize()}",
        f"*Reporter*\n<@{incident.reporter_id}>",
        f"*Channel*\n{channel_link(incident.channel_id, '—')}",
        f"*Declared*\n{slack_date(incident.declared_at, policy_zone(policy))}",
        f"*Response due*\n{slack_date(incident.response_deadline, policy_zone(policy))}",
    )


def announcement_text(incident: Incident, policy: Policy, *, mrkdwn: bool = False) -> str:
    """The policy's announcement template filled in, the reporter's words escaped (Slack
    parses the top-level `text` too); `mrkdwn` links the channel, the plain form is for
    notifications. The reporter is a mention in both: a notification or screen reader
    says their name (a bare user id says nothing)."""
    title = escape(incident.title)
    if mrkdwn:
        channel = channel_link(incident.channel_id, messages.THIS_THREAD)
    else:
        channel = f"#{incident.channel_name}" if incident.channel_name else messages.THE_THREAD
    reporter = f"<@{incident.reporter_id}>"
    return policy.templates.announcement.format(
        ref=incident.ref,
        number=incident.id,
        title=title,
        severity=severity_label(policy, incident.severity),
        channel=channel,
        reporter=reporter,
    )


def announcement(incident: Incident, policy: Policy) -> tuple[str, list[Payload]]:
    rich = announcement_text(incident, policy, mrkdwn=True)
    blocks = [section(f":rotating_light: {rich}"), _facts(incident, policy)]
    return announcement_text(incident, policy), rendered(blocks)


def incident_report(
    incident: Incident,
    policy: Policy,
    *,
    note: str | None = None,
    alerts: LinkedAlerts | None = None,
) -> tuple[str, list[Payload]]:
    """The report pinned in the incident's channel: the facts, the reporter's answers, the
    alerts linked to it, the checklist, and (while it is open) the button to change its
    severity."""
    discovery = {m.key: m.label for m in policy.report.discovery_methods}
    title = messages.REPORT_TITLE.format(ref=incident.ref, title=incident.title)
    blocks: list[SlackBlock] = [context(f":warning: {escape(note)}")] if note else []
    blocks += [
        header(title),  # plain text: shown as written
        *needs_triage(incident, policy),
        _facts(incident, policy),
        DividerBlock(),
        *labelled_whole("What is happening?", incident.nature, more=messages.TRUNCATED),
        labelled("How was it discovered?", discovery.get(incident.discovery, incident.discovery)),
        *labelled_whole("Potential impact", incident.impact, more=messages.TRUNCATED),
        *labelled_whole("Evidence", incident.evidence, more=messages.TRUNCATED),
    ]
    if incident.service:
        blocks += labelled_whole("Affected service", incident.service, more=messages.TRUNCATED)
    if alerts is not None:
        blocks += alerts_section(alerts, policy)
    checklist = checklist_summary(incident, policy)
    if checklist:
        blocks.append(labelled("Incident checklist", checklist, escaped=True))
    if incident.kind is Kind.INCIDENT and incident.is_open:
        severity = button(messages.CHANGE_SEVERITY, Action.CHANGE_SEVERITY, str(incident.id))
        blocks.append(actions(severity, block_id=Block.REPORT_ACTIONS))
    text = messages.REPORT_TITLE.format(ref=incident.ref, title=escape(incident.title))
    return text, rendered(blocks)


def needs_triage(incident: Incident, policy: Policy) -> list[SlackBlock]:
    """The mark of a declaration made with a fallback severity, until someone sets one."""
    triage = incident.checklist.get("needs_triage")
    if not isinstance(triage, dict) or triage.get("severity") != incident.severity:
        return []
    text = messages.NEEDS_TRIAGE.format(
        severity=escape(severity_label(policy, incident.severity)),
        submitted=escape(str(triage.get("submitted", ""))),
    )
    return [context(f":warning: {text}")]


def declared_with_fallback(ref: str, severity: str, submitted: str) -> str:
    """What the reporter of such a declaration is told (the intake's wording)."""
    return messages.DECLARED_WITH_FALLBACK.format(
        ref=ref, severity=escape(severity), submitted=escape(submitted)
    )


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
        lines.append(messages.VERDICT_QUALIFIES)
    else:
        failures = escape("; ".join(record.get("failures", [])))
        lines.append(messages.VERDICT_FAILS.format(failures=failures))
        if record.get("override_reason"):
            lines.append(messages.DECLARED_ANYWAY.format(reason=escape(record["override_reason"])))
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


def _list_line(incident: Incident, policy: Policy, now: datetime) -> str:
    if incident.response_deadline is None:
        due = messages.NO_DEADLINE
    else:
        left = (incident.response_deadline - now).total_seconds()
        due = (messages.TIME_LEFT if left >= 0 else messages.OVERDUE_BY).format(age=_age(left))
    return messages.LIST_LINE.format(
        ref=incident.ref,
        title=escape(incident.title),
        severity=severity_label(policy, incident.severity),
        status=incident.status.value,
        age=_age((now - incident.declared_at).total_seconds()),
        due=due,
        channel=channel_link(incident.channel_id, ""),
    ).rstrip()


def incident_list(incidents: list[Incident], policy: Policy, now: datetime) -> list[Payload]:
    """`/incident list`: open incidents with severity, status, age and time to deadline."""
    if not incidents:
        return rendered([section(messages.NO_OPEN_INCIDENTS)])
    lines = [_list_line(incident, policy, now) for incident in incidents]
    heading = messages.OPEN_INCIDENTS_HEADING.format(count=len(incidents))
    return rendered(sections([heading, *lines]))


def raci_chart(policy: Policy) -> list[Payload]:
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
    return rendered(sections([f"*{messages.RACI_CHART}*\n", *lines]))
