"""Cron arithmetic for the policy's schedules, in FIREWATCH_TIMEZONE, as cron reads them
(`bot.domain.cron`: day-of-week 0 and 7 are Sunday; each local time runs once across a
change of daylight saving time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.domain import cron
from bot.domain.policy import Schedule


@lru_cache(maxsize=64)
def parsed(expression: str) -> cron.Cron:
    """The parsed expression (raises cron.CronError)."""
    return cron.parse(expression)


def next_run(schedule: Schedule, timezone: str, after: datetime) -> datetime:
    """The first scheduled time strictly after `after` (UTC)."""
    return cron.next_after(parsed(schedule.cron.strip()), ZoneInfo(timezone), after)


def next_runs(schedule: Schedule, timezone: str, after: datetime, count: int = 3) -> list[datetime]:
    """The next `count` scheduled times after `after` (UTC)."""
    return cron.upcoming(parsed(schedule.cron.strip()), ZoneInfo(timezone), after, count)


def last_run(
    schedule: Schedule,
    timezone: str,
    at_or_before: datetime,
    *,
    horizon: timedelta = timedelta(days=35),
) -> datetime | None:
    """The latest scheduled time at or before `at_or_before`, within `horizon`."""
    expression = parsed(schedule.cron.strip())
    latest = cron.last_at_or_before(expression, ZoneInfo(timezone), at_or_before, horizon=horizon)
    return latest.astimezone(UTC) if latest else None
