"""Alembic migrations from empty, on SQLite and PostgreSQL, and the start-up schema check."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from bot.app import Firewatch
from bot.config import ConfigError
from storage import migrate
from storage.engine import Database
from tests.support import make_settings


async def test_upgrade_from_empty_creates_every_table_and_downgrade_removes_them(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        assert await migrate.current_revision(db.engine) is None
        await migrate.upgrade(db.engine)
        assert await migrate.is_current(db.engine)
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert {"incidents", "timeline_entries", "outbox", "slack_events"} <= tables
        await migrate.downgrade(db.engine, "base")
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
    finally:
        await db.dispose()


def test_the_recorded_head_is_the_newest_migration() -> None:
    """storage.migrate.HEAD spares every CLI command loading Alembic; a new migration
    must move it (or Firewatch would call its own schema out of date)."""
    assert migrate.head_revision() == migrate.alembic_head()


async def test_a_schema_one_migration_behind_is_not_current(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate.upgrade(db.engine)
        await migrate.downgrade(db.engine, "-1")
        assert await migrate.current_revision(db.engine) not in (None, migrate.HEAD)
        assert not await migrate.is_current(db.engine)
    finally:
        await db.dispose()


async def test_run_refuses_an_out_of_date_schema_when_auto_migrate_is_off(
    database_url: str,
) -> None:
    app = Firewatch(
        make_settings(database_url, "http://127.0.0.1:9/api/", FIREWATCH_AUTO_MIGRATE=False)
    )
    try:
        status, payload = await app.readiness()
        assert status == 503
        assert payload["reason"] == "database schema is not current"
        with pytest.raises(ConfigError, match="run `firewatch migrate`"):
            await app.prepare_database()
    finally:
        await app.stop()


async def test_auto_migrate_brings_the_schema_current(database_url: str) -> None:
    app = Firewatch(
        make_settings(database_url, "http://127.0.0.1:9/api/", FIREWATCH_AUTO_MIGRATE=True)
    )
    try:
        await app.prepare_database()
        status, _ = await app.readiness()
        assert status == 200
    finally:
        await app.stop()


async def test_the_migrations_build_the_schema_the_models_describe(database_url: str) -> None:
    """Migrations are written by hand: Alembic's own comparison finds no table, column,
    index or constraint the models have and the migrated database lacks (or the reverse)."""
    import importlib
    import pkgutil

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import storage
    from storage.models import Base

    for module in pkgutil.iter_modules(storage.__path__):
        if module.name.endswith("_models"):  # each registers its tables on Base.metadata
            importlib.import_module(f"storage.{module.name}")

    db = Database(database_url)
    try:
        await migrate.upgrade(db.engine)
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": False}), Base.metadata
                )
            )
        assert diff == []
    finally:
        await db.dispose()
