"""Cron expressions as people read them, in a local time zone.

Five fields, `minute hour day-of-month month day-of-week`, with the meaning of standard
(Vixie) cron: numbers, `*`, ranges (`1-5`), lists (`1,3`), steps (`*/15`, `0-30/10`),
month names (`JAN`…`DEC`) and day names (`SUN`…`SAT`). Day-of-week 0 and 7 are Sunday,
1 is Monday. When both day-of-month and day-of-week are restricted, a day matches
either (cron's rule); `?` reads as `*`.

A schedule names local times. Each local time runs once, at one instant:

* a local time that happens twice (the hour repeated when daylight saving time ends)
  runs at its first occurrence;
* a local time that does not happen (the hour skipped when it begins) runs at the first
  instant after it, the moment the clocks jump.

So the instant of a local time is a function of the local time alone, and a run keyed by
that instant is keyed by the local time: nothing runs twice, nothing is skipped. Several
skipped local times (`*/15` in the skipped hour) share one instant and run once together.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# How far next/previous look for a matching day (a 29 February on a Monday is 28 years).
SEARCH_DAYS = 366 * 29
# More than any zone has turned its clocks back by at once.
FALL_BACK_MARGIN = timedelta(hours=3)


class CronError(ValueError):
    """An expression that is not a valid five-field cron expression."""


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]  # of the month
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday
    days_restricted: bool
    weekdays_restricted: bool

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return by_day or by_weekday
        return by_day and by_weekday

    def matches(self, local: datetime) -> bool:
        """Whether a naive local wall-clock time is one of the schedule's."""
        return (
            local.minute in self.minutes
            and local.hour in self.hours
            and self.matches_day(local.date())
        )

    def times_on(self, day: date, bound: time | None = None) -> Iterator[datetime]:
        """The day's scheduled local (naive) times at or after `bound`, in order."""
        if not self.matches_day(day):
            return
        for hour in self.hours:
            if bound is not None and hour < bound.hour:
                continue
            for minute in self.minutes:
                if bound is not None and (hour, minute) < (bound.hour, bound.minute):
                    continue
                yield datetime.combine(day, time(hour, minute))

    def times_back(self, day: date, bound: time | None = None) -> Iterator[datetime]:
        """The day's scheduled local (naive) times at or before `bound`, latest first."""
        if not self.matches_day(day):
            return
        for hour in reversed(self.hours):
            if bound is not None and hour > bound.hour:
                continue
            for minute in reversed(self.minutes):
                if bound is not None and (hour, minute) > (bound.hour, bound.minute):
                    continue
                yield datetime.combine(day, time(hour, minute))


def parse(expression: str) -> Cron:
    """Parse a five-field expression; raises CronError saying which field is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(f"expected 5 fields, got {len(fields)}")
    minute, hour, dom, month, dow = fields
    cron = Cron(
        minutes=tuple(sorted(_field(minute, 0, 59, {}, "minute"))),
        hours=tuple(sorted(_field(hour, 0, 23, {}, "hour"))),
        days=frozenset(_field(dom, 1, 31, {}, "day-of-month")),
        months=frozenset(_field(month, 1, 12, MONTHS, "month")),
        weekdays=frozenset(d % 7 for d in _field(dow, 0, 7, DAYS, "day-of-week")),
        days_restricted=dom not in ("*", "?"),
        weekdays_restricted=dow not in ("*", "?"),
    )
    if not (cron.days_restricted and cron.weekdays_restricted) and not any(
        day <= calendar.monthrange(2024, month)[1] for month in cron.months for day in cron.days
    ):
        raise CronError("day-of-month never occurs in the months given")
    return cron


def _field(text: str, low: int, high: int, names: dict[str, int], what: str) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = _number(step_text, what) if step_text else 1
        if step < 1:
            raise CronError(f"{what}: step must be at least 1 in {part!r}")
        if span in ("*", "?"):
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = _value(first, names, what), _value(last, names, what)
        else:
            start = _value(span, names, what)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high):
            raise CronError(f"{what}: {part!r} is outside {low}-{high}")
        if start > end:
            raise CronError(f"{what}: range {span!r} runs backwards")
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: dict[str, int], what: str) -> int:
    named = names.get(text.lower())
    return named if named is not None else _number(text, what)


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise CronError(f"{what}: {text!r} is not a number or a name")
    return int(text)


# --- local times and instants -----------------------------------------------------------


def instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the naive local time `local` runs (see the module)."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == local:
        return first  # it exists; if it repeats, fold=0 is its first occurrence
    # It falls in a gap: the clocks jump somewhere between the instant it has with the
    # offset after the jump and the one it has with the offset before.
    low = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(low, first), max(low, first)
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while lo < hi:  # the first second whose wall-clock time is past `local`
        mid = (lo + hi) // 2
        if _wall(datetime.fromtimestamp(mid, UTC), zone) > local:
            hi = mid
        else:
            lo = mid + 1
    return datetime.fromtimestamp(lo, UTC)


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def next_after(cron: Cron, zone: ZoneInfo, after: datetime) -> datetime:
    """The first run strictly after `after`, in UTC."""
    # A local time before the wall clock's at `after` was shown before it (or skipped by a
    # jump before it): its run is not after `after`. So the search starts there.
    floor = _wall(after, zone)
    for offset in range(SEARCH_DAYS):
        day = floor.date() + timedelta(days=offset)
        for local in cron.times_on(day, floor.time() if offset == 0 else None):
            moment = instant(local, zone)
            if moment > after:
                return moment
    raise CronError("the expression never runs")


def last_at_or_before(
    cron: Cron, zone: ZoneInfo, moment: datetime, *, horizon: timedelta
) -> datetime | None:
    """The latest run at or before `moment` and after `moment - horizon`, in UTC."""
    # In a repeated hour the wall clock is behind local times already run: look from
    # a margin above it (no zone turns its clocks back by more).
    ceiling = _wall(moment, zone) + FALL_BACK_MARGIN
    floor = moment - horizon
    for offset in range(horizon.days + 2):
        day = ceiling.date() - timedelta(days=offset)
        for local in cron.times_back(day, ceiling.time() if offset == 0 else None):
            run = instant(local, zone)
            if run <= moment:
                return run if run >= floor else None
    return None


def upcoming(cron: Cron, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    """The next `count` distinct runs after `after`, in UTC."""
    runs: list[datetime] = []
    moment = after
    for _ in range(count):
        moment = next_after(cron, zone, moment)
        runs.append(moment)
    return runs
