"""The outbox worker with plain handlers and a frozen clock: order, retries, leases."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.clock import FrozenClock
from bot.runtime.load import RequestLoad
from bot.services.outbox_worker import (
    NotReady,
    OutboxItem,
    OutboxWorker,
    PermanentFailure,
    RetryLater,
)
from storage import outbox_settle as settle
from storage.engine import Database
from storage.outbox import OutboxRepository

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Recorder:
    """Handler that records deliveries and fails as scripted."""

    def __init__(self) -> None:
        self.delivered: list[Any] = []
        self.script: list[Exception] = []
        self.gave_up_on: list[tuple[int, str]] = []
        self.seen_unknown: list[bool] = []

    async def deliver(self, item: OutboxItem) -> dict[str, Any]:
        self.seen_unknown.append(item.outcome_unknown)
        if self.script:
            raise self.script.pop(0)
        self.delivered.append(item.payload["n"])
        return {"ok": True}

    async def gave_up(self, item: OutboxItem, error: str) -> None:
        self.gave_up_on.append((item.id, error))


async def enqueue(db: Database, key: str, *numbers: int, now: datetime = T0) -> None:
    async with db.session() as session:
        repo = OutboxRepository(session)
        for n in numbers:
            await repo.enqueue("test", key, {"n": n}, now=now)


def worker(db: Database, handler: Recorder, clock: FrozenClock, **kw: Any) -> OutboxWorker:
    return OutboxWorker(db, {"test": handler}, clock, rng=random.Random(1), **kw)


async def statuses(db: Database) -> list[tuple[int, str, int]]:
    async with db.session(write=False) as session:
        rows = await OutboxRepository(session).listing(limit=1000)
    return sorted((r.payload["n"], r.status, r.attempts) for r in rows)


async def test_order_is_kept_per_key_and_keys_do_not_wait_for_each_other(db: Database) -> None:
    clock, handler = FrozenClock(T0), Recorder()
    await enqueue(db, "channel:A", 1, 2, 3)
    await enqueue(db, "channel:B", 10, 11)
    handler.script = [RetryLater("503")]  # A's head fails once
    w = worker(db, handler, clock)
    await w.drain()
    # A is blocked behind its failed head; B went on.
    assert handler.delivered == [10, 11]
    clock.advance(timedelta(seconds=5))
    await w.drain()
    assert handler.delivered == [10, 11, 1, 2, 3]


async def test_retry_after_is_honoured(db: Database) -> None:
    clock, handler = FrozenClock(T0), Recorder()
    await enqueue(db, "k", 1)
    handler.script = [RetryLater("429", retry_after=30)]
    w = worker(db, handler, clock)
    await w.drain()
    clock.advance(timedelta(seconds=29))
    await w.drain()
    assert handler.delivered == []
    clock.advance(timedelta(seconds=1))
    await w.drain()
    assert handler.delivered == [1]


async def test_backoff_grows_exponentially_with_jitter(db: Database) -> None:
    w = worker(db, Recorder(), FrozenClock(T0), backoff_base=1.0, backoff_cap=60)
    delays = [w.backoff(n) for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(60.0, 2.0 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling


async def test_a_message_is_dead_after_max_attempts_and_can_be_resent(db: Database) -> None:
    clock, handler = FrozenClock(T0), Recorder()
    await enqueue(db, "k", 1, 2)
    handler.script = [RetryLater("500")] * 3
    w = worker(db, handler, clock, max_attempts=3)
    for _ in range(3):
        await w.drain()
        clock.advance(timedelta(minutes=10))
    assert await statuses(db) == [(1, "dead", 3), (2, "done", 1)]
    assert handler.gave_up_on
    assert "gave up after 3 attempts" in handler.gave_up_on[0][1]
    async with db.session() as session:
        repo = OutboxRepository(session)
        dead = [r.id for r in await repo.listing("dead")]
        assert await repo.requeue(dead[0], now=clock.now())
    await w.drain()
    assert handler.delivered == [2, 1]


async def test_permanent_failures_die_at_once_and_do_not_block_the_key(db: Database) -> None:
    clock, handler = FrozenClock(T0), Recorder()
    await enqueue(db, "k", 1, 2)
    handler.script = [PermanentFailure("channel_not_found")]
    await worker(db, handler, clock).drain()
    assert await statuses(db) == [(1, "dead", 1), (2, "done", 1)]


async def test_not_ready_waits_without_using_attempts(db: Database) -> None:
    clock, handler = FrozenClock(T0), Recorder()
    await enqueue(db, "k", 1)
    handler.script = [NotReady("channel pending")] * 5
    w = worker(db, handler, clock, max_attempts=2)
    for _ in range(5):
        await w.drain()
        clock.advance(timedelta(seconds=1))
    await w.drain()
    assert await statuses(db) == [(1, "done", 1)]


async def test_a_crash_mid_delivery_is_retried_with_outcome_unknown(db: Database) -> None:
    clock, handler = FrozenClock(T0), Recorder()
    await enqueue(db, "k", 1)
    # Process 1 claims the row and dies before settling it.
    async with db.session() as session:
        repo = OutboxRepository(session)
        [row] = await repo.ready_heads(clock.now(), 10)
        assert await repo.claim(
            row.id, worker="dead-process", now=clock.now(), lease=timedelta(seconds=60)
        )
    restarted = worker(db, handler, clock)
    await restarted.recover() if db.is_sqlite else clock.advance(timedelta(seconds=61))
    await restarted.drain()
    assert handler.delivered == [1]
    assert handler.seen_unknown == [True]  # the handler is told to look before re-posting


async def test_two_workers_never_deliver_the_same_row(db: Database) -> None:
    clock, handler = FrozenClock(T0), Recorder()
    for key in range(20):
        await enqueue(db, f"k{key}", key)
    a = worker(db, handler, clock, worker_id="a")
    b = worker(db, handler, clock, worker_id="b")
    import asyncio

    await asyncio.gather(a.drain(), b.drain())
    assert sorted(handler.delivered) == list(range(20))


class Batcher(Recorder):
    batch_limit = 3

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[int]] = []

    async def deliver(self, item: OutboxItem) -> dict[str, Any]:
        if self.script:
            raise self.script.pop(0)
        numbers = [item.payload["n"], *(i.payload["n"] for i in item.batch)]
        self.batches.append(numbers)
        return {"ok": True}


async def test_a_batching_handler_gets_the_rows_queued_behind_the_head(db: Database) -> None:
    clock, handler = FrozenClock(T0), Batcher()
    await enqueue(db, "k", 1, 2, 3, 4, 5)
    handler.script = [RetryLater("429", retry_after=10)]
    w = worker(db, handler, clock)
    await w.drain()
    # The failed attempt counts for the head only; the rows behind it were released.
    assert await statuses(db) == [
        (1, "pending", 1),
        (2, "pending", 0),
        (3, "pending", 0),
        (4, "pending", 0),
        (5, "pending", 0),
    ]
    clock.advance(timedelta(seconds=10))
    await w.drain()
    assert handler.batches == [[1, 2, 3], [4, 5]]
    assert [s for _, s, _ in await statuses(db)] == ["done"] * 5


async def test_a_head_tried_by_another_worker_since_it_was_read_is_not_claimed(
    db: Database,
) -> None:
    """The claim returns the row in the same statement; a head read before another
    worker's attempt (its attempts moved, its progress may have) is left for the next pass."""
    await enqueue(db, "k", 1)
    async with db.session() as session:
        repo = OutboxRepository(session)
        [row] = await repo.ready_heads(T0, 10)
        seen = row.attempts
        lease = timedelta(seconds=60)
        assert await repo.claim(row.id, worker="other", now=T0, lease=lease, token="t-other")
    await db.write_batch(
        lambda conn: settle.save_progress_in(conn, row.id, token="t-other", progress={"c": 1})
    )
    await db.write_batch(
        lambda conn: settle.settle_retry_in(
            conn, row.id, token="t-other", error="503", next_attempt_at=T0, outcome_unknown=False
        )
    )
    async with db.session() as session:
        repo = OutboxRepository(session)
        stale = await repo.claim_head(
            row.id, seen_attempts=seen, worker="me", now=T0, lease=timedelta(seconds=60)
        )
        fresh = await repo.claim_head(
            row.id, seen_attempts=seen + 1, worker="me", now=T0, lease=timedelta(seconds=60)
        )
    assert stale is None
    assert fresh is not None
    assert fresh.attempts == seen + 2
    assert fresh.progress == {"c": 1}
    assert fresh.payload == {"n": 1}


