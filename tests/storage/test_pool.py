"""The pool on PostgreSQL: a pooled connection whose server went away (a restart, a
terminated backend) is replaced before a transaction uses it, without the three round
trips per transaction that SQLAlchemy's pre-ping cost."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from storage.engine import Database

_PID = text("SELECT pg_backend_pid()")


def _asyncpg_dsn(db: Database) -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _terminate(db: Database, pid: int) -> None:
    """End backend `pid` from a connection outside the pool, and return once the server
    has let it go (its socket is closed by then)."""
    admin = await asyncpg.connect(_asyncpg_dsn(db))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $1"
        for _ in range(500):
            if await admin.fetchval(gone, pid):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"backend {pid} did not end")
    finally:
        await admin.close()


async def test_a_pooled_connection_whose_backend_ended_is_replaced(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("a server ends connections only on PostgreSQL (the PostgreSQL pass runs this)")
    async with db.session(write=False) as session:
        first = (await session.execute(_PID)).scalar_one()
    await _terminate(db, first)
    await asyncio.sleep(0)  # the event loop reads the closed socket
    async with db.session() as session:  # a write transaction: nothing lost, nothing raised
        second = (await session.execute(_PID)).scalar_one()
    assert second != first


async def test_no_round_trip_is_spent_pinging_before_a_transaction(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("the pool's check is PostgreSQL's (the PostgreSQL pass runs this)")
    sent: list[str] = []

    async with db.session(write=False) as session:
        conn = await session.connection()
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        driver.add_query_logger(lambda record: sent.append(record.query))
        await session.execute(_PID)
    async with db.session(write=False) as session:
        await session.execute(_PID)
    # Two transactions and nothing else: a ping is a transaction of its own (BEGIN, `;`,
    # ROLLBACK) before each of them.
    assert sent == ["BEGIN;", "COMMIT;", "BEGIN;", "COMMIT;"]
