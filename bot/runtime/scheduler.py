"""APScheduler, in memory, only to say when: one cron job per policy schedule.

The trigger is ours (`PolicyTrigger`), not APScheduler's `CronTrigger`: APScheduler 3
counts day-of-week 0 as Monday and fires a local time twice when the clocks go back.
`bot.services.schedule_times` reads cron as cron does and gives each local time one
instant, the same one `JobRunner` claims, so a local time runs once.

APScheduler 3's guide: a job store must never be shared between schedulers. Each process
keeps its own in-memory store and every trigger calls `JobRunner.run`, whose claim row
in the database makes each scheduled time happen once across processes and restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from bot.config import ConfigError
from bot.domain.clock import Clock
from bot.domain.cron import CronError
from bot.domain.policy import Policy, Schedule
from bot.services import schedule_times
from bot.services.jobs import JOBS, JobRunner, schedule_of
from storage.engine import background_writes

log = logging.getLogger(__name__)


class PolicyTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 is untyped
    """A policy schedule as an APScheduler trigger: fires at `schedule_times`' instants."""

    def __init__(self, schedule: Schedule, timezone: str) -> None:
        schedule_times.parsed(schedule.cron.strip())  # raises CronError now, not when due
        self.schedule = schedule
        self.timezone = ZoneInfo(timezone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first run at or after `now` (and after the previous one), as APScheduler's
        CronTrigger answers."""
        start = now if previous_fire_time is None else min(now, previous_fire_time)
        fire = schedule_times.next_run(
            self.schedule, self.timezone.key, start - timedelta(microseconds=1)
        )
        if previous_fire_time is not None and fire <= previous_fire_time:
            fire = schedule_times.next_run(self.schedule, self.timezone.key, previous_fire_time)
        return fire.astimezone(self.timezone)

    def __str__(self) -> str:
        return f"cron[{self.schedule.cron.strip()}, {self.timezone.key}]"


def triggers(policy: Policy, timezone: str) -> dict[str, PolicyTrigger]:
    """Each job's trigger; an invalid expression is a configuration error naming the
    policy key."""
    out = {}
    for job in JOBS:
        schedule = schedule_of(policy, job)
        try:
            out[job] = PolicyTrigger(schedule, timezone)
        except CronError as exc:
            raise ConfigError(
                f"FIREWATCH_POLICY_FILE: schedules.{job}.cron: invalid cron expression "
                f"{schedule.cron.strip()!r}: {exc}"
            ) from None
    return out


def upcoming_runs(policy: Policy, timezone: str, now: datetime, count: int = 3) -> list[str]:
    """One line per schedule: its expression and its next `count` runs in `timezone`
    (what `firewatch check-config` and `firewatch policy show` print)."""
    zone = ZoneInfo(timezone)
    lines = []
    for job, trigger in triggers(policy, timezone).items():
        runs = schedule_times.next_runs(trigger.schedule, timezone, now, count)
        when = ", ".join(f"{run.astimezone(zone):%a %Y-%m-%d %H:%M %Z}" for run in runs)
        lines.append(f"{job} ({trigger.schedule.cron.strip()}): {when}")
    return lines


class Scheduler:
    def __init__(self, runner: JobRunner, clock: Clock, timezone: str) -> None:
        self.runner = runner
        self.clock = clock
        self.timezone = timezone
        self._scheduler: Any = None

    def _build(self, policy: Policy) -> Any:
        grace = policy.schedules.misfire_grace_minutes * 60
        scheduler = AsyncIOScheduler(
            timezone=ZoneInfo(self.timezone),
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                # APScheduler's own grace (None: always fire); the runner decides late/missed.
                "misfire_grace_time": grace or None,
            },
        )
        for job, trigger in triggers(policy, self.timezone).items():
            scheduler.add_job(self._fire, trigger, args=[job], id=job, name=job)
        return scheduler

    async def _fire(self, job: str) -> None:
        try:
            with background_writes():
                await self.runner.run(job, now=self.clock.now())
        except Exception:
            log.exception("scheduled job %s failed", job)

    async def start(self) -> None:
        """Check the schedules, catch up on runs missed while down, then keep time."""
        scheduler = self._build(self.runner.policy)  # a ConfigError before anything runs
        # (With features.scheduled_jobs off, the runner does nothing when triggered.)
        await self.runner.catch_up(self.clock.now())
        scheduler.start()
        self._scheduler = scheduler

    def reschedule(self, policy: Policy) -> None:
        """The policy changed (a reload): new triggers, same runner."""
        if self._scheduler is None:
            return
        try:
            for job, trigger in triggers(policy, self.timezone).items():
                self._scheduler.reschedule_job(job, trigger=trigger)
        except ConfigError as exc:
            log.error("schedules unchanged: %s", exc)

    def next_runs(self) -> dict[str, datetime | None]:
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None


class JobObserver(Protocol):
    """Told of each scheduled run's outcome (bot.runtime.metrics.Metrics is one)."""

    def job_run(self, job_id: str, outcome: str) -> None: ...

    def job_missed(self, job_id: str) -> None: ...


def job_listener(observer: JobObserver) -> tuple[Callable[[Any], None], int]:
    """A listener and event mask for APScheduler 3:
    `scheduler.add_listener(*job_listener(metrics))`."""

    def listener(job_event: Any) -> None:
        job_id = str(getattr(job_event, "job_id", "unknown"))
        code = getattr(job_event, "code", 0)
        if code in (EVENT_JOB_MISSED, EVENT_JOB_MAX_INSTANCES):
            observer.job_missed(job_id)
        elif code == EVENT_JOB_ERROR:
            observer.job_run(job_id, "error")
        elif code == EVENT_JOB_EXECUTED:
            observer.job_run(job_id, "ok")

    mask = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
    return listener, int(mask)
