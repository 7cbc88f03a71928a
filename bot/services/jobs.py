"""The weekly meeting's scheduled jobs, exactly once.

APScheduler only says "it is time"; what is due and what was sent lives in our tables.
A run claims its (job, scheduled time) with a unique row in `job_runs` and, in the same
transaction, queues its messages in the outbox: whichever process (or restart) claims
first does the work, and the claim and its messages commit or vanish together.

A run after the scheduled time (Firewatch was down) still happens within the policy's
`misfire_grace_minutes`, once, saying it is late; past the grace the miss is recorded and
nothing is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.clock import Clock
from bot.domain.policy import Policy, Schedule
from bot.services import effects
from bot.services.base import Service
from bot.services.digest import (
    FOLLOWUP_REMINDER,
    POSTMORTEM_REMINDER,
    DigestService,
    meeting_id,
)
from bot.services.outbox_worker import default_worker_id
from bot.services.schedule_times import last_run, next_run
from storage.digest_repository import DigestRepository, RunAlreadyClaimed
from storage.engine import Database
from storage.outbox import OutboxRepository
from storage.session import Session

log = logging.getLogger(__name__)

WEEKLY_DIGEST = "weekly_digest"
POSTMORTEM_REMINDER_JOB = "postmortem_reminder"
FOLLOWUP_REMINDER_JOB = "followup_reminder"
PURGE_JOB = "purge"
JOBS = (WEEKLY_DIGEST, POSTMORTEM_REMINDER_JOB, FOLLOWUP_REMINDER_JOB, PURGE_JOB)

# Within this of the scheduled time a run is on time (APScheduler wakes us a little late).
ON_TIME = timedelta(seconds=60)


class Outcome(StrEnum):
    RAN = "ran"
    LATE = "late"  # ran after a restart, within the grace period
    MISSED = "missed"  # past the grace period: recorded, nothing sent
    SKIPPED = "skipped"  # the first start of a new database: nothing to catch up


@dataclass(frozen=True)
class JobResult:
    job: str
    scheduled_for: datetime
    outcome: Outcome
    messages: int  # outbox rows queued


def schedule_of(policy: Policy, job: str) -> Schedule:
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}; known: {', '.join(JOBS)}")
    schedule: Schedule = getattr(policy.schedules, job)
    return schedule


class JobRunner(Service):
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        timezone: str,
        worker_id: str | None = None,
        on_commit: Callable[[], None] | None = None,
        *,
        digest: DigestService | None = None,
    ) -> None:
        super().__init__(db, policy, clock, on_commit)
        self.timezone = timezone
        self.worker_id = worker_id or default_worker_id()
        self.digest = digest or DigestService(db, policy, clock, timezone=timezone)
        # The retention purge, when the composition root gives one (features.purge_job).
        self.purge: Callable[[], Awaitable[object]] | None = None

    def outcome_for(self, scheduled_for: datetime, now: datetime) -> Outcome:
        lateness = now - scheduled_for
        if lateness <= ON_TIME:
            return Outcome.RAN
        if lateness <= timedelta(minutes=self.policy.schedules.misfire_grace_minutes):
            return Outcome.LATE
        return Outcome.MISSED

    async def run(self, job: str, *, now: datetime, first_start: bool = False) -> JobResult | None:
        """Run `job` for its latest scheduled time at or before `now`, unless some process
        already did. Returns None when there was nothing to do (no scheduled time in the
        horizon, scheduled jobs switched off, or already claimed)."""
        policy = self.policy
        if not policy.features.scheduled_jobs:
            return None
        scheduled = last_run(schedule_of(policy, job), self.timezone, now)
        if scheduled is None:
            return None
        outcome = Outcome.SKIPPED if first_start else self.outcome_for(scheduled, now)
        try:
            async with self.db.session() as session:
                # The claim comes first: on SQLite it takes the write lock at once.
                await DigestRepository(session).claim_run(
                    job, scheduled, outcome=outcome.value, at=now, worker=self.worker_id
                )
                sent = 0
                if outcome in (Outcome.RAN, Outcome.LATE):
                    late = scheduled if outcome is Outcome.LATE else None
                    sent = await self._enqueue(session, job, scheduled, now, late)
        except RunAlreadyClaimed:
            log.debug("job %s at %s already claimed", job, scheduled.isoformat())
            return None
        log.info(
            "scheduled job %s",
            outcome.value,
            extra={"job": job, "scheduled_for": scheduled.isoformat(), "messages": sent},
        )
        if sent:
            self._on_commit()
        if job == PURGE_JOB and outcome in (Outcome.RAN, Outcome.LATE) and self.purge is not None:
            # Claimed once above; the purge itself runs in its own short transactions.
            await self.purge()
        return JobResult(job, scheduled, outcome, sent)

    async def catch_up(self, now: datetime) -> list[JobResult]:
        """At start: run each job once for its latest scheduled time, late or missed if
        Firewatch was down then. A job this database has never run is not caught up: a new
        install does not post for a week it did not see."""
        results = []
        for job in JOBS:
            async with self.db.session(write=False) as session:
                seen = await DigestRepository(session).has_runs(job)
            result = await self.run(job, now=now, first_start=not seen)
            if result is not None:
                results.append(result)
        return results

    # --- what each job sends --------------------------------------------------------------

    async def _enqueue(
        self, session: Session, job: str, scheduled: datetime, now: datetime, late: datetime | None
    ) -> int:
        """Queue what `job` sends; `late` (its scheduled time, when it runs late) makes each
        message say when Firewatch was down (the Slack layer words it, in a Slack date)."""
        since_down = late.isoformat() if late else None
        policy = self.policy
        if job == PURGE_JOB:
            return 0
        if job == WEEKLY_DIGEST:
            channel = policy.schedules.weekly_digest.channel
            if not channel:
                log.warning("schedules.weekly_digest.channel is not set: no digest posted")
                return 0
            period = self.digest.meeting_period(scheduled)
            await self.digest.enqueue_digest(
                session,
                period,
                channel=channel,
                meeting=meeting_id(scheduled),
                note=None,
                late_since=since_down,
                now=now,
            )
            return 1
        outbox = OutboxRepository(session)
        if job == POSTMORTEM_REMINDER_JOB:
            digest_schedule = policy.schedules.weekly_digest
            since = last_run(digest_schedule, self.timezone, now) or now - timedelta(days=7)
            meeting_at = next_run(digest_schedule, self.timezone, now)
            owed = await self.digest.owed_by(session, since=since, now=now)
            owners = sorted({o.owner_id for o in owed if o.owner_id})
            for owner in owners:
                await outbox.enqueue(
                    POSTMORTEM_REMINDER,
                    effects.dm_key(owner),
                    {
                        "user": owner,
                        "since": since.isoformat(),
                        "meeting_at": meeting_at.isoformat(),
                        "late_since": since_down,
                    },
                    now=now,
                )
            return len(owners)
        owners = await self.digest.overdue_owners(session, now)
        for owner in owners:
            await outbox.enqueue(
                FOLLOWUP_REMINDER,
                effects.dm_key(owner),
                {"user": owner, "late_since": since_down},
                now=now,
            )
        return len(owners)
