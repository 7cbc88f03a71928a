"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 5000


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # No rollback when a connection goes back to the pool: every session ends its
        # transaction itself (Database.session), and on aiosqlite that rollback was one
        # more thread round trip per transaction.
        kwargs.setdefault("pool_reset_on_return", None)
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


class Database:
    """Owns the engine; hands out sessions, one per unit of work.

    SQLite allows one writer at a time; an in-process lock serialises write transactions so
    they queue instead of failing with "database is locked" (other processes, such as a CLI
    command, still wait on the busy timeout). Background work (the outbox) asks for the
    lock with `background=True` and steps aside while a request's transaction is waiting,
    so Slack's 3-second answers do not queue behind a backlog of deliveries.
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._foreground_waiting = 0
        self._foreground_done = asyncio.Event()

    @asynccontextmanager
    async def session(
        self, *, write: bool = True, background: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed when the block ends, rolled back on error."""
        if write and self._write_lock is not None:
            async with self._writer(background), self.sessions() as session, session.begin():
                yield session
        else:
            async with self.sessions() as session, session.begin():
                yield session

    @asynccontextmanager
    async def _writer(self, background: bool) -> AsyncIterator[None]:
        assert self._write_lock is not None
        if background:
            while self._foreground_waiting:
                self._foreground_done.clear()
                await self._foreground_done.wait()
            async with self._write_lock:
                yield
            return
        self._foreground_waiting += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._foreground_waiting -= 1
            if not self._foreground_waiting:
                self._foreground_done.set()
        try:
            yield
        finally:
            self._write_lock.release()

    async def dispose(self) -> None:
        await self.engine.dispose()
