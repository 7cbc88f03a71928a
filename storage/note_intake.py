"""The note intake: `/incident note` stored in one statement before Slack is answered,
appended to the incident's hash chain right after.

Appending to the chain needs the incident's row lock, its chain's head and a check of the
source key: on PostgreSQL several round trips, and with two replicas a wait for the lock
another replica holds. A note is therefore acknowledged once its row is here (with the
echo that shows it in the channel, queued in the same statement), and the note worker
(bot/services/notes.py) appends it. Whatever else appends to an incident's chain first
appends the incident's waiting notes (`storage.timeline_batch.append_entries`), under the
same lock: the timeline keeps the order in which notes and other entries were
acknowledged, whoever appends first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    bindparam,
    delete,
    exists,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import Executable

from storage.direct import StatementFailed
from storage.engine import Database
from storage.in_list import in_list
from storage.models import Base, BigId, TimelineEntryRow
from storage.outbox import NEW_ROW_COLUMNS, enqueue_rows, new_row
from storage.outbox_table import OUTBOX
from storage.rows import count_and_oldest


class NoteIntakeRow(Base):
    """A note acknowledged and not yet on its incident's timeline."""

    __tablename__ = "note_intake"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    # The timeline entry's source key (the command's trigger id): Slack's retry of the
    # command, or the person sending it twice, is one note.
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    received_at: Mapped[datetime]

    __table_args__ = (Index("ix_note_intake_incident_id", "incident_id", "id"),)


_notes = cast(Table, NoteIntakeRow.__table__)
_entries = cast(Table, TimelineEntryRow.__table__)
_NOTE_COLUMNS = ("incident_id", "actor", "text", "source_key", "received_at")


class IncidentGone(LookupError):
    """The note's incident is no longer stored (purged since its channel was looked up)."""


@dataclass(frozen=True)
class WaitingNote:
    incident_id: int
    actor: str
    text: str
    source_key: str
    received_at: datetime
    id: int = 0


# The note, unless its source key is already on a timeline (appended after an earlier
# delivery of the same command) or waiting here.
_NEW_NOTE = select(*(bindparam(name, type_=_notes.c[name].type) for name in _NOTE_COLUMNS)).where(
    ~exists().where(_entries.c.source_key == bindparam("source_key"))
)


def _pg_accept() -> Executable:
    """PostgreSQL: the note and its echo in one statement (one round trip)."""
    note = (
        postgresql.insert(_notes)
        .from_select(list(_NOTE_COLUMNS), _NEW_NOTE)
        .on_conflict_do_nothing(index_elements=["source_key"])
        .returning(_notes.c.id)
        .cte("note")
    )
    echo = select(
        *(bindparam(f"echo_{name}", type_=OUTBOX.c[name].type) for name in NEW_ROW_COLUMNS)
    ).select_from(note)
    return insert(OUTBOX).from_select(list(NEW_ROW_COLUMNS), echo).returning(OUTBOX.c.id)


_PG_ACCEPT = _pg_accept()
_SQLITE_ACCEPT = (
    sqlite.insert(_notes)
    .from_select(list(_NOTE_COLUMNS), _NEW_NOTE)
    .on_conflict_do_nothing(index_elements=["source_key"])
)
_WAITING = select(_notes).where(in_list(_notes.c.incident_id, "ids")).order_by(_notes.c.id)
_TAKEN = delete(_notes).where(in_list(_notes.c.id, "ids"))
_WAITING_KEYS = select(_notes.c.source_key).where(in_list(_notes.c.source_key, "keys"))


Echo = tuple[str, str, dict[str, Any], int | None]


async def store(db: Database, note: WaitingNote, echo: Echo) -> bool:
    """Store `note` and queue `echo` (the outbox row that shows it), in one statement
    where it costs one round trip; False, nothing stored, when the note is already
    waiting or on the timeline (the same command delivered again). Raises IncidentGone.

    On PostgreSQL the statement goes straight through asyncpg (storage/direct.py): it is
    on the path of every `/incident note` answer, and safe to send twice."""
    if db.direct is None:
        return await db.write_batch(lambda conn: _accept_sqlite(conn, note, echo))
    values = {name: getattr(note, name) for name in _NOTE_COLUMNS}
    row = new_row(*echo, now=note.received_at)
    values.update({f"echo_{name}": row[name] for name in NEW_ROW_COLUMNS})
    try:
        return await db.direct.fetchrow(_PG_ACCEPT, values, operation="insert") is not None
    except StatementFailed as exc:
        if exc.integrity:  # the unique key has ON CONFLICT: the incident is gone
            raise IncidentGone(note.incident_id) from exc
        raise


def _accept_sqlite(conn: Connection, note: WaitingNote, echo: Echo) -> bool:
    """`store` on SQLite: the note, then its echo, in the batch writer's transaction."""
    values = {name: getattr(note, name) for name in _NOTE_COLUMNS}
    try:
        if not conn.execute(_SQLITE_ACCEPT, values).rowcount:
            return False
    except IntegrityError as exc:  # the unique key has ON CONFLICT: the incident is gone
        raise IncidentGone(note.incident_id) from exc
    enqueue_rows(conn, [echo], now=note.received_at)
    return True


def waiting(conn: Connection, incident_ids: Sequence[int]) -> list[WaitingNote]:
    """The incidents' waiting notes, in the order they were stored. The caller holds the
    incidents locked: on PostgreSQL this statement then sees every note committed before
    the lock was granted."""
    if not incident_ids:
        return []
    rows = conn.execute(_WAITING, {"ids": sorted(set(incident_ids))})
    return [
        WaitingNote(**{name: r._mapping[name] for name in (*_NOTE_COLUMNS, "id")}) for r in rows
    ]


def taken(conn: Connection, note_ids: Sequence[int]) -> None:
    """The notes are on their timelines now (same transaction)."""
    if note_ids:
        conn.execute(_TAKEN, {"ids": list(note_ids)})


async def incidents_waiting(session: AsyncSession, limit: int) -> list[int]:
    """Incidents with notes waiting, the longest-waiting first."""
    conn = await session.connection()
    first = select(_notes.c.incident_id, _notes.c.id).order_by(_notes.c.id).limit(limit * 20)
    ids = dict.fromkeys(r.incident_id for r in await conn.execute(first))
    return list(ids)[:limit]


async def any_waiting(session: AsyncSession, incident_id: int) -> bool:
    conn = await session.connection()
    stmt = select(_notes.c.id).where(_notes.c.incident_id == incident_id).limit(1)
    return (await conn.execute(stmt)).first() is not None


async def is_waiting(session: AsyncSession, source_keys: Sequence[str]) -> set[str]:
    """Which of these notes are still waiting to be appended."""
    if not source_keys:
        return set()
    conn = await session.connection()
    return set((await conn.execute(_WAITING_KEYS, {"keys": list(source_keys)})).scalars())


async def stats(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many notes wait, and when the oldest was acknowledged."""
    return await count_and_oldest(session, _notes.c.received_at, _notes.c.id.is_not(None))
