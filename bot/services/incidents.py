"""Incident use cases: declare, and the facts the delivery layer reports back."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.domain import business_time
from bot.domain.incident import (
    ChannelStatus,
    Incident,
    IncidentReport,
    Kind,
    Status,
    channel_name,
    reference,
    validate_report,
)
from bot.domain.policy import Policy
from bot.domain.timeline import EntryKind
from bot.services import effects
from storage.engine import Database
from storage.models import IncidentRow
from storage.outbox import OutboxRepository
from storage.repositories import IncidentRepository, TimelineRepository, incident_from_row

log = logging.getLogger(__name__)


REPORT_FIELDS = ("discovery", "nature", "impact", "evidence", "service")


def required_report_fields(policy: Policy) -> set[str]:
    """The report fields the policy makes mandatory."""
    return {name for name in REPORT_FIELDS if getattr(policy.report.fields, name).required}


class InvalidReport(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class IncidentNotFound(Exception):
    pass


@dataclass(frozen=True)
class DeclareOutcome:
    incident: Incident
    created: bool  # False when this submission had already declared it


class IncidentService:
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        broadcast_channel: str | None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self._policy = policy
        self.clock = clock
        self.broadcast_channel = broadcast_channel
        self._on_commit = on_commit or (lambda: None)

    @property
    def policy(self) -> Policy:
        return self._policy()

    # --- declare --------------------------------------------------------------------

    def check_report(self, report: IncidentReport) -> dict[str, str]:
        policy = self.policy
        return validate_report(
            report,
            severities=list(policy.severities),
            discovery_methods=[m.key for m in policy.report.discovery_methods],
            required=required_report_fields(policy),
        )

    async def declare(
        self,
        report: IncidentReport,
        *,
        reporter_id: str,
        declare_key: str,
        checklist: dict[str, Any] | None = None,
        kind: Kind = Kind.INCIDENT,
    ) -> DeclareOutcome:
        """Store the incident and queue its channel, report and announcement.

        Idempotent on `declare_key` (the modal's view id): Slack's retries and double
        clicks find the incident the first submission stored.
        """
        errors = self.check_report(report)
        if errors:
            raise InvalidReport(errors)
        policy = self.policy
        severity = policy.severities[report.severity]
        now = self.clock.now()
        async with self.db.session() as session:
            incidents = IncidentRepository(session)
            existing = await incidents.by_declare_key(declare_key)
            if existing is not None:
                return DeclareOutcome(incident_from_row(existing), created=False)
            wants_channel = kind is Kind.INCIDENT and severity.open_channel
            row = await incidents.add(
                IncidentRow(
                    declare_key=declare_key,
                    kind=kind.value,
                    title=report.title.strip(),
                    nature=report.nature.strip(),
                    discovery=report.discovery,
                    impact=report.impact.strip(),
                    evidence=report.evidence.strip(),
                    service=(report.service or "").strip() or None,
                    severity=report.severity,
                    status=Status.INVESTIGATING.value,
                    reporter_id=reporter_id,
                    checklist=checklist or {},
                    channel_status=(
                        ChannelStatus.PENDING if wants_channel else ChannelStatus.NONE
                    ).value,
                    declared_at=now,
                    response_deadline=business_time.deadline(
                        now, severity.response_time, policy.working_time
                    ),
                    updated_at=now,
                )
            )
            await TimelineRepository(session).append(
                incident_id=row.id,
                at=now,
                kind=EntryKind.DECLARED,
                actor=reporter_id,
                text=f"{reference(row.id)} declared: {row.title} ({severity.label})",
                data={"severity": report.severity, "kind": kind.value},
            )
            outbox = OutboxRepository(session)
            if kind is Kind.INCIDENT:
                await self._queue_declaration(outbox, row, policy, wants_channel, now)
            incident = incident_from_row(row)
        self._on_commit()
        log.info(
            "incident declared", extra={"incident": incident.ref, "severity": incident.severity}
        )
        return DeclareOutcome(incident, created=True)

    async def _queue_declaration(
        self,
        outbox: OutboxRepository,
        row: IncidentRow,
        policy: Policy,
        wants_channel: bool,
        now: Any,
    ) -> None:
        key = effects.incident_channel_key(row.id)
        severity = policy.severities[row.severity]
        if wants_channel:
            name = channel_name(
                policy.templates.channel_name, number=row.id, title=row.title, severity=row.severity
            )
            ids = {"incident_id": row.id}
            await outbox.enqueue(
                effects.CREATE_CHANNEL, key, {**ids, "name": name}, now=now, incident_id=row.id
            )
            await outbox.enqueue(
                effects.INVITE,
                key,
                {**ids, "users": [row.reporter_id]},
                now=now,
                incident_id=row.id,
            )
            await outbox.enqueue(effects.POST_REPORT, key, ids, now=now, incident_id=row.id)
            await outbox.enqueue(effects.PIN_REPORT, key, ids, now=now, incident_id=row.id)
        if severity.announce and self.broadcast_channel:
            await outbox.enqueue(
                effects.ANNOUNCE,
                effects.BROADCAST_KEY,
                {"incident_id": row.id, "channel": self.broadcast_channel},
                now=now,
                incident_id=row.id,
            )
        if not wants_channel:
            await self._queue_fallback(outbox, row, now, reason=None)

    async def _queue_fallback(
        self, outbox: OutboxRepository, row: IncidentRow, now: Any, *, reason: str | None
    ) -> None:
        payload = {"incident_id": row.id, "reason": reason}
        if self.broadcast_channel:
            await outbox.enqueue(
                effects.REPORT_FALLBACK,
                effects.BROADCAST_KEY,
                {**payload, "channel": self.broadcast_channel},
                now=now,
                incident_id=row.id,
            )
        else:  # nowhere public to post: the reporter gets the report in a DM
            await outbox.enqueue(
                effects.REPORT_FALLBACK,
                effects.dm_key(row.reporter_id),
                {**payload, "channel": row.reporter_id},
                now=now,
                incident_id=row.id,
            )

    # --- facts reported by the delivery layer ---------------------------------------

    async def get(self, incident_id: int) -> Incident:
        async with self.db.session(write=False) as session:
            row = await IncidentRepository(session).get(incident_id)
            if row is None:
                raise IncidentNotFound(reference(incident_id))
            return incident_from_row(row)

    async def channel_owner(self, channel_id: str) -> int | None:
        async with self.db.session(write=False) as session:
            return await IncidentRepository(session).channel_owner(channel_id)

    async def channel_created(self, incident_id: int, channel_id: str, name: str) -> None:
        now = self.clock.now()
        async with self.db.session() as session:
            row = await self._locked(session, incident_id)
            if row.channel_id == channel_id:
                return
            row.channel_id, row.channel_name = channel_id, name
            row.channel_status = ChannelStatus.CREATED.value
            row.updated_at = now
            await TimelineRepository(session).append(
                incident_id=incident_id,
                at=now,
                kind=EntryKind.CHANNEL,
                actor=None,
                text=f"Channel #{name} created",
                data={"channel": channel_id},
                source_key=f"channel:{incident_id}:{channel_id}",
            )

    async def channel_failed(self, incident_id: int, reason: str) -> None:
        """The channel cannot be made: the report goes to the broadcast channel instead."""
        now = self.clock.now()
        async with self.db.session() as session:
            row = await self._locked(session, incident_id)
            if row.channel_status == ChannelStatus.FAILED.value:
                return
            row.channel_status = ChannelStatus.FAILED.value
            row.channel_note = reason
            row.updated_at = now
            outbox = OutboxRepository(session)
            await outbox.cancel_pending(
                effects.incident_channel_key(incident_id), reason=f"no channel: {reason}"
            )
            await TimelineRepository(session).append(
                incident_id=incident_id,
                at=now,
                kind=EntryKind.SYSTEM,
                actor=None,
                text=f"Could not create the incident channel: {reason}",
                data={"reason": reason},
            )
            await self._queue_fallback(outbox, row, now, reason=reason)
        self._on_commit()
        log.warning(
            "incident channel failed", extra={"incident": reference(incident_id), "reason": reason}
        )

    async def report_posted(self, incident_id: int, ts: str) -> None:
        async with self.db.session() as session:
            row = await self._locked(session, incident_id)
            row.report_ts = ts

    async def announcement_posted(self, incident_id: int, channel_id: str, ts: str) -> None:
        async with self.db.session() as session:
            row = await self._locked(session, incident_id)
            row.announcement_channel_id, row.announcement_ts = channel_id, ts

    async def _locked(self, session: Any, incident_id: int) -> IncidentRow:
        row = await IncidentRepository(session).get(incident_id, for_update=True)
        if row is None:
            raise IncidentNotFound(reference(incident_id))
        return row
