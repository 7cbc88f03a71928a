"""Stored rows to the records services see: one copy, field by field, for every kind.

A repository hands out frozen dataclasses (`Incident`, `Page`, `TimelineEntry`, …), never
its ORM rows: a service cannot then change the record behind the repository's back, and
it needs no SQLAlchemy to read one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base
from storage.session import Session

T = TypeVar("T")
R = TypeVar("R", bound=Base)

_FIELDS: dict[type[Any], tuple[str, ...]] = {}


def from_row(cls: type[T], row: Any, **converted: Any) -> T:
    """`cls` with each field read from the attribute of the same name on `row` (an ORM
    object or a Core row), except those given in `converted` (enums, copied dicts)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    values = {name: getattr(row, name) for name in names if name not in converted}
    return cls(**values, **converted)


# Where a session keeps the rows it read to change (`held`).
_HELD = "firewatch.held_rows"


def held(session: Session, row: R) -> R:
    """Keep `row` in the session until its transaction ends, for `changed`.

    A session's identity map holds a row it has not changed weakly: once the repository
    has made a record of it, the row is gone, and `changed` would read it again (one
    more statement). Every read that locks a row holds it, and so does `added`."""
    session.info.setdefault(_HELD, []).append(row)
    return row


async def added(session: Session, row: R) -> R:
    """Store a new row now (its id is then known)."""
    session.add(row)
    await session.flush()
    return held(session, row)


async def changed(session: Session, model: type[R], key: Any, values: Mapping[str, Any]) -> R:
    """Set columns of a row this transaction has read with a lock (`held`) or added: the
    row it holds is changed, and written with the transaction's next statement (the
    UPDATE the ORM flushes), so this costs no statement of its own."""
    row = await session.get(model, key)
    if row is None:
        raise LookupError(f"no {model.__tablename__} row {key!r}")
    columns = model.__table__.c
    for name, value in values.items():
        if name not in columns:
            raise AttributeError(f"{model.__tablename__} has no column {name!r}")
        setattr(row, name, value)
    return row


async def count_and_oldest(
    session: AsyncSession, when: ColumnElement[Any], where: ColumnElement[bool]
) -> tuple[int, datetime | None]:
    """How many rows `where` holds for, and the earliest `when` among them (a queue's
    backlog and the age of its head)."""
    conn = await session.connection()
    count, oldest = (await conn.execute(select(func.count(), func.min(when)).where(where))).one()
    if isinstance(oldest, str):  # func.min bypasses the column type on SQLite
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest
