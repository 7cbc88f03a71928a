"""Timeline use cases: notes, captured messages, status changes, reading and verifying.

Every entry is appended to the incident's hash chain and echoed in its channel through
the outbox, in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.clock import Clock
from bot.domain.incident import ChannelStatus, Incident, Kind, Status, reference
from bot.domain.policy import Policy
from bot.domain.retention import chain_problem
from bot.domain.status import LABELS, transition
from bot.domain.timeline import EntryKind, TimelineEntry
from bot.services import effects
from bot.services.group_commit import GroupCommit
from bot.services.incidents import IncidentNotFound, InvalidChange
from storage.engine import Database
from storage.models import IncidentRow
from storage.outbox import OutboxRepository, enqueue_rows
from storage.repositories import IncidentRepository, TimelineRepository, incident_from_row
from storage.timeline_batch import NewEntry, append_entries, lock_incidents

log = logging.getLogger(__name__)

NOTE_MAX = 3000

# Work that must commit with a status change: (session, incident row, now).
InTransaction = Callable[[AsyncSession, IncidentRow, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Captured:
    """A Slack message added to a timeline."""

    channel_id: str
    ts: str
    author: str | None
    text: str
    permalink: str


@dataclass(frozen=True)
class ChainProblem:
    incident_ref: str
    seq: int
    at: datetime


class TimelineService:
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        broadcast_channel: str | None,
        on_commit: Callable[[], None] | None = None,
        on_echoes: Callable[[set[str]], None] | None = None,
        audit_key: bytes | None = None,
    ) -> None:
        self.db = db
        # Checks the HMAC signatures of purge and forget tombstones (FIREWATCH_AUDIT_KEY).
        self.audit_key = audit_key
        self._policy = policy
        self.clock = clock
        self.broadcast_channel = broadcast_channel
        self._on_commit = on_commit or (lambda: None)
        # After a batch of notes: the ordering keys that got echoes (the outbox need not
        # wake for a channel it is holding back to Slack's pace).
        self._on_echoes = on_echoes
        self._appends: GroupCommit[NewEntry, TimelineEntry | None] = GroupCommit(self._append_batch)

    async def add_note(
        self, incident_id: int, *, actor: str, text: str, source_key: str | None = None
    ) -> TimelineEntry | None:
        text = text.strip()
        if not text:
            raise InvalidChange("Write the note after the command: `/incident note <text>`.")
        if len(text) > NOTE_MAX:
            raise InvalidChange(f"Keep a note under {NOTE_MAX} characters.")
        return await self._append(
            incident_id, kind=EntryKind.NOTE, actor=actor, text=text, source_key=source_key
        )

    async def capture(
        self, incident_id: int, message: Captured, *, actor: str, via: str
    ) -> TimelineEntry | None:
        """Add a Slack message (by shortcut or reaction); once per message per incident."""
        return await self._append(
            incident_id,
            kind=EntryKind.CAPTURED,
            actor=actor,
            text=message.text[:NOTE_MAX],
            data={
                "author": message.author,
                "channel": message.channel_id,
                "ts": message.ts,
                "permalink": message.permalink,
                "via": via,
            },
            source_key=capture_key(incident_id, message.channel_id, message.ts),
        )

    async def withdraw_capture(
        self, incident_id: int, channel_id: str, ts: str, *, actor: str
    ) -> TimelineEntry | None:
        """The reaction was removed: history stays, a new entry marks the capture withdrawn."""
        key = capture_key(incident_id, channel_id, ts)
        async with self.db.session(write=False) as session:
            captured = await TimelineRepository(session).by_source_key(key)
        if captured is None:
            return None
        return await self._append(
            incident_id,
            kind=EntryKind.WITHDRAWN,
            actor=actor,
            text=f"Withdrew entry #{captured.seq} from the timeline",
            data={"withdraws": captured.seq},
            source_key=f"withdraw:{key}",
        )

    async def change_status(
        self,
        incident_id: int,
        target: Status,
        *,
        actor: str,
        update: str = "",
        source_key: str | None = None,
        also: InTransaction | None = None,
    ) -> Incident:
        """Move the incident to `target`, with an update for stakeholders.

        `also` runs inside the same transaction (e.g. requesting the post-mortem when
        resolving), so both facts commit together or not at all. Raises
        InvalidTransition (domain) for a move the state machine forbids.
        """
        now = self.clock.now()
        async with self.db.session() as session:
            row = await self._locked(session, incident_id)
            if row.kind != Kind.INCIDENT.value:
                raise InvalidChange(f"{reference(row.id)} is a non-incident report.")
            if source_key and await TimelineRepository(session).by_source_key(source_key):
                return incident_from_row(row)  # the same submission, again
            change = transition(
                Status(row.status),
                target,
                at=now,
                mitigated_at=row.mitigated_at,
                resolved_at=row.resolved_at,
            )
            row.status = change.new.value
            row.mitigated_at, row.resolved_at = change.mitigated_at, change.resolved_at
            row.updated_at = now
            verb = "Reopened" if change.reopened else "Status"
            text = f"{verb}: {LABELS[change.old]} → {LABELS[change.new]}"
            if update.strip():
                text += f" — {update.strip()}"
            entry = await TimelineRepository(session).append(
                incident_id=row.id,
                at=now,
                kind=EntryKind.STATUS,
                actor=actor,
                text=text,
                data={"from": change.old.value, "to": change.new.value, "update": update.strip()},
                source_key=source_key,
            )
            outbox = OutboxRepository(session)
            await self._echo(outbox, row, entry, now)
            if self.broadcast_channel:
                await outbox.enqueue(
                    effects.UPDATE_ANNOUNCEMENT,
                    effects.BROADCAST_KEY,
                    {"incident_id": row.id},
                    now=now,
                    incident_id=row.id,
                )
                if entry is not None:
                    await outbox.enqueue(
                        effects.STATUS_BROADCAST,
                        effects.BROADCAST_KEY,
                        {"incident_id": row.id, "entry_id": entry.id},
                        now=now,
                        incident_id=row.id,
                    )
            if also is not None:
                await also(session, row, now)
            if row.channel_status in (ChannelStatus.PENDING.value, ChannelStatus.CREATED.value):
                await outbox.enqueue(
                    effects.UPDATE_REPORT,
                    effects.incident_channel_key(row.id),
                    {"incident_id": row.id},
                    now=now,
                    incident_id=row.id,
                )
            incident = incident_from_row(row)
        self._on_commit()
        log.info(
            "status changed", extra={"incident": incident.ref, "status": incident.status.value}
        )
        return incident

    async def entries(self, incident_id: int) -> list[TimelineEntry]:
        async with self.db.session(write=False) as session:
            return await TimelineRepository(session).for_incident(incident_id)

    async def verify(self, incident_id: int | None = None) -> list[ChainProblem]:
        """Check hash chains; the first broken link of each broken incident.

        A chain whose oldest entries were purged starts at its signed tombstone; signed
        entries (tombstones, redactions) must carry a valid signature, checked with
        `audit_key` when they were signed with a key.
        """
        problems = []
        async with self.db.session(write=False) as session:
            repo = TimelineRepository(session)
            ids = [incident_id] if incident_id else await repo.incident_ids()
            for iid in ids:
                broken = chain_problem(await repo.for_incident(iid), self.audit_key)
                if broken is not None:
                    problems.append(ChainProblem(reference(iid), broken.seq, broken.at))
        return problems

    # --- internals ----------------------------------------------------------------------

    async def _append(
        self,
        incident_id: int,
        *,
        kind: str,
        actor: str | None,
        text: str,
        data: dict[str, Any] | None = None,
        source_key: str | None = None,
    ) -> TimelineEntry | None:
        """Append one entry; concurrent appends share a transaction (group commit)."""
        item = NewEntry(incident_id, kind, actor, text, dict(data or {}), source_key)
        return await self._appends.submit(item)

    async def _append_batch(
        self, items: Sequence[NewEntry]
    ) -> list[TimelineEntry | None | Exception]:
        now = self.clock.now()

        def write(conn: Connection) -> tuple[list[TimelineEntry | None | Exception], set[str]]:
            heads = lock_incidents(
                conn,
                [i.incident_id for i in items],
                [i.source_key for i in items if i.source_key is not None],
            )
            found = [i for i in items if i.incident_id in heads]
            written = iter(append_entries(conn, found, at=now, locked=heads))
            results: list[TimelineEntry | None | Exception] = [
                next(written)
                if i.incident_id in heads
                else IncidentNotFound(reference(i.incident_id))
                for i in items
            ]
            echoes = [
                (
                    effects.TIMELINE_ECHO,
                    effects.incident_channel_key(r.incident_id),
                    {"incident_id": r.incident_id, "entry_id": r.id},
                    r.incident_id,
                )
                for r in results
                if isinstance(r, TimelineEntry) and _echoed(heads[r.incident_id].channel_status)
            ]
            enqueue_rows(conn, echoes, now=now)
            return results, {key for _, key, _, _ in echoes}

        # One hand-off to the database for the whole batch (Database.write_batch).
        results, echoed_keys = await self.db.write_batch(write)
        if self._on_echoes is not None:
            if echoed_keys:
                self._on_echoes(echoed_keys)
        else:
            self._on_commit()
        return results

    async def _echo(
        self, outbox: OutboxRepository, row: IncidentRow, entry: Any, now: datetime
    ) -> None:
        if entry is None or not _echoed(row.channel_status):
            return
        await outbox.enqueue(
            effects.TIMELINE_ECHO,
            effects.incident_channel_key(row.id),
            {"incident_id": row.id, "entry_id": entry.id},
            now=now,
            incident_id=row.id,
        )

    async def _locked(self, session: AsyncSession, incident_id: int) -> IncidentRow:
        row = await IncidentRepository(session).get(incident_id, for_update=True)
        if row is None:
            raise IncidentNotFound(reference(incident_id))
        return row


def _echoed(channel_status: str) -> bool:
    """Entries are echoed in the incident's channel once it exists or is being made."""
    return channel_status in (ChannelStatus.PENDING.value, ChannelStatus.CREATED.value)


def capture_key(incident_id: int, channel_id: str, ts: str) -> str:
    return f"capture:{incident_id}:{channel_id}:{ts}"


async def timeline_page(
    db: Database, incident_id: int, *, offset: int, limit: int
) -> tuple[list[TimelineEntry], int]:
    async with db.session(write=False) as session:
        return await TimelineRepository(session).page(incident_id, offset=offset, limit=limit)
