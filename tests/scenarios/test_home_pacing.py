"""App Home refreshes keep to views.publish's rate for the whole workspace (Tier 4: about
100 a minute), across replicas, over signed HTTP → Firewatch → the Slack emulator with a
views.publish rate limit like Slack's, on a frozen clock that the test moves (no sleeping).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.clock import FrozenClock
from bot.emulator import SlackEmulator
from bot.services import effects
from bot.services.outbox_worker import OutboxWorker
from bot.slack.ids import Action
from tests.scenarios.test_home import DEBOUNCE, ROSTER, buttons
from tests.support import TOKEN, Harness, start_harness

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PEOPLE = [f"U1{n:06d}" for n in range(300)]
# Slack's views.publish: Tier 4, 100+ a minute for the workspace.
PER_MINUTE = 100
INTERVAL = 60 / PER_MINUTE


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    clock = FrozenClock(START)
    slack = SlackEmulator(bot_token=TOKEN, clock=lambda: clock.now().timestamp())
    await slack.start()
    for user in PEOPLE:
        slack.add_user(user, user.lower(), f"{user.lower()}@example.com")
    # burst 2: a token bucket refilled in floating point may come short of one token by a
    # rounding error after exactly one interval; the window check below is exact.
    slack.rate_limit("views.publish", per_second=PER_MINUTE / 60, burst=2, per_channel=False)
    policy = tmp_path / "policy.yaml"
    policy.write_text(ROSTER)
    try:
        async with start_harness(
            database_url,
            clock=clock,
            emulator=slack,
            start_worker=False,  # the replicas' passes are driven by the test, in turn
            FIREWATCH_POLICY_FILE=str(policy),
            FIREWATCH_PAGING_TICK_SECONDS=3600,
            FIREWATCH_HOME_PUBLISH_INTERVAL_SECONDS=INTERVAL,
        ) as h:
            yield h
    finally:
        await slack.stop()


def replicas(h: Harness) -> list[OutboxWorker]:
    """The app's worker and a second replica's, on the same database."""
    other = OutboxWorker(
        h.app.db,
        h.app.worker.handlers,
        h.app.clock,
        worker_id="replica-b",
        pacing={effects.HOME_REFRESH: INTERVAL},
    )
    return [h.app.worker, other]


def clock(h: Harness) -> FrozenClock:
    assert isinstance(h.app.clock, FrozenClock)
    return h.app.clock


async def pending(h: Harness) -> int:
    return sum(1 for r in await h.outbox() if r.status == "pending")


async def deliver_in_turn(h: Harness, step: timedelta, *, max_steps: int = 2000) -> list[int]:
    """Each replica in turn makes one pass, then the clock moves on by `step`, until
    nothing is pending; returns how many rows each replica delivered."""
    workers, busy = replicas(h), [0, 0]
    for n in range(max_steps):
        busy[n % 2] += await workers[n % 2].run_once()
        if not await pending(h):
            return busy
        clock(h).advance(step)
    raise AssertionError(f"still pending after {max_steps} steps: {await pending(h)}")


async def open_homes(h: Harness, people: list[str]) -> None:
    async def one(user: str) -> None:
        event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
        response = await h.sender.event({**event, "event_ts": "1.000001"})
        assert response.status == 200

    for n in range(0, len(people), 50):
        await asyncio.gather(*(one(u) for u in people[n : n + 50]))


def publishes(h: Harness) -> list[Any]:
    return h.slack.calls_to("views.publish")


def most_in_a_minute(times: list[float]) -> int:
    """The most calls in any 60 seconds (a window starting at each call)."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + 60) for i, start in enumerate(times))


def away_button(view: dict[str, Any]) -> str:
    [button] = buttons(view, Action.HOME_AWAY)
    return str(button["value"])


async def test_300_homes_at_once_are_published_within_slacks_rate(h: Harness) -> None:
    await open_homes(h, PEOPLE)
    clock(h).advance(DEBOUNCE)
    # Two people change while the refreshes go out: one already published, one waiting.
    early, late = PEOPLE[10], PEOPLE[250]
    workers = replicas(h)
    while len(publishes(h)) < 100:
        await workers[len(publishes(h)) % 2].run_once()
        clock(h).advance(timedelta(seconds=INTERVAL))
    for user in (early, late):
        response = await h.sender.block_action(Action.HOME_AWAY, value="away", user_id=user)
        assert response.status == 200

    # The replicas ask three times as often as the pace allows.
    delivered = await deliver_in_turn(h, timedelta(seconds=INTERVAL / 3))
    assert min(delivered) > 0  # both delivered: the pace is the database's, not a process's

    calls = publishes(h)
    assert [c.http_status for c in calls if c.http_status != 200] == []  # never rate limited
    assert most_in_a_minute([c.at for c in calls]) <= PER_MINUTE
    gaps = [b.at - a.at for a, b in zip(calls, calls[1:], strict=False)]
    assert min(gaps) >= INTERVAL - 1e-3
    # None lost, none twice: each person once, and the one changed after theirs went out
    # once more; each Home shows the person's latest state.
    published = [str(c.args["user_id"]) for c in calls]
    assert sorted(published) == sorted([*PEOPLE, early])
    assert published.index(early) < 100 < published.index(late)
    for user in PEOPLE:
        view = h.slack.home_view(user)
        assert view is not None, user
        assert away_button(view) == ("back" if user in (early, late) else "away"), user
    rows = [r for r in await h.outbox() if r.kind == effects.HOME_REFRESH]
    assert {r.status for r in rows} == {"done"}
    assert {r.result.get("user") for r in rows} == set(PEOPLE)


async def test_a_429_holds_every_homes_refresh_for_its_retry_after(h: Harness) -> None:
    h.slack.fail("views.publish", status=429, retry_after=30)
    await open_homes(h, PEOPLE[:5])
    clock(h).advance(DEBOUNCE)
    started = clock(h).now().timestamp()
    await deliver_in_turn(h, timedelta(seconds=1))
    calls = publishes(h)
    assert [c.http_status for c in calls].count(429) == 1
    retried = [c for c in calls if c.http_status == 200]
    # Nobody's Home, whichever replica, went out before Slack's Retry-After had passed.
    assert min(c.at for c in retried) >= started + 30
    assert sorted(str(c.args["user_id"]) for c in retried) == sorted(PEOPLE[:5])
    assert json.dumps(h.slack.home_view(PEOPLE[0]))