async def test_a_head_whose_late_holder_set_a_back_off_since_it_was_read_is_not_claimed(
    db: Database,
) -> None:
    """A holder's lease ran out (it stalled) and the head was read as ready; before the
    claim, the holder's answer came, a 429 with Retry-After: 30, and it settled the row
    with that wait (its claim was still its own). The claim keeps that wait."""
    await enqueue(db, "k", 1)
    lease = timedelta(seconds=60)
    async with db.session() as session:
        repo = OutboxRepository(session)
        [row] = await repo.ready_heads(T0, 10)
        assert await repo.claim(row.id, worker="late", now=T0, lease=lease, token="t-late")
    later = T0 + lease + timedelta(seconds=1)
    async with db.session() as session:
        [head] = await OutboxRepository(session).ready_heads(later, 10)
    await db.write_batch(
        lambda conn: settle.settle_retry_in(
            conn,
            row.id,
            token="t-late",
            error="ratelimited",
            next_attempt_at=later + timedelta(seconds=30),
            outcome_unknown=False,
        )
    )
    async with db.session() as session:
        repo = OutboxRepository(session)
        early = await repo.claim_head(
            head.id, seen_attempts=head.attempts, worker="me", now=later, lease=lease
        )
        assert early is None
        due = later + timedelta(seconds=30)
        [again] = await repo.ready_heads(due, 10)
        claimed = await repo.claim_head(
            again.id, seen_attempts=again.attempts, worker="me", now=due, lease=lease
        )
    assert claimed is not None
    assert claimed.attempts == 2


