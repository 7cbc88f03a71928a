"""The status page's history (issue 24): the last N days per component, as a strip of
days with the worst state of each and an uptime figure, and the page as a whole.

Pure: callers load the outages (periods a component was in some state because of an
incident or scheduled maintenance) and pass them in with the time from the Clock.

Days are calendar days in the page's time zone, so a day on a daylight saving change
lasts 23 or 25 hours. The last day is today, counted up to `now`.

The uptime rule: a component is *down* while some outage puts it in partial or major
outage; degraded performance and maintenance count as up. Uptime is the share of the
window (from the oldest day's midnight to `now`) the component was not down, in percent;
overlapping outages are not counted twice.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from bot.domain.status_page import Component, ComponentState

DOWN = frozenset({ComponentState.PARTIAL_OUTAGE, ComponentState.MAJOR_OUTAGE})
_BY_BADNESS = tuple(ComponentState)
_BADNESS = {state: state.badness for state in ComponentState}
_DOWN_BADNESS = frozenset(state.badness for state in DOWN)


@dataclass(frozen=True)
class Outage:
    """A period `component` was in `state` because of an incident or maintenance;
    `end` is None while it goes on. A naive time is taken to be UTC."""

    component: str
    state: ComponentState
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class Day:
    """One calendar day of a component: the worst state any outage put it in that day,
    and how many seconds of it the component was down (partial or major outage)."""

    day: date
    state: ComponentState
    down_seconds: float


@dataclass(frozen=True)
class ComponentHistory:
    """A component's days, oldest first and ending today, and its uptime over them in
    percent: the time not in partial or major outage (degraded performance and maintenance
    count as up) over the time from the oldest day's midnight to now."""

    days: tuple[Day, ...]
    uptime: float


@dataclass(frozen=True)
class PublicPage:
    """Everything the public status page, its JSON and its feed show, and nothing more.

    `document` is the `/status.json` document (status_document, version 1); `histories`
    the strips by component key; `past_incidents` the recently resolved incidents, each
    shaped like an item of `document["incidents"]` with `"status": "resolved"` and a
    `"resolved_at"` time (ISO, UTC).
    """

    document: dict[str, Any]
    histories: Mapping[str, ComponentHistory] = field(default_factory=dict)
    past_incidents: Sequence[dict[str, Any]] = ()
    title: str = "Service status"


def day_bounds(today: date, zone: tzinfo, days: int) -> tuple[list[date], list[float]]:
    """The last `days` calendar days ending `today`, and the `days + 1` instants (POSIX
    seconds) of their midnights in `zone`, the last being tomorrow's."""
    dates = [today - timedelta(days=days - 1 - index) for index in range(days)]
    bounds = [
        datetime.combine(day, time(0), tzinfo=zone).timestamp()
        for day in (*dates, today + timedelta(days=1))
    ]
    return dates, bounds


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The intervals merged where they overlap or touch, in order."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _down_per_day(down: list[tuple[float, float]], bounds: list[float]) -> list[float]:
    """Seconds of the (disjoint, ordered) `down` intervals within each day of `bounds`."""
    seconds = [0.0] * (len(bounds) - 1)
    for start, end in down:
        first = bisect_right(bounds, start) - 1
        last = bisect_left(bounds, end) - 1
        if first == last:  # most outages: within one day
            seconds[first] += end - start
            continue
        for index in range(first, last + 1):
            overlap = min(end, bounds[index + 1]) - max(start, bounds[index])
            if overlap > 0:
                seconds[index] += overlap
    return seconds


