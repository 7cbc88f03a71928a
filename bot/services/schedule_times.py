"""Cron arithmetic for the policy's schedules, with APScheduler's own CronTrigger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.domain.policy import Schedule


def trigger(schedule: Schedule, timezone: str) -> CronTrigger:
    return CronTrigger.from_crontab(schedule.cron.strip(), timezone=ZoneInfo(timezone))


def next_run(schedule: Schedule, timezone: str, after: datetime) -> datetime:
    """The first scheduled time strictly after `after` (UTC)."""
    fire = trigger(schedule, timezone).get_next_fire_time(None, after + timedelta(microseconds=1))
    assert isinstance(fire, datetime)
    return fire.astimezone(UTC)


def last_run(
    schedule: Schedule,
    timezone: str,
    at_or_before: datetime,
    *,
    horizon: timedelta = timedelta(days=35),
) -> datetime | None:
    """The latest scheduled time at or before `at_or_before`, within `horizon`."""
    cron = trigger(schedule, timezone)
    fire = cron.get_next_fire_time(None, at_or_before - horizon)
    latest = None
    while fire is not None and fire <= at_or_before:
        latest = fire
        fire = cron.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest.astimezone(UTC) if latest else None
