"""The durable outbox: queries for enqueueing, claiming and settling Slack side effects.

Ordering: rows share an `ordering_key` (one per Slack channel or conversation); only the
oldest pending row of a key may be delivered, so a channel hears things in the order they
were stored. `OutboxRepository` is every outbox query on one session: enqueueing here,
the worker's claims and settlements in storage/outbox_claims.py, the operators' listing
and counts in storage/outbox_admin.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from storage.models import OutboxRow
from storage.outbox_admin import OutboxAdminQueries, OutboxStats
from storage.outbox_claims import ClaimedRow, OutboxDeliveryQueries, ReadyHead
from storage.outbox_table import CANCELLED, DEAD, DONE, OUTBOX, PENDING
from storage.raw import RawInsert

__all__ = [
    "CANCELLED",
    "NEW_ROW_COLUMNS",
    "DEAD",
    "DONE",
    "PENDING",
    "ClaimedRow",
    "OutboxRepository",
    "OutboxStats",
    "Queued",
    "ReadyHead",
    "enqueue_rows",
    "new_row",
]

_INSERT = insert(OUTBOX)
# The columns a new row sets (`new_row`); the others take their defaults.
NEW_ROW_COLUMNS = (
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
)
_RAW_INSERT = RawInsert(OUTBOX, NEW_ROW_COLUMNS)


@dataclass(frozen=True)
class Queued:
    """A row `enqueue` stored: its id, for a caller that reports it."""

    id: int


class OutboxRepository(OutboxDeliveryQueries, OutboxAdminQueries):
    """Every outbox query, on one session."""

    async def enqueue(
        self,
        kind: str,
        ordering_key: str,
        payload: dict[str, Any],
        *,
        now: datetime,
        incident_id: int | None = None,
    ) -> Queued:
        row = OutboxRow(**new_row(kind, ordering_key, payload, incident_id, now))
        self.session.add(row)
        await self.session.flush()
        return Queued(row.id)

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
        new_row(kind, key, payload, incident_id, now) for kind, key, payload, incident_id in effects
    ]


def new_row(
    kind: str, key: str, payload: dict[str, Any], incident_id: int | None, now: datetime
) -> dict[str, Any]:
    """A new row's columns: pending, due now, never tried."""
    return {
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
