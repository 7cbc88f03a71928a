"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_

from storage.direct import DirectConnections
from storage.sqlite_driver import one_trip_dbapi

SQLITE_BUSY_TIMEOUT_MS = 5000
# SQLite moves the write-ahead log into the database file (a checkpoint, with an fsync)
# inside whichever commit crosses the threshold: by default every 1,000 pages, so about
# one note batch in three hundred paid several milliseconds for it — the notes' p99.
# Firewatch checkpoints from a thread of its own instead (`Database.checkpoint`, every
# CHECKPOINT_SECONDS); this threshold is only the safety net for when nothing does
# (a CLI command, a stalled process): 10,000 pages, about 40 MB of log.
SQLITE_AUTOCHECKPOINT_PAGES = 10_000
CHECKPOINT_SECONDS = 1.0

T = TypeVar("T")

# Whether writes made here are background work (see `background_writes`).
_BACKGROUND: ContextVar[bool] = ContextVar("firewatch_background_writes", default=False)


@contextmanager
def background_writes() -> Iterator[None]:
    """Write transactions opened in this context, and in the tasks it starts, are
    background work: on SQLite they step aside for a request's write that is waiting
    (`Database.session(background=...)`), whatever service method opens them. For the
    outbox worker, the intake, paging and the scheduled jobs: a delivery handler's or a
    paging step's own session otherwise queued for the writer as if it were an answer."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # Database errors (IntegrityError…) and SQLAlchemy's logs must not carry bound
    # parameters: they hold people's text (notes, titles) and pseudonymised ids.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # No rollback when a connection goes back to the pool: every session ends its
        # transaction itself (Database.session), and on aiosqlite that rollback was one
        # more thread round trip per transaction.
        kwargs.setdefault("pool_reset_on_return", None)
        if parsed.get_driver_name() == "aiosqlite" and "module" not in kwargs:
            module = one_trip_dbapi()  # one thread round trip a statement; None: the stock one
            if module is not None:
                kwargs["module"] = module
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=10, **kwargs)
    event.listen(engine.sync_engine, "checkout", _begin_on_checkout)
    return engine


def _begin_on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Checkout on PostgreSQL: send the transaction's BEGIN now, where a connection whose
    server went away (a restart, a failover, a terminated backend) is replaced by a new
    one, instead of at the first statement, where it would fail the transaction.

    SQLAlchemy's `pool_pre_ping` found dead connections by asking the server, three more
    round trips (BEGIN, `;`, ROLLBACK) for every transaction: a tenth of a replica's CPU
    per note with two replicas at 200 notes a second (docs/performance.md). Checking
    only whether asyncpg has marked the connection closed costs nothing but misses a
    window: the server's FATAL error has been read and its end of the stream not yet,
    for milliseconds, and the next statement then fails ("cannot switch to state 15").
    The BEGIN every transaction sends first fails there too, and asyncpg then closes the
    connection: raised here as a `DisconnectionError`, the pool takes another. So dead
    connections are replaced as the pre-ping replaced them, for no round trip of its
    own. A connection that dies after its BEGIN fails its transaction, as one that dies
    during a transaction always could."""
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the database server closed this connection")
    # The asyncpg adapter begins its transaction lazily, before the first statement.
    begin = getattr(dbapi_connection, "_start_transaction", None)
    if begin is None or getattr(dbapi_connection, "_transaction", None) is not None:
        return
    try:
        await_(begin())
    except Exception as exc:
        if driver is not None and driver.is_closed():
            raise DisconnectionError("the database server closed this connection") from exc
        raise


