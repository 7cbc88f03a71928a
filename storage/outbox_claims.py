"""The outbox worker's queries: ready heads and claims (leases); settling is in
storage/outbox_settle.py.

Claims are leases (`claimed_by`, `claim_token`, `claimed_until`) taken with a conditional
UPDATE, which works the same on SQLite and on PostgreSQL shared by several replicas.
Every claim writes a new token; settling checks it. The worker's hot
statements are built once, at import: building them cost more CPU than running them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Select,
    bindparam,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from storage.in_list import in_list
from storage.models import OutboxRow
from storage.outbox_settle import release_in
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


@functools.cache
def _ready_heads(limit: int, paced: tuple[str, ...] = ()) -> Select[OutboxRow]:
    """Built once per limit and paced kinds: constructing it (aliased entities, correlated
    subqueries) cost more CPU than running it, on every pass of the worker.

    A head of a paced kind is ready only once its key's last delivered row of that kind
    was settled at or before `since_<n>` (now minus the kind's interval): the pace lives
    in the outbox itself, so every replica sees it. The claim of a key's head serialises
    its deliveries, and a row's status and `delivered_at` change in one statement, so a
    read that finds the next head ready also finds when the one before it went."""
    earlier = aliased(OutboxRow)
    blocked = (
        select(earlier.id)
        .where(earlier.ordering_key == OutboxRow.ordering_key)
        .where(earlier.status == PENDING)
        .where(earlier.id < OutboxRow.id)
        .exists()
    )
    now: BindParameter[datetime] = bindparam("now")
    stmt = (
        select(OutboxRow)
        .where(OutboxRow.status == PENDING)
        .where(OutboxRow.next_attempt_at <= now)
        .where(or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now))
        .where(~blocked)
    )
    for n, kind in enumerate(paced):
        stmt = stmt.where(or_(OutboxRow.kind != kind, ~_paced_since(f"since_{n}")))
    return stmt.order_by(OutboxRow.id).limit(limit)


def _paced_since(param: str) -> ColumnElement[bool]:
    """The head's key delivered a row of the head's kind after `param`: its last one, read
    backwards on the (ordering_key, status, id) index."""
    done = aliased(OutboxRow)
    last = (
        select(done.delivered_at)
        .where(done.ordering_key == OutboxRow.ordering_key)
        .where(done.status == DONE)
        .where(done.kind == OutboxRow.kind)
        .order_by(done.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    since = bindparam(param, type_=OUTBOX.c.delivered_at.type)
    return func.coalesce(last > since, false())


def _lease_free(now: datetime) -> ColumnElement[bool]:
    """Nobody holds the row, or its holder's lease has run out."""
    c = OUTBOX.c
    return or_(c.claimed_until.is_(None), c.claimed_until < now)


def _lease(worker: str, token: str, now: datetime, lease: timedelta) -> dict[str, Any]:
    """What a claim writes: the holder, its token, its lease, one more attempt, outcome
    unknown until the attempt settles."""
    return {
        "claimed_by": worker,
        "claim_token": token,
        "claimed_until": now + lease,
        "attempts": OUTBOX.c.attempts + 1,
        "outcome_unknown": True,
    }


def new_token() -> str:
    """A claim token for a claim made outside the worker (operators, tests)."""
    return uuid.uuid4().hex


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
    token: str  # the claim's: what settling it must still find on the row


class OutboxDeliveryQueries(OutboxQueries):
    """Reading what is ready and claiming it (the worker settles through
    storage/outbox_settle.py); `settle_dead` for operators and tests."""

    async def ready_heads(
        self, now: datetime, limit: int, paced: Mapping[str, timedelta] | None = None
    ) -> list[ReadyHead]:
        """The oldest pending row of each ordering key, if due and not leased, and for a
        kind in `paced`, if its key delivered none of that kind within its interval."""
        kinds = tuple(sorted(paced or {}))
        params: dict[str, Any] = {"now": now}
        for n, kind in enumerate(kinds):
            params[f"since_{n}"] = now - (paced or {})[kind]
        rows = (await self.session.execute(_ready_heads(limit, kinds), params)).scalars()
        return [
            ReadyHead(row.id, row.kind, row.ordering_key, row.attempts, row.outcome_unknown)
            for row in rows
        ]

    async def claim_head(
        self,
        row_id: int,
        *,
        seen_attempts: int,
        worker: str,
        now: datetime,
        lease: timedelta,
        token: str | None = None,
    ) -> ClaimedRow | None:
        """Claim a row read by `ready_heads` (see `claim_head_in`)."""
        conn = await self.session.connection()
        return await conn.run_sync(
            claim_head_in,
            row_id,
            seen_attempts=seen_attempts,
            worker=worker,
            token=token or new_token(),
            now=now,
            lease=lease,
        )

    async def claim(
        self,
        row_id: int,
        *,
        worker: str,
        now: datetime,
        lease: timedelta,
        token: str | None = None,
    ) -> bool:
        conn = await self.session.connection()
        claimed = await conn.run_sync(
            claim_many_in, [row_id], worker=worker, token=token or new_token(), now=now, lease=lease
        )
        return row_id in claimed

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

    async def settle_dead(self, row_id: int, *, error: str) -> None:
        """An operator's (or a test's) verdict, whoever holds the row."""
        await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .values(
                status=DEAD,
                last_error=error[:2000],
                claimed_by=None,
                claimed_until=None,
                claim_token=None,
            )
        )