def _history(
    periods: list[tuple[float, float, int]], dates: list[date], bounds: list[float]
) -> ComponentHistory:
    """One component's history from its outages clipped to the window, as
    (start, end, badness) in POSIX seconds; `bounds[-1]` is now."""
    worst = [0] * len(dates)
    down: list[tuple[float, float]] = []
    for start, end, badness in periods:  # start and end lie within the window
        first = min(bisect_right(bounds, start) - 1, len(dates) - 1)
        last = max(bisect_left(bounds, end) - 1, first)
        for index in range(first, last + 1):
            if worst[index] < badness:
                worst[index] = badness
        if badness in _DOWN_BADNESS:
            down.append((start, end))
    merged = _union(down)
    seconds = _down_per_day(merged, bounds)
    window = bounds[-1] - bounds[0]
    total_down = sum(end - start for start, end in merged)
    uptime = 100.0 if window <= 0 else 100.0 * (1 - total_down / window)
    days = tuple(
        Day(day, _BY_BADNESS[worst[index]], seconds[index]) for index, day in enumerate(dates)
    )
    return ComponentHistory(days=days, uptime=uptime)


def histories(
    components: Sequence[Component],
    outages: Iterable[Outage],
    *,
    now: datetime,
    zone: tzinfo,
    days: int = 90,
) -> dict[str, ComponentHistory]:
    """Each component's last `days` days in `zone`, oldest first and ending today, and its
    uptime over them, by key in the policy's order.

    Outages are clipped to the window (the oldest day's midnight to `now`); one still
    going on lasts until `now`, one that starts after `now` or lasts no time changes
    nothing, and one for a component the policy does not list is ignored.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now_s = now.timestamp()
    dates, bounds = day_bounds(now.astimezone(zone).date(), zone, days)
    bounds[-1] = max(bounds[0], min(bounds[-1], now_s))
    lo, hi = bounds[0], bounds[-1]
    periods: dict[str, list[tuple[float, float, int]]] = {c.key: [] for c in components}
    badness = _BADNESS
    for outage in outages:  # the hot loop: 10,000 outages take a few milliseconds
        found = periods.get(outage.component)
        if found is None:
            continue
        begun, ended = outage.start, outage.end
        start = (begun if begun.tzinfo else begun.replace(tzinfo=UTC)).timestamp()
        if ended is None:
            end = now_s
        else:
            end = (ended if ended.tzinfo else ended.replace(tzinfo=UTC)).timestamp()
        if start < lo:
            start = lo
        if end > hi:
            end = hi
        if start < end or (ended is None and start <= end):
            # An outage begun this instant lasts no time yet, but today shows its state.
            found.append((start, end, badness[outage.state]))
    return {key: _history(found, dates, bounds) for key, found in periods.items()}


def merged(outages: Iterable[Outage]) -> list[Outage]:
    """The same history in fewer outages: per component, periods that do not overlap,
    each in the worst state any outage had then. `histories` reads the same days from
    them (each instant's worst state and the time down are kept); ongoing outages (no
    end) are passed through. What a cache of a long, settled history keeps."""
    ongoing: list[Outage] = []
    spans: dict[str, list[tuple[float, float, int]]] = {}
    for outage in outages:
        if outage.end is None:
            ongoing.append(outage)
            continue
        start, end = _seconds(outage.start), _seconds(outage.end)
        if start < end:
            spans.setdefault(outage.component, []).append((start, end, _BADNESS[outage.state]))
    found = list(ongoing)
    for key, items in spans.items():
        found += [
            Outage(key, _BY_BADNESS[bad], _moment(start), _moment(end))
            for start, end, bad in _flatten(items)
        ]
    return found


def _flatten(items: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Non-overlapping (start, end, badness) covering what `items` cover, each at the
    highest badness covering it; touching pieces of equal badness joined."""
    points = sorted({p for start, end, _ in items for p in (start, end)})
    items.sort()
    active: list[tuple[int, float]] = []  # (-badness, end): the worst on top
    out: list[tuple[float, float, int]] = []
    nxt = 0
    for left, right in zip(points, points[1:], strict=False):
        while nxt < len(items) and items[nxt][0] <= left:
            heapq.heappush(active, (-items[nxt][2], items[nxt][1]))
            nxt += 1
        while active and active[0][1] <= left:
            heapq.heappop(active)
        if not active:
            continue
        bad = -active[0][0]
        if out and out[-1][1] == left and out[-1][2] == bad:
            out[-1] = (out[-1][0], right, bad)
        else:
            out.append((left, right, bad))
    return out


def _seconds(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
