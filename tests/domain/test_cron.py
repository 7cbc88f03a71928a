"""Cron as people read it (issue 21 item 5): day-of-week numbers mean what cron means,
and each scheduled local time runs once across a change of daylight saving time.

The property test compares `bot.domain.cron` with a plain reference: walk the clock
minute by minute in UTC, read the wall clock, and fire whenever the wall clock reaches a
scheduled local time it has not shown before (skipped local times fire at the minute
the wall clock jumps past them; a repeated hour shows nothing new, so nothing fires).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import cron

PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc, arg-type]


# --- examples ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "weekdays"),
    [
        ("0 10 * * 0", {"Sun"}),
        ("0 10 * * 7", {"Sun"}),
        ("0 10 * * 1", {"Mon"}),
        ("0 10 * * 1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("0 10 * * MON-FRI", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("0 10 * * 5-7", {"Fri", "Sat", "Sun"}),
        ("0 10 * * 0,6", {"Sat", "Sun"}),
        ("0 10 * * */2", {"Sun", "Tue", "Thu", "Sat"}),
        ("0 10 * * sun", {"Sun"}),
    ],
)
def test_day_of_week_numbers_mean_what_cron_means(expression: str, weekdays: set[str]) -> None:
    runs = cron.upcoming(cron.parse(expression), PARIS, utc(2026, 12, 6), 14)
    assert {run.astimezone(PARIS).strftime("%a") for run in runs} == weekdays
    assert all(run.astimezone(PARIS).hour == 10 for run in runs)


def test_day_of_month_and_day_of_week_both_given_match_either() -> None:
    runs = cron.upcoming(cron.parse("0 0 13 * FRI"), ZoneInfo("UTC"), utc(2026, 3, 1), 4)
    assert [r.date().isoformat() for r in runs] == [
        "2026-03-06",
        "2026-03-13",
        "2026-03-20",
        "2026-03-27",
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "0 10 * * 8",
        "60 * * * *",
        "0 10 * * FUNDAY",
        "0 10 * *",
        "5-1 * * * *",
        "*/0 * * * *",
        "0 0 31 2 *",
    ],
)
def test_invalid_expressions_are_refused(expression: str) -> None:
    with pytest.raises(cron.CronError):
        cron.parse(expression)


def test_a_repeated_local_time_runs_once_at_its_first_occurrence() -> None:
    """`30 2 * * *` in Paris on 2026-10-25: 02:30 happens at 00:30Z and 01:30Z."""
    daily = cron.parse("30 2 * * *")
    runs = cron.upcoming(daily, PARIS, utc(2026, 10, 24, 12), 3)
    assert runs == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]
    # Asked at the second 02:30, the latest run is still the first one: same key.
    assert cron.last_at_or_before(
        daily, PARIS, utc(2026, 10, 25, 1, 30), horizon=timedelta(days=2)
    ) == utc(2026, 10, 25, 0, 30)


def test_a_skipped_local_time_runs_when_the_clocks_jump() -> None:
    """02:30 does not happen in Paris on 2026-03-29: it runs at 03:00 local (01:00Z)."""
    runs = cron.upcoming(cron.parse("30 2 * * *"), PARIS, utc(2026, 3, 28, 12), 2)
    assert runs == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]


# --- the property -----------------------------------------------------------------------

ZONES = [
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST
    "America/Sao_Paulo",  # DST at midnight (until 2019): the skipped hour is 00:00
    "America/Santiago",
]


def transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    found, moment = [], start
    while moment < end:
        after = moment + timedelta(hours=1)
        if moment.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
            found.append(moment)
        moment = after
    return found


TRANSITIONS = [
    (name, moment)
    for name in ZONES
    for moment in transitions(ZoneInfo(name), utc(2018, 6, 1), utc(2020, 1, 1))
    + transitions(ZoneInfo(name), utc(2026, 1, 1), utc(2027, 1, 1))
]


@st.composite
def field(
    draw: st.DrawFn, low: int, high: int, names: list[str] | None = None
) -> tuple[str, set[int]]:
    """A cron field's text and the values it means (written independently of the parser)."""
    kind = draw(st.sampled_from(["star", "one", "range", "step", "list", "range_step"]))
    a = draw(st.integers(low, high))
    b = draw(st.integers(a, high))
    k = draw(st.integers(1, max(1, (high - low) // 2)))
    if kind == "star":
        return "*", set(range(low, high + 1))
    if kind == "one":
        text = names[a] if names and a < len(names) and draw(st.booleans()) else str(a)
        return text, {a}
    if kind == "range":
        return f"{a}-{b}", set(range(a, b + 1))
    if kind == "step":
        return f"*/{k}", set(range(low, high + 1, k))
    if kind == "range_step":
        return f"{a}-{b}/{k}", set(range(a, b + 1, k))
    values = draw(st.sets(st.integers(low, high), min_size=1, max_size=5))
    return ",".join(map(str, sorted(values))), values


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, dict[str, set[int]], bool, bool]:
    minute = draw(field(0, 59))
    hour = draw(field(0, 23))
    dom = draw(st.one_of(st.just(("*", set(range(1, 32)))), field(1, 31)))
    month = ("*", set(range(1, 13)))
    days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
    dow = draw(st.one_of(st.just(("*", set(range(7)))), field(0, 7, days)))
    text = " ".join(f[0] for f in (minute, hour, dom, month, dow))
    sets = {
        "minute": minute[1],
        "hour": hour[1],
        "dom": dom[1],
        "dow": {d % 7 for d in dow[1]},
    }
    return text, sets, dom[0] != "*", dow[0] != "*"


def reference(
    sets: dict[str, set[int]],
    dom_given: bool,
    dow_given: bool,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[datetime]:
    def scheduled(wall: datetime) -> bool:
        by_dom = wall.day in sets["dom"]
        by_dow = (wall.isoweekday() % 7) in sets["dow"]
        day = (by_dom or by_dow) if dom_given and dow_given else (by_dom and by_dow)
        return wall.minute in sets["minute"] and wall.hour in sets["hour"] and day

    fires = []
    # The walk starts hours early: a wall-clock time shown before `start` (the first pass
    # of a repeated hour) is not new when it shows again.
    moment = start - timedelta(hours=4)
    shown = (moment - timedelta(minutes=1)).astimezone(zone).replace(tzinfo=None)
    while moment <= end:
        wall = moment.astimezone(zone).replace(tzinfo=None)
        new, candidate = False, shown + timedelta(minutes=1)
        while candidate <= wall:  # every wall time reached for the first time
            new = new or scheduled(candidate)
            candidate += timedelta(minutes=1)
        if wall > shown:
            shown = wall
        if new and moment >= start:
            fires.append(moment)
        moment += timedelta(minutes=1)
    return fires


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(TRANSITIONS),
    st.integers(-36 * 60, 12 * 60),
    expressions(),
    st.integers(0, 100),
)
def test_runs_match_the_minute_by_minute_reference(
    transition: tuple[str, datetime],
    offset_minutes: int,
    expression: tuple[str, dict[str, set[int]], bool, bool],
    probe: int,
) -> None:
    name, moment = transition
    zone = ZoneInfo(name)
    text, sets, dom_given, dow_given = expression
    start = moment + timedelta(minutes=offset_minutes)
    end = start + timedelta(hours=30)
    expected = reference(sets, dom_given, dow_given, zone, start, end)

    parsed = cron.parse(text)
    got, after = [], start - timedelta(microseconds=1)
    while True:
        run = cron.next_after(parsed, zone, after)
        if run > end:
            break
        got.append(run)
        after = run
    assert got == expected, text

    # The latest run at or before a moment is the reference's.
    at = start + (end - start) * probe / 100
    before = [f for f in expected if f <= at]
    if before:
        latest = cron.last_at_or_before(parsed, zone, at, horizon=timedelta(days=3))
        assert latest == before[-1], text