# Claims as plain functions of a synchronous connection: the outbox worker runs them
# through `Database.write_batch` (on SQLite, one hand-off to a thread instead of a
# transaction that holds the writer across several event-loop turns while requests wait
# for it); the repository's methods run the same through `run_sync`.


def claim_head_in(
    conn: Connection,
    row_id: int,
    *,
    seen_attempts: int,
    worker: str,
    token: str,
    now: datetime,
    lease: timedelta,
) -> ClaimedRow | None:
    """Claim a row read by `ready_heads`, in one statement that returns what the attempt
    needs; None when it changed since (another worker tried it meanwhile: its attempts
    moved), is taken or settled, or is no longer due: a holder whose lease had run out
    when the row was read may still settle it with a back-off (a `Retry-After`) before
    this claim, without moving its attempts."""
    c = OUTBOX.c
    row = conn.execute(
        update(OUTBOX)
        .where(c.id == row_id)
        .where(c.status == PENDING)
        .where(c.attempts == seen_attempts)
        .where(c.next_attempt_at <= now)
        .where(_lease_free(now))
        .values(_lease(worker, token, now, lease))
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
        token=token,
    )


def claim_many_in(
    conn: Connection,
    row_ids: Sequence[int],
    *,
    worker: str,
    token: str,
    now: datetime,
    lease: timedelta,
) -> set[int]:
    """Claim several rows in one statement, under one token; returns the ids this worker
    now holds."""
    if not row_ids:
        return set()
    # Core, with the ids as one expanding parameter: a storm's echo claims hundreds of
    # rows, and the ORM's bulk-update path cost milliseconds of the event loop.
    c = OUTBOX.c
    result = conn.execute(
        update(OUTBOX)
        .where(in_list(c.id, "ids"))
        .where(c.status == PENDING)
        .where(_lease_free(now))
        .values(_lease(worker, token, now, lease))
        .returning(c.id),
        {"ids": list(row_ids)},
    )
    return set(result.scalars().all())


def claim_run_in(
    conn: Connection,
    row_ids: Sequence[int],
    *,
    worker: str,
    token: str,
    now: datetime,
    lease: timedelta,
) -> list[int]:
    """Claim the rows of a run, in order, up to the first one another worker holds, under
    the head's token (they settle with it); the rest of what was claimed is given back.
    Returns the ids of the run kept."""
    claimed = claim_many_in(conn, row_ids, worker=worker, token=token, now=now, lease=lease)
    taken: list[int] = []
    for row_id in row_ids:
        if row_id not in claimed:  # another worker took it: the run stops here
            break
        taken.append(row_id)
    release_in(conn, sorted(claimed.difference(taken)), token=token)
    return taken
