from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.business_time import (
    WEEKDAYS,
    BusinessHours,
    WorkingTime,
    add_business_time,
    business_time_between,
    deadline,
    is_business_time,
)
from bot.domain.durations import Duration

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")

UTC_WEEK = WorkingTime()  # 09:00-17:00, Monday to Friday, UTC
PARIS_WEEK = WorkingTime(
    timezone="Europe/Paris",
    holidays=(date(2026, 5, 1), date(2026, 5, 8), date(2026, 12, 25)),
)
NEW_YORK_WEEK = WorkingTime(
    timezone="America/New_York",
    business_hours=BusinessHours(start=time(8, 30), end=time(17, 30)),
    holidays=(date(2026, 7, 3), date(2026, 11, 26)),
)
# Business hours spanning the small hours, every day: they contain the DST changes.
PARIS_NIGHTS = WorkingTime(
    timezone="Europe/Paris",
    business_hours=BusinessHours(start=time(1), end=time(4)),
    working_days=WEEKDAYS,
)
LORD_HOWE = WorkingTime(  # a 30-minute DST shift
    timezone="Australia/Lord_Howe",
    business_hours=BusinessHours(start=time(1), end=time(3)),
    working_days=("sat", "sun"),
)
WORKING_TIMES = [UTC_WEEK, PARIS_WEEK, NEW_YORK_WEEK, PARIS_NIGHTS, LORD_HOWE]


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def d(text: str) -> Duration:
    return Duration.parse(text)


# --- worked examples -------------------------------------------------------------------


def test_friday_afternoon_plus_one_business_day_is_monday_afternoon() -> None:
    friday = utc(2026, 3, 6, 16, 30)
    assert deadline(friday, d("1 business day"), UTC_WEEK) == utc(2026, 3, 9, 16, 30)


def test_business_day_across_a_holiday() -> None:
    # Friday 1 May 2026 is a holiday in PARIS_WEEK.
    thursday = paris(2026, 4, 30, 15, 0)
    assert deadline(thursday, d("1 business day"), PARIS_WEEK) == paris(2026, 5, 4, 15, 0)


def test_business_hours_across_the_spring_forward_weekend_in_paris() -> None:
    friday = paris(2026, 3, 27, 16, 0)  # CET, UTC+1
    due = deadline(friday, d("2 business hours"), PARIS_WEEK)
    assert due == paris(2026, 3, 30, 10, 0)  # CEST, UTC+2
    assert due == utc(2026, 3, 30, 8, 0)
    assert due.tzinfo == UTC


def test_business_hours_across_the_fall_back_weekend_in_paris() -> None:
    friday = paris(2026, 10, 23, 16, 0)  # CEST
    assert deadline(friday, d("2 business hours"), PARIS_WEEK) == utc(2026, 10, 26, 9, 0)


def test_business_hours_across_dst_in_new_york() -> None:
    friday = datetime(2026, 3, 6, 16, 0, tzinfo=NEW_YORK)  # EST
    due = deadline(friday, d("2 business hours"), NEW_YORK_WEEK)
    # 1h30 left on Friday (closing 17:30), 30 minutes from Monday's 08:30 opening.
    assert due == datetime(2026, 3, 9, 9, 0, tzinfo=NEW_YORK)  # EDT
    assert due == utc(2026, 3, 9, 13, 0)


def test_one_business_day_is_the_length_of_the_business_hours() -> None:
    assert NEW_YORK_WEEK.business_day == timedelta(hours=9)
    monday = datetime(2026, 11, 2, 8, 30, tzinfo=NEW_YORK)
    assert deadline(monday, d("1 business day"), NEW_YORK_WEEK) == datetime(
        2026, 11, 2, 17, 30, tzinfo=NEW_YORK
    )


