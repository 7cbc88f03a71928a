"""How an attempt ends, as plain functions of a synchronous connection: the outbox worker
runs them through `Database.write_batch` (storage/engine.py).

Every one is conditional on the attempt's claim: the row is still pending and still
carries the claim's token. A claim's token changes only when another worker claims the
row (after this one's lease ran out) or an operator frees or cancels it, so the token,
not the clock, says whether this worker may still settle: a lease that ran out but that
nobody took over is still this worker's (no one else can have started an attempt), and
settling it spares the row a second attempt. A worker whose token is gone changes
nothing: the functions report it (False, or the ids still held) and the worker abandons
the row.

Statements are built once, at import (building them cost more CPU than running them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from storage.in_list import in_list
from storage.outbox_table import DEAD, DONE, OUTBOX, PENDING

_c = OUTBOX.c
_FREED = {"claimed_by": None, "claimed_until": None, "claim_token": None}


def _held_rows(*, many: bool) -> Any:
    """UPDATE of rows (one id, or `ids`) still pending under the claim `token`."""
    ids = in_list(_c.id, "ids") if many else _c.id == bindparam("row_id")
    return update(OUTBOX).where(ids, _c.status == PENDING, _c.claim_token == bindparam("token"))


_SETTLE_DONE = _held_rows(many=True).values(
    status=DONE,
    delivered_at=bindparam("now", type_=_c.delivered_at.type),
    result=bindparam("result", type_=_c.result.type),
    outcome_unknown=False,
    last_error=None,
    **_FREED,
)
_RELEASE = _held_rows(many=True).values(attempts=_c.attempts - 1, outcome_unknown=False, **_FREED)


def _retry(*, counted: bool) -> Any:
    values: dict[str, Any] = {
        "last_error": bindparam("error"),
        "next_attempt_at": bindparam("at", type_=_c.next_attempt_at.type),
        "outcome_unknown": bindparam("unknown"),
        **_FREED,
    }
    if not counted:  # waiting (NotReady) does not use up an attempt: same statement
        values["attempts"] = _c.attempts - 1
    return _held_rows(many=False).values(values)


_RETRY = {True: _retry(counted=True), False: _retry(counted=False)}
_DEAD = _held_rows(many=False).values(status=DEAD, last_error=bindparam("error"), **_FREED)
_PROGRESS = _held_rows(many=False).values(progress=bindparam("progress", type_=_c.progress.type))
_RENEW = (
    update(OUTBOX)
    .where(
        in_list(_c.id, "ids"),
        _c.status == PENDING,
        in_list(_c.claim_token, "tokens"),
    )
    .values(claimed_until=bindparam("until", type_=_c.claimed_until.type))
    .returning(_c.id)
)


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def settle_delivered_in(
    conn: Connection,
    delivered: Sequence[int],
    undelivered: Sequence[int],
    *,
    token: str,
    now: datetime,
    result: dict[str, Any],
) -> bool:
    """Rows delivered by one call settled as done; the others of its group given back.
    False when the claim was lost (nothing changed: another worker holds the rows)."""
    if delivered:
        params = {"ids": list(delivered), "token": token, "now": now, "result": result}
        if not _count(conn.execute(_SETTLE_DONE, params)):
            return False
    release_in(conn, undelivered, token=token)
    return True


def release_in(conn: Connection, row_ids: Sequence[int], *, token: str) -> None:
    """Give claimed rows back untouched: the attempt they were part of did not count."""
    if row_ids:
        conn.execute(_RELEASE, {"ids": list(row_ids), "token": token})


def settle_retry_in(
    conn: Connection,
    row_id: int,
    *,
    token: str,
    error: str,
    next_attempt_at: datetime,
    outcome_unknown: bool,
    counted: bool = True,
) -> bool:
    """The attempt failed and the row waits until `next_attempt_at`; an attempt not
    `counted` (only waiting for another row) gives its attempt back."""
    params = {
        "row_id": row_id,
        "token": token,
        "error": error[:2000],
        "at": next_attempt_at,
        "unknown": outcome_unknown,
    }
    return _count(conn.execute(_RETRY[counted], params)) == 1


def settle_dead_in(conn: Connection, row_id: int, *, token: str, error: str) -> bool:
    """No more attempts: the row is dead (False, and nothing changed, if the claim was lost)."""
    params = {"row_id": row_id, "token": token, "error": error[:2000]}
    return _count(conn.execute(_DEAD, params)) == 1


def save_progress_in(
    conn: Connection, row_id: int, *, token: str, progress: dict[str, Any]
) -> bool:
    """A handler's progress within an attempt (False if the claim was lost)."""
    params = {"row_id": row_id, "token": token, "progress": progress}
    return _count(conn.execute(_PROGRESS, params)) == 1


def renew_in(
    conn: Connection, row_ids: Sequence[int], *, tokens: Sequence[str], until: datetime
) -> set[int]:
    """Extend the leases of this worker's claims (`tokens`, over their rows `row_ids`) to
    `until`, in one statement; returns the ids still held."""
    if not row_ids:
        return set()
    params = {"ids": list(row_ids), "tokens": list(tokens), "until": until}
    return set(conn.execute(_RENEW, params).scalars().all())
