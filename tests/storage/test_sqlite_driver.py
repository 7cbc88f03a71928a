"""The aiosqlite adapter: one round trip to aiosqlite's thread per statement, and the
same answers as SQLAlchemy's own adapter (rows, counts, ids, errors, transactions)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite.core
import pytest
from sqlalchemy import exc, text
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

from storage import sqlite_driver
from storage.engine import Database
from storage.sqlite_one_trip import OneTripDBAPI


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


def test_the_installed_versions_have_every_internal_the_adapter_uses() -> None:
    # constraints.txt pins these versions; a failure here means the pins moved to a
    # release whose internals changed: Firewatch would run on the (slower) stock adapter.
    assert sqlite_driver.probe() is None


@pytest.fixture
def fresh_verdict() -> Iterator[None]:
    sqlite_driver._verdict.cache_clear()
    yield
    sqlite_driver._verdict.cache_clear()


@pytest.mark.usefixtures("fresh_verdict")
async def test_a_missing_internal_falls_back_to_sqlalchemys_adapter_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As if a new aiosqlite had renamed the private call the one-trip cursor makes.
    missing = ("aiosqlite.core", "Connection._execute_renamed")
    monkeypatch.setattr(sqlite_driver, "REQUIRED", (*sqlite_driver.REQUIRED, missing))
    caplog.set_level(logging.WARNING, logger=sqlite_driver.__name__)
    first = Database(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    second = Database(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    try:
        for database in (first, second):
            dbapi = database.engine.dialect.loaded_dbapi
            assert type(dbapi) is AsyncAdapt_aiosqlite_dbapi  # SQLAlchemy's own
            async with database.engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
                await conn.execute(text("INSERT INTO t (v) VALUES ('kept')"))
            async with database.engine.connect() as conn:
                assert (await conn.execute(text("SELECT v FROM t"))).scalar_one() == "kept"
    finally:
        await first.dispose()
        await second.dispose()
    warnings = [r for r in caplog.records if r.name == sqlite_driver.__name__]
    assert len(warnings) == 1  # one line per process, however many engines
    line = warnings[0].getMessage()
    assert "\n" not in line
    assert "stock aiosqlite adapter" in line
    assert "aiosqlite.core.Connection._execute_renamed is missing" in line


@pytest.mark.usefixtures("fresh_verdict")
def test_an_adapter_that_does_not_import_is_a_fallback_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = importlib.import_module

    def failing(name: str, package: str | None = None) -> Any:
        if name == "storage.sqlite_one_trip":
            raise TypeError("multiple bases have instance lay-out conflict")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", failing)
    assert sqlite_driver.one_trip_dbapi() is None
