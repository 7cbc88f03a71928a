"""Fixtures for the storage tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import migrate
from storage.engine import Database


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite file, whatever FIREWATCH_TEST_DATABASE_URL says: for what only
    SQLite has (one writer, the write-ahead log, the DB-API hot path)."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'fw.db'}")
    await migrate.upgrade(database.engine)
    yield database
    await database.dispose()
