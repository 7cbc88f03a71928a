"""`Database.write_batch`: the hot paths' one-transaction writes, on SQLite (a thread of
its own, one hand-off per batch) and on PostgreSQL (the event loop)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, func, select

from storage.engine import Database
from storage.models import OutboxRow
from storage.outbox import OutboxRepository, enqueue_rows

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def payloads(db: Database) -> list[int]:
    async with db.session(write=False) as session:
        rows = await OutboxRepository(session).listing(limit=100)
    return sorted(r.payload["n"] for r in rows)


async def test_a_batch_commits_what_it_wrote_and_returns_its_value(db: Database) -> None:
    def work(conn: Connection) -> int:
        enqueue_rows(conn, [("test", "k", {"n": n}, None) for n in (1, 2, 3)], now=T0)
        return int(conn.scalar(select(func.count()).select_from(OutboxRow)) or 0)

    assert await db.write_batch(work) == 3
    assert await payloads(db) == [1, 2, 3]  # visible to the other connections


async def test_a_batch_that_raises_stores_nothing(db: Database) -> None:
    def work(conn: Connection) -> None:
        enqueue_rows(conn, [("test", "k", {"n": 1}, None)], now=T0)
        raise ValueError("half way")

    with pytest.raises(ValueError, match="half way"):
        await db.write_batch(work)
    assert await payloads(db) == []


async def test_batches_and_sessions_writing_at_once_all_land(db: Database) -> None:
    """SQLite has one writer: batches and ordinary write sessions queue for it."""

    async def batch(n: int) -> None:
        await db.write_batch(
            lambda conn: enqueue_rows(conn, [("test", "k", {"n": n}, None)], now=T0)
        )

    async def session(n: int) -> None:
        async with db.session() as s:
            await OutboxRepository(s).enqueue("test", "k", {"n": n}, now=T0)

    await asyncio.gather(*(batch(n) if n % 2 else session(n) for n in range(20)))
    assert await payloads(db) == list(range(20))


async def test_a_disposed_database_writes_again_when_used_again(db: Database) -> None:
    await db.write_batch(lambda conn: enqueue_rows(conn, [("test", "k", {"n": 1}, None)], now=T0))
    await db.dispose()
    await db.write_batch(lambda conn: enqueue_rows(conn, [("test", "k", {"n": 2}, None)], now=T0))
    assert await payloads(db) == [1, 2]


async def test_on_sqlite_a_batch_holds_the_writer_from_its_first_read(
    db: Database, database_url: str
) -> None:
    """Another process writing to the file waits until the batch commits, so what the
    batch read stays true until then. With pysqlite's late BEGIN (at the first write) a
    batch read a note as waiting, another replica appended it meanwhile, and the batch's
    insert failed on the note's unique key."""
    if not db.is_sqlite:
        pytest.skip("PostgreSQL's batches lock the rows they rely on (storage/timeline_batch.py)")
    other = Database(database_url)  # another process's connections to the same file
    read = threading.Event()

    def batch(conn: Connection) -> tuple[int, int]:
        count = select(func.count()).select_from(OutboxRow)
        before = int(conn.scalar(count) or 0)
        read.set()
        time.sleep(0.3)  # the other process's write is attempted meanwhile
        return before, int(conn.scalar(count) or 0)

    async def other_write() -> None:
        await asyncio.to_thread(read.wait, 5)
        await other.write_batch(
            lambda conn: enqueue_rows(conn, [("test", "k", {"n": 1}, None)], now=T0)
        )

    try:
        (before, after), _ = await asyncio.gather(db.write_batch(batch), other_write())
    finally:
        await other.dispose()
    assert before == after == 0  # nothing committed under the batch's reads
    assert await payloads(db) == [1]  # the other write landed once the batch ended
