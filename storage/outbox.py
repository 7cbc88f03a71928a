"""The durable outbox: queries for enqueueing, claiming and settling Slack side effects.

Ordering: rows share an `ordering_key` (one per Slack channel or conversation); only the
oldest pending row of a key may be delivered, so a channel hears things in the order they
were stored. Claims are leases (`claimed_by`, `claimed_until`) taken with a conditional
UPDATE, which works the same on SQLite and on PostgreSQL shared by several replicas.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import OutboxRow
from storage.raw import RawInsert
from storage.slices import READ_SLICE, between_slices

PENDING, DONE, DEAD, CANCELLED = "pending", "done", "dead", "cancelled"

_outbox = cast(Table, OutboxRow.__table__)
_INSERT = insert(_outbox)
_RAW_INSERT = RawInsert(
    _outbox,
    (
        "kind",
        "ordering_key",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "incident_id",
        "progress",
        "result",
        "outcome_unknown",
    ),
)


_FOLLOWING = (
    select(
        _outbox.c.id,
        _outbox.c.kind,
        _outbox.c.ordering_key,
        _outbox.c.payload,
        _outbox.c.attempts,
        _outbox.c.progress,
        _outbox.c.incident_id,
        _outbox.c.next_attempt_at,
    )
    .where(_outbox.c.ordering_key == bindparam("key"))
    .where(_outbox.c.status == PENDING)
    .where(_outbox.c.id > bindparam("after"))
    .order_by(_outbox.c.id)
    .limit(bindparam("limit"))
)


_SETTLE_DONE_MANY = (
    update(_outbox)
    .where(_outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=DONE,
        delivered_at=bindparam("now", type_=_outbox.c.delivered_at.type),
        result=bindparam("result", type_=_outbox.c.result.type),
        claimed_by=None,
        claimed_until=None,
        outcome_unknown=False,
        last_error=None,
    )
)
_RELEASE = (
    update(_outbox)
    .where(_outbox.c.id.in_(bindparam("ids", expanding=True)))
    .where(_outbox.c.status == PENDING)
    .values(
        claimed_by=None,
        claimed_until=None,
        attempts=_outbox.c.attempts - 1,
        outcome_unknown=False,
    )
)


@functools.cache
def _ready_heads(limit: int) -> Select[OutboxRow]:
    """Built once: constructing it (an aliased entity, a correlated EXISTS) cost more CPU
    than running it, on every pass of the worker."""
    earlier = aliased(OutboxRow)
    blocked = (
        select(earlier.id)
        .where(earlier.ordering_key == OutboxRow.ordering_key)
        .where(earlier.status == PENDING)
        .where(earlier.id < OutboxRow.id)
        .exists()
    )
    now: BindParameter[datetime] = bindparam("now")
    return (
        select(OutboxRow)
        .where(OutboxRow.status == PENDING)
        .where(OutboxRow.next_attempt_at <= now)
        .where(or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now))
        .where(~blocked)
        .order_by(OutboxRow.id)
        .limit(limit)
    )


def _lease_free(now: datetime) -> ColumnElement[bool]:
    """Nobody holds the row, or its holder's lease has run out."""
    c = _outbox.c
    return or_(c.claimed_until.is_(None), c.claimed_until < now)


def _lease(worker: str, now: datetime, lease: timedelta) -> dict[str, Any]:
    """What a claim writes: the holder, its lease, one more attempt, outcome unknown
    until the attempt settles."""
    return {
        "claimed_by": worker,
        "claimed_until": now + lease,
        "attempts": _outbox.c.attempts + 1,
        "outcome_unknown": True,
    }


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    dead: int
    oldest_pending: datetime | None


