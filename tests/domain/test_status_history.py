"""The status page's 90-day strips (issue 24): worst state per local day, seconds down
per day, and uptime, checked against a minute-by-minute reference."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.domain.status_history import Day, Outage, histories, merged
from bot.domain.status_page import Component, ComponentState

S = ComponentState
PARIS = ZoneInfo("Europe/Paris")
COMPONENTS = (Component(key="ssoe", name="SSOe"), Component(key="sis", name="SiS"))


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def test_days_are_local_oldest_first_and_end_today() -> None:
    now = local(2026, 12, 6, 0, 30)  # still 5 December in UTC
    result = histories(COMPONENTS, [], now=now, zone=PARIS, days=90)
    assert list(result) == ["ssoe", "sis"]
    days = result["ssoe"].days
    assert len(days) == 90
    assert days[-1].day == date(2026, 12, 6)
    assert days[0].day == date(2026, 9, 8)
    assert all(day == Day(day.day, S.OPERATIONAL, 0.0) for day in days)
    assert result["ssoe"].uptime == 100.0


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 10, 26), 24)],
)
def test_a_whole_day_down_lasts_as_long_as_that_day_in_paris(day: date, hours: int) -> None:
    start = datetime.combine(day, datetime.min.time(), tzinfo=PARIS)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=PARIS)
    outage = Outage("ssoe", S.MAJOR_OUTAGE, start, end)
    result = histories(COMPONENTS, [outage], now=end + timedelta(hours=5), zone=PARIS, days=3)
    days = result["ssoe"].days
    assert [d.day for d in days] == [day - timedelta(days=1), day, day + timedelta(days=1)]
    assert days[1] == Day(day, S.MAJOR_OUTAGE, hours * 3600.0)
    assert days[0].state is S.OPERATIONAL
    assert days[2].state is S.OPERATIONAL
    window = 24 + hours + 5 if day != date(2026, 10, 26) else 25 + 24 + 5
    assert result["ssoe"].uptime == pytest.approx(100 * (1 - hours / window))


def test_overlapping_outages_are_counted_once_and_the_worst_state_shows() -> None:
    now = local(2026, 12, 6, 18)
    outages = [
        Outage("ssoe", S.PARTIAL_OUTAGE, local(2026, 12, 6, 9), local(2026, 12, 6, 11)),
        Outage("ssoe", S.MAJOR_OUTAGE, local(2026, 12, 6, 10), local(2026, 12, 6, 12)),
        Outage("ssoe", S.DEGRADED_PERFORMANCE, local(2026, 12, 6, 13), local(2026, 12, 6, 17)),
    ]
    today = histories(COMPONENTS, outages, now=now, zone=PARIS, days=1)["ssoe"]
    assert today.days == (Day(date(2026, 12, 6), S.MAJOR_OUTAGE, 3 * 3600.0),)
    assert today.uptime == pytest.approx(100 * (1 - 3 / 18))


def test_degraded_performance_and_maintenance_count_as_up() -> None:
    now = local(2026, 12, 6, 12)
    outages = [
        Outage("sis", S.UNDER_MAINTENANCE, local(2026, 12, 5, 1), local(2026, 12, 5, 5)),
        Outage("sis", S.DEGRADED_PERFORMANCE, local(2026, 12, 6, 1), None),
    ]
    sis = histories(COMPONENTS, outages, now=now, zone=PARIS, days=2)["sis"]
    assert [(d.state, d.down_seconds) for d in sis.days] == [
        (S.UNDER_MAINTENANCE, 0.0),
        (S.DEGRADED_PERFORMANCE, 0.0),
    ]
    assert sis.uptime == 100.0


def test_ongoing_outages_last_until_now_and_cross_midnight() -> None:
    now = local(2026, 12, 6, 2)
    ongoing = Outage("sis", S.MAJOR_OUTAGE, local(2026, 12, 5, 23), None)
    sis = histories(COMPONENTS, [ongoing], now=now, zone=PARIS, days=2)["sis"]
    assert [d.down_seconds for d in sis.days] == [3600.0, 7200.0]
    assert [d.state for d in sis.days] == [S.MAJOR_OUTAGE, S.MAJOR_OUTAGE]


def test_outages_outside_the_window_or_for_unknown_components_change_nothing() -> None:
    now = local(2026, 12, 6, 12)
    outages = [
        Outage("retired", S.MAJOR_OUTAGE, local(2026, 12, 6, 1), None),
        Outage("ssoe", S.MAJOR_OUTAGE, local(2026, 12, 6, 13), local(2026, 12, 6, 14)),
        Outage("ssoe", S.MAJOR_OUTAGE, local(2026, 11, 1), local(2026, 11, 2)),
        Outage("ssoe", S.PARTIAL_OUTAGE, local(2026, 12, 6, 3), local(2026, 12, 6, 3)),
    ]
    result = histories(COMPONENTS, outages, now=now, zone=PARIS, days=2)
    assert set(result) == {"ssoe", "sis"}
    assert all(d.state is S.OPERATIONAL for d in result["ssoe"].days)
    assert result["ssoe"].uptime == 100.0


def test_an_outage_begun_before_the_window_counts_from_its_first_day() -> None:
    now = local(2026, 12, 6, 12)
    long = Outage("ssoe", S.PARTIAL_OUTAGE, local(2026, 11, 1), local(2026, 12, 5, 6))
    ssoe = histories(COMPONENTS, [long], now=now, zone=PARIS, days=2)["ssoe"]
    assert [d.down_seconds for d in ssoe.days] == [6 * 3600.0, 0.0]


def test_an_outage_begun_this_instant_shows_today() -> None:
    now = local(2026, 3, 30, 10)
    begun = [Outage("ssoe", S.MAJOR_OUTAGE, now, None)]
    today = histories(COMPONENTS, begun, now=now, zone=PARIS, days=3)["ssoe"].days[-1]
    assert today.state is S.MAJOR_OUTAGE
    assert today.down_seconds == 0


def test_naive_times_are_utc() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    naive = Outage("ssoe", S.MAJOR_OUTAGE, datetime(2026, 12, 6, 10), datetime(2026, 12, 6, 11))
    ssoe = histories(COMPONENTS, [naive], now=now, zone=UTC, days=1)["ssoe"]
    assert ssoe.days[0].down_seconds == 3600.0


def test_days_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        histories(COMPONENTS, [], now=local(2026, 12, 6), zone=PARIS, days=0)


# --- against a minute-by-minute reference, over the spring DST change in Paris -----------

REF_NOW = datetime(2026, 3, 30, 10, 17, tzinfo=PARIS)
REF_DAYS = 3
REF_START = datetime(2026, 3, 28, tzinfo=PARIS).astimezone(UTC)
REF_MINUTES = int((REF_NOW.astimezone(UTC) - REF_START).total_seconds() // 60)


def reference(
    outages: list[Outage], key: str
) -> tuple[dict[date, ComponentState], dict[date, float], float]:
    worst: dict[date, ComponentState] = {}
    down: dict[date, float] = {}
    down_minutes = 0
    for minute in range(REF_MINUTES):
        moment = REF_START + timedelta(minutes=minute)
        day = moment.astimezone(PARIS).date()
        worst.setdefault(day, S.OPERATIONAL)
        down.setdefault(day, 0.0)
        states = [
            o.state
            for o in outages
            if o.component == key and o.start <= moment and (o.end is None or o.end > moment)
        ]
        for state in states:
            if state.badness > worst[day].badness:
                worst[day] = state
        if any(state in (S.PARTIAL_OUTAGE, S.MAJOR_OUTAGE) for state in states):
            down[day] += 60.0
            down_minutes += 1
    today = REF_NOW.astimezone(PARIS).date()
    for o in outages:  # begun this very instant and still going: today shows it
        if o.component == key and o.end is None and o.start == REF_NOW:
            if o.state.badness > worst[today].badness:
                worst[today] = o.state
    return worst, down, 100 * (1 - down_minutes / REF_MINUTES)


minute_outages = st.builds(
    lambda key, state, start, length: Outage(
        key,
        state,
        REF_START + timedelta(minutes=start),
        None if length is None else REF_START + timedelta(minutes=start + length),
    ),
    st.sampled_from(["ssoe", "sis", "gone"]),
    st.sampled_from(list(S)),
    st.integers(-2000, REF_MINUTES + 100),
    st.one_of(st.none(), st.integers(1, 3000)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(minute_outages, max_size=8))
@example([Outage("sis", S.PARTIAL_OUTAGE, REF_NOW, None)])
def test_matches_a_minute_by_minute_reference(outages: list[Outage]) -> None:
    result = histories(COMPONENTS, outages, now=REF_NOW, zone=PARIS, days=REF_DAYS)
    for key in ("ssoe", "sis"):
        worst, down, uptime = reference(outages, key)
        history = result[key]
        assert {d.day: d.state for d in history.days} == worst
        assert {d.day: d.down_seconds for d in history.days} == pytest.approx(down)
        assert history.uptime == pytest.approx(uptime)


@settings(max_examples=80, deadline=None)
@given(st.lists(minute_outages, max_size=12))
def test_merged_outages_give_the_same_history(outages: list[Outage]) -> None:
    """What the settled-history cache keeps (`merged`) reads as the outages themselves."""
    flat = merged(outages)
    assert histories(COMPONENTS, flat, now=REF_NOW, zone=PARIS, days=REF_DAYS) == histories(
        COMPONENTS, outages, now=REF_NOW, zone=PARIS, days=REF_DAYS
    )
    for key in ("ssoe", "sis"):  # and it never overlaps itself
        ended = sorted((o.start, o.end) for o in flat if o.component == key and o.end)
        assert all(a[1] <= b[0] for a, b in zip(ended, ended[1:], strict=False))


def test_merging_keeps_the_worst_state_of_overlapping_outages() -> None:
    start = REF_START
    flat = merged(
        [
            Outage("ssoe", S.DEGRADED_PERFORMANCE, start, start + timedelta(hours=3)),
            Outage("ssoe", S.MAJOR_OUTAGE, start + timedelta(hours=1), start + timedelta(hours=2)),
            Outage(
                "ssoe",
                S.DEGRADED_PERFORMANCE,
                start + timedelta(hours=3),
                start + timedelta(hours=4),
            ),
        ]
    )
    assert [(o.state, o.start - start, o.end - start) for o in flat] == [  # type: ignore[operator]
        (S.DEGRADED_PERFORMANCE, timedelta(0), timedelta(hours=1)),
        (S.MAJOR_OUTAGE, timedelta(hours=1), timedelta(hours=2)),
        (S.DEGRADED_PERFORMANCE, timedelta(hours=2), timedelta(hours=4)),
    ]