def _sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    database = parsed.database or ""
    return (
        parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and parsed.query.get("mode") != "memory"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
    """pysqlite opens a transaction only before the first INSERT, UPDATE or DELETE, so the
    reads before it see whatever other processes commit meanwhile (`_begin_immediate`)."""
    dbapi_connection.isolation_level = None


def _begin_immediate(conn: Connection) -> None:
    """A write batch takes SQLite's write lock as it begins, so what it reads stays true
    until it commits, whichever other process writes to the file. With pysqlite's own
    late BEGIN, a batch read a note as waiting, another replica appended it and
    committed, and the batch's insert then failed on the note's unique key."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class WriterLock:
    """SQLite's one writer, in this process: handed on to a waiting request's transaction
    before any waiting background one, whenever each started waiting.

    With a first-come lock, background transactions queued behind the one holding the
    writer (a delivery, the intake's declaration, a paging step) all went before a
    request that came after them: at 200 declarations a second a submission waited for
    three of them, 17 ms, instead of one."""

    def __init__(self) -> None:
        self._held = False
        self._requests: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()

    async def acquire(self, *, background: bool) -> None:
        if not self._held:  # then nobody is waiting either: release() hands it on
            self._held = True
            return
        queue = self._background if background else self._requests
        waiter = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over as the task was cancelled: pass it on
            raise
        finally:
            with suppress(ValueError):
                queue.remove(waiter)

    def release(self) -> None:
        """Hand the writer to the first waiting request, else the first waiting
        background transaction, else free it."""
        for queue in (self._requests, self._background):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._held = False


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
        self._write_lock = WriterLock() if self.is_sqlite else None
        # PostgreSQL: kept autocommit connections, not pinged before use, for the
        # statements an answer waits for (a note's, a submission's): one round trip each,
        # straight through asyncpg (storage/direct.py). SQLite writes them in
        # `write_batch`.
        self.direct: DirectConnections | None = None
        if not self.is_sqlite:
            self.direct = DirectConnections(url, self.engine.dialect)
        # Told how long each SQLite write transaction waited for the writer, and whether
        # it was background work (the metrics' firewatch_db_writer_wait_seconds).
        self.on_writer_wait: Callable[[bool, float], None] | None = None
        # SQLite file: a synchronous engine on a thread of its own for `write_batch`.
        self._batch_engine: Engine | None = None
        self._batch_thread: ThreadPoolExecutor | None = None
        self._checkpoint_engine: Engine | None = None
        self._checkpointing = asyncio.Lock()
        if _sqlite_file(url):
            self._batch_engine = create_sync_engine(
                make_url(url).set(drivername="sqlite+pysqlite"),
                connect_args={
                    "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                    "check_same_thread": False,
                },
                pool_size=1,
                pool_reset_on_return=None,
                hide_parameters=True,
            )
            event.listen(self._batch_engine, "connect", _sqlite_pragmas)
            event.listen(self._batch_engine, "connect", _no_implicit_begin)
            event.listen(self._batch_engine, "begin", _begin_immediate)
            self._checkpoint_engine = create_sync_engine(
                make_url(url).set(drivername="sqlite+pysqlite"),
                connect_args={"check_same_thread": False},
                pool_size=1,
                pool_reset_on_return=None,
                hide_parameters=True,
            )
            event.listen(self._checkpoint_engine, "connect", _sqlite_pragmas)

    @asynccontextmanager
    async def session(
        self, *, write: bool = True, background: bool | None = None
    ) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed when the block ends, rolled back on error.
        `background`: by default, whether it is opened under `background_writes()`."""
        if background is None:
            background = _BACKGROUND.get()
        if write and self._write_lock is not None:
            async with self._writer(background), self.sessions() as session, session.begin():
                yield session
        else:
            async with self.sessions() as session, session.begin():
                yield session

    async def write_batch(
        self, work: Callable[[Connection], T], *, background: bool | None = None
    ) -> T:
        """Run `work(connection)` in one write transaction: committed when it returns,
        rolled back when it raises. For hot paths written as a few Core statements.

        On a SQLite file `work` runs whole on a thread of its own with a synchronous
        connection: one hand-off to that thread instead of three or four thread round
        trips per statement through aiosqlite (the note path's batch went from 2.2 to
        0.7 ms). Elsewhere it runs on the event loop through `AsyncConnection.run_sync`.
        """
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)
        async with self._writer(_BACKGROUND.get() if background is None else background):
            if self._batch_engine is None:
                async with self.engine.begin() as conn:
                    return await conn.run_sync(work)
            if self._batch_thread is None:
                self._batch_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-batch")
            done = asyncio.get_running_loop().run_in_executor(
                self._batch_thread, self._run_batch, work
            )
            try:
                return await asyncio.shield(done)
            except asyncio.CancelledError:
                # The thread's transaction goes on: keep the writer lock until it ends.
                await asyncio.wait([done])
                raise

    def _run_batch(self, work: Callable[[Connection], T]) -> T:
        assert self._batch_engine is not None
        with self._batch_engine.begin() as conn:
            return work(conn)

    async def checkpoint(self) -> tuple[int, int] | None:
        """Copy what the write-ahead log holds into the database file (SQLite's PASSIVE
        checkpoint: it waits for no reader or writer, and takes no writer lock), on a
        thread and connection of its own so no commit pays for it. Returns the log's size
        and how much of it is now in the database, in pages; None where there is no log
        (PostgreSQL, an in-memory SQLite)."""
        if self._checkpoint_engine is None:
            return None
        async with self._checkpointing:
            return await asyncio.to_thread(self._checkpoint)

    def _checkpoint(self) -> tuple[int, int]:
        assert self._checkpoint_engine is not None
        with self._checkpoint_engine.connect() as conn:
            _busy, log, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            return int(log), int(done)

    @asynccontextmanager
    async def _writer(self, background: bool) -> AsyncIterator[None]:
        assert self._write_lock is not None
        started = time.perf_counter()
        await self._write_lock.acquire(background=background)
        try:
            if self.on_writer_wait is not None:
                self.on_writer_wait(background, time.perf_counter() - started)
            yield
        finally:
            self._write_lock.release()

    def engines(self) -> list[Engine]:
        """Every engine statements go through: the sessions', and where it exists the
        batch writer's (a SQLite file). PostgreSQL's direct statements go around them
        (`direct`, timed through its own observers)."""
        found = [self.engine.sync_engine]
        if self._batch_engine is not None:
            found.append(self._batch_engine)
        return found

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.direct is not None:
            await self.direct.close()
        if self._checkpoint_engine is not None:
            async with self._checkpointing:
                await asyncio.to_thread(self._checkpoint_engine.dispose)
        if self._batch_thread is not None and self._batch_engine is not None:
            thread, self._batch_thread = self._batch_thread, None
            await asyncio.get_running_loop().run_in_executor(thread, self._batch_engine.dispose)
            thread.shutdown(wait=False)
