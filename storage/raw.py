"""Plain DB-API statements for SQLite's hottest writes, inside a SQLAlchemy transaction.

On the note path (`Database.write_batch` on a SQLite file) SQLAlchemy's per-statement
work — an execution context, expanding IN lists, parameter processing, the result
wrapper — held the interpreter several times longer than SQLite took to run the
statements, and every answer in flight waited for it (docs/performance.md). Here the
SQL is built once and each value goes through its column type's own bind processor (the
one SQLAlchemy itself would apply), so a row stored this way is the row a Core insert
stores: the same text for datetimes, the same JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import closing
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

Processor = Any  # Callable[[Any], Any] | None, as SQLAlchemy's types return it


def placeholders(count: int) -> str:
    """`?, ?, ?` for an IN list of `count` values (SQLite accepts `IN ()`)."""
    return ", ".join("?" * count)


def cursor(conn: Connection) -> Any:
    """A DB-API cursor on the connection's transaction (pysqlite, or aiosqlite's adapter
    inside `run_sync`); close it with `contextlib.closing`."""
    return conn.connection.cursor()


class RawInsert:
    """`INSERT INTO table (columns) VALUES (?, …)`, one row at a time, returning the new
    rows' ids (SQLite's `lastrowid`). Columns left out take their SQL default (NULL)."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        for name in self.columns:
            table.c[name]  # noqa: B018 — a KeyError here names a column the table lacks
        self._sql: dict[str, str] = {}
        self._processors: dict[str, tuple[Processor, ...]] = {}

    def _prepared(self, dialect: Dialect) -> tuple[str, tuple[Processor, ...]]:
        sql = self._sql.get(dialect.name)
        if sql is None:
            quote = dialect.identifier_preparer.quote
            names = ", ".join(quote(name) for name in self.columns)
            sql = f"INSERT INTO {quote(self.table.name)} ({names}) "
            sql += f"VALUES ({placeholders(len(self.columns))})"
            self._processors[dialect.name] = tuple(
                self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in self.columns
            )
            self._sql[dialect.name] = sql
        return sql, self._processors[dialect.name]

    def values(self, dialect: Dialect, row: Mapping[str, Any]) -> tuple[Any, ...]:
        _, processors = self._prepared(dialect)
        return tuple(
            row[name] if process is None else process(row[name])
            for name, process in zip(self.columns, processors, strict=True)
        )

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        sql, _ = self._prepared(conn.dialect)
        with closing(cursor(conn)) as cur:
            ids: list[int] = []
            for row in rows:
                cur.execute(sql, self.values(conn.dialect, row))
                ids.append(int(cur.lastrowid))
            return ids
