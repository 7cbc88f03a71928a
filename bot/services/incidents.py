"""Incident use cases: declare, and the facts the delivery layer reports back."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
    channel_name,
    reference,
    validate_report,
)
from bot.domain.policy import Policy
from bot.domain.timeline import EntryKind, TimelineEntry
from bot.services import effects
from storage.engine import Database
from storage.models import IncidentRow
from storage.outbox import OutboxRepository
from storage.repositories import (
    DraftRepository,
    IncidentRepository,
    TimelineRepository,
    incident_from_row,
)

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


class NotAnIncident(Exception):
    """The checklist answers do not qualify and no reason to declare anyway was given."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__("; ".join(str(f) for f in verdict.failures))
        self.verdict = verdict


class DeclareAnywayNotAllowed(Exception):
    pass


class InvalidChange(Exception):
    """A request that cannot apply to the incident as it is (shown to the user as is)."""


SeverityHook = Callable[[Incident, str], Awaitable[None]]


@dataclass(frozen=True)
class DeclareOutcome:
    incident: Incident
    created: bool  # False when this submission had already declared it


# Channels whose owning incident is remembered (a few hundred bytes each).
CHANNEL_CACHE_SIZE = 10_000


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
        self._channel_owners: dict[str, int] = {}
        # Called after a severity rises (the paging feature pages the new roles).
        self.severity_raised: list[SeverityHook] = []
        # Called after an incident is declared and committed: a nudge only. Anything that
        # must happen for every incident is driven from the database (a scheduler tick),
        # so a crash between commit and hook loses nothing.
        self.declared: list[Callable[[Incident], Awaitable[None]]] = []

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
        errors = self.check_report(report)
        if errors:
            raise InvalidReport(errors)
        if checklist_answers is None:
            return {}
        verdict = self.evaluate_checklist(checklist_answers)
        reason = (override_reason or "").strip() or None
        if kind is Kind.INCIDENT and not verdict.qualifies:
            if reason is None:
                raise NotAnIncident(verdict)
            if not self.policy.declare.allow_declare_anyway:
                raise DeclareAnywayNotAllowed()
        return {
            "answers": sorted(checklist_answers),
            "qualifies": verdict.qualifies,
            "failures": [str(f) for f in verdict.failures],
            "override_reason": reason if not verdict.qualifies else None,
        }

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
        session: Any,
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
        severity = policy.severities[report.severity]
        now = at
        is_incident = kind is Kind.INCIDENT
        incidents = IncidentRepository(session)
        existing = await incidents.by_declare_key(declare_key)
        if existing is not None:
            return DeclareOutcome(incident_from_row(existing), created=False)
        # The policy's switch: with channel creation off, the report goes to the
        # announcement's thread as for a severity that opens no channel.
        wants_channel = is_incident and severity.open_channel and policy.features.create_channels
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
                status=(Status.INVESTIGATING if is_incident else Status.CLOSED).value,
                reporter_id=reporter_id,
                checklist=checklist,
                channel_status=(
                    ChannelStatus.PENDING if wants_channel else ChannelStatus.NONE
                ).value,
                declared_at=now,
                response_deadline=(
                    business_time.deadline(now, severity.response_time, policy.working_time)
                    if is_incident
                    else None
                ),
                closed_at=None if is_incident else now,
                updated_at=now,
            )
        )
        timeline = TimelineRepository(session)
        label = "declared" if is_incident else "recorded as a non-incident report"
        await timeline.append(
            incident_id=row.id,
            at=now,
            kind=EntryKind.DECLARED,
            actor=reporter_id,
            text=f"{reference(row.id)} {label}: {row.title} ({severity.label})",
            data={"severity": report.severity, "kind": kind.value},
        )
        if checklist.get("override_reason"):
            await timeline.append(
                incident_id=row.id,
                at=now,
                kind=EntryKind.CHECKLIST_OVERRIDE,
                actor=reporter_id,
                text="Declared although the checklist did not qualify: "
                + checklist["override_reason"],
                data={"failures": checklist["failures"]},
            )
        if is_incident:
            await self._queue_declaration(
                OutboxRepository(session), row, policy, wants_channel, now
            )
        return DeclareOutcome(incident_from_row(row), created=True)

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

    async def _queue_declaration(
        self,
        outbox: OutboxRepository,
        row: IncidentRow,
        policy: Policy,
        wants_channel: bool,
        now: Any,
    ) -> None:
        """The declaration's Slack work, queued with one statement."""
        key = effects.incident_channel_key(row.id)
        severity = policy.severities[row.severity]
        queued: list[tuple[str, str, dict[str, Any], int | None]] = []
        if wants_channel:
            name = channel_name(
                policy.templates.channel_name, number=row.id, title=row.title, severity=row.severity
            )
            ids = {"incident_id": row.id}
            queued += [
                (effects.CREATE_CHANNEL, key, {**ids, "name": name}, row.id),
                (effects.INVITE, key, {**ids, "users": [row.reporter_id]}, row.id),
                (effects.POST_REPORT, key, ids, row.id),
                (effects.PIN_REPORT, key, dict(ids), row.id),
            ]
        if severity.announce and self.broadcast_channel:
            payload = {"incident_id": row.id, "channel": self.broadcast_channel}
            queued.append((effects.ANNOUNCE, effects.BROADCAST_KEY, payload, row.id))
        if not wants_channel:
            queued.append(self._fallback(row, reason=None))
        await outbox.enqueue_many(queued, now=now)

    def _fallback(
        self, row: IncidentRow, *, reason: str | None
    ) -> tuple[str, str, dict[str, Any], int | None]:
        """The report posted without a channel: in the broadcast channel, or else in a
        DM to the reporter (nowhere public to post)."""
        payload = {"incident_id": row.id, "reason": reason}
        if self.broadcast_channel:
            return (
                effects.REPORT_FALLBACK,
                effects.BROADCAST_KEY,
                {**payload, "channel": self.broadcast_channel},
                row.id,
            )
        return (
            effects.REPORT_FALLBACK,
            effects.dm_key(row.reporter_id),
            {**payload, "channel": row.reporter_id},
            row.id,
        )

    # --- facts reported by the delivery layer ---------------------------------------

    async def get(self, incident_id: int) -> Incident:
        async with self.db.session(write=False) as session:
            row = await IncidentRepository(session).get(incident_id)
            if row is None:
                raise IncidentNotFound(reference(incident_id))
            return incident_from_row(row)

    async def by_channel(self, channel_id: str) -> Incident | None:
        async with self.db.session(write=False) as session:
            row = await IncidentRepository(session).by_channel(channel_id)
            return incident_from_row(row) if row is not None else None

    async def list_open(self, limit: int = 50) -> list[Incident]:
        async with self.db.session(write=False) as session:
            rows = await IncidentRepository(session).list_open(limit)
            return [incident_from_row(r) for r in rows]

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
            row = await self._locked(session, incident_id)
            if row.kind != Kind.INCIDENT.value or row.status == Status.CLOSED.value:
                raise InvalidChange(f"{reference(row.id)} is closed; its severity is final.")
            old = row.severity
            if old == new_severity:
                return incident_from_row(row)
            severity = policy.severities[new_severity]
            row.severity = new_severity
            row.response_deadline = business_time.deadline(
                row.declared_at, severity.response_time, policy.working_time
            )
            row.updated_at = now
            old_label = policy.severities[old].label if old in policy.severities else old
            note = f" — {reason.strip()}" if reason.strip() else ""
            entry = await TimelineRepository(session).append(
                incident_id=row.id,
                at=now,
                kind=EntryKind.SEVERITY,
                actor=actor,
                text=f"Severity changed from {old_label} to {severity.label}{note}",
                data={"from": old, "to": new_severity, "reason": reason.strip()},
            )
            outbox = OutboxRepository(session)
            await self._queue_refresh(outbox, row, now)
            if entry is not None and row.channel_status == ChannelStatus.CREATED.value:
                await outbox.enqueue(
                    effects.TIMELINE_ECHO,
                    effects.incident_channel_key(row.id),
                    {"incident_id": row.id, "entry_id": entry.id},
                    now=now,
                    incident_id=row.id,
                )
            incident = incident_from_row(row)
        self._on_commit()
        ranks = list(policy.severities)
        if old in ranks and ranks.index(new_severity) < ranks.index(old):
            for hook in self.severity_raised:
                await hook(incident, old)
        return incident

    async def _queue_refresh(
        self, outbox: OutboxRepository, row: IncidentRow, now: datetime
    ) -> None:
        """Bring the announcement and the pinned report up to date with the record."""
        ids = {"incident_id": row.id}
        if self.broadcast_channel and self.policy.severities[row.severity].announce:
            await outbox.enqueue(
                effects.UPDATE_ANNOUNCEMENT, effects.BROADCAST_KEY, ids, now=now, incident_id=row.id
            )
        if row.channel_status in (ChannelStatus.PENDING.value, ChannelStatus.CREATED.value):
            await outbox.enqueue(
                effects.UPDATE_REPORT,
                effects.incident_channel_key(row.id),
                ids,
                now=now,
                incident_id=row.id,
            )

    async def timeline_entry(self, entry_id: int) -> TimelineEntry | None:
        async with self.db.session(write=False) as session:
            return await TimelineRepository(session).get(entry_id)

    async def timeline_entries(self, entry_ids: list[int]) -> list[TimelineEntry]:
        """Entries by id, in the order given; ids no longer stored are left out."""
        async with self.db.session(write=False) as session:
            found = {e.id: e for e in await TimelineRepository(session).many(entry_ids)}
        return [found[i] for i in entry_ids if i in found]

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
            await outbox.enqueue_many([self._fallback(row, reason=reason)], now=now)
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
