"""Shared fixtures: a fresh database per test (SQLite, or PostgreSQL when
FIREWATCH_TEST_DATABASE_URL is set), the Slack emulator, and a running Firewatch."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage import migrate
from storage.engine import Database
from tests.support import PG_ENV, Harness, start_harness

pytest_plugins: list[str] = []


def postgres_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


async def _create_pg_database(admin_url: str) -> tuple[str, str]:
    import asyncpg

    url = make_url(admin_url)
    name = f"fw_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(
        user=url.username or "postgres",
        password=url.password,
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, url.set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(admin_url: str, name: str) -> None:
    import asyncpg

    url = make_url(admin_url)
    conn = await asyncpg.connect(
        user=url.username or "postgres",
        password=url.password,
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """An empty database for this test."""
    admin = postgres_admin_url()
    if admin is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'firewatch.db'}"
        return
    name, url = await _create_pg_database(admin)
    try:
        yield url
    finally:
        await _drop_pg_database(admin, name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """That database, migrated to the current schema."""
    database = Database(database_url)
    await migrate.upgrade(database.engine)
    yield database
    await database.dispose()


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    """The emulator and a running Firewatch (HTTP mode) wired to it."""
    async with start_harness(database_url) as h:
        yield h
