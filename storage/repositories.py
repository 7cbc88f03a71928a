"""All queries live here; services never build SQL themselves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.incident import ChannelStatus, Incident, Kind, Status
from bot.domain.timeline import GENESIS_HASH, TimelineEntry, entry_hash
from storage.models import DeclareDraftRow, IncidentRow, SlackEventRow, TimelineEntryRow
from storage.slices import READ_SLICE, between_slices


def incident_from_row(row: IncidentRow) -> Incident:
    return Incident(
        id=row.id,
        title=row.title,
        nature=row.nature,
        discovery=row.discovery,
        impact=row.impact,
        evidence=row.evidence,
        service=row.service,
        severity=row.severity,
        status=Status(row.status),
        kind=Kind(row.kind),
        reporter_id=row.reporter_id,
        declared_at=row.declared_at,
        channel_status=ChannelStatus(row.channel_status),
        channel_id=row.channel_id,
        channel_name=row.channel_name,
        channel_note=row.channel_note,
        report_ts=row.report_ts,
        announcement_channel_id=row.announcement_channel_id,
        announcement_ts=row.announcement_ts,
        response_deadline=row.response_deadline,
        acknowledged_at=row.acknowledged_at,
        mitigated_at=row.mitigated_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        checklist=dict(row.checklist or {}),
    )


class IncidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: IncidentRow) -> IncidentRow:
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, incident_id: int, *, for_update: bool = False) -> IncidentRow | None:
        stmt = select(IncidentRow).where(IncidentRow.id == incident_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_declare_key(self, key: str) -> IncidentRow | None:
        stmt = select(IncidentRow).where(IncidentRow.declare_key == key)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_channel(self, channel_id: str) -> IncidentRow | None:
        stmt = select(IncidentRow).where(IncidentRow.channel_id == channel_id)
        return (await self.session.execute(stmt)).scalars().first()

    async def channel_owner(self, channel_id: str) -> int | None:
        stmt = select(IncidentRow.id).where(IncidentRow.channel_id == channel_id)
        return (await self.session.execute(stmt)).scalars().first()

    async def list_open(self, limit: int = 50) -> Sequence[IncidentRow]:
        stmt = (
            select(IncidentRow)
            .where(IncidentRow.kind == Kind.INCIDENT.value)
            .where(
                IncidentRow.status.in_(
                    [s.value for s in Status if s not in (Status.RESOLVED, Status.CLOSED)]
                )
            )
            .order_by(IncidentRow.declared_at.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count(IncidentRow.id)))).scalar_one())


class TimelineRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(
        self,
        *,
        incident_id: int,
        at: datetime,
        kind: str,
        actor: str | None,
        text: str = "",
        data: dict[str, Any] | None = None,
        source_key: str | None = None,
    ) -> TimelineEntryRow | None:
        """Append an entry to the incident's hash chain.

        The caller holds the incident row locked (or the SQLite write lock), so the chain
        has one writer at a time. Returns None when `source_key` was already recorded.
        """
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
        payload = dict(data or {})
        row = TimelineEntryRow(
            incident_id=incident_id,
            seq=seq,
            at=at,
            kind=kind,
            actor=actor,
            text=text,
            data=payload,
            source_key=source_key,
            prev_hash=prev,
            hash=entry_hash(
                incident_id=incident_id,
                seq=seq,
                at=at,
                kind=kind,
                actor=actor,
                text=text,
                data=payload,
                prev_hash=prev,
            ),
        )
        self.session.add(row)
        await self.session.flush()
        return row

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
    select(_entries_table)
    .where(_entries_table.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_entries_table.c.id)
)


def entry_from_row(r: TimelineEntryRow | Row[Any]) -> TimelineEntry:
    return TimelineEntry(
        incident_id=r.incident_id,
        seq=r.seq,
        at=r.at,
        kind=r.kind,
        actor=r.actor,
        text=r.text,
        data=dict(r.data or {}),
        prev_hash=r.prev_hash,
        hash=r.hash,
        id=r.id,
    )


class SlackEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first_time(self, event_id: str, at: datetime) -> bool:
        """Record an Events API delivery; False when this event id was seen before."""
        try:
            async with self.session.begin_nested():
                self.session.add(SlackEventRow(event_id=event_id, received_at=at))
                await self.session.flush()
        except IntegrityError:
            return False
        return True


class DraftRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
