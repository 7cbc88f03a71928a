"""All queries live here; services never build SQL themselves.

Repositories return records (`Incident`, `TimelineEntry`), never ORM rows: a service
changes a record through its repository (`IncidentRepository.update`), in the
transaction that read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, delete, func, select
from sqlalchemy.exc import IntegrityError

from bot.domain.incident import ChannelStatus, Incident, Kind, Status
from bot.domain.timeline import GENESIS_HASH, TimelineEntry
from storage.in_list import in_list
from storage.models import DeclareDraftRow, IncidentRow, SlackEventRow, TimelineEntryRow
from storage.rows import added, changed, from_row, held
from storage.session import Repository
from storage.slices import READ_SLICE, between_slices
from storage.timeline_batch import NewEntry, append_waiting, link


def incident_from_row(row: IncidentRow) -> Incident:
    return from_row(
        Incident,
        row,
        status=Status(row.status),
        kind=Kind(row.kind),
        channel_status=ChannelStatus(row.channel_status),
        checklist=dict(row.checklist or {}),
    )


_OPEN = [s.value for s in Status if s not in (Status.RESOLVED, Status.CLOSED)]


class IncidentRepository(Repository):
    async def add(self, **values: Any) -> Incident:
        """Store a new incident (`values`: its columns) and return it with its id."""
        return incident_from_row(await added(self.session, IncidentRow(**values)))

    async def find(self, incident_id: int, *, lock: bool = False) -> Incident | None:
        """The incident; with `lock`, its row is locked for this transaction (the
        timeline's hash chain and every change of the record need that)."""
        stmt = select(IncidentRow).where(IncidentRow.id == incident_id)
        if not lock:
            return await self._first(stmt)
        # FOR NO KEY UPDATE: changes of the record exclude each other, and rows that only
        # refer to the incident (a note's intake row) are not made to wait (timeline_batch).
        locked = stmt.with_for_update(key_share=True)
        row = (await self.session.execute(locked)).scalars().first()
        return incident_from_row(held(self.session, row)) if row is not None else None

    async def update(self, incident_id: int, **values: Any) -> Incident:
        """Change columns of an incident this transaction has read (`find`), with no
        statement of its own (`rows.changed`); returns the incident as it is now."""
        return incident_from_row(await changed(self.session, IncidentRow, incident_id, values))

    async def by_declare_key(self, key: str) -> Incident | None:
        return await self._first(select(IncidentRow).where(IncidentRow.declare_key == key))

    async def by_channel(self, channel_id: str) -> Incident | None:
        return await self._first(select(IncidentRow).where(IncidentRow.channel_id == channel_id))

    async def channel_owner(self, channel_id: str) -> int | None:
        stmt = select(IncidentRow.id).where(IncidentRow.channel_id == channel_id)
        return (await self.session.execute(stmt)).scalars().first()

    async def list_open(self, limit: int = 50) -> list[Incident]:
        stmt = (
            select(IncidentRow)
            .where(IncidentRow.kind == Kind.INCIDENT.value)
            .where(IncidentRow.status.in_(_OPEN))
            .order_by(IncidentRow.declared_at.desc())
            .limit(limit)
        )
        return [incident_from_row(r) for r in (await self.session.execute(stmt)).scalars()]

    async def _first(self, stmt: Select[IncidentRow]) -> Incident | None:
        row = (await self.session.execute(stmt)).scalars().first()
        return incident_from_row(row) if row is not None else None


class TimelineRepository(Repository):
    async def append(
        self,
        incident_id: int,
        kind: str,
        text: str = "",
        *,
        at: datetime,
        actor: str | None,
        data: dict[str, Any] | None = None,
        source_key: str | None = None,
    ) -> TimelineEntry | None:
        """Append an entry to the incident's hash chain (`actor`: who, or None for
        Firewatch itself).

        The caller holds the incident row locked (or the SQLite write lock), so the chain
        has one writer at a time. Returns None when `source_key` was already recorded.
        The incident's notes waiting in the note intake are appended first: they were
        acknowledged before this entry.
        """
        conn = await self.session.connection()
        await conn.run_sync(append_waiting, [incident_id])
        if source_key is not None:
            existing = await self.session.execute(
                select(TimelineEntryRow.id).where(TimelineEntryRow.source_key == source_key)
            )
            if existing.scalar_one_or_none() is not None:
                return None
        last = (
            await self.session.execute(
                select(TimelineEntryRow.seq, TimelineEntryRow.hash)
                .where(TimelineEntryRow.incident_id == incident_id)
                .order_by(TimelineEntryRow.seq.desc())
                .limit(1)
            )
        ).first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        item = NewEntry(incident_id, kind, actor, text, data or {}, source_key)
        row = TimelineEntryRow(**link(item, seq=seq, prev_hash=prev, at=at))
        self.session.add(row)
        await self.session.flush()
        return entry_from_row(row)

    async def for_incident(self, incident_id: int) -> list[TimelineEntry]:
        rows = (
            await self.session.execute(
                select(TimelineEntryRow)
                .where(TimelineEntryRow.incident_id == incident_id)
                .order_by(TimelineEntryRow.seq)
            )
        ).scalars()
        return [entry_from_row(r) for r in rows]

    async def get(self, entry_id: int) -> TimelineEntry | None:
        row = await self.session.get(TimelineEntryRow, entry_id)
        return entry_from_row(row) if row is not None else None

    async def many(self, entry_ids: Sequence[int]) -> list[TimelineEntry]:
        if not entry_ids:
            return []
        # An echo in a storm reads hundreds of entries: columns, not ORM objects, and in
        # slices (storage/slices.py).
        conn = await self.session.connection()
        ids = list(entry_ids)
        entries: list[TimelineEntry] = []
        for start in range(0, len(ids), READ_SLICE):
            if start:
                await between_slices()
            rows = await conn.execute(_MANY_ENTRIES, {"ids": ids[start : start + READ_SLICE]})
            entries.extend(entry_from_row(r) for r in rows)
        return entries

    async def by_source_key(self, key: str) -> TimelineEntry | None:
        stmt = select(TimelineEntryRow).where(TimelineEntryRow.source_key == key)
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return entry_from_row(row) if row is not None else None

    async def by_source_keys(self, keys: Sequence[str]) -> dict[str, TimelineEntry]:
        """The entries recorded under these source keys, by key (in slices, like `many`:
        an echo in a storm of notes names hundreds)."""
        conn = await self.session.connection()
        wanted = list(keys)
        found: dict[str, TimelineEntry] = {}
        for start in range(0, len(wanted), READ_SLICE):
            if start:
                await between_slices()
            part = wanted[start : start + READ_SLICE]
            for r in await conn.execute(_BY_SOURCE_KEYS, {"keys": part}):
                found[r.source_key] = entry_from_row(r)
        return found

    async def incident_ids(self) -> list[int]:
        stmt = (
            select(TimelineEntryRow.incident_id).distinct().order_by(TimelineEntryRow.incident_id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def page(
        self, incident_id: int, *, offset: int, limit: int
    ) -> tuple[list[TimelineEntry], int]:
        """One page of an incident's timeline, oldest first, and the total count."""
        total = (
            await self.session.execute(
                select(func.count(TimelineEntryRow.id)).where(
                    TimelineEntryRow.incident_id == incident_id
                )
            )
        ).scalar_one()
        rows = (
            await self.session.execute(
                select(TimelineEntryRow)
                .where(TimelineEntryRow.incident_id == incident_id)
                .order_by(TimelineEntryRow.seq)
                .offset(offset)
                .limit(limit)
            )
        ).scalars()
        return [entry_from_row(r) for r in rows], int(total)


_entries_table = cast(Table, TimelineEntryRow.__table__)
_MANY_ENTRIES = (
    select(_entries_table).where(in_list(_entries_table.c.id, "ids")).order_by(_entries_table.c.id)
)
_BY_SOURCE_KEYS = select(_entries_table).where(in_list(_entries_table.c.source_key, "keys"))


def entry_from_row(r: TimelineEntryRow | Row[Any]) -> TimelineEntry:
    return from_row(TimelineEntry, r, data=dict(r.data or {}))


class SlackEventRepository(Repository):
    async def seen(self, event_id: str) -> bool:
        return await self.session.get(SlackEventRow, event_id) is not None

    async def first_time(self, event_id: str, at: datetime) -> bool:
        """Record an Events API delivery; False when this event id was seen before."""
        try:
            async with self.session.begin_nested():
                self.session.add(SlackEventRow(event_id=event_id, received_at=at))
                await self.session.flush()
        except IntegrityError:
            return False
        return True


class DraftRepository(Repository):
    async def save(self, key: str, data: dict[str, Any], at: datetime) -> None:
        row = await self.session.get(DeclareDraftRow, key)
        if row is None:
            self.session.add(DeclareDraftRow(key=key, data=data, created_at=at))
        else:
            row.data, row.created_at = data, at
        await self.session.flush()

    async def get(self, key: str) -> dict[str, Any] | None:
        row = await self.session.get(DeclareDraftRow, key)
        return dict(row.data) if row is not None else None

    async def delete_older_than(self, cutoff: datetime) -> int:
        result = await self.session.execute(
            delete(DeclareDraftRow).where(DeclareDraftRow.created_at < cutoff)
        )
        return int(getattr(result, "rowcount", 0))