def test_clock_started_outside_business_hours_starts_at_the_next_opening() -> None:
    saturday = utc(2026, 3, 7, 11, 0)
    assert deadline(saturday, d("1 business hour"), UTC_WEEK) == utc(2026, 3, 9, 10, 0)
    early_monday = utc(2026, 3, 9, 7, 0)
    assert deadline(early_monday, d("4 business hours"), UTC_WEEK) == utc(2026, 3, 9, 13, 0)
    late_monday = utc(2026, 3, 9, 20, 0)
    assert deadline(late_monday, d("30 business minutes"), UTC_WEEK) == utc(2026, 3, 10, 9, 30)


def test_deadline_running_out_at_closing_is_the_closing_time() -> None:
    monday = utc(2026, 3, 9, 9, 0)
    assert deadline(monday, d("8 business hours"), UTC_WEEK) == utc(2026, 3, 9, 17, 0)
    assert deadline(monday, d("1 business day"), UTC_WEEK) == utc(2026, 3, 9, 17, 0)


def test_several_business_days_skip_weekends_and_holidays() -> None:
    # Thursday 24 Dec 2026 10:00; Friday 25 is a holiday; each business day ends one
    # business day later: Monday 28 10:00, Tuesday 29 10:00, Wednesday 30 10:00.
    assert deadline(paris(2026, 12, 24, 10, 0), d("3 business days"), PARIS_WEEK) == paris(
        2026, 12, 30, 10, 0
    )


def test_wall_clock_durations_just_add() -> None:
    saturday_night = paris(2026, 3, 28, 23, 30)
    assert deadline(saturday_night, d("4h"), PARIS_WEEK) == utc(2026, 3, 29, 2, 30)
    assert deadline(saturday_night, d("30m"), PARIS_WEEK) == utc(2026, 3, 28, 23, 0)
    # 24 elapsed hours, although the local day that night is only 23 hours long.
    assert deadline(saturday_night, d("1d"), PARIS_WEEK) == utc(2026, 3, 29, 22, 30)


def test_business_day_is_short_or_long_on_dst_days() -> None:
    # 01:00-04:00 local: 2 real hours when clocks spring forward, 4 when they fall back.
    spring = business_time_between(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12), PARIS_NIGHTS)
    fall = business_time_between(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12), PARIS_NIGHTS)
    assert spring == timedelta(hours=2)
    assert fall == timedelta(hours=4)


def test_nonexistent_opening_is_the_instant_clocks_jump() -> None:
    # 02:30 does not exist in Paris on 29 March 2026; clocks jump 02:00 CET -> 03:00 CEST.
    wt = PARIS_NIGHTS.model_copy(
        update={"business_hours": BusinessHours(start=time(2, 30), end=time(5))}
    )
    assert not is_business_time(utc(2026, 3, 29, 0, 59), wt)
    assert is_business_time(utc(2026, 3, 29, 1, 0), wt)
    assert deadline(utc(2026, 3, 29, 0, 0), d("1 business hour"), wt) == utc(2026, 3, 29, 2, 0)


def test_ambiguous_closing_is_its_last_occurrence() -> None:
    # 02:30 happens twice in Paris on 25 October 2026; business time runs to the second.
    wt = PARIS_NIGHTS.model_copy(
        update={"business_hours": BusinessHours(start=time(1), end=time(2, 30))}
    )
    day = business_time_between(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12), wt)
    assert day == timedelta(hours=2, minutes=30)
    assert is_business_time(utc(2026, 10, 25, 1, 29), wt)
    assert not is_business_time(utc(2026, 10, 25, 1, 30), wt)


def test_is_business_time_bounds() -> None:
    assert is_business_time(utc(2026, 3, 9, 9, 0), UTC_WEEK)
    assert not is_business_time(utc(2026, 3, 9, 17, 0), UTC_WEEK)
    assert not is_business_time(utc(2026, 3, 7, 12, 0), UTC_WEEK)  # Saturday
    assert not is_business_time(paris(2026, 5, 1, 12, 0), PARIS_WEEK)  # holiday