class Batching(Recorder):
    """Delivers the run queued behind the head in one call, as timeline echoes do."""

    batch_limit = 100

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[int]] = []

    async def deliver(self, item: OutboxItem) -> dict[str, Any]:
        numbers = [item.payload["n"], *(i.payload["n"] for i in item.batch)]
        self.calls.append(numbers)
        self.delivered += numbers
        return {"ok": True}


async def test_a_paced_kind_goes_once_per_interval_per_key_carrying_what_queued_meanwhile(
    db: Database,
) -> None:
    """Slack posts about one message a second to a channel: echoes wait out the
    interval on their key (other keys do not), then go as one message."""
    clock, handler = FrozenClock(T0), Batching()
    w = worker(db, handler, clock, pacing={"test": 1.0})
    await enqueue(db, "channel:A", 1)
    await w.drain()
    await enqueue(db, "channel:A", 2, 3)
    await enqueue(db, "channel:B", 10)
    await w.drain()
    assert handler.calls == [[1], [10]]  # A is held for a second; B goes
    clock.advance(timedelta(seconds=0.5))
    await enqueue(db, "channel:A", 4, now=clock.now())
    await w.drain()
    assert handler.calls == [[1], [10]]
    clock.advance(timedelta(seconds=0.6))
    await w.drain()
    assert handler.calls == [[1], [10], [2, 3, 4]]
    assert await statuses(db) == [(1, "done", 1), (2, "done", 1), (3, "done", 1),
                                  (4, "done", 1), (10, "done", 1)]  # fmt: skip


async def test_the_worker_wakes_when_a_held_key_comes_free(db: Database) -> None:
    """No commit, no poll: the held echo still goes once its interval is over."""
    import asyncio

    clock, handler = FrozenClock(T0), Batching()
    w = worker(db, handler, clock, pacing={"test": 0.2}, poll_seconds=30)
    await enqueue(db, "channel:A", 1)
    await w.drain()
    await enqueue(db, "channel:A", 2)
    stop = asyncio.Event()
    task = asyncio.create_task(w.run_forever(stop))
    try:
        for _ in range(250):  # 5 s at most
            if handler.delivered == [1, 2]:
                break
            await asyncio.sleep(0.02)
            clock.advance(timedelta(seconds=0.02))
        assert handler.delivered == [1, 2]
    finally:
        stop.set()
        await task


async def test_a_run_longer_than_a_read_slice_goes_whole_in_order_up_to_the_limit(
    db: Database,
) -> None:
    """Long runs are read in slices (requests are answered between them); the handler
    still gets the whole run behind the head, in order, and no more than its limit."""
    from storage.slices import READ_SLICE

    clock, handler = FrozenClock(T0), Batching()
    total = 2 * READ_SLICE + 7
    await enqueue(db, "channel:A", *range(total))
    await enqueue(db, "channel:B", 1000)
    await worker(db, handler, clock).drain()
    calls_a = [call for call in handler.calls if call != [1000]]
    assert calls_a == [list(range(Batching.batch_limit)), list(range(Batching.batch_limit, total))]
    assert [1000] in handler.calls
    assert [s for _, s, _ in await statuses(db)] == ["done"] * (total + 1)


class HeldBetweenSlices(RequestLoad):
    """A request is being answered whenever the worker asks between two slices: the
    worker stays paused there until the test lets it go."""

    def __init__(self) -> None:
        super().__init__(max_wait=0.0)
        self.paused = asyncio.Event()
        self.resume = asyncio.Event()
        self.pauses = 0

    async def between_answers(self, max_wait: float | None = None) -> None:
        assert max_wait is not None  # a slice waits briefly at most
        assert max_wait <= 0.1
        self.pauses += 1
        self.paused.set()
        await self.resume.wait()


