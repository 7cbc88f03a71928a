"""Appending many timeline entries in one transaction, with a handful of statements.

The note path is the hottest write in Firewatch (a storm is hundreds of notes a second
into one incident). `TimelineRepository.append` costs several ORM round trips per entry;
here a whole batch costs the same few statements whatever its size: lock the
incidents, find already-recorded source keys, read each chain's head, insert the entries
— the caller adds the outbox rows in the same transaction. PostgreSQL gets Core
statements built once; SQLite, whose single writer every answer in flight waits for,
gets plain DB-API statements (storage/raw.py) and reads the heads and known keys with
the incidents.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Dialect,
    Table,
    Text,
    bindparam,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.base import PGDialect

from bot.domain.timeline import GENESIS_HASH, EntryKind, TimelineEntry, entry_hash
from storage import note_intake
from storage.in_list import in_list
from storage.models import IncidentRow, TimelineEntryRow
from storage.raw import RawInsert, cursor, placeholders

_incidents = cast(Table, IncidentRow.__table__)
_entries = cast(Table, TimelineEntryRow.__table__)

# Built once: on the note path, constructing a statement (coercing its operands, an IN
# list's parameters) cost more CPU than SQLite took to run it.
# FOR NO KEY UPDATE (`key_share`), not FOR UPDATE: appenders still exclude each other,
# but a row that refers to the incident (a note accepted, an outbox row's entry) can be
# inserted meanwhile. FOR UPDATE also blocks the foreign key's check, so every note
# acknowledged during an append waited for that append's commit.
_LOCK = (
    select(_incidents.c.id, _incidents.c.kind, _incidents.c.channel_status)
    .where(in_list(_incidents.c.id, "ids"))
    .order_by(_incidents.c.id)
    .with_for_update(key_share=True)
)
_KNOWN_KEYS = select(_entries.c.source_key).where(in_list(_entries.c.source_key, "keys"))
# A statement of its own, after the lock: on PostgreSQL it then reads the head as the
# previous holder of the lock committed it. SQLite's single writer has no such race, so
# there the heads come with the incidents (one round trip less per batch).
_HEAD = (
    select(_entries.c.seq, _entries.c.hash)
    .where(_entries.c.incident_id == bindparam("incident_id"))
    .order_by(_entries.c.seq.desc())
    .limit(1)
)


def _pg_insert_sql() -> str:
    """PostgreSQL: the batch as one array per column, unnested into rows. One text for
    every batch size, so one prepared statement and one plan; a multi-row VALUES (what
    SQLAlchemy's insertmanyvalues sends) is a new text, prepared and planned again, for
    each number of rows. The new ids come back with (incident_id, seq), which names each
    row: RETURNING's order is not promised."""
    dialect = PGDialect()  # type: ignore[no-untyped-call]

    def array_of(name: str) -> str:  # the column's own type; JSON goes as text
        element = Text() if name == "data" else _entries.c[name].type
        return str(ARRAY(element).compile(dialect=dialect))

    columns = ", ".join(f'"{name}"' for name in _ENTRY_COLUMNS)
    arrays = ", ".join(f"CAST(:{name} AS {array_of(name)})" for name in _ENTRY_COLUMNS)
    aliases = ", ".join(f"c{i}" for i in range(len(_ENTRY_COLUMNS)))
    values = ", ".join(
        f"CAST(c{i} AS json)" if name == "data" else f"c{i}"
        for i, name in enumerate(_ENTRY_COLUMNS)
    )
    return (
        f'INSERT INTO "{_entries.name}" ({columns}) SELECT {values} '
        f"FROM unnest({arrays}) AS u({aliases}) RETURNING id, incident_id, seq"
    )


_ENTRY_COLUMNS = (
    "incident_id",
    "seq",
    "at",
    "kind",
    "actor",
    "text",
    "data",
    "source_key",
    "prev_hash",
    "hash",
)
# SQLite: plain DB-API statements (storage/raw.py) — SQLAlchemy's per-statement work
# held the interpreter longer than SQLite took to run them.
_RAW_INSERT = RawInsert(_entries, _ENTRY_COLUMNS)
_PG_INSERT = text(_pg_insert_sql())


@functools.lru_cache(maxsize=64)
def _lock_with_heads_sql(ids: int, keys: int) -> str:
    """SQLite: the incidents with their chains' heads and which of the batch's source
    keys are already recorded (as a JSON array, json1), in one statement."""
    incidents, entries = _incidents.name, _entries.name
    last = f"FROM {entries} AS e WHERE e.incident_id = i.id ORDER BY e.seq DESC LIMIT 1"
    return (
        "SELECT i.id, i.kind, i.channel_status, "
        f"(SELECT e.seq {last}), (SELECT e.hash {last}), "
        f"(SELECT json_group_array(source_key) FROM {entries} "
        f"WHERE source_key IN ({placeholders(keys)})) "
        f"FROM {incidents} AS i WHERE i.id IN ({placeholders(ids)}) ORDER BY i.id"
    )


@dataclass(frozen=True)
class NewEntry:
    incident_id: int
    kind: str
    actor: str | None
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    source_key: str | None = None
    at: datetime | None = None  # None: when the batch is appended


@dataclass(frozen=True)
class IncidentHead:
    """What an append needs to know of its incident (read with the row locked)."""

    id: int
    kind: str
    channel_status: str
    # Where the lock could read them too (SQLite): the chain's last (seq, hash), and
    # which of the batch's source keys are already recorded.
    chain: tuple[int, str] | None = None
    known_keys: frozenset[str] | None = None
    checked_keys: frozenset[str] = frozenset()  # the source keys `known_keys` answers for


def lock_incidents(
    conn: Connection, ids: Sequence[int], source_keys: Sequence[str] = ()
) -> dict[int, IncidentHead]:
    """Lock the incidents' rows (PostgreSQL; SQLite's writer lock already serialises) in
    id order, so two replicas appending to the same incidents cannot deadlock.

    Synchronous, like `append_entries`: they run in `Database.write_batch`."""
    wanted = sorted(set(ids))
    if conn.dialect.name == "sqlite":
        checked = frozenset(source_keys)
        keys = sorted(checked)
        with closing(cursor(conn)) as cur:
            cur.execute(_lock_with_heads_sql(len(wanted), len(keys)), (*keys, *wanted))
            found = cur.fetchall()
        return {
            iid: IncidentHead(
                iid,
                kind,
                channel_status,
                (seq, head) if seq is not None else (0, GENESIS_HASH),
                frozenset(k for k in json.loads(known or "[]") if k is not None),
                checked,
            )
            for iid, kind, channel_status, seq, head, known in found
        }
    rows = conn.execute(_LOCK, {"ids": wanted})
    return {r.id: IncidentHead(r.id, r.kind, r.channel_status) for r in rows}


def link(item: NewEntry, *, seq: int, prev_hash: str, at: datetime) -> dict[str, Any]:
    """The stored columns of `item` as link `seq` of its incident's hash chain, after the
    entry whose hash is `prev_hash`."""
    values: dict[str, Any] = {
        "incident_id": item.incident_id,
        "seq": seq,
        "at": item.at or at,
        "kind": item.kind,
        "actor": item.actor,
        "text": item.text,
        "data": dict(item.data),
        "prev_hash": prev_hash,
    }
    return {**values, "source_key": item.source_key, "hash": entry_hash(**values)}


def append_entries(
    conn: Connection,
    items: Sequence[NewEntry],
    *,
    at: datetime,
    locked: Mapping[int, IncidentHead] | None = None,
) -> list[TimelineEntry | None]:
    """Append `items` in order to their incidents' hash chains; None for an item whose
    `source_key` is already recorded (or repeated earlier in the batch). The notes waiting
    in the note intake for these incidents (and the `locked` ones) go first: they were
    acknowledged before.

    The caller holds the incidents locked (`lock_incidents`) in this transaction.
    """
    incident_ids = {i.incident_id for i in items} | set(locked or {})
    notes, note_ids = _waiting_notes(conn, incident_ids)
    written = _append(conn, [*notes, *items], at=at.astimezone(UTC), locked=locked or {})
    note_intake.taken(conn, note_ids)
    return written[len(notes) :]


def append_waiting(conn: Connection, incident_ids: Sequence[int]) -> list[TimelineEntry]:
    """Append the incidents' waiting notes (the caller holds the incidents locked); the
    entries made."""
    notes, note_ids = _waiting_notes(conn, incident_ids)
    if not notes:
        return []
    last = notes[-1].at
    assert last is not None  # a waiting note carries the time it was acknowledged
    written = _append(conn, notes, at=last, locked={})
    note_intake.taken(conn, note_ids)
    return [e for e in written if e is not None]


def _waiting_notes(
    conn: Connection, incident_ids: Iterable[int]
) -> tuple[list[NewEntry], list[int]]:
    """The incidents' notes waiting in the note intake, as entries to append first (each
    at the time it was acknowledged), and their intake ids."""
    waiting = note_intake.waiting(conn, sorted(set(incident_ids)))
    notes = [
        NewEntry(n.incident_id, EntryKind.NOTE, n.actor, n.text, {}, n.source_key, n.received_at)
        for n in waiting
    ]
    return notes, [n.id for n in waiting]


def _append(
    conn: Connection,
    items: Sequence[NewEntry],
    *,
    at: datetime,
    locked: Mapping[int, IncidentHead],
) -> list[TimelineEntry | None]:
    seen = _known_keys(conn, items, locked)
    heads = _chain_heads(conn, items, locked)
    rows: list[dict[str, Any]] = []
    slots: list[int | None] = []  # per item: its index in `rows`, or None for a duplicate
    for item in items:
        if item.source_key is not None and item.source_key in seen:
            slots.append(None)
            continue
        if item.source_key is not None:
            seen.add(item.source_key)
        seq, prev = heads[item.incident_id]
        row = link(item, seq=seq + 1, prev_hash=prev, at=at)
        heads[item.incident_id] = (row["seq"], row["hash"])
        slots.append(len(rows))
        rows.append(row)
    if not rows:
        return [None] * len(items)
    entries = _inserted(conn, rows)
    return [entries[s] if s is not None else None for s in slots]


def _known_keys(
    conn: Connection, items: Sequence[NewEntry], locked: Mapping[int, IncidentHead]
) -> set[str]:
    """Which of the items' source keys are already recorded: as the lock read them
    (SQLite), else with a statement of their own."""
    keys = [i.source_key for i in items if i.source_key is not None]
    if not keys:
        return set()
    answered = [h for h in locked.values() if h.known_keys is not None]
    if answered and all(set(keys) <= h.checked_keys for h in answered):
        return set(answered[0].known_keys or ())
    return {k for k in conn.scalars(_KNOWN_KEYS, {"keys": keys}) if k is not None}


def _chain_heads(
    conn: Connection, items: Sequence[NewEntry], locked: Mapping[int, IncidentHead]
) -> dict[int, tuple[int, str]]:
    """Each incident's last (seq, hash): as the lock read them, else read now."""
    heads: dict[int, tuple[int, str]] = {}
    for incident_id in dict.fromkeys(i.incident_id for i in items):
        known = locked.get(incident_id)
        if known is not None and known.chain is not None:
            heads[incident_id] = known.chain
            continue
        last = conn.execute(_HEAD, {"incident_id": incident_id}).first()
        heads[incident_id] = (last[0], last[1]) if last else (0, GENESIS_HASH)
    return heads


def _pg_inserted(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """PostgreSQL: insert the rows with `_PG_INSERT`; their ids, in the rows' order. Each
    value goes through its column type's bind processing, as an ORM insert's would (the
    JSON serialised, a naive time refused)."""
    columns: dict[str, list[Any]] = {}
    for name, process in _binds(conn.dialect):
        values = [row[name] for row in rows]
        columns[name] = values if process is None else [process(v) for v in values]
    made = {
        (incident_id, seq): entry_id
        for entry_id, incident_id, seq in conn.execute(_PG_INSERT, columns)
    }
    return [made[(row["incident_id"], row["seq"])] for row in rows]


@functools.lru_cache(maxsize=4)
def _binds(dialect: Dialect) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Each entry column with its type's bind processing for `dialect` (None: as is)."""
    return tuple(
        (name, _entries.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in _ENTRY_COLUMNS
    )


def _inserted(conn: Connection, rows: list[dict[str, Any]]) -> list[TimelineEntry]:
    """Insert the rows (one statement on PostgreSQL, plain DB-API on SQLite) and return
    them as entries, with their new ids."""
    if conn.dialect.name == "sqlite":
        ids = _RAW_INSERT.run(conn, rows)
    else:
        ids = _pg_inserted(conn, rows)
    return [
        TimelineEntry(
            incident_id=r["incident_id"],
            seq=r["seq"],
            at=r["at"],
            kind=r["kind"],
            actor=r["actor"],
            text=r["text"],
            data=r["data"],
            prev_hash=r["prev_hash"],
            hash=r["hash"],
            id=entry_id,
        )
        for r, entry_id in zip(rows, ids, strict=True)
    ]
