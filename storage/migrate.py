"""Schema migrations (Alembic), callable from code: `firewatch migrate`, start-up, tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration, kept here so that checking the schema (every CLI command) need
# not load Alembic and every migration script; tests/storage/test_migrations.py checks it
# against Alembic's own head.
HEAD = "0015"


def alembic_config(url: str = "") -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    return HEAD


def alembic_head() -> str | None:
    """The head as Alembic finds it in the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema's revision as Alembic recorded it (None: an empty database)."""
    async with engine.connect() as conn:
        try:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        except DBAPIError:  # no alembic_version table yet
            return None
        return rows[0][0] if len(rows) == 1 else None


async def is_current(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _alembic(engine, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _alembic(engine, "downgrade", revision)


async def _alembic(engine: AsyncEngine, direction: str, revision: str) -> None:
    """Run Alembic's `upgrade` or `downgrade` command on a connection of `engine`, in one
    transaction (Alembic itself is loaded only here)."""

    def run(connection: Connection) -> None:
        from alembic import command

        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        getattr(command, direction)(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)
