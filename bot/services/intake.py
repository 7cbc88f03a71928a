"""The declaration intake: a declare-modal submission is answered once it is stored.

Declaring writes an incident, its first timeline entry and five outbox rows, and its
nudges page the response team: about ten milliseconds of work on our machines. Slack
gives the submission 3 seconds, and under a storm of declarations those milliseconds
queue behind each other (at 200 submissions a second the answers took seconds). So the
answer waits only for one durable row per submission, written with group commit; the
intake worker declares from those rows right after, in submission order, stepping out of
the way of requests being answered. A crash between the two loses nothing: the row stays
until the transaction that declares its incident deletes it.

Nothing is dropped in silence (issue 21 item 4):

* a submission whose severity a policy reload removed since the answer is declared with
  a fallback severity (the policy's declare.fallback_severity, else the least severe),
  marked "needs triage" on the report and the timeline, and the reporter is told through
  the outbox;
* a row whose declaring fails (any exception) is tried again with back-off, and after
  `max_attempts` tries is moved aside: kept, counted in /health, listed by
  `firewatch intake list` and put back by `firewatch intake retry`. Each pass reads only
  rows that are due, so failing rows never hold back the ones behind them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

from bot.domain.clock import Clock
from bot.domain.incident import Incident, IncidentReport, Kind
from bot.domain.policy import Policy
from bot.domain.timeline import EntryKind
from bot.runtime.load import RequestLoad
from bot.services import effects
from bot.services.group_commit import GroupCommit
from bot.services.incidents import DeclareOutcome, IncidentService
from bot.services.polling import QueueWorker
from storage import intake
from storage.engine import Database
from storage.outbox import OutboxRepository
from storage.repositories import TimelineRepository
from storage.session import Session

log = logging.getLogger(__name__)

BATCH = 50
MAX_ATTEMPTS = 5  # FIREWATCH_INTAKE_MAX_ATTEMPTS
# The wait before trying a failed row again doubles from this, up to the cap.
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)

# What the reporter of a declaration made with a fallback severity is told (the Slack
# layer's sentence): wording(incident ref, severity label used, severity chosen).
FallbackWording = Callable[[str, str, str], str]


def fallback_severity(policy: Policy) -> str:
    """The severity a declaration falls back to: the policy's `declare.fallback_severity`,
    else its least severe (severities are listed most severe first)."""
    chosen = policy.declare.fallback_severity
    return chosen if chosen in policy.severities else policy.severity_keys[-1]


class Unreadable(Exception):
    """A stored submission that cannot be read back (moved aside at once)."""


class DeclarationIntake(QueueWorker):
    _log = log
    _failure_log = "declaration intake failed; retrying"

    def __init__(
        self,
        db: Database,
        incidents: IncidentService,
        clock: Clock,
        *,
        load: RequestLoad | None = None,
        poll_seconds: float = 1.0,
        max_attempts: int = MAX_ATTEMPTS,
        wording: FallbackWording | None = None,
    ) -> None:
        self.db = db
        self.incidents = incidents
        self.clock = clock
        self.load = load
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        # Given by the composition root; without it the reporter is not told (tests).
        self.wording = wording
        self._commit: GroupCommit[tuple[str, dict[str, Any]], None] = GroupCommit(self._write)
        self._wake = asyncio.Event()
        # Called in a new declaration's transaction with the stored submission's data
        # (an alert's declaration links its alert group there).
        self.declared_with: list[
            Callable[[Session, Incident, dict[str, Any]], Awaitable[None]]
        ] = []

    async def submit(
        self,
        report: IncidentReport,
        *,
        reporter_id: str,
        declare_key: str,
        checklist_answers: set[str],
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Screen the submission (raises InvalidReport or NotAnIncident, nothing stored)
        and store it; returns once it is committed. Idempotent on `declare_key`.
        `extra`: stored beside the report for the `declared_with` hooks."""
        checklist = self.incidents.screen(report, checklist_answers=checklist_answers)
        data = {
            **(extra or {}),
            "report": asdict(report),
            "reporter_id": reporter_id,
            "checklist": checklist,
        }
        await self._commit.submit((declare_key, data))
        self._wake.set()

    async def _write(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[None]:
        now = self.clock.now()
        # One statement, safe to repeat (a stored key is left as it is): on PostgreSQL
        # one round trip in autocommit, where a transaction would add three.
        await intake.store_many(self.db, items, now=now)
        return [None] * len(items)

    async def pending(self) -> int:
        return (await self.backlog())[0]

    async def _stats(self, session: Session) -> tuple[int, datetime | None]:
        # submissions waiting to be declared (not those moved aside)
        return await intake.stats(session)

    async def set_aside(self) -> int:
        """Submissions moved aside after failing `max_attempts` times."""
        async with self.db.session(write=False) as session:
            return await intake.set_aside_count(session)

    async def run_once(self, limit: int = BATCH) -> int:
        """Declare the oldest submissions that are due; returns how many were tried (a
        failure is rescheduled, so the next pass reads the rows behind it)."""
        async with self.db.session(write=False) as session:
            items = await intake.due(session, limit, now=self.clock.now())
        for item in items:
            if self.load is not None:
                await self.load.gap()
            try:
                await self.declare(item)
            except Exception as exc:  # the others go on; this one waits, or moves aside
                await self._failed(item, exc)
        return len(items)

    async def declare(self, item: intake.IntakeItem) -> DeclareOutcome | None:
        report, reporter_id, checklist = _read(item)
        policy = self.incidents.policy
        submitted = report.severity
        triage = submitted not in policy.severities  # a reload removed it since the answer
        if triage:
            report = replace(report, severity=fallback_severity(policy))
            checklist["needs_triage"] = {"submitted": submitted, "severity": report.severity}
        async with self.db.session(background=True) as session:
            if not await intake.claim(session, item.id):
                return None  # another replica declared it
            outcome = await self.incidents.declare_in(
                session,
                report,
                reporter_id=reporter_id,
                declare_key=item.declare_key,
                checklist=checklist,
                kind=Kind.INCIDENT,
                at=item.received_at,
            )
            if triage and outcome.created:
                await self._needs_triage(session, outcome.incident, policy, submitted)
            if outcome.created:
                for hook in self.declared_with:
                    await hook(session, outcome.incident, item.data)
        if triage:
            log.warning(
                "declared with a fallback severity: the one chosen is no longer in the policy",
                extra={"intake": item.id, "submitted": submitted, "severity": report.severity},
            )
        return await self.incidents.declared_committed(outcome)

    async def _needs_triage(
        self, session: Session, incident: Incident, policy: Policy, submitted: str
    ) -> None:
        """The mark on the timeline (echoed in the channel) and the reporter's notice."""
        now = self.clock.now()
        label = policy.severities[incident.severity].label
        text = (
            f"Needs triage: declared as {label} because the severity chosen, {submitted!r},"
            " is no longer in the policy"
        )
        data = {"needs_triage": True, "submitted": submitted, "severity": incident.severity}
        entry = await TimelineRepository(session).append(
            incident.id, EntryKind.SYSTEM, text, at=now, actor=None, data=data
        )
        queued = effects.echoes(incident.channel_status, [entry])
        if self.wording is not None:
            user = incident.reporter_id
            notice = {
                "user": user,
                "channel": user,
                "text": self.wording(incident.ref, label, submitted),
            }
            queued.append((effects.EPHEMERAL, f"ephemeral:{user}", notice, incident.id))
        await OutboxRepository(session).enqueue_many(queued, now=now)

    async def _failed(self, item: intake.IntakeItem, exc: Exception) -> None:
        """Count the failure: try again after a back-off, or move the row aside."""
        attempts = item.attempts + 1
        now = self.clock.now()
        aside = isinstance(exc, Unreadable) or attempts >= self.max_attempts
        delay = min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_CAP)
        retry_at: datetime | None = None if aside else now + delay
        error = f"{type(exc).__name__}: {exc}"
        log.error(
            "could not declare a stored submission; moved aside"
            if aside
            else "could not declare a stored submission; retrying",
            exc_info=exc,
            extra={"intake": item.id, "attempts": attempts, "error": error},
        )
        async with self.db.session(background=True) as session:
            await intake.failed(session, item.id, error=error, now=now, retry_at=retry_at)


def _read(item: intake.IntakeItem) -> tuple[IncidentReport, str, dict[str, Any]]:
    try:
        report = IncidentReport(**item.data["report"])
        return report, str(item.data["reporter_id"]), dict(item.data.get("checklist") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise Unreadable(f"unreadable declaration: {exc}") from exc
