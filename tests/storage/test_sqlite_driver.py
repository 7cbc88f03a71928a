"""The aiosqlite adapter: one round trip to aiosqlite's thread per statement, and the
same answers as SQLAlchemy's own adapter (rows, counts, ids, errors, transactions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite.core
import pytest
from sqlalchemy import exc, text

from storage.engine import Database
from storage.sqlite_driver import OneTripDBAPI


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield database
    await database.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls handed to aiosqlite's thread, by name."""
    seen: list[str] = []
    original = aiosqlite.core.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counted)
    return seen


def test_the_engine_uses_the_one_trip_adapter(db: Database) -> None:
    assert isinstance(db.engine.dialect.loaded_dbapi, OneTripDBAPI)


async def test_a_read_is_one_round_trip_and_nothing_to_commit_is_none(
    db: Database, trips: list[str]
) -> None:
    async with db.session(write=False) as session:
        await session.execute(text("SELECT 1"))  # warm the pool outside the count
    trips.clear()
    async with db.session(write=False) as session:
        rows = (await session.execute(text("SELECT id, v FROM t"))).all()
    assert rows == []
    assert trips == ["_statement"]  # SQLAlchemy's adapter: cursor, execute, fetchall, close, commit


async def test_a_write_is_a_round_trip_per_statement_and_one_for_the_commit(
    db: Database, trips: list[str]
) -> None:
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
    trips.clear()
    async with db.session() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('a')"))
        await session.execute(text("INSERT INTO t (v) VALUES ('b')"))
    assert trips == ["_statement", "_statement", "commit"]


async def test_rows_counts_and_ids_come_back_as_sqlalchemy_gives_them(db: Database) -> None:
    async with db.engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('x')"))
        assert inserted.lastrowid == 1
        await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "y"}, {"v": "z"}])
        updated = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        returned = await conn.execute(text("INSERT INTO t (v) VALUES ('w') RETURNING id"))
        assert returned.scalar_one() == 4
        result = await conn.execute(text("SELECT id, v FROM t ORDER BY id"))
        assert result.keys() == ["id", "v"]
        assert result.fetchmany(2) == [(1, "x"), (2, "y!")]
        assert result.fetchall() == [(3, "z!"), (4, "w")]
        assert (await conn.execute(text("SELECT v FROM t WHERE id = 3"))).scalar() == "z!"


async def test_a_failed_statement_raises_sqlalchemys_error_and_rolls_back(db: Database) -> None:
    async def duplicate() -> None:
        async with db.session() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('dup')"))
            await session.execute(text("INSERT INTO t (v) VALUES ('dup')"))

    async def missing_table() -> None:
        async with db.session(write=False) as session:
            await session.execute(text("SELECT * FROM missing"))

    with pytest.raises(exc.IntegrityError):
        await duplicate()
    with pytest.raises(exc.OperationalError, match="no such table"):
        await missing_table()
    async with db.session(write=False) as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_a_rolled_back_transaction_leaves_nothing(db: Database) -> None:
    async with db.engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('gone')"))
        await conn.rollback()
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_streamed_results_still_work(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": str(i)} for i in range(50)]
        )
    async with db.engine.connect() as conn:
        stream = await conn.stream(text("SELECT v FROM t ORDER BY id"))
        seen = [row.v async for row in stream]
    assert seen == [str(i) for i in range(50)]
