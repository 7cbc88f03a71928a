"""Two replicas' outbox workers on one database, each with its own Slack client, against
one emulator whose clock is the injected one (issue 21 items 3 and 6): a claim whose
lease ran out while Slack was slow is settled by one worker only and Slack shows one
post; a long call keeps its claim by renewing it; echoes to a channel keep Slack's pace
across both workers together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.app import Firewatch
from bot.domain.clock import FrozenClock
from bot.emulator import SlackEmulator
from bot.emulator.wire import RecordedCall
from bot.services import effects
from bot.services.outbox_worker import OutboxWorker
from bot.slack.delivery.handler import CALLS_PER_DELIVERY
from storage.models import OutboxRow
from tests.support import TOKEN, Harness, make_settings, start_harness

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def replicas(
    database_url: str, clock: FrozenClock, **settings: Any
) -> AsyncIterator[tuple[SlackEmulator, Harness, Harness]]:
    """The emulator (on `clock`) and two Firewatch processes whose outboxes are driven by
    hand; INC-1 declared and delivered, its channel ready."""
    async with SlackEmulator(bot_token=TOKEN, clock=lambda: clock.now().timestamp()) as slack:
        kw: dict[str, Any] = {"emulator": slack, "start_worker": False, "clock": clock}
        async with (
            start_harness(database_url, **kw, **settings) as a,
            start_harness(database_url, **kw, **settings) as b,
        ):
            assert a.app.worker.worker_id != b.app.worker.worker_id
            assert a.app.slack.outbox is not b.app.slack.outbox
            await a.declare()
            await a.app.worker.drain()
            [incident] = await a.incidents()
            assert incident.channel_id is not None
            yield slack, a, b


async def channel_of(h: Harness) -> str:
    [incident] = await h.incidents()
    assert incident.channel_id is not None
    return incident.channel_id


async def note(h: Harness, channel: str, text: str) -> None:
    answer = await h.sender.slash_command(f"note {text}", channel_id=channel)
    assert answer.status == 200, answer.text


async def echo_row(h: Harness) -> OutboxRow:
    return [r for r in await h.outbox() if r.kind == effects.TIMELINE_ECHO][-1]


async def posted(slack: SlackEmulator, channel: str, text: str) -> None:
    """Until Slack has the message (its answer may still be on its way)."""
    for _ in range(500):
        if any(text in m.text for m in slack.messages(channel)):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{text!r} never posted")


async def claimed_by(h: Harness, worker: OutboxWorker) -> None:
    """Until the echo row is claimed by ``worker``."""
    for _ in range(1000):
        if (await echo_row(h)).claimed_by == worker.worker_id:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{worker.worker_id} never claimed the echo")


def posts_of(slack: SlackEmulator, channel: str, text: str) -> list[RecordedCall]:
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("channel") == channel and text in str(c.args.get("text"))
    ]


async def test_a_lease_that_ran_out_while_slack_was_slow_gives_one_post(
    database_url: str,
) -> None:
    """A posts; Slack takes the message but answers late, after A's lease ran out (A was
    stalled: no renewal). B takes the row over, finds the message by its metadata and
    settles it. A's answer comes: its claim is gone, so it changes nothing."""
    clock = FrozenClock(T0)
    async with replicas(database_url, clock) as (slack, a, b):
        channel = await channel_of(a)
        await note(a, channel, "failover started")
        answer = asyncio.Event()
        slack.fail("chat.postMessage", release=answer)  # done at once, answered when set
        first = asyncio.create_task(a.app.worker.run_once())
        await posted(slack, channel, "failover started")
        clock.advance(a.app.worker.lease + timedelta(seconds=1))

        await b.app.worker.drain()
        row = await echo_row(a)
        assert (row.status, row.claimed_by, row.claim_token) == ("done", None, None)
        taken_over = dict(row.result)
        answer.set()
        await first  # A's answer, then A's settlement: the claim is not A's any more

        row = await echo_row(a)
        assert row.status == "done"
        assert row.result == taken_over  # B's settlement stands
        [message] = [m for m in slack.messages(channel) if "failover started" in m.text]
        assert row.result["ts"] == message.ts
        assert len(posts_of(slack, channel, "failover started")) == 1
        # B looked before posting: the attempt before its own had no answer yet.
        assert slack.calls_to("conversations.history")


async def test_a_late_failure_does_not_free_the_claim_of_the_worker_that_took_over(
    database_url: str,
) -> None:
    """A's post is taken but answered with a 500 only after A's lease ran out and B took
    the row over. A's retry settlement finds B's claim, not A's: it leaves the row to B
    (no one else may claim it while B looks for the message) and B settles it once."""
    clock = FrozenClock(T0)
    async with replicas(database_url, clock) as (slack, a, b):
        channel = await channel_of(a)
        await note(a, channel, "cache flushed")
        failure, look = asyncio.Event(), asyncio.Event()
        slack.fail("chat.postMessage", status=500, apply=True, release=failure)
        slack.fail("conversations.history", release=look)  # B's look is slow too
        first = asyncio.create_task(a.app.worker.run_once())
        await posted(slack, channel, "cache flushed")
        clock.advance(a.app.worker.lease + timedelta(seconds=1))
        second = asyncio.create_task(b.app.worker.run_once())
        await claimed_by(a, b.app.worker)
        failure.set()
        await first  # A's 500 came while B held the row

        row = await echo_row(a)
        assert (row.status, row.claimed_by) == ("pending", b.app.worker.worker_id)
        assert row.last_error is None
        assert row.claimed_until is not None
        assert row.claimed_until > clock.now()
        look.set()
        assert await second == 1
        row = await echo_row(a)
        assert row.status == "done"
        assert len(posts_of(slack, channel, "cache flushed")) == 1
        assert len([m for m in slack.messages(channel) if "cache flushed" in m.text]) == 1


