"""`Database.read`: synchronous reads in one hand-off — a reader thread with its own
connection on a SQLite file, `AsyncSession.run_sync` elsewhere."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import migrate
from storage.engine import Database
from storage.models import OutboxRow
from storage.outbox import OutboxRepository, enqueue_rows

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await migrate.upgrade(database.engine)
    yield database
    await database.dispose()


def numbers(session: Session) -> list[int]:
    return sorted(row.payload["n"] for row in session.scalars(select(OutboxRow)))


async def test_a_read_sees_what_sessions_and_batches_committed(db: Database) -> None:
    assert await db.read(numbers) == []
    async with db.session() as session:
        await OutboxRepository(session).enqueue("test", "k", {"n": 1}, now=T0)
    await db.write_batch(lambda conn: enqueue_rows(conn, [("test", "k", {"n": 2}, None)], now=T0))
    assert await db.read(numbers) == [1, 2]


async def test_an_error_in_a_read_reaches_the_caller(db: Database) -> None:
    def broken(session: Session) -> None:
        session.execute(select(OutboxRow))
        raise LookupError("nothing")

    with pytest.raises(LookupError, match="nothing"):
        await db.read(broken)
    assert await db.read(numbers) == []  # the connection is usable after it


async def test_reads_in_flight_at_once_all_answer(db: Database) -> None:
    await db.write_batch(
        lambda conn: enqueue_rows(conn, [("test", "k", {"n": n}, None) for n in range(5)], now=T0)
    )
    answers = await asyncio.gather(*(db.read(numbers) for _ in range(20)))
    assert answers == [[0, 1, 2, 3, 4]] * 20


async def test_a_disposed_database_reads_again_when_used_again(db: Database) -> None:
    assert await db.read(numbers) == []
    await db.dispose()
    assert await db.read(numbers) == []


async def test_on_a_sqlite_file_reads_run_on_a_reader_thread_not_the_event_loop(
    sqlite_db: Database,
) -> None:
    """The point of `read`: the event loop hands the whole read over once."""
    loop_thread = threading.current_thread().name
    names = await asyncio.gather(
        *(sqlite_db.read(lambda _s: threading.current_thread().name) for _ in range(10))
    )
    assert loop_thread not in names
    assert {n.rsplit("_", 1)[0] for n in names} == {"sqlite-read"}


async def test_in_memory_sqlite_reads_through_the_async_session() -> None:
    database = Database("sqlite+aiosqlite:///:memory:")
    try:
        await migrate.upgrade(database.engine)
        assert await database.read(numbers) == []
        name = await database.read(lambda _s: threading.current_thread().name)
        assert name == threading.current_thread().name
    finally:
        await database.dispose()
