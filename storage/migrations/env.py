"""Alembic environment: async engine, batch mode on SQLite, our models' metadata."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import storage.alert_models  # noqa: F401  (and the alert tables)
import storage.alert_page_models  # noqa: F401  (and the alert pages)
import storage.note_intake  # noqa: F401  (and the notes waiting to be appended)
import storage.paging_models  # noqa: F401  (registers the paging tables on Base.metadata)
import storage.postmortem_models  # noqa: F401  (and the post-mortem tables)
import storage.refusals  # noqa: F401  (and the refusals)
import storage.status_models  # noqa: F401  (and the status page's tables)
from storage.engine import create_engine
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    asyncio.run(_run_async())
