"""Business time: when the team works, and deadlines counted in business hours.

Every function takes the instants it needs as arguments (aware datetimes); nothing here
reads the clock. Results are aware datetimes in UTC.

Business time is, for every working day that is not a holiday, the span from the opening
to the closing time of that local date in the policy's time zone. Each day's span is turned
into UTC instants separately, so weekends, holidays and daylight-saving changes are exact.
Where a daylight-saving change makes an opening or closing time ambiguous or nonexistent
that day: an ambiguous opening is its first occurrence, an ambiguous closing its last, and
a nonexistent time is the instant the clocks jump over it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator, model_validator

from bot.domain.durations import Duration

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# A search for the next business day gives up after this many days without one.
_MAX_DAYS_WITHOUT_BUSINESS = 3660


class BusinessHours(BaseModel):
    """Opening and closing local time of a working day ("09:00" to "17:00")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("give a local time without a UTC offset; the zone is `timezone`")
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError(f"start ({_hhmm(self.start)}) must be before end ({_hhmm(self.end)})")
        return self

    @field_serializer("start", "end")
    def _as_text(self, value: time) -> str:
        return _hhmm(value)

    @property
    def length(self) -> timedelta:
        """Nominal length of a business day (8 hours for 09:00-17:00)."""
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)


class WorkingTime(BaseModel):
    """When the team works: time zone, business hours, working days and holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "UTC"
    business_hours: BusinessHours = BusinessHours(start=time(9), end=time(17))
    working_days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    holidays: tuple[date, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from None
        return value

    @field_validator("working_days")
    @classmethod
    def _days(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if not value:
            raise ValueError("at least one working day is needed")
        if len(set(value)) != len(value):
            raise ValueError("a working day is listed twice")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def business_day(self) -> timedelta:
        """How much business time "1 business day" is."""
        return self.business_hours.length


def is_business_time(moment: datetime, working_time: WorkingTime) -> bool:
    """Whether `moment` falls inside business hours (opening included, closing excluded)."""
    _require_aware(moment)
    local_day = moment.astimezone(working_time.zone).date()
    span = _span(local_day, working_time, _holidays(working_time))
    return span is not None and span[0] <= moment < span[1]


def deadline(start: datetime, duration: Duration, working_time: WorkingTime) -> datetime:
    """When `duration` after `start` runs out, in UTC.

    A wall-clock duration just adds. A business duration counts only business time, so a
    clock started outside business hours starts running at the next opening.

    >>> wt = WorkingTime(timezone="Europe/Paris")
    >>> friday = datetime(2026, 3, 6, 15, 30, tzinfo=UTC)  # 16:30 in Paris
    >>> deadline(friday, Duration.parse("1 business day"), wt).isoformat()
    '2026-03-09T15:30:00+00:00'
    """
    _require_aware(start)
    start = start.astimezone(UTC)
    if not duration.business:
        return start + duration.as_timedelta()
    return add_business_time(
        start, duration.as_timedelta(business_day=working_time.business_day), working_time
    )


def add_business_time(start: datetime, amount: timedelta, working_time: WorkingTime) -> datetime:
    """The instant at which `amount` of business time has passed since `start`, in UTC.

    The deadline lands exactly on a closing time when the amount runs out there, rather than
    at the next opening.
    """
    _require_aware(start)
    if amount < timedelta(0):
        raise ValueError("the amount of business time cannot be negative")
    start = start.astimezone(UTC)
    if amount == timedelta(0):
        return start
    remaining = amount
    for opening, closing in _spans_from(start, working_time):
        begin = max(opening, start)
        if begin >= closing:
            continue
        available = closing - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise AssertionError("unreachable: _spans_from is endless or raises")  # pragma: no cover


def business_time_between(a: datetime, b: datetime, working_time: WorkingTime) -> timedelta:
    """How much business time lies between `a` and `b` (negative when `b` is before `a`)."""
    _require_aware(a)
    _require_aware(b)
    if b < a:
        return -business_time_between(b, a, working_time)
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    total = timedelta(0)
    for opening, closing in _spans_from(a, working_time):
        if opening >= b:
            break
        overlap = min(closing, b) - max(opening, a)
        if overlap > timedelta(0):
            total += overlap
    return total


def _spans_from(start: datetime, wt: WorkingTime) -> Iterator[tuple[datetime, datetime]]:
    """Business spans (UTC opening, UTC closing) in order, from the local day of `start`.

    The first span may end before `start`; callers skip what they do not need.
    """
    holidays = _holidays(wt)
    day = start.astimezone(wt.zone).date()
    days_without = 0
    while True:
        span = _span(day, wt, holidays)
        if span is None:
            days_without += 1
            if days_without > _MAX_DAYS_WITHOUT_BUSINESS:
                raise ValueError("no business day found in ten years of holidays")
        else:
            days_without = 0
            yield span
        day += timedelta(days=1)


def _span(
    day: date, wt: WorkingTime, holidays: frozenset[date]
) -> tuple[datetime, datetime] | None:
    if WEEKDAYS[day.weekday()] not in wt.working_days or day in holidays:
        return None
    zone = wt.zone
    opening = _to_utc(datetime.combine(day, wt.business_hours.start), zone, latest=False)
    closing = _to_utc(datetime.combine(day, wt.business_hours.end), zone, latest=True)
    return opening, closing


def _to_utc(local: datetime, zone: ZoneInfo, *, latest: bool) -> datetime:
    """A naive local time as a UTC instant, resolving daylight-saving edge cases."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    exists = first.astimezone(zone).replace(tzinfo=None) == local
    if exists:
        # Ambiguous times give two instants (first < second); otherwise both are equal.
        return max(first, second) if latest else min(first, second)
    # In a gap, fold=1 reads the time with the offset after the jump (earlier instant) and
    # fold=0 with the one before (later instant); the jump lies between them.
    low = int(min(first, second).timestamp())
    high = int(max(first, second).timestamp())
    before = datetime.fromtimestamp(low, UTC).astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _holidays(wt: WorkingTime) -> frozenset[date]:
    return frozenset(wt.holidays)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M") if value.second == 0 else value.isoformat()
