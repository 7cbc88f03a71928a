"""The declaration intake: submissions stored at once, declared right after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DeclarationIntakeRow

_intake = cast(Table, DeclarationIntakeRow.__table__)


@dataclass(frozen=True)
class IntakeItem:
    id: int
    declare_key: str
    data: dict[str, Any]
    received_at: datetime


def add_many(
    conn: Connection, items: Sequence[tuple[str, dict[str, Any]]], *, now: datetime
) -> None:
    """Store submissions (declare key, data) in one statement; a key already stored — a
    retried or double-clicked submission — is left as it is. Synchronous: it runs in
    `Database.write_batch` (the answer to a submission waits for it)."""
    if not items:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(_intake).on_conflict_do_nothing(index_elements=["declare_key"])
    conn.execute(
        stmt, [{"declare_key": key, "data": data, "received_at": now} for key, data in items]
    )


async def oldest(session: AsyncSession, limit: int) -> list[IntakeItem]:
    conn = await session.connection()
    rows = await conn.execute(
        select(_intake.c.id, _intake.c.declare_key, _intake.c.data, _intake.c.received_at)
        .order_by(_intake.c.id)
        .limit(limit)
    )
    return [IntakeItem(r.id, r.declare_key, r.data, r.received_at) for r in rows]


async def claim(session: AsyncSession, item_id: int) -> bool:
    """Delete one submission inside the transaction that declares it: False when another
    replica has already taken it (the transaction then declares nothing)."""
    conn = await session.connection()
    result = await conn.execute(delete(_intake).where(_intake.c.id == item_id))
    return bool(result.rowcount)


async def stats(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many submissions wait, and when the oldest was received."""
    conn = await session.connection()
    count, oldest = (
        await conn.execute(select(func.count(_intake.c.id), func.min(_intake.c.received_at)))
    ).one()
    if isinstance(oldest, str):  # func.min bypasses the column type on SQLite
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest
