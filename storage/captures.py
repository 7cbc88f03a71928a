"""Capture requests: messages to add to (or take off) a timeline, stored before Slack is
answered, completed by the capture worker (bot/services/captures.py).

An Events API delivery that makes a request is recorded (`slack_events`) in the same
transaction as the request: a delivery whose handling failed leaves no mark, so Slack's
retry is handled; one that was handled is not handled twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CaptureRequestRow, SlackEventRow, TimelineEntryRow
from storage.rows import count_and_oldest

_req = cast(Table, CaptureRequestRow.__table__)
_entries = cast(Table, TimelineEntryRow.__table__)
_events = cast(Table, SlackEventRow.__table__)

ADD = "add"
WITHDRAW = "withdraw"
PENDING = "pending"  # the worker completes it
FORM = "form"  # waiting for the person to choose the incident in the capture form


@dataclass(frozen=True)
class CaptureRequest:
    key: str
    action: str
    via: str
    channel_id: str
    message_ts: str
    user_id: str
    permalink: str
    requested_at: datetime
    incident_id: int | None = None
    team_id: str | None = None
    asked_in: str | None = None  # the channel the person acted in (None: a form)
    text: str | None = None  # None: fetch the message from Slack
    author: str | None = None
    state: str = PENDING
    attempts: int = 0
    id: int = 0


_COLUMNS = tuple(f for f in CaptureRequest.__dataclass_fields__ if f != "id")


async def add(
    session: AsyncSession, request: CaptureRequest, *, event_id: str | None = None
) -> bool:
    """Store `request` (and, with `event_id`, that Events API delivery) in the session's
    transaction; False, nothing stored, when the event or the request key was stored
    before (Slack's retry of a handled event, a double click)."""
    conn = await session.connection()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    if event_id is not None:
        # ON CONFLICT rather than a savepoint: on SQLite, releasing a savepoint opened
        # outside a transaction commits it, and the event would be marked on its own.
        event = {"event_id": event_id, "received_at": request.requested_at}
        stmt = insert(_events).values(event).on_conflict_do_nothing(index_elements=["event_id"])
        if not (await conn.execute(stmt)).rowcount:
            return False
    values = {k: v for k, v in asdict(request).items() if k in _COLUMNS}
    values["request_key"] = values.pop("key")
    values["next_attempt_at"] = request.requested_at
    stmt = insert(_req).values(values).on_conflict_do_nothing(index_elements=["request_key"])
    return bool((await conn.execute(stmt)).rowcount)


def _request(r: object) -> CaptureRequest:
    row = r._mapping  # type: ignore[attr-defined]
    values = {k: row[k] for k in _COLUMNS if k != "key"}
    return CaptureRequest(key=row["request_key"], id=row["id"], **values)


async def by_key(session: AsyncSession, key: str) -> CaptureRequest | None:
    conn = await session.connection()
    found = (await conn.execute(select(_req).where(_req.c.request_key == key))).first()
    return _request(found) if found is not None else None


async def choose(
    session: AsyncSession, key: str, *, incident_id: int, user_id: str, now: datetime
) -> bool:
    """The person chose the incident in the capture form: the request goes to the worker.
    False when there is no such form request of theirs (expired, or already chosen)."""
    conn = await session.connection()
    mine = (_req.c.request_key == key, _req.c.user_id == user_id)
    result = await conn.execute(
        update(_req)
        .where(*mine, _req.c.state == FORM)
        .values(incident_id=incident_id, state=PENDING, next_attempt_at=now)
    )
    if result.rowcount:
        return True
    # Slack's retry of a submission whose answer was lost: the same choice, still queued.
    again = select(_req.c.id).where(*mine, _req.c.incident_id == incident_id)
    return (await conn.execute(again)).first() is not None


async def forget_form(session: AsyncSession, key: str) -> None:
    conn = await session.connection()
    await conn.execute(delete(_req).where(_req.c.request_key == key, _req.c.state == FORM))


async def forget_forms_before(session: AsyncSession, cutoff: datetime) -> int:
    """Forms never submitted (closed, or left open) are forgotten after a while."""
    conn = await session.connection()
    result = await conn.execute(
        delete(_req).where(_req.c.state == FORM, _req.c.requested_at < cutoff)
    )
    return int(result.rowcount or 0)


async def due(session: AsyncSession, now: datetime, limit: int) -> list[CaptureRequest]:
    """Pending requests due now and claimed by no live worker, oldest first."""
    conn = await session.connection()
    rows = await conn.execute(
        select(_req)
        .where(
            _req.c.state == PENDING,
            _req.c.next_attempt_at <= now,
            or_(_req.c.claimed_until.is_(None), _req.c.claimed_until < now),
        )
        .order_by(_req.c.id)
        .limit(limit)
    )
    return [_request(r) for r in rows]


async def claim(session: AsyncSession, request_id: int, *, now: datetime, until: datetime) -> bool:
    """Take one request for `until` (another replica's claim still live: False)."""
    conn = await session.connection()
    result = await conn.execute(
        update(_req)
        .where(
            _req.c.id == request_id,
            _req.c.state == PENDING,
            or_(_req.c.claimed_until.is_(None), _req.c.claimed_until < now),
        )
        .values(claimed_until=until)
    )
    return bool(result.rowcount)


async def retry_at(
    session: AsyncSession, request_id: int, *, attempts: int, at: datetime, error: str
) -> None:
    conn = await session.connection()
    await conn.execute(
        update(_req)
        .where(_req.c.id == request_id)
        .values(attempts=attempts, next_attempt_at=at, last_error=error, claimed_until=None)
    )


def take(conn: Connection, request_id: int) -> bool:
    """Delete a request inside the transaction that completes it (`Database.write_batch`):
    False when it is gone already (completed by another replica)."""
    return bool(conn.execute(delete(_req).where(_req.c.id == request_id)).rowcount)


def cancel_adds(conn: Connection, request: CaptureRequest) -> int:
    """A reaction removed before its capture was completed: the capture requests for the
    same message and incident queued before this one are dropped."""
    result = conn.execute(
        delete(_req).where(
            and_(
                _req.c.action == ADD,
                _req.c.id < request.id,
                _req.c.incident_id == request.incident_id,
                _req.c.channel_id == request.channel_id,
                _req.c.message_ts == request.message_ts,
            )
        )
    )
    return int(result.rowcount or 0)


async def stats(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many requests wait for the worker, and when the oldest was made."""
    return await count_and_oldest(session, _req.c.requested_at, _req.c.state == PENDING)


def captured_seq(conn: Connection, source_key: str) -> int | None:
    """The seq of the entry recorded under `source_key` (a capture), if any."""
    found = conn.execute(select(_entries.c.seq).where(_entries.c.source_key == source_key))
    return found.scalar_one_or_none()
