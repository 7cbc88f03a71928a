"""Queries for the data lifecycle: retention purges and a person's data.

The person's-data queries are generic: they look at every string and JSON column of
every table on `Base.metadata`, so a table added later is covered without a change here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Table, and_, cast, delete, func, insert, or_, select, update

import storage.alert_models  # noqa: F401  (the alert tables: a person's data is there too)
import storage.alert_page_models  # noqa: F401  (and the alert pages)
import storage.note_intake  # noqa: F401  (and the notes waiting to be appended)
import storage.paging_models  # noqa: F401  (registers the paging tables on Base.metadata)
import storage.postmortem_models  # noqa: F401  (and the post-mortem tables)
import storage.refusals  # noqa: F401  (and the refusals)
import storage.status_models  # noqa: F401  (and the status page's tables)
from bot.domain.incident import ChannelStatus, Status
from bot.domain.retention import PURGED_KEY_PREFIX
from bot.domain.timeline import TimelineEntry
from storage.models import Base, IncidentRow, OutboxRow, SlackEventRow, TimelineEntryRow
from storage.outbox_table import CANCELLED, DONE
from storage.repositories import TimelineRepository
from storage.session import Repository

TIMELINE_TABLE = TimelineEntryRow.__tablename__
# Tables that never hold people's data, or whose rows are handled on their own.
_NOT_PERSONAL = frozenset({TIMELINE_TABLE, SlackEventRow.__tablename__, "job_runs"})


@dataclass(frozen=True)
class IncidentSnapshot:
    """What a purge keeps of an incident: its number, kind, severity and times."""

    id: int
    kind: str
    severity: str
    status: str
    declare_key: str
    declared_at: datetime
    closed_at: datetime | None


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def _incident_children() -> list[tuple[Table, Any]]:
    """(table, column) for every column with a foreign key to incidents.id whose rows go
    with the incident: not those the delete only unlinks (ON DELETE SET NULL, such as
    alert groups, which the alerts' retention removes later), except the outbox's, which
    `replace_incident_by_stub` deletes itself."""
    out = []
    for table in _tables():
        for column in table.columns:
            if any(
                fk.column.table.name == IncidentRow.__tablename__
                and (
                    (fk.ondelete or "").upper() != "SET NULL"
                    or table.name == OutboxRow.__tablename__
                )
                for fk in column.foreign_keys
            ):
                out.append((table, column))
    return out


def _text_columns(table: Table) -> list[Any]:
    return [c for c in table.columns if isinstance(c.type, String | JSON)]


def _like(user_id: str) -> str:
    escaped = user_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class LifecycleRepository(Repository):
    # --- closed incidents -----------------------------------------------------------

    async def closed_before(self, cutoff: datetime) -> list[int]:
        """Closed incidents (and reports) closed before `cutoff`, not already purged."""
        stmt = (
            select(IncidentRow.id)
            .where(IncidentRow.status == Status.CLOSED.value)
            .where(IncidentRow.closed_at.is_not(None))
            .where(IncidentRow.closed_at < cutoff)
            .where(~IncidentRow.declare_key.startswith(PURGED_KEY_PREFIX))
            .order_by(IncidentRow.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def lock_incident(self, incident_id: int) -> IncidentSnapshot | None:
        stmt = (
            select(
                IncidentRow.id,
                IncidentRow.kind,
                IncidentRow.severity,
                IncidentRow.status,
                IncidentRow.declare_key,
                IncidentRow.declared_at,
                IncidentRow.closed_at,
            )
            .where(IncidentRow.id == incident_id)
            .with_for_update()
        )
        row = (await self.session.execute(stmt)).first()
        return IncidentSnapshot(*row) if row is not None else None

    async def children_counts(self, incident_ids: Sequence[int]) -> dict[str, int]:
        """Rows that refer to these incidents, by table (what deleting them removes)."""
        counts: dict[str, int] = {}
        if not incident_ids:
            return counts
        for table, column in _incident_children():
            n = (
                await self.session.execute(
                    select(func.count()).select_from(table).where(column.in_(incident_ids))
                )
            ).scalar_one()
            if n:
                counts[table.name] = counts.get(table.name, 0) + int(n)
        return counts

    async def replace_incident_by_stub(
        self, snapshot: IncidentSnapshot, tombstone: TimelineEntry, *, now: datetime
    ) -> None:
        """Delete the incident and everything that refers to it, then put back a stub row
        with the same number (numbers are never reused) holding only the tombstone."""
        await self.session.execute(delete(OutboxRow).where(OutboxRow.incident_id == snapshot.id))
        await self.session.execute(delete(IncidentRow).where(IncidentRow.id == snapshot.id))
        await self.session.execute(
            insert(IncidentRow).values(
                id=snapshot.id,
                declare_key=f"{PURGED_KEY_PREFIX}{snapshot.id}",
                kind=snapshot.kind,
                title="(removed by the retention policy)",
                nature="",
                discovery="",
                impact="",
                evidence="",
                service=None,
                severity=snapshot.severity,
                status=Status.CLOSED.value,
                reporter_id="",
                checklist={},
                channel_status=ChannelStatus.NONE.value,
                declared_at=snapshot.declared_at,
                closed_at=snapshot.closed_at,
                updated_at=now,
            )
        )
        await self._insert_entry(tombstone)

    # --- timelines ------------------------------------------------------------------

    async def incidents_with_entries_before(self, cutoff: datetime) -> list[int]:
        stmt = (
            select(TimelineEntryRow.incident_id)
            .where(TimelineEntryRow.at < cutoff)
            .distinct()
            .order_by(TimelineEntryRow.incident_id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def chain(self, incident_id: int) -> list[TimelineEntry]:
        return await TimelineRepository(self.session).for_incident(incident_id)

    async def replace_prefix(self, tombstone: TimelineEntry) -> int:
        """Delete the chain's entries up to the tombstone's seq and insert the tombstone."""
        result = await self.session.execute(
            delete(TimelineEntryRow)
            .where(TimelineEntryRow.incident_id == tombstone.incident_id)
            .where(TimelineEntryRow.seq <= tombstone.seq)
        )
        await self._insert_entry(tombstone)
        return _rowcount(result)

    async def rewrite_entries(self, entries: Sequence[TimelineEntry]) -> None:
        """Store rewritten entries (a person's request): content and links, by id."""
        for e in entries:
            assert e.id is not None
            await self.session.execute(
                update(TimelineEntryRow)
                .where(TimelineEntryRow.id == e.id)
                .values(
                    actor=e.actor,
                    text=e.text,
                    data=dict(e.data),
                    prev_hash=e.prev_hash,
                    hash=e.hash,
                )
            )

    async def _insert_entry(self, e: TimelineEntry) -> None:
        await self.session.execute(
            insert(TimelineEntryRow).values(
                incident_id=e.incident_id,
                seq=e.seq,
                at=e.at,
                kind=str(e.kind),
                actor=e.actor,
                text=e.text,
                data=dict(e.data),
                source_key=None,
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
        )

    # --- housekeeping tables --------------------------------------------------------

    async def count_events_before(self, cutoff: datetime) -> int:
        stmt = (
            select(func.count())
            .select_from(SlackEventRow)
            .where(SlackEventRow.received_at < cutoff)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def delete_events_before(self, cutoff: datetime, *, limit: int) -> int:
        ids = select(SlackEventRow.event_id).where(SlackEventRow.received_at < cutoff).limit(limit)
        result = await self.session.execute(
            delete(SlackEventRow).where(SlackEventRow.event_id.in_(ids.scalar_subquery()))
        )
        return _rowcount(result)

    def _outbox_done_before(self, cutoff: datetime) -> Any:
        return and_(
            OutboxRow.status.in_([DONE, CANCELLED]),
            func.coalesce(OutboxRow.delivered_at, OutboxRow.created_at) < cutoff,
        )

    async def count_outbox_done_before(
        self, cutoff: datetime, *, excluding: Sequence[int] = ()
    ) -> int:
        """Done or cancelled rows older than `cutoff`, except those of the incidents in
        `excluding` (a dry run counts those with their incident)."""
        stmt = select(func.count()).select_from(OutboxRow).where(self._outbox_done_before(cutoff))
        if excluding:
            stmt = stmt.where(
                or_(OutboxRow.incident_id.is_(None), OutboxRow.incident_id.not_in(excluding))
            )
        return int((await self.session.execute(stmt)).scalar_one())

    async def delete_outbox_done_before(self, cutoff: datetime, *, limit: int) -> int:
        ids = select(OutboxRow.id).where(self._outbox_done_before(cutoff)).limit(limit)
        result = await self.session.execute(
            delete(OutboxRow).where(OutboxRow.id.in_(ids.scalar_subquery()))
        )
        return _rowcount(result)

    # --- a person's data --------------------------------------------------------------

    async def incidents_naming(self, user_id: str) -> list[int]:
        """Incidents whose timeline may name the person (to be confirmed by the caller)."""
        pattern = _like(user_id)
        stmt = (
            select(TimelineEntryRow.incident_id)
            .where(
                or_(
                    TimelineEntryRow.actor == user_id,
                    TimelineEntryRow.text.like(pattern, escape="\\"),
                    cast(TimelineEntryRow.data, String).like(pattern, escape="\\"),
                )
            )
            .distinct()
            .order_by(TimelineEntryRow.incident_id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def rows_naming(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """Candidate rows of every other table with the id in a string or JSON column, by
        table (the caller confirms with an exact match)."""
        pattern = _like(user_id)
        found: dict[str, list[dict[str, Any]]] = {}
        for table in _tables():
            columns = _text_columns(table)
            if table.name in _NOT_PERSONAL or not columns:
                continue
            stmt = select(table).where(
                or_(*(cast(c, String).like(pattern, escape="\\") for c in columns))
            )
            if table.primary_key.columns:
                stmt = stmt.order_by(*table.primary_key.columns)
            rows = [dict(r) for r in (await self.session.execute(stmt)).mappings()]
            if rows:
                found[table.name] = rows
        return found

    async def update_row(
        self, table_name: str, row: dict[str, Any], values: dict[str, Any]
    ) -> None:
        table = Base.metadata.tables[table_name]
        await self.session.execute(update(table).where(_pk(table, row)).values(**values))

    async def delete_row(self, table_name: str, row: dict[str, Any]) -> None:
        table = Base.metadata.tables[table_name]
        await self.session.execute(delete(table).where(_pk(table, row)))

    async def lock_incidents(self, incident_ids: Sequence[int]) -> None:
        if incident_ids:
            await self.session.execute(
                select(IncidentRow.id)
                .where(IncidentRow.id.in_(incident_ids))
                .order_by(IncidentRow.id)
                .with_for_update()
            )


def _pk(table: Table, row: dict[str, Any]) -> Any:
    return and_(*(c == row[c.name] for c in table.primary_key.columns))


def string_columns(table_name: str) -> list[str]:
    """The string and JSON columns of a table (where a person's id can appear)."""
    return [c.name for c in _text_columns(Base.metadata.tables[table_name])]
