"""Declaring: the report's checks, and what a declaration stores and queues.

The pieces `IncidentService.declare_in` puts together in one transaction, apart from
the service so each can be read (and tested) on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain import business_time
from bot.domain.checklist import Verdict, evaluate
from bot.domain.incident import (
    ChannelStatus,
    Incident,
    IncidentReport,
    Kind,
    Status,
    channel_name,
    validate_report,
)
from bot.domain.policy import Policy
from bot.domain.timeline import EntryKind
from bot.services import effects
from bot.services.effects import Effect
from storage.repositories import TimelineRepository

REPORT_FIELDS = ("discovery", "nature", "impact", "evidence", "service")


def required_report_fields(policy: Policy) -> set[str]:
    """The report fields the policy makes mandatory."""
    return {name for name in REPORT_FIELDS if getattr(policy.report.fields, name).required}


class InvalidReport(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotAnIncident(Exception):
    """The checklist answers do not qualify and no reason to declare anyway was given."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__("; ".join(str(f) for f in verdict.failures))
        self.verdict = verdict


class DeclareAnywayNotAllowed(Exception):
    pass


@dataclass(frozen=True)
class DeclareOutcome:
    incident: Incident
    created: bool  # False when this submission had already declared it


def check_report(policy: Policy, report: IncidentReport) -> dict[str, str]:
    """The report's field errors under the policy (none: it may be stored)."""
    return validate_report(
        report,
        severities=list(policy.severities),
        discovery_methods=[m.key for m in policy.report.discovery_methods],
        required=required_report_fields(policy),
    )


def screen(
    policy: Policy,
    report: IncidentReport,
    checklist_answers: set[str] | None,
    override_reason: str | None,
    kind: Kind,
) -> dict[str, Any]:
    """See `IncidentService.screen`."""
    errors = check_report(policy, report)
    if errors:
        raise InvalidReport(errors)
    if checklist_answers is None:
        return {}
    verdict = evaluate(policy.checklist, checklist_answers)
    reason = (override_reason or "").strip() or None
    if kind is Kind.INCIDENT and not verdict.qualifies:
        if reason is None:
            raise NotAnIncident(verdict)
        if not policy.declare.allow_declare_anyway:
            raise DeclareAnywayNotAllowed()
    return {
        "answers": sorted(checklist_answers),
        "qualifies": verdict.qualifies,
        "failures": [str(f) for f in verdict.failures],
        "override_reason": reason if not verdict.qualifies else None,
    }


def wants_channel(policy: Policy, report: IncidentReport, kind: Kind) -> bool:
    """An incident whose severity opens a channel gets one, unless the policy's switch
    is off: then the report goes to the announcement's thread as for a severity that
    opens no channel."""
    return (
        kind is Kind.INCIDENT
        and policy.severities[report.severity].open_channel
        and policy.features.create_channels
    )


def new_record(
    report: IncidentReport, policy: Policy, kind: Kind, *, channel: bool, now: datetime
) -> dict[str, Any]:
    """The new incident's columns that come from the report and the policy."""
    is_incident = kind is Kind.INCIDENT
    severity = policy.severities[report.severity]
    return {
        "kind": kind.value,
        "title": report.title.strip(),
        "nature": report.nature.strip(),
        "discovery": report.discovery,
        "impact": report.impact.strip(),
        "evidence": report.evidence.strip(),
        "service": (report.service or "").strip() or None,
        "severity": report.severity,
        "status": (Status.INVESTIGATING if is_incident else Status.CLOSED).value,
        "channel_status": (ChannelStatus.PENDING if channel else ChannelStatus.NONE).value,
        "declared_at": now,
        "response_deadline": (
            business_time.deadline(now, severity.response_time, policy.working_time)
            if is_incident
            else None
        ),
        "closed_at": None if is_incident else now,
        "updated_at": now,
    }


async def record_declaration(
    timeline: TimelineRepository, incident: Incident, policy: Policy, now: datetime
) -> None:
    """The declaration's first entries: declared (or recorded), and the reason given for
    declaring although the checklist did not qualify."""
    label = "declared" if incident.kind is Kind.INCIDENT else "recorded as a non-incident report"
    severity = policy.severities[incident.severity]
    text = f"{incident.ref} {label}: {incident.title} ({severity.label})"
    data = {"severity": incident.severity, "kind": incident.kind.value}
    actor = incident.reporter_id
    await timeline.append(incident.id, EntryKind.DECLARED, text, at=now, actor=actor, data=data)
    reason = incident.checklist.get("override_reason")
    if reason:
        text = f"Declared although the checklist did not qualify: {reason}"
        data = {"failures": incident.checklist["failures"]}
        await timeline.append(
            incident.id, EntryKind.CHECKLIST_OVERRIDE, text, at=now, actor=actor, data=data
        )


def declaration_effects(
    incident: Incident, policy: Policy, *, channel: bool, broadcast_channel: str | None
) -> list[Effect]:
    """The declaration's Slack work: the channel made, the reporter invited, the report
    posted and pinned there (or else posted without a channel), the announcement."""
    key, number = effects.incident_channel_key(incident.id), incident.id
    queued: list[Effect] = []
    if channel:
        name = channel_name(
            policy.templates.channel_name,
            number=number,
            title=incident.title,
            severity=incident.severity,
        )
        queued += [
            effects.about(effects.CREATE_CHANNEL, key, number, name=name),
            effects.about(effects.INVITE, key, number, users=[incident.reporter_id]),
            effects.about(effects.POST_REPORT, key, number),
            effects.about(effects.PIN_REPORT, key, number),
            effects.about(effects.SYNC_CHANNEL, key, number),
        ]
    if policy.severities[incident.severity].announce and broadcast_channel:
        queued.append(
            effects.about(
                effects.ANNOUNCE, effects.BROADCAST_KEY, number, channel=broadcast_channel
            )
        )
    if not channel:
        queued.append(fallback(incident, broadcast_channel, reason=None))
    return queued


def fallback(incident: Incident, broadcast_channel: str | None, *, reason: str | None) -> Effect:
    """The report posted without a channel: in the broadcast channel, or else in a DM to
    the reporter (nowhere public to post)."""
    if broadcast_channel:
        key, channel = effects.BROADCAST_KEY, broadcast_channel
    else:
        key, channel = effects.dm_key(incident.reporter_id), incident.reporter_id
    return effects.about(effects.REPORT_FALLBACK, key, incident.id, reason=reason, channel=channel)
