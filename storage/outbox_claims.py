"""The outbox worker's queries: ready heads, claims (leases), and settlements.

Claims are leases (`claimed_by`, `claimed_until`) taken with a conditional UPDATE, which
works the same on SQLite and on PostgreSQL shared by several replicas. The worker's hot
statements are built once, at import: building them cost more CPU than running them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Select,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from storage.models import OutboxRow
from storage.outbox_table import DEAD, DONE, OUTBOX, PENDING, OutboxQueries
from storage.slices import READ_SLICE, between_slices

_FOLLOWING = (
    select(
        OUTBOX.c.id,
        OUTBOX.c.kind,
        OUTBOX.c.ordering_key,
        OUTBOX.c.payload,
        OUTBOX.c.attempts,
        OUTBOX.c.progress,
        OUTBOX.c.incident_id,
        OUTBOX.c.next_attempt_at,
    )
    .where(OUTBOX.c.ordering_key == bindparam("key"))
    .where(OUTBOX.c.status == PENDING)
    .where(OUTBOX.c.id > bindparam("after"))
    .order_by(OUTBOX.c.id)
    .limit(bindparam("limit"))
)


_SETTLE_DONE_MANY = (
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=DONE,
        delivered_at=bindparam("now", type_=OUTBOX.c.delivered_at.type),
        result=bindparam("result", type_=OUTBOX.c.result.type),
        claimed_by=None,
        claimed_until=None,
        outcome_unknown=False,
        last_error=None,
    )
)
_RELEASE = (
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .where(OUTBOX.c.status == PENDING)
    .values(
        claimed_by=None,
        claimed_until=None,
        attempts=OUTBOX.c.attempts - 1,
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
    c = OUTBOX.c
    return or_(c.claimed_until.is_(None), c.claimed_until < now)


def _lease(worker: str, now: datetime, lease: timedelta) -> dict[str, Any]:
    """What a claim writes: the holder, its lease, one more attempt, outcome unknown
    until the attempt settles."""
    return {
        "claimed_by": worker,
        "claimed_until": now + lease,
        "attempts": OUTBOX.c.attempts + 1,
        "outcome_unknown": True,
    }


@dataclass(frozen=True)
class ReadyHead:
    """The oldest pending row of an ordering key, due and not leased, as a pass read it."""

    id: int
    kind: str
    ordering_key: str
    attempts: int  # before the attempt about to be claimed
    outcome_unknown: bool


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


class OutboxDeliveryQueries(OutboxQueries):
    """Reading what is ready, claiming it, and settling each attempt."""

    async def ready_heads(self, now: datetime, limit: int) -> list[ReadyHead]:
        """The oldest pending row of each ordering key, if due and not leased."""
        rows = (await self.session.execute(_ready_heads(limit), {"now": now})).scalars()
        return [
            ReadyHead(row.id, row.kind, row.ordering_key, row.attempts, row.outcome_unknown)
            for row in rows
        ]

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
    c = OUTBOX.c
    row = conn.execute(
        update(OUTBOX)
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
    c = OUTBOX.c
    result = conn.execute(
        update(OUTBOX)
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