@dataclass(frozen=True)
class ClaimedRow:
    """A row this worker holds, as the claim returned it."""

    id: int
    kind: str
    ordering_key: str
    payload: dict[str, Any]
    attempts: int  # this attempt included
    progress: dict[str, Any]
    incident_id: int | None


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(
        self,
        kind: str,
        ordering_key: str,
        payload: dict[str, Any],
        *,
        now: datetime,
        incident_id: int | None = None,
    ) -> OutboxRow:
        row = OutboxRow(
            kind=kind,
            ordering_key=ordering_key,
            payload=payload,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            incident_id=incident_id,
            progress={},
            result={},
            outcome_unknown=False,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def enqueue_many(
        self,
        effects: Sequence[tuple[str, str, dict[str, Any], int | None]],
        *,
        now: datetime,
    ) -> None:
        """Queue several effects (kind, ordering key, payload, incident id) in one
        statement, in the given order; for hot paths that do not need the rows back."""
        if effects:
            conn = await self.session.connection()
            await conn.execute(_INSERT, _new_rows(effects, now))

    async def ready_heads(self, now: datetime, limit: int) -> Sequence[OutboxRow]:
        """The oldest pending row of each ordering key, if due and not leased."""
        stmt = _ready_heads(limit)
        return (await self.session.execute(stmt, {"now": now})).scalars().all()

    async def claim_head(
        self, row_id: int, *, seen_attempts: int, worker: str, now: datetime, lease: timedelta
    ) -> ClaimedRow | None:
        """Claim a row read by `ready_heads` (see `claim_head_in`)."""
        conn = await self.session.connection()
        return await conn.run_sync(
            claim_head_in, row_id, seen_attempts=seen_attempts, worker=worker, now=now, lease=lease
        )

    async def claim(self, row_id: int, *, worker: str, now: datetime, lease: timedelta) -> bool:
        return row_id in await self.claim_many([row_id], worker=worker, now=now, lease=lease)

    async def claim_many(
        self, row_ids: Sequence[int], *, worker: str, now: datetime, lease: timedelta
    ) -> set[int]:
        """Claim several rows in one statement; returns the ids this worker now holds."""
        if not row_ids:
            return set()
        conn = await self.session.connection()
        return await conn.run_sync(claim_many_in, row_ids, worker=worker, now=now, lease=lease)

    async def get(self, row_id: int) -> OutboxRow | None:
        return await self.session.get(OutboxRow, row_id, populate_existing=True)

    async def settle_done_many(
        self, row_ids: Sequence[int], *, now: datetime, result: dict[str, Any]
    ) -> None:
        """Several rows delivered by one call (a grouped message): one statement."""
        if row_ids:
            conn = await self.session.connection()
            await conn.run_sync(settle_delivered_in, row_ids, (), now=now, result=result)

    async def settle_retry(
        self, row_id: int, *, error: str, next_attempt_at: datetime, outcome_unknown: bool
    ) -> None:
        await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .values(
                last_error=error[:2000],
                next_attempt_at=next_attempt_at,
                claimed_by=None,
                claimed_until=None,
                outcome_unknown=outcome_unknown,
            )
        )

    async def following(self, ordering_key: str, after_id: int, limit: int) -> Sequence[Any]:
        """Pending rows queued behind `after_id` in the same key, in order: the columns a
        delivery needs, without ORM objects (a storm's echo reads hundreds of them)."""
        conn = await self.session.connection()
        rows: list[Any] = []
        while len(rows) < limit:
            if rows:
                await between_slices()
            want = min(READ_SLICE, limit - len(rows))
            params = {"key": ordering_key, "after": after_id, "limit": want}
            got = (await conn.execute(_FOLLOWING, params)).all()
            rows.extend(got)
            if len(got) < want:
                break
            after_id = got[-1].id
        return rows

    async def release(self, row_ids: list[int]) -> None:
        """Give claimed rows back untouched: the attempt they were part of did not count."""
        if row_ids:
            conn = await self.session.connection()
            await conn.run_sync(release_in, row_ids)

    async def uncount_attempt(self, row_id: int) -> None:
        """A row that was only waiting (NotReady) does not use up an attempt."""
        await self.session.execute(
            update(OutboxRow).where(OutboxRow.id == row_id).values(attempts=OutboxRow.attempts - 1)
        )

    async def settle_dead(self, row_id: int, *, error: str) -> None:
        await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .values(
                status=DEAD,
                last_error=error[:2000],
                claimed_by=None,
                claimed_until=None,
            )
        )

    async def save_progress(self, row_id: int, progress: dict[str, Any]) -> None:
        await self.session.execute(
            update(OutboxRow).where(OutboxRow.id == row_id).values(progress=progress)
        )

    async def cancel_pending(self, ordering_key: str, *, reason: str) -> int:
        result = await self.session.execute(
            update(OutboxRow)
            .where(and_(OutboxRow.ordering_key == ordering_key, OutboxRow.status == PENDING))
            .values(status=CANCELLED, last_error=reason, claimed_by=None, claimed_until=None)
        )
        return int(getattr(result, "rowcount", 0))

    async def release_leases(self, *, worker_prefix: str | None = None) -> int:
        """Free leases left by a process that died (SQLite: only one process delivers)."""
        stmt = (
            update(OutboxRow)
            .where(OutboxRow.status == PENDING)
            .where(OutboxRow.claimed_by.is_not(None))
        )
        if worker_prefix is not None:
            stmt = stmt.where(OutboxRow.claimed_by.startswith(worker_prefix))
        result = await self.session.execute(stmt.values(claimed_by=None, claimed_until=None))
        return int(getattr(result, "rowcount", 0))

    async def requeue(self, row_id: int, *, now: datetime) -> bool:
        result = await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .where(OutboxRow.status.in_([DEAD, CANCELLED]))
            .values(status=PENDING, attempts=0, next_attempt_at=now, last_error=None)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def listing(self, status: str | None = None, limit: int = 100) -> Sequence[OutboxRow]:
        stmt = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(OutboxRow.status == status)
        return (await self.session.execute(stmt)).scalars().all()

    async def stats(self) -> OutboxStats:
        pending, oldest = (
            await self.session.execute(
                select(func.count(OutboxRow.id), func.min(OutboxRow.created_at)).where(
                    OutboxRow.status == PENDING
                )
            )
        ).one()
        dead = (
            await self.session.execute(
                select(func.count(OutboxRow.id)).where(OutboxRow.status == DEAD)
            )
        ).scalar_one()
        oldest_dt = oldest
        if isinstance(oldest_dt, str):  # func.min bypasses the column type on SQLite
            oldest_dt = datetime.fromisoformat(oldest_dt)
        if oldest_dt is not None and oldest_dt.tzinfo is None:
            oldest_dt = oldest_dt.replace(tzinfo=UTC)
        return OutboxStats(pending=int(pending), dead=int(dead), oldest_pending=oldest_dt)


