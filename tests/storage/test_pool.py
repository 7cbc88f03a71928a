"""The pool on PostgreSQL: a pooled connection whose server went away (a restart, a
terminated backend) is replaced before a transaction uses it, without the three round
trips per transaction that SQLAlchemy's pre-ping cost (storage/engine.py,
`_begin_on_checkout`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text

from storage.engine import Database

_PID = text("SELECT pg_backend_pid()")


def _asyncpg_dsn(db: Database) -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _terminate(admin: asyncpg.Connection, pid: int) -> None:
    """End backend `pid` from `admin`, a connection outside the pool, and return as soon
    as the server has let it go."""
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $1"
    for _ in range(5000):
        if await admin.fetchval(gone, pid):
            return
    raise AssertionError(f"backend {pid} did not end")


@pytest.fixture
async def admin(db: Database) -> AsyncIterator[asyncpg.Connection]:
    if db.is_sqlite:
        pytest.skip("a server ends connections only on PostgreSQL (the PostgreSQL pass runs this)")
    conn = await asyncpg.connect(_asyncpg_dsn(db))
    yield conn
    await conn.close()


async def _pooled_connection(db: Database) -> tuple[int, asyncpg.Connection]:
    """The backend pid and asyncpg connection of a connection now back in the pool."""
    async with db.session(write=False) as session:
        pid = (await session.execute(_PID)).scalar_one()
        raw = await (await session.connection()).get_raw_connection()
        driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return pid, driver


async def test_a_pooled_connection_whose_backend_ended_is_replaced(
    db: Database, admin: asyncpg.Connection
) -> None:
    first, driver = await _pooled_connection(db)
    await _terminate(admin, first)
    for _ in range(500):  # the event loop reads the FATAL error, then the end of the stream
        if driver.is_closed():
            break
        await asyncio.sleep(0.01)
    assert driver.is_closed()
    async with db.session() as session:  # a write transaction: nothing lost, nothing raised
        second = (await session.execute(_PID)).scalar_one()
    assert second != first


async def test_a_connection_whose_backend_is_ending_as_it_is_checked_out_is_replaced(
    db: Database, admin: asyncpg.Connection
) -> None:
    """The server has ended the backend and asyncpg has not marked the connection closed
    yet: the FATAL error read, the end of the stream not. A transaction started in that
    window failed with "cannot switch to state 15" in about one round in six; it must
    get a new connection instead. Rounds until five have fallen in the window."""
    caught_open = rounds = 0
    while caught_open < 5 and rounds < 300:
        rounds += 1
        first, driver = await _pooled_connection(db)
        await _terminate(admin, first)
        caught_open += not driver.is_closed()
        async with db.session() as session:
            second = (await session.execute(_PID)).scalar_one()
        assert second != first
    if not caught_open:
        pytest.skip(f"no round of {rounds} started before asyncpg saw the close")


async def test_no_round_trip_is_spent_pinging_before_a_transaction(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("the pool's check is PostgreSQL's (the PostgreSQL pass runs this)")
    sent: list[str] = []
    _pid, driver = await _pooled_connection(db)
    driver.add_query_logger(lambda record: sent.append(record.query))
    for _ in range(2):
        async with db.session(write=False) as session:
            await session.execute(_PID)
    # Two transactions and nothing else: a ping is a transaction of its own (BEGIN, `;`,
    # ROLLBACK) before each of them.
    assert sent == ["BEGIN;", "COMMIT;"] * 2
