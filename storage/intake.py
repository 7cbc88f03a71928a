"""The declaration intake: submissions stored at once, declared right after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.engine import Database
from storage.models import DeclarationIntakeRow
from storage.rows import count_and_oldest

_intake = cast(Table, DeclarationIntakeRow.__table__)


@dataclass(frozen=True)
class IntakeItem:
    id: int
    declare_key: str
    data: dict[str, Any]
    received_at: datetime
    attempts: int = 0


@dataclass(frozen=True)
class IntakeListing:
    """A stored submission as `firewatch intake list` shows it."""

    id: int
    declare_key: str
    title: str
    reporter_id: str
    received_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    set_aside_at: datetime | None


def add_many(
    conn: Connection, items: Sequence[tuple[str, dict[str, Any]]], *, now: datetime
) -> None:
    """Store submissions (declare key, data) in one statement; a key already stored — a
    retried or double-clicked submission — is left as it is, in the caller's transaction
    (SQLite's `store_many`)."""
    if not items:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(_intake).on_conflict_do_nothing(index_elements=["declare_key"])
    conn.execute(
        stmt, [{"declare_key": key, "data": data, "received_at": now} for key, data in items]
    )


# One submission, for asyncpg's `executemany` (storage/direct.py).
_ADD_ONE = (
    postgresql.insert(_intake)
    .values(
        {
            name: bindparam(name, type_=_intake.c[name].type)
            for name in ("declare_key", "data", "received_at")
        }
    )
    .on_conflict_do_nothing(index_elements=["declare_key"])
)


async def store_many(
    db: Database, items: Sequence[tuple[str, dict[str, Any]]], *, now: datetime
) -> None:
    """`add_many` where it costs one round trip: the answer to a submission waits for
    it. On PostgreSQL straight through asyncpg (storage/direct.py), on SQLite in
    `Database.write_batch`."""
    if not items:
        return
    if db.direct is None:
        await db.write_batch(lambda conn: add_many(conn, items, now=now))
        return
    rows = [{"declare_key": key, "data": data, "received_at": now} for key, data in items]
    await db.direct.executemany(_ADD_ONE, rows, operation="insert")


async def add(
    session: AsyncSession, declare_key: str, data: dict[str, Any], *, now: datetime
) -> bool:
    """Store one submission in the caller's transaction (a declaration an alert makes);
    False if its key was stored already."""
    conn = await session.connection()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(_intake)
        .values(declare_key=declare_key, data=data, received_at=now)
        .on_conflict_do_nothing(index_elements=["declare_key"])
    )
    return bool((await conn.execute(stmt)).rowcount)


async def due(session: AsyncSession, limit: int, *, now: datetime) -> list[IntakeItem]:
    """The oldest submissions to declare now: neither moved aside nor waiting out a
    back-off after a failure, so rows that keep failing never hold back the others."""
    conn = await session.connection()
    c = _intake.c
    rows = await conn.execute(
        select(c.id, c.declare_key, c.data, c.received_at, c.attempts)
        .where(c.set_aside_at.is_(None))
        .where(or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
        .order_by(c.id)
        .limit(limit)
    )
    return [IntakeItem(r.id, r.declare_key, r.data, r.received_at, r.attempts) for r in rows]


async def failed(
    session: AsyncSession,
    item_id: int,
    *,
    error: str,
    now: datetime,
    retry_at: datetime | None,
) -> None:
    """Count a failed attempt: try again at `retry_at`, or (None) move the row aside."""
    conn = await session.connection()
    c = _intake.c
    await conn.execute(
        update(_intake)
        .where(c.id == item_id)
        .values(
            attempts=c.attempts + 1,
            last_error=error[:2000],
            next_attempt_at=retry_at,
            set_aside_at=None if retry_at is not None else now,
        )
    )


async def listing(session: AsyncSession, *, aside_only: bool, limit: int) -> list[IntakeListing]:
    conn = await session.connection()
    c = _intake.c
    query = select(_intake).order_by(c.id).limit(limit)
    if aside_only:
        query = query.where(c.set_aside_at.is_not(None))
    out = []
    for r in await conn.execute(query):
        report = r.data.get("report") if isinstance(r.data, dict) else None
        title = str(report.get("title", "")) if isinstance(report, dict) else ""
        reporter = str(r.data.get("reporter_id", "")) if isinstance(r.data, dict) else ""
        out.append(
            IntakeListing(
                r.id,
                r.declare_key,
                title,
                reporter,
                r.received_at,
                r.attempts,
                r.next_attempt_at,
                r.last_error,
                r.set_aside_at,
            )
        )
    return out


async def retry(session: AsyncSession, item_id: int | None) -> int:
    """Put rows moved aside (one, or all with None) back in line, their count reset;
    returns how many."""
    conn = await session.connection()
    c = _intake.c
    stmt = update(_intake).where(c.set_aside_at.is_not(None))
    if item_id is not None:
        stmt = stmt.where(c.id == item_id)
    result = await conn.execute(
        stmt.values(attempts=0, next_attempt_at=None, set_aside_at=None, last_error=None)
    )
    return int(result.rowcount or 0)


async def claim(session: AsyncSession, item_id: int) -> bool:
    """Delete one submission inside the transaction that declares it: False when another
    replica has already taken it (the transaction then declares nothing)."""
    conn = await session.connection()
    result = await conn.execute(delete(_intake).where(_intake.c.id == item_id))
    return bool(result.rowcount)


async def stats(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many submissions wait (not counting those moved aside), and when the oldest
    was received."""
    c = _intake.c
    return await count_and_oldest(session, c.received_at, c.set_aside_at.is_(None))


async def set_aside_count(session: AsyncSession) -> int:
    """Submissions moved aside after failing too often (they wait for an operator)."""
    conn = await session.connection()
    c = _intake.c
    query = select(func.count(c.id)).where(c.set_aside_at.is_not(None))
    return int((await conn.execute(query)).scalar_one())
