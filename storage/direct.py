"""PostgreSQL's busiest single statements, sent straight through asyncpg.

A note is answered once its row is stored (storage/note_intake.py), so the statement that
stores it is on the path of every `/incident note`. Through SQLAlchemy's execution layer
(pool checkout and return, execution context, greenlet hand-offs, result processing) that
statement cost 0.55–0.6 ms of the replica's CPU; sent on a kept asyncpg connection, 0.2 ms
(docs/performance.md, sixteenth session). `DirectConnections` keeps those connections.

What stays SQLAlchemy's: the statement is written with Core and compiled once by the
asyncpg dialect, and each parameter goes through its column type's own bind processing
(JSON serialised, UTC datetimes checked), so the SQL and the values are the ones
`Connection.execute` would send. What is done here instead:

* the statement is timed for the metrics (`observers`, as `time_statements` does for the
  engines);
* a connection the server dropped (a restart, a failover) is replaced, and the statement
  sent again once on a new one: only statements that are safe to run twice belong here;
* a failure is raised as `StatementFailed`, which names the SQLSTATE and never carries
  the parameters (they hold people's text), as `hide_parameters` does for the engines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

T = TypeVar("T")

# Told each statement's operation (insert, select…) and its seconds.
StatementObserver = Callable[[str, float], None]

# Connections kept between statements, and how many may be open at once (a burst beyond
# the kept ones opens connections for one use, as SQLAlchemy's pool overflow does).
KEEP = 10
MOST = 15


_DIALECT_OPTIONS = (
    "async_creator_fn",
    "prepared_statement_cache_size",
    "prepared_statement_name_func",
)


class StatementFailed(Exception):
    """A direct statement failed. `sqlstate`: PostgreSQL's error code, or None when the
    server was not reached or the connection was lost."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate

    @property
    def integrity(self) -> bool:
        """An integrity constraint refused the row (SQLSTATE class 23)."""
        return bool(self.sqlstate) and str(self.sqlstate).startswith("23")


@dataclass(frozen=True)
class DirectStatement:
    """A Core statement compiled for asyncpg: its SQL, and for each positional parameter
    the name it is bound by and its type's bind processing; an insert's columns left out
    take their model's scalar default (`attempts=0`), as SQLAlchemy would give them."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    operation: str
    defaults: Mapping[str, Any]

    @classmethod
    def compile(cls, statement: Executable, dialect: Dialect, operation: str) -> DirectStatement:
        compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=dialect))
        names = tuple(compiled.positiontup or ())
        binds = compiled.binds
        processors = tuple(
            binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        )
        defaults = {}
        for column in compiled.insert_prefetch:
            default = column.default
            if default is None or not getattr(default, "is_scalar", False):
                raise ValueError(f"a direct statement cannot compute {column}'s default")
            defaults[column.key] = getattr(default, "arg", None)
        return cls(str(compiled), names, processors, operation, defaults)

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        args = []
        for name, process in zip(self.names, self.processors, strict=True):
            value = params[name] if name in params else self.defaults[name]
            args.append(value if process is None or value is None else process(value))
        return args


class DirectConnections:
    """Kept asyncpg connections (autocommit: each statement is its own transaction) for
    `DirectStatement`s, on the database `url` (a SQLAlchemy PostgreSQL URL)."""

    def __init__(self, url: str, dialect: Dialect) -> None:
        self._dialect = dialect
        _args, kwargs = dialect.create_connect_args(make_url(url))
        # The dialect's own options, not asyncpg's. Its statement cache size is honoured
        # as asyncpg's: `?prepared_statement_cache_size=0` (behind PgBouncer in
        # transaction mode) must turn prepared statements off here too.
        cache = kwargs.get("prepared_statement_cache_size")
        for option in _DIALECT_OPTIONS:
            kwargs.pop(option, None)
        if cache is not None:
            kwargs["statement_cache_size"] = int(cache)
        self._connect_kwargs: dict[str, Any] = dict(kwargs)
        self._idle: list[asyncpg.Connection] = []
        self._open = asyncio.Semaphore(MOST)
        self._compiled: dict[int, tuple[Executable, DirectStatement]] = {}
        self._closed = False
        self.observers: list[StatementObserver] = []

    def prepare(self, statement: Executable, operation: str) -> DirectStatement:
        """`statement` compiled for this database (once per statement object)."""
        known = self._compiled.get(id(statement))
        if known is None or known[0] is not statement:
            known = (statement, DirectStatement.compile(statement, self._dialect, operation))
            self._compiled[id(statement)] = known
        return known[1]

    async def fetchrow(
        self, statement: Executable, params: Mapping[str, Any], *, operation: str
    ) -> asyncpg.Record | None:
        """Run `statement` (safe to run twice) with `params`; its first row, or None."""
        direct = self.prepare(statement, operation)
        args = direct.arguments(params)

        async def run(conn: asyncpg.Connection) -> asyncpg.Record | None:
            row: asyncpg.Record | None = await conn.fetchrow(direct.sql, *args)
            return row

        return await self._run(direct.operation, run)

    async def executemany(
        self, statement: Executable, rows: Sequence[Mapping[str, Any]], *, operation: str
    ) -> None:
        """Run `statement` (safe to run twice) once per row of parameters, in one
        round trip and one transaction (asyncpg's `executemany`)."""
        direct = self.prepare(statement, operation)
        args = [direct.arguments(params) for params in rows]

        async def run(conn: asyncpg.Connection) -> None:
            await conn.executemany(direct.sql, args)

        await self._run(direct.operation, run)

    async def _run(self, operation: str, call: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async with self._open:
            for attempt in (1, 2):
                conn = await self._connection(fresh=attempt == 2)
                started = time.perf_counter()
                try:
                    result = await call(conn)
                except Exception as exc:
                    if conn.is_closed() and attempt == 1:
                        self._drop_idle()  # they went with the same server
                        continue
                    self._release(conn)
                    raise _failure(exc) from None
                except BaseException:  # cancelled mid-statement: its state is unknown
                    conn.terminate()
                    raise
                self._observe(operation, time.perf_counter() - started)
                self._release(conn)
                return result
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close(timeout=5)

    async def _connection(self, *, fresh: bool) -> asyncpg.Connection:
        while self._idle and not fresh:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
        try:
            conn = await asyncpg.connect(**self._connect_kwargs)
        except Exception as exc:
            raise _failure(exc) from exc
        return conn

    def _release(self, conn: asyncpg.Connection) -> None:
        if conn.is_closed():
            return
        if self._closed or len(self._idle) >= KEEP:
            conn.terminate()
        else:
            self._idle.append(conn)

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.terminate()

    def _observe(self, operation: str, seconds: float) -> None:
        for observe in self.observers:
            observe(operation, seconds)


def _failure(exc: BaseException) -> StatementFailed:
    """`exc` as a StatementFailed without the statement's parameters: asyncpg puts a value
    it could not encode in its message, and PostgreSQL's may quote a key. Named instead:
    the error's class, its SQLSTATE and the table and constraint it concerns."""
    sqlstate = getattr(exc, "sqlstate", None)
    where = ", ".join(
        f"{label} {value}"
        for label, value in (
            ("table", getattr(exc, "table_name", None)),
            ("constraint", getattr(exc, "constraint_name", None)),
        )
        if value
    )
    state = f"SQLSTATE {sqlstate}" if sqlstate else "the statement was not run"
    return StatementFailed(
        f"{type(exc).__name__} ({state}{', ' + where if where else ''})",
        str(sqlstate) if sqlstate else None,
    )
