"""`storage.timeline_batch`: a batch of entries appended to several incidents' chains
comes back with the ids the database gave each row, whatever the batch's size, and on
PostgreSQL every size is one insert text (one prepared statement, one plan), where a
multi-row VALUES was a new text for each number of rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, select, text

from bot.domain.clock import FrozenClock
from bot.domain.timeline import TimelineEntry, first_broken_link
from bot.policy.loader import load_default_policy
from bot.services.incidents import IncidentService
from storage.engine import Database
from storage.models import TimelineEntryRow
from storage.timeline_batch import NewEntry, append_entries, lock_incidents
from tests.support import checkout_report

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
_PREPARED_INSERTS = text(
    "SELECT count(*) FROM pg_prepared_statements"
    " WHERE statement ~ '^INSERT INTO \"?timeline_entries'"
)


async def _declared(db: Database, count: int) -> list[int]:
    policy = load_default_policy()
    service = IncidentService(db, lambda: policy, FrozenClock(AT), broadcast_channel=None)
    ids = []
    for i in range(count):
        outcome = await service.declare(
            checkout_report(), reporter_id="U0ALICE", declare_key=f"k{i}"
        )
        ids.append(outcome.incident.id)
    return ids


def _batch(incidents: list[int], size: int, tag: str) -> list[NewEntry]:
    """`size` notes taking turns between the incidents."""
    return [
        NewEntry(incidents[i % len(incidents)], "note", "U0BOB", f"{tag} {i}", {"n": i})
        for i in range(size)
    ]


async def _append(db: Database, items: list[NewEntry]) -> list[TimelineEntry | None]:
    def work(conn: Connection) -> list[TimelineEntry | None]:
        locked = lock_incidents(conn, [i.incident_id for i in items])
        return append_entries(conn, items, at=AT, locked=locked)

    return await db.write_batch(work)


async def test_each_entry_comes_back_with_its_own_rows_id(db: Database) -> None:
    incidents = await _declared(db, 3)
    made: list[TimelineEntry] = []
    for size in (1, 2, 7, 3, 25):
        written = await _append(db, _batch(incidents, size, f"size {size}"))
        assert all(entry is not None for entry in written)
        made += [entry for entry in written if entry is not None]
    async with db.session(write=False) as session:
        rows = (await session.execute(select(TimelineEntryRow))).scalars().all()
        by_id = {row.id: row for row in rows}
    for entry in made:
        assert entry.id is not None
        row = by_id[entry.id]
        assert (row.incident_id, row.seq, row.text, row.hash, row.data) == (
            entry.incident_id,
            entry.seq,
            entry.text,
            entry.hash,
            entry.data,
        )
        assert row.at == AT
    for incident_id in incidents:
        chain = sorted((r for r in rows if r.incident_id == incident_id), key=lambda r: r.seq)
        entries = [
            TimelineEntry(
                r.incident_id, r.seq, r.at, r.kind, r.actor, r.text, r.data, r.prev_hash, r.hash
            )
            for r in chain
        ]
        assert first_broken_link(entries) is None


async def test_a_naive_time_is_refused_as_the_column_type_refuses_it(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("the PostgreSQL insert's own bind processing (SQLite's is storage/raw.py)")
    (incident,) = await _declared(db, 1)
    naive = NewEntry(incident, "note", "U0BOB", "when?", at=datetime(2026, 12, 7, 9, 0))
    with pytest.raises(Exception, match="naive datetime"):
        await _append(db, [naive])


async def test_one_insert_statement_whatever_the_batch_size_on_postgresql(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite inserts with plain DB-API statements (storage/raw.py)")
    incidents = await _declared(db, 2)
    async with db.engine.connect() as conn:
        before = (await conn.execute(_PREPARED_INSERTS)).scalar_one()
        for size in range(1, 16):
            items = _batch(incidents, size, f"size {size}")

            def work(sync: Connection, items: list[NewEntry] = items) -> int:
                locked = lock_incidents(sync, incidents)
                return len(append_entries(sync, items, at=AT, locked=locked))

            assert await conn.run_sync(work) == size
        after = (await conn.execute(_PREPARED_INSERTS)).scalar_one()
        await conn.rollback()
    assert after - before == 1