async def test_a_worker_whose_renewal_finds_its_claim_taken_stops_at_once(
    database_url: str,
) -> None:
    """A stalled past its lease; B took the row over and delivered it. A's next renewal
    finds the claim gone: A's attempt is cancelled where it waits, settles nothing."""
    clock = FrozenClock(T0)
    async with replicas(database_url, clock) as (slack, a, b):
        channel = await channel_of(a)
        await note(a, channel, "traffic drained")
        answer = asyncio.Event()  # A's call is answered only after the checks
        slack.fail("chat.postMessage", release=answer)
        first = asyncio.create_task(a.app.worker.run_once())
        await posted(slack, channel, "traffic drained")
        clock.advance(a.app.worker.lease + timedelta(seconds=1))
        await b.app.worker.drain()
        done = await echo_row(a)
        assert done.status == "done"
        settled = (done.result, done.delivered_at, done.attempts)

        await a.app.worker.leases.renew()  # A's heartbeat, due now
        assert await asyncio.wait_for(first, 5) == 1  # not waiting for Slack's answer
        row = await echo_row(a)
        assert (row.status, row.result, row.delivered_at, row.attempts) == ("done", *settled)
        assert len([m for m in slack.messages(channel) if "traffic drained" in m.text]) == 1
        answer.set()


async def test_a_slow_call_keeps_its_claim_by_renewing_the_lease(database_url: str) -> None:
    """While A waits for Slack its heartbeat renews the lease: past the first lease's end
    B finds nothing to take, and A settles its own delivery."""
    clock = FrozenClock(T0)
    async with replicas(database_url, clock) as (slack, a, b):
        channel = await channel_of(a)
        await note(a, channel, "rollback done")
        a.app.worker.leases.renew_every = 0.05
        answer = asyncio.Event()
        slack.fail("chat.postMessage", release=answer)
        first = asyncio.create_task(a.app.worker.run_once())
        await posted(slack, channel, "rollback done")
        claimed_until = (await echo_row(a)).claimed_until
        assert claimed_until is not None
        clock.advance(a.app.worker.lease + timedelta(seconds=1))
        for _ in range(200):  # the next beat renews from the clock's new now
            row = await echo_row(a)
            if row.claimed_until is not None and row.claimed_until > clock.now():
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the lease was not renewed")

        calls = len(slack.calls)
        assert await b.app.worker.run_once() == 0
        assert len(slack.calls) == calls  # B made no call at all
        answer.set()
        assert await first == 1
        row = await echo_row(a)
        assert (row.status, row.claimed_by, row.claim_token) == ("done", None, None)
        assert row.result["ts"] == slack.messages(channel)[-1].ts
        assert len(posts_of(slack, channel, "rollback done")) == 1


async def test_echoes_keep_slacks_pace_across_replicas(database_url: str) -> None:
    """A burst of notes in one channel, both workers draining at every step of a quarter
    second: every note is echoed once and in order, and the channel gets at most one
    message a second by the emulator's recorded times (the injected clock)."""
    clock = FrozenClock(T0)
    async with replicas(database_url, clock, FIREWATCH_ECHO_INTERVAL_SECONDS=1.0) as (
        slack,
        a,
        b,
    ):
        channel = await channel_of(a)
        clock.advance(timedelta(seconds=5))
        await a.app.worker.drain()  # the declaration's own echo, if any, is out
        before = len(slack.calls)
        workers: list[OutboxWorker] = [a.app.worker, b.app.worker]
        sent = [f"step {n:02d}" for n in range(40)]
        for step in range(40):
            for text in sent[step * 2 : step * 2 + 2]:  # notes keep coming meanwhile
                await note(a if step % 2 else b, channel, text)
            await asyncio.gather(*(w.drain() for w in workers))
            clock.advance(timedelta(seconds=0.25))

        echoes = [
            c
            for c in slack.calls[before:]
            if c.method == "chat.postMessage" and c.args.get("channel") == channel
        ]
        assert all(c.http_status == 200 for c in echoes)
        gaps = [later.at - earlier.at for earlier, later in zip(echoes, echoes[1:], strict=False)]
        assert len(echoes) >= 4  # the burst went out in several messages...
        assert min(gaps) >= 1.0 - 1e-6, gaps  # ...never two within a second
        shown = [line for m in slack.messages(channel) for line in m.text.splitlines()]
        assert [line for line in shown if line.startswith("step ")] == sent  # once, in order
        assert {r.status for r in await a.outbox() if r.kind == effects.TIMELINE_ECHO} == {"done"}


async def test_the_lease_outlasts_the_slowest_calls_a_delivery_makes(database_url: str) -> None:
    """Derived from FIREWATCH_SLACK_TIMEOUT_SECONDS: the calls of the longest usual
    delivery, each taking the whole timeout, and a margin; renewed every third of it."""
    for timeout, lease in ((2.0, 20), (10.0, 60), (120.0, 610)):
        settings = make_settings(
            database_url, "http://127.0.0.1:9/api/", FIREWATCH_SLACK_TIMEOUT_SECONDS=timeout
        )
        app = Firewatch(settings)
        try:
            assert app.worker.lease == timedelta(seconds=lease)
            assert app.worker.lease > CALLS_PER_DELIVERY * timedelta(seconds=timeout)
            assert app.worker.leases.renew_every == lease / 3
        finally:
            await app.db.dispose()
