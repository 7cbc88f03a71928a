"""`storage.raw.RawInsert`: SQLite's hot-path inserts as plain DB-API calls must store
exactly what a SQLAlchemy Core insert of the same row stores (datetimes as the same
text, JSON the same), or the rest of Firewatch would read them back differently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Connection, Table, insert, select, text

from storage.engine import Database
from storage.models import OutboxRow, TimelineEntryRow
from storage.raw import RawInsert

AT = datetime(2026, 11, 23, 14, 5, 6, 789012, tzinfo=timezone(timedelta(hours=2)))
ENTRY: dict[str, Any] = {
    "incident_id": 41,  # no such incident: foreign keys are off for this test's writes
    "seq": 7,
    "at": AT,
    "kind": "note",
    "actor": "U123",
    "text": "naïve “quotes” and\nnew lines",
    "data": {"nested": {"list": [1, 2.5, None, "é"]}, "flag": True},
    "prev_hash": "a" * 64,
    "hash": "b" * 64,
}
OUTBOX: dict[str, Any] = {
    "kind": "timeline_echo",
    "ordering_key": "channel:C1",
    "payload": {"incident_id": 3, "entry_id": 9, "text": "ünïcode"},
    "status": "pending",
    "attempts": 0,
    "next_attempt_at": AT,
    "created_at": AT.astimezone(UTC),
    "incident_id": None,
    "progress": {},
    "result": {},
    "outcome_unknown": False,
}


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


async def stored(db: Database, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        sql = f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"  # noqa: S608
        return [tuple(r) for r in (await conn.exec_driver_sql(sql)).all()]


@pytest.mark.parametrize(
    ("model", "row", "unique"),
    [
        # The two timeline rows must differ where the table wants them unique.
        (TimelineEntryRow, ENTRY, ({"source_key": "core"}, {"source_key": "raw", "seq": 8})),
        (OutboxRow, OUTBOX, ({}, {})),
    ],
)
async def test_a_raw_row_is_stored_as_a_core_insert_stores_it(
    db: Database, model: Any, row: dict[str, Any], unique: tuple[dict[str, Any], ...]
) -> None:
    table = cast(Table, model.__table__)
    core_row, raw_row = ({**row, **differ} for differ in unique)
    raw = RawInsert(table, list(raw_row))

    def write(conn: Connection) -> list[int]:
        # A batch begins its transaction at once (BEGIN IMMEDIATE), and SQLite changes
        # foreign_keys only outside one: end it, switch them off, begin again.
        conn.exec_driver_sql("COMMIT")
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.execute(insert(table), [core_row])
        return raw.run(conn, [raw_row])

    ids = await db.write_batch(write)
    same = [name for name in row if name not in unique[1]]
    stored_core, stored_raw = await stored(db, table.name, same)
    assert stored_raw == stored_core  # the same text in every column
    assert ids == [2]  # the id SQLite gave the raw row, returned to the caller
    async with db.session(write=False) as session:
        read = (await session.scalars(select(model).where(model.id == 2))).one()
    for name, value in raw_row.items():
        expected = value.astimezone(UTC) if isinstance(value, datetime) else value
        assert getattr(read, name) == expected, name


async def test_rows_come_back_with_their_ids_in_order(db: Database) -> None:
    raw = RawInsert(cast(Table, OutboxRow.__table__), list(OUTBOX))
    rows = [{**OUTBOX, "payload": {"n": n}} for n in range(5)]
    ids = await db.write_batch(lambda conn: raw.run(conn, rows))
    async with db.engine.connect() as conn:
        found = (await conn.execute(text("SELECT id, payload FROM outbox ORDER BY id"))).all()
    assert ids == [r[0] for r in found]
    assert [r[1] for r in found] == [f'{{"n": {n}}}' for n in range(5)]


def test_a_column_the_table_lacks_is_named_at_once() -> None:
    with pytest.raises(KeyError, match="no_such"):
        RawInsert(cast(Table, OutboxRow.__table__), ["kind", "no_such"])