async def test_a_long_run_gives_way_to_requests_without_holding_the_writer(
    db: Database,
) -> None:
    """Between the slices of a long read the worker waits for the request being answered;
    it holds no write transaction there, so the request's own write goes through."""
    from storage.slices import READ_SLICE

    clock, handler, load = FrozenClock(T0), Batching(), HeldBetweenSlices()
    await enqueue(db, "channel:A", *range(2 * READ_SLICE + 7))
    drain = asyncio.create_task(worker(db, handler, clock, load=load).drain())
    await asyncio.wait_for(load.paused.wait(), 10)
    assert handler.calls == []  # paused mid-run

    await asyncio.wait_for(enqueue(db, "channel:B", 1000), 5)  # the request's write

    load.resume.set()
    await asyncio.wait_for(drain, 10)
    assert load.pauses >= 2
    assert [n for call in handler.calls for n in call if n != 1000] == list(
        range(2 * READ_SLICE + 7)
    )


async def test_an_idle_worker_waits_the_poll_interval_once_held_keys_come_free(
    db: Database,
) -> None:
    """After a paced delivery with nothing more queued on its key, the worker makes one
    pass when the interval ends and then waits for a wake-up or the poll — not a pass
    every millisecond for good (it spun at half a core after a storm of notes)."""
    clock, handler = FrozenClock(T0), Batching()
    w = worker(db, handler, clock, pacing={"test": 1.0}, poll_seconds=30)
    assert w.idle_timeout() == 30
    await enqueue(db, "channel:A", 1)
    await w.drain()
    assert handler.calls == [[1]]
    clock.advance(timedelta(seconds=0.25))
    assert w.idle_timeout() == pytest.approx(0.751)  # until channel:A comes free
    clock.advance(timedelta(seconds=1.0))
    assert w.idle_timeout() == 0.0  # one pass for anything held meanwhile
    assert w.idle_timeout() == 30
    assert await w.run_once() == 0
    assert w.idle_timeout() == 30
    await enqueue(db, "channel:A", 2, now=clock.now())
    await w.drain()
    assert handler.calls == [[1], [2]]  # the key was forgotten, not lost: it goes at once


async def test_a_replica_learns_that_another_replica_paced_a_key_from_one_pass(
    db: Database,
) -> None:
    """Two replicas: A delivered channel:A's last echo, B takes the next notes. B's first
    wake-up finds the key held, and B then counts it held for the interval: the rows
    queued meanwhile do not each cost B a pass over the outbox. Once the interval is over
    the rows go, by B if A is gone."""
    clock, handler = FrozenClock(T0), Batching()
    a = worker(db, handler, clock, pacing={"test": 1.0}, poll_seconds=30)
    b = worker(db, handler, clock, pacing={"test": 1.0}, poll_seconds=30)
    await enqueue(db, "channel:A", 1)
    await a.drain()
    woken = []
    for n in range(2, 7):
        await enqueue(db, "channel:A", n, now=clock.now())
        woken.append(b.wake_for("test", {"channel:A"}))
        if woken[-1]:
            assert await b.run_once() == 0  # held: A delivered 1 just now
        clock.advance(timedelta(milliseconds=100))
    assert woken == [True, False, False, False, False]
    assert handler.calls == [[1]]
    assert b.idle_timeout() == pytest.approx(0.501)  # B looks again when it comes free
    clock.advance(timedelta(seconds=0.51))
    assert b.wake_for("test", {"channel:A"})
    await b.drain()
    assert handler.calls == [[1], [2, 3, 4, 5, 6]]
    await enqueue(db, "channel:B", 10, now=clock.now())
    assert b.wake_for("test", {"channel:B"})  # another key is not held


class Counted:
    """A delivery observer that counts, as the metrics do."""

    def __init__(self) -> None:
        self.delivered_rows: dict[str, int] = {}

    def delivered(self, kind: str, count: int = 1) -> None:
        self.delivered_rows[kind] = self.delivered_rows.get(kind, 0) + count

    def retried(self, kind: str, reason: str) -> None:
        pass

    def dead(self, kind: str, reason: str) -> None:
        pass


async def test_a_message_carrying_several_rows_counts_every_row_delivered(db: Database) -> None:
    """`firewatch_outbox_deliveries_total` counts rows: one echo message showing three
    notes is three deliveries (told at once, not once per row)."""
    clock, handler, seen = FrozenClock(T0), Batching(), Counted()
    w = worker(db, handler, clock, observer=seen)
    await enqueue(db, "channel:A", 1, 2, 3)
    await w.drain()
    assert handler.calls == [[1, 2, 3]]
    assert seen.delivered_rows == {"test": 3}
