"""The outbox table as Core sees it, and the statuses of its rows: shared by the
outbox's enqueueing (storage/outbox.py), its claims (storage/outbox_claims.py) and its
operators' queries (storage/outbox_admin.py)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from storage.models import OutboxRow
from storage.session import Repository

PENDING, DONE, DEAD, CANCELLED = "pending", "done", "dead", "cancelled"

OUTBOX = cast(Table, OutboxRow.__table__)


class OutboxQueries(Repository):
    """A group of the outbox's queries; `OutboxRepository` is all of them on one session."""
