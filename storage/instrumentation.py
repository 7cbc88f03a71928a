"""What the metrics observe in the database and read from it: each statement's execution
time (SQLAlchemy's cursor events) and the counts behind the scrape-time gauges.

Plain callbacks in, plain values out: storage knows nothing of Prometheus, and the
metrics (bot.runtime.metrics) nothing of SQLAlchemy. The writer's wait, SQLite's other
timing, is `Database.on_writer_wait` (storage/engine.py).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import Database
from storage.models import IncidentRow
from storage.outbox import OutboxRepository, OutboxStats
from storage.session import Session

# Told each statement's operation (select, insert, update, delete or other) and seconds.
StatementObserver = Callable[[str, float], None]

_SQL_OPERATIONS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
_QUERY_STARTED = "_firewatch_query_started"
# The observers timing each engine: installing one twice on an engine is a no-op.
_timed: weakref.WeakKeyDictionary[Any, list[StatementObserver]] = weakref.WeakKeyDictionary()


def time_database(db: Database, observe: StatementObserver) -> Callable[[], None]:
    """`time_statements` on every engine of `db` (`Database.engines`), and its direct
    statements: a note's insert goes straight through asyncpg on PostgreSQL
    (storage/direct.py), an append through SQLite's batch writer, and both count.
    Returns a function that uninstalls them all."""
    undo = [time_statements(engine, observe) for engine in db.engines()]
    direct = db.direct
    if direct is not None and observe not in direct.observers:
        direct.observers.append(observe)  # a note's insert on PostgreSQL

    def uninstall() -> None:
        for step in undo:
            step()
        if direct is not None and observe in direct.observers:
            direct.observers.remove(observe)

    return uninstall


def time_statements(engine: AsyncEngine | Engine, observe: StatementObserver) -> Callable[[], None]:
    """Tell `observe` every statement's execution time; returns a function that uninstalls."""
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    observers = _timed.setdefault(sync_engine, [])
    if observe in observers:
        return lambda: None

    def before(
        _conn: Any, _cursor: Any, _stmt: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is not None:
            setattr(context, _QUERY_STARTED, time.perf_counter())

    def after(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        started = getattr(context, _QUERY_STARTED, None)
        if started is not None:
            observe(sql_operation(statement), time.perf_counter() - started)

    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    observers.append(observe)

    def uninstall() -> None:
        event.remove(sync_engine, "before_cursor_execute", before)
        event.remove(sync_engine, "after_cursor_execute", after)
        if observe in observers:
            observers.remove(observe)

    return uninstall


def sql_operation(statement: str) -> str:
    """The statement's verb as a bounded label value."""
    word = statement.lstrip()[:8].split(None, 1)
    operation = word[0].upper() if word else ""
    return operation.lower() if operation in _SQL_OPERATIONS else "other"


async def incident_counts(session: Session) -> dict[tuple[str, str], int]:
    """Incidents stored, by (severity, status)."""
    rows = await session.execute(
        select(IncidentRow.severity, IncidentRow.status, func.count(IncidentRow.id)).group_by(
            IncidentRow.severity, IncidentRow.status
        )
    )
    return {(str(sev), str(status)): int(n) for sev, status, n in rows.all()}


async def gauge_counts(db: Database) -> tuple[OutboxStats, dict[tuple[str, str], int]]:
    """The outbox's backlog and the incident counts, read in one read-only session."""
    async with db.session(write=False) as session:
        stats = await OutboxRepository(session).stats()
        return stats, await incident_counts(session)
