"""Incident use cases: declare, and the facts the delivery layer reports back."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.domain import business_time
from bot.domain.checklist import Verdict, evaluate
from bot.domain.clock import Clock
from bot.domain.incident import (
    ChannelStatus,
    Incident,
    IncidentReport,
    Kind,
    Status,
    reference,
)
from bot.domain.policy import Policy
from bot.domain.status_page import ComponentState
from bot.domain.timeline import EntryKind
from bot.services import declaration, effects
from bot.services.base import IncidentNotFound, Service, locked_incident
from bot.services.declaration import (
    DeclareAnywayNotAllowed,
    DeclareOutcome,
    InvalidReport,
    NotAnIncident,
    required_report_fields,
)
from bot.services.effects import Effect
from bot.services.home import refresh_homes
from bot.services.status_page import known_effects, record_effects
from storage.engine import Database
from storage.outbox import OutboxRepository
from storage.repositories import DraftRepository, IncidentRepository, TimelineRepository
from storage.session import Session

__all__ = [  # the declaration's names, where the callers of the service find them
    "DeclareAnywayNotAllowed",
    "DeclareOutcome",
    "IncidentNotFound",
    "IncidentService",
    "InvalidChange",
    "InvalidReport",
    "NotAnIncident",
    "required_report_fields",
]

log = logging.getLogger(__name__)


class InvalidChange(Exception):
    """A request that cannot apply to the incident as it is (shown to the user as is)."""


SeverityHook = Callable[[Incident, str], Awaitable[None]]


# Channels whose owning incident is remembered (a few hundred bytes each).
CHANNEL_CACHE_SIZE = 10_000


class IncidentService(Service):
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        broadcast_channel: str | None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(db, policy, clock, on_commit)
        self.broadcast_channel = broadcast_channel
        self._channel_owners: dict[str, int] = {}
        # Called after a severity rises (the paging feature pages the new roles).
        self.severity_raised: list[SeverityHook] = []
        # Called after an incident is declared and committed: a nudge only. Anything that
        # must happen for every incident is driven from the database (a scheduler tick),
        # so a crash between commit and hook loses nothing.
        self.declared: list[Callable[[Incident], Awaitable[None]]] = []

    # --- declare --------------------------------------------------------------------

    def check_report(self, report: IncidentReport) -> dict[str, str]:
        return declaration.check_report(self.policy, report)

    def evaluate_checklist(self, answers: set[str]) -> Verdict:
        return evaluate(self.policy.checklist, answers)

    def screen(
        self,
        report: IncidentReport,
        *,
        checklist_answers: set[str] | None = None,
        override_reason: str | None = None,
        kind: Kind = Kind.INCIDENT,
    ) -> dict[str, Any]:
        """Check a declaration before anything is stored; returns the checklist record
        to keep with the incident. Raises InvalidReport, NotAnIncident (the answers do not
        qualify and no reason was given) or DeclareAnywayNotAllowed."""
        return declaration.screen(self.policy, report, checklist_answers, override_reason, kind)

    async def declare(
        self,
        report: IncidentReport,
        *,
        reporter_id: str,
        declare_key: str,
        checklist_answers: set[str] | None = None,
        override_reason: str | None = None,
        kind: Kind = Kind.INCIDENT,
    ) -> DeclareOutcome:
        """Store the incident and queue its channel, report and announcement.

        With checklist answers, an incident is declared only when they qualify, or with a
        written `override_reason` where the policy allows it; `kind=NON_INCIDENT` records
        the report without announcing it. Idempotent on `declare_key` (the modal's view
        id): Slack's retries and double clicks find what the first submission stored.
        """
        checklist = self.screen(
            report, checklist_answers=checklist_answers, override_reason=override_reason, kind=kind
        )
        async with self.db.session() as session:
            outcome = await self.declare_in(
                session,
                report,
                reporter_id=reporter_id,
                declare_key=declare_key,
                checklist=checklist,
                kind=kind,
                at=self.clock.now(),
            )
        return await self.declared_committed(outcome)

    async def declare_in(
        self,
        session: Session,
        report: IncidentReport,
        *,
        reporter_id: str,
        declare_key: str,
        checklist: dict[str, Any],
        kind: Kind,
        at: datetime,
    ) -> DeclareOutcome:
        """The declaration's writes, in the caller's transaction, for a screened report;
        `declared_committed` must follow the commit."""
        policy = self.policy
        if report.severity not in policy.severities:  # the policy changed since screening
            raise InvalidReport({"severity": f"unknown severity {report.severity!r}"})
        incidents = IncidentRepository(session)
        existing = await incidents.by_declare_key(declare_key)
        if existing is not None:
            return DeclareOutcome(existing, created=False)
        channel = declaration.wants_channel(policy, report, kind)
        incident = await incidents.add(
            declare_key=declare_key,
            reporter_id=reporter_id,
            checklist=checklist,
            **declaration.new_record(report, policy, kind, channel=channel, now=at),
        )
        await declaration.record_declaration(TimelineRepository(session), incident, policy, at)
        if kind is Kind.INCIDENT and report.components:
            state = ComponentState(report.component_state or ComponentState.MAJOR_OUTAGE)
            declared = known_effects(policy, report.components, state)
            await record_effects(
                session, incident, declared, policy=policy, actor=reporter_id, at=at
            )
        if kind is Kind.INCIDENT:
            queued = declaration.declaration_effects(
                incident, policy, channel=channel, broadcast_channel=self.broadcast_channel
            )
            await OutboxRepository(session).enqueue_many(queued, now=at)
            await refresh_homes(session, [reporter_id], at)
        return DeclareOutcome(incident, created=True)

    async def declared_committed(self, outcome: DeclareOutcome) -> DeclareOutcome:
        """After the declaration's commit: wake the outbox, log, run the nudges."""
        if not outcome.created:
            return outcome
        incident = outcome.incident
        is_incident = incident.kind is Kind.INCIDENT
        self._on_commit()
        log.info(
            "incident declared" if is_incident else "non-incident report recorded",
            extra={"incident": incident.ref, "severity": incident.severity},
        )
        if is_incident:
            for hook in self.declared:
                try:
                    await hook(incident)
                except Exception:
                    log.exception("declared hook failed", extra={"incident": incident.ref})
        return outcome

    # --- drafts: a declare form waiting for the reporter's decision ------------------

    async def save_draft(
        self, key: str, report: IncidentReport, answers: set[str], origin: str | None
    ) -> None:
        data = {"report": report.__dict__, "answers": sorted(answers), "origin": origin}
        async with self.db.session() as session:
            drafts = DraftRepository(session)
            await drafts.save(key, data, self.clock.now())
            await drafts.delete_older_than(self.clock.now() - timedelta(days=1))

    async def load_draft(self, key: str) -> tuple[IncidentReport, set[str]] | None:
        async with self.db.session(write=False) as session:
            data = await DraftRepository(session).get(key)
        if data is None:
            return None
        return IncidentReport(**data["report"]), set(data["answers"])

    # --- facts reported by the delivery layer ---------------------------------------

    async def get(self, incident_id: int) -> Incident:
        async with self.db.session(write=False) as session:
            incident = await IncidentRepository(session).find(incident_id)
        if incident is None:
            raise IncidentNotFound(reference(incident_id))
        return incident

    async def by_channel(self, channel_id: str) -> Incident | None:
        async with self.db.session(write=False) as session:
            return await IncidentRepository(session).by_channel(channel_id)

    async def list_open(self, limit: int = 50) -> list[Incident]:
        async with self.db.session(write=False) as session:
            return await IncidentRepository(session).list_open(limit)

    async def change_severity(
        self, incident_id: int, new_severity: str, *, actor: str, reason: str = ""
    ) -> Incident:
        """Set a new severity: recorded on the timeline, the response deadline recomputed
        from the declaration, the announcement and report updated."""
        policy = self.policy
        if new_severity not in policy.severities:
            raise InvalidChange(f"There is no severity `{new_severity}` in the policy.")
        now = self.clock.now()
        async with self.db.session() as session:
            incident = await locked_incident(session, incident_id)
            if incident.kind is not Kind.INCIDENT or incident.status is Status.CLOSED:
                raise InvalidChange(f"{incident.ref} is closed; its severity is final.")
            old = incident.severity
            if old == new_severity:
                return incident
            severity = policy.severities[new_severity]
            incident = await IncidentRepository(session).update(
                incident_id,
                severity=new_severity,
                response_deadline=business_time.deadline(
                    incident.declared_at, severity.response_time, policy.working_time
                ),
                updated_at=now,
            )
            old_label = policy.severities[old].label if old in policy.severities else old
            note = f" — {reason.strip()}" if reason.strip() else ""
            text = f"Severity changed from {old_label} to {severity.label}{note}"
            data = {"from": old, "to": new_severity, "reason": reason.strip()}
            entry = await TimelineRepository(session).append(
                incident_id, EntryKind.SEVERITY, text, at=now, actor=actor, data=data
            )
            queued = self._refresh_effects(incident)
            # Echoed once the channel exists (other entries are queued behind its
            # creation already): while it is being made, the report it will post shows
            # the new severity.
            if incident.channel_status is ChannelStatus.CREATED:
                queued += effects.echoes(incident.channel_status, [entry])
            await OutboxRepository(session).enqueue_many(queued, now=now)
        self._on_commit()
        ranks = list(policy.severities)
        if old in ranks and ranks.index(new_severity) < ranks.index(old):
            for hook in self.severity_raised:
                await hook(incident, old)
        return incident

    def _refresh_effects(self, incident: Incident) -> list[Effect]:
        """Bring the announcement and the pinned report up to date with the record."""
        queued: list[Effect] = []
        if self.broadcast_channel and self.policy.severities[incident.severity].announce:
            queued.append(
                effects.about(effects.UPDATE_ANNOUNCEMENT, effects.BROADCAST_KEY, incident.id)
            )
        return queued + effects.report_update(incident)

    async def channel_owner(self, channel_id: str) -> int | None:
        """The incident whose channel this is, if any.

        A channel belongs to one incident for good (set once, when it is created), so
        answers are cached: a note storm in a channel does not look it up every time.
        """
        cached = self._channel_owners.get(channel_id)
        if cached is not None:
            return cached
        async with self.db.session(write=False) as session:
            owner = await IncidentRepository(session).channel_owner(channel_id)
        if owner is not None:
            if len(self._channel_owners) >= CHANNEL_CACHE_SIZE:
                self._channel_owners.clear()
            self._channel_owners[channel_id] = owner
        return owner

    def forget_channel(self, channel_id: str) -> None:
        """Drop a cached owner (its incident was purged)."""
        self._channel_owners.pop(channel_id, None)

    async def channel_created(self, incident_id: int, channel_id: str, name: str) -> None:
        now = self.clock.now()
        async with self.db.session() as session:
            incident = await locked_incident(session, incident_id)
            if incident.channel_id == channel_id:
                return
            await IncidentRepository(session).update(
                incident_id,
                channel_id=channel_id,
                channel_name=name,
                channel_status=ChannelStatus.CREATED.value,
                updated_at=now,
            )
            await TimelineRepository(session).append(
                incident_id,
                EntryKind.CHANNEL,
                f"Channel #{name} created",
                at=now,
                actor=None,
                data={"channel": channel_id},
                source_key=f"channel:{incident_id}:{channel_id}",
            )

    async def channel_failed(self, incident_id: int, reason: str) -> None:
        """The channel cannot be made: the report goes to the broadcast channel instead."""
        now = self.clock.now()
        async with self.db.session() as session:
            incident = await locked_incident(session, incident_id)
            if incident.channel_status is ChannelStatus.FAILED:
                return
            incident = await IncidentRepository(session).update(
                incident_id,
                channel_status=ChannelStatus.FAILED.value,
                channel_note=reason,
                updated_at=now,
            )
            outbox = OutboxRepository(session)
            await outbox.cancel_pending(
                effects.incident_channel_key(incident_id), reason=f"no channel: {reason}"
            )
            text = f"Could not create the incident channel: {reason}"
            await TimelineRepository(session).append(
                incident_id, EntryKind.SYSTEM, text, at=now, actor=None, data={"reason": reason}
            )
            await outbox.enqueue_many(
                [declaration.fallback(incident, self.broadcast_channel, reason=reason)], now=now
            )
        self._on_commit()
        log.warning(
            "incident channel failed", extra={"incident": reference(incident_id), "reason": reason}
        )

    async def report_posted(self, incident_id: int, ts: str) -> None:
        await self._set(incident_id, report_ts=ts)

    async def announcement_posted(self, incident_id: int, channel_id: str, ts: str) -> None:
        await self._set(incident_id, announcement_channel_id=channel_id, announcement_ts=ts)

    async def _set(self, incident_id: int, **values: Any) -> None:
        """Record where Slack put something of the incident's, under its row lock."""
        async with self.db.session() as session:
            await locked_incident(session, incident_id)
            await IncidentRepository(session).update(incident_id, **values)
