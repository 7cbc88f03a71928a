"""SQLite's one writer: a request's write that is waiting goes before background work.

Background work is whatever runs under `background_writes()` (the outbox worker and its
handlers' own sessions, the intake, paging, scheduled jobs), not only the sessions that
say `background=True` themselves."""

from __future__ import annotations

import asyncio

import pytest

from storage.engine import Database, background_writes


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.mark.parametrize("under_background_writes", [True, False])
async def test_a_waiting_request_goes_before_work_opened_under_background_writes(
    db: Database, under_background_writes: bool
) -> None:
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with db.session():
            order.append("holder")
            await release.wait()

    async def write(name: str) -> None:
        async with db.session():  # no background= of its own: the context decides
            order.append(name)

    async def background(name: str) -> None:
        if under_background_writes:
            with background_writes():
                await write(name)
        else:
            await write(name)

    tasks = [asyncio.create_task(holder())]
    await settle()
    tasks.append(asyncio.create_task(write("request 1")))
    await settle()
    tasks.append(asyncio.create_task(background("delivery")))
    await settle()
    tasks.append(asyncio.create_task(write("request 2")))  # comes after the delivery
    await settle()
    release.set()
    await asyncio.gather(*tasks)

    if under_background_writes:
        assert order == ["holder", "request 1", "request 2", "delivery"]
    else:  # the same session outside the context queues as a request would
        assert order == ["holder", "request 1", "delivery", "request 2"]


async def test_tasks_started_under_background_writes_are_background_too(db: Database) -> None:
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with db.session():
            await release.wait()

    async def write(name: str) -> None:
        async with db.session():
            order.append(name)

    first = asyncio.create_task(holder())
    await settle()
    waiting = asyncio.create_task(write("request 1"))
    await settle()
    with background_writes():  # a paging nudge started by the intake, say
        nudge = asyncio.create_task(write("nudge"))
    await settle()
    late = asyncio.create_task(write("request 2"))
    await settle()
    release.set()
    await asyncio.gather(first, waiting, nudge, late)
    assert order == ["request 1", "request 2", "nudge"]


async def test_a_request_goes_before_background_work_that_was_already_queued(
    db: Database,
) -> None:
    """Background transactions queued behind one another (a delivery, the intake, a
    paging step) all wait for a request that comes after them: the request waits for
    the transaction holding the writer, not for the whole queue."""
    order: list[str] = []
    release = asyncio.Event()

    async def write(name: str, hold: asyncio.Event | None = None) -> None:
        async with db.session():
            order.append(name)
            if hold is not None:
                await hold.wait()

    with background_writes():
        tasks = [asyncio.create_task(write("delivery 1", release))]
        await settle()
        tasks += [asyncio.create_task(write(f"delivery {n}")) for n in (2, 3)]
    await settle()
    tasks.append(asyncio.create_task(write("request")))
    await settle()
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["delivery 1", "request", "delivery 2", "delivery 3"]


async def test_a_cancelled_waiter_does_not_keep_the_writer(db: Database) -> None:
    release = asyncio.Event()
    order: list[str] = []

    async def write(name: str, hold: asyncio.Event | None = None) -> None:
        async with db.session():
            order.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(write("holder", release))
    await settle()
    with background_writes():
        gone = asyncio.create_task(write("cancelled"))
    request = asyncio.create_task(write("request"))
    await settle()
    request.cancel()
    gone.cancel()
    later = asyncio.create_task(write("later"))
    await settle()
    release.set()
    await asyncio.wait_for(asyncio.gather(first, later), 5)
    assert order == ["holder", "later"]
    assert gone.cancelled()
    assert request.cancelled()


async def test_each_write_transaction_reports_its_wait_for_the_writer(db: Database) -> None:
    waits: list[tuple[bool, float]] = []
    db.on_writer_wait = lambda background, seconds: waits.append((background, seconds))
    release = asyncio.Event()

    async def holder() -> None:
        with background_writes():
            async with db.session():
                await release.wait()

    held = asyncio.create_task(holder())
    await settle()
    request = asyncio.create_task(db.write_batch(lambda _conn: None))
    await settle()
    release.set()
    await asyncio.gather(held, request)
    assert [background for background, _ in waits] == [True, False]
    assert all(seconds >= 0 for _, seconds in waits)
    assert waits[1][1] > waits[0][1]  # the request waited for the holder; the holder did not
