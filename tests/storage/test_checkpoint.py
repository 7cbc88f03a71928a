"""SQLite's write-ahead log is moved into the database file by `Database.checkpoint`, on
a thread of its own, not inside whichever answer's commit crosses SQLite's threshold."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from bot.app import Firewatch
from bot.emulator import SlackEmulator
from storage.engine import SQLITE_AUTOCHECKPOINT_PAGES, Database
from storage.outbox import enqueue_rows
from tests.support import TOKEN, make_settings

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(sqlite_db: Database) -> Database:
    await sqlite_db.checkpoint()  # the schema: in the file from here on
    return sqlite_db


def rows_in_the_file_alone(db_file: Path, tmp_path: Path) -> int:
    """Outbox rows a copy of the database file holds without its write-ahead log."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(db_file, alone)
    with sqlite3.connect(alone) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


async def test_a_checkpoint_puts_what_was_committed_into_the_database_file(
    db: Database, tmp_path: Path
) -> None:
    def write(conn: Connection) -> None:
        enqueue_rows(conn, [("test", "k", {"n": n}, None) for n in range(200)], now=T0)

    await db.write_batch(write)
    assert rows_in_the_file_alone(tmp_path / "fw.db", tmp_path) == 0  # still in the log
    result = await db.checkpoint()
    assert result is not None
    log_pages, copied = result
    assert log_pages > 0
    assert copied == log_pages
    assert rows_in_the_file_alone(tmp_path / "fw.db", tmp_path) == 200


async def test_commits_leave_checkpoints_to_it_up_to_a_safety_net(db: Database) -> None:
    """Every connection, the sessions' and the write batches', raises SQLite's own
    threshold (1,000 pages by default) to the safety net."""
    async with db.session(write=False) as session:
        pages = (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
    batched = await db.write_batch(
        lambda conn: conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    )
    assert pages == batched == SQLITE_AUTOCHECKPOINT_PAGES


async def test_there_is_nothing_to_checkpoint_in_memory() -> None:
    database = Database("sqlite+aiosqlite:///:memory:")
    try:
        assert await database.checkpoint() is None
    finally:
        await database.dispose()


async def test_firewatch_checkpoints_on_its_own_while_it_runs(tmp_path: Path) -> None:
    slack = SlackEmulator(bot_token=TOKEN)
    await slack.start()
    app = Firewatch(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", slack.api_url))
    checkpointed = asyncio.Event()
    checkpoint = app.db.checkpoint

    async def recording() -> tuple[int, int] | None:
        result = await checkpoint()
        checkpointed.set()
        return result

    app.db.checkpoint = recording  # type: ignore[method-assign]
    try:
        await app.start(serve=False)
        await asyncio.wait_for(checkpointed.wait(), 10)
    finally:
        await app.stop()
        await slack.stop()