def enqueue_rows(
    conn: Connection,
    effects: Sequence[tuple[str, str, dict[str, Any], int | None]],
    *,
    now: datetime,
) -> None:
    """`OutboxRepository.enqueue_many` on a synchronous connection (`Database.write_batch`)."""
    if not effects:
        return
    if conn.dialect.name == "sqlite":  # plain DB-API (storage/raw.py): the note path
        _RAW_INSERT.run(conn, _new_rows(effects, now))
    else:
        conn.execute(_INSERT, _new_rows(effects, now))


def _new_rows(
    effects: Sequence[tuple[str, str, dict[str, Any], int | None]], now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "kind": kind,
            "ordering_key": key,
            "payload": payload,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "incident_id": incident_id,
            "progress": {},
            "result": {},
            "outcome_unknown": False,
        }
        for kind, key, payload, incident_id in effects
    ]


# Claims and settlements as plain functions of a synchronous connection: the outbox
# worker runs them through `Database.write_batch` (on SQLite, one hand-off to a thread
# instead of a transaction that holds the writer across several event-loop turns while
# requests wait for it); the repository's methods run the same through `run_sync`.


def claim_head_in(
    conn: Connection,
    row_id: int,
    *,
    seen_attempts: int,
    worker: str,
    now: datetime,
    lease: timedelta,
) -> ClaimedRow | None:
    """Claim a row read by `ready_heads`, in one statement that returns what the attempt
    needs; None when it changed since (another worker tried it meanwhile: its attempts
    moved) or is taken or settled."""
    c = _outbox.c
    row = conn.execute(
        update(_outbox)
        .where(c.id == row_id)
        .where(c.status == PENDING)
        .where(c.attempts == seen_attempts)
        .where(_lease_free(now))
        .values(_lease(worker, now, lease))
        .returning(c.id, c.kind, c.ordering_key, c.payload, c.attempts, c.progress, c.incident_id)
    ).first()
    if row is None:
        return None
    return ClaimedRow(
        id=row.id,
        kind=row.kind,
        ordering_key=row.ordering_key,
        payload=dict(row.payload or {}),
        attempts=row.attempts,
        progress=dict(row.progress or {}),
        incident_id=row.incident_id,
    )


def claim_many_in(
    conn: Connection, row_ids: Sequence[int], *, worker: str, now: datetime, lease: timedelta
) -> set[int]:
    """Claim several rows in one statement; returns the ids this worker now holds."""
    if not row_ids:
        return set()
    # Core, with the ids as one expanding parameter: a storm's echo claims hundreds of
    # rows, and the ORM's bulk-update path cost milliseconds of the event loop.
    c = _outbox.c
    result = conn.execute(
        update(_outbox)
        .where(c.id.in_(bindparam("ids", expanding=True)))
        .where(c.status == PENDING)
        .where(_lease_free(now))
        .values(_lease(worker, now, lease))
        .returning(c.id),
        {"ids": list(row_ids)},
    )
    return set(result.scalars().all())


def claim_run_in(
    conn: Connection, row_ids: Sequence[int], *, worker: str, now: datetime, lease: timedelta
) -> list[int]:
    """Claim the rows of a run, in order, up to the first one another worker holds; the
    rest of what was claimed is given back. Returns the ids of the run kept."""
    claimed = claim_many_in(conn, row_ids, worker=worker, now=now, lease=lease)
    taken: list[int] = []
    for row_id in row_ids:
        if row_id not in claimed:  # another worker took it: the run stops here
            break
        taken.append(row_id)
    release_in(conn, sorted(claimed.difference(taken)))
    return taken


def settle_delivered_in(
    conn: Connection,
    delivered: Sequence[int],
    undelivered: Sequence[int],
    *,
    now: datetime,
    result: dict[str, Any],
) -> None:
    """Rows delivered by one call settled as done; the others of its group given back."""
    if delivered:
        conn.execute(_SETTLE_DONE_MANY, {"ids": list(delivered), "now": now, "result": result})
    release_in(conn, undelivered)


def release_in(conn: Connection, row_ids: Sequence[int]) -> None:
    """Give claimed rows back untouched: the attempt they were part of did not count."""
    if row_ids:
        conn.execute(_RELEASE, {"ids": list(row_ids)})