def test_business_time_between_is_antisymmetric() -> None:
    a, b = utc(2026, 3, 6, 12), utc(2026, 3, 10, 12)
    assert business_time_between(a, b, UTC_WEEK) == timedelta(hours=5 + 8 + 3)
    assert business_time_between(b, a, UTC_WEEK) == -timedelta(hours=16)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        deadline(datetime(2026, 3, 9, 9), d("1h"), UTC_WEEK)
    with pytest.raises(ValueError, match="no time zone"):
        is_business_time(datetime(2026, 3, 9, 9), UTC_WEEK)


def test_negative_business_time_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(utc(2026, 3, 9), timedelta(hours=-1), UTC_WEEK)


def test_working_time_validation() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        WorkingTime(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="must be before"):
        BusinessHours(start=time(17), end=time(9))
    with pytest.raises(ValueError, match="at least one working day"):
        WorkingTime(working_days=())


# --- properties ----------------------------------------------------------------------

starts = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
).map(lambda t: t.replace(second=0, microsecond=0))
working_times = st.sampled_from(WORKING_TIMES)
business_durations = st.one_of(
    st.integers(1, 600).map(lambda n: Duration(amount=n, unit="minutes", business=True)),
    st.integers(1, 80).map(lambda n: Duration(amount=n, unit="hours", business=True)),
    st.integers(1, 15).map(lambda n: Duration(amount=n, unit="days", business=True)),
)
wall_durations = st.builds(
    Duration, amount=st.integers(1, 500), unit=st.sampled_from(["minutes", "hours", "days"])
)


@given(start=starts, duration=st.one_of(business_durations, wall_durations), wt=working_times)
def test_deadline_is_after_start(start, duration, wt):
    assert deadline(start, duration, wt) > start


@given(start=starts, duration=business_durations, wt=working_times)
def test_business_time_between_inverts_deadline(start, duration, wt):
    due = deadline(start, duration, wt)
    assert business_time_between(start, due, wt) == duration.as_timedelta(
        business_day=wt.business_day
    )


@given(start=starts, duration=business_durations, wt=working_times)
def test_deadline_is_in_business_time_or_exactly_at_closing(start, duration, wt):
    due = deadline(start, duration, wt)
    if not is_business_time(due, wt):
        assert is_business_time(due - timedelta(microseconds=1), wt)


@given(
    start=starts,
    a=st.integers(0, 3000).map(lambda m: timedelta(minutes=m)),
    b=st.integers(0, 3000).map(lambda m: timedelta(minutes=m)),
    wt=working_times,
)
def test_adding_business_time_in_two_steps_is_adding_it_at_once(start, a, b, wt):
    assert add_business_time(add_business_time(start, a, wt), b, wt) == add_business_time(
        start, a + b, wt
    )
    if a <= b:
        assert add_business_time(start, a, wt) <= add_business_time(start, b, wt)


def _business_minutes_by_wall_clock(a: datetime, b: datetime, wt: WorkingTime) -> int:
    """Reference: count minutes whose local wall-clock time is within business hours."""
    count, moment = 0, a
    while moment < b:
        local = moment.astimezone(wt.zone)
        if (
            WEEKDAYS[local.weekday()] in wt.working_days
            and local.date() not in wt.holidays
            and wt.business_hours.start <= local.time() < wt.business_hours.end
        ):
            count += 1
        moment += timedelta(minutes=1)
    return count


dst_weekends = st.sampled_from(
    [utc(2026, 3, 27), utc(2026, 10, 23), utc(2026, 3, 6), utc(2026, 10, 30), utc(2026, 4, 30)]
)


@settings(max_examples=40, deadline=None)
@given(
    base=dst_weekends,
    offset=st.integers(0, 3 * 24 * 60),
    length=st.integers(0, 3 * 24 * 60),
    wt=st.sampled_from([UTC_WEEK, PARIS_WEEK, NEW_YORK_WEEK, PARIS_NIGHTS]),
)
def test_business_time_between_matches_a_minute_by_minute_count(base, offset, length, wt):
    a = base + timedelta(minutes=offset)
    b = a + timedelta(minutes=length)
    expected = timedelta(minutes=_business_minutes_by_wall_clock(a, b, wt))
    assert business_time_between(a, b, wt) == expected
