"""The transaction types services pass around, owned by storage.

Services hand an open transaction to a repository or to another service without naming
SQLAlchemy: `Session` is the unit of work `Database.session()` yields (an ORM session in
a transaction), `Connection` the one `Database.write_batch(work)` gives `work` (a
synchronous Core connection in a transaction). Both are aliases, so storage code and
tests that already hold SQLAlchemy's objects keep passing them as they are.
"""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy import Connection as _Connection
from sqlalchemy.ext.asyncio import AsyncSession

Session: TypeAlias = AsyncSession
Connection: TypeAlias = _Connection


class Repository:
    """Queries over one open transaction: a repository lives as long as the block that
    opened its session, and never commits (the session's owner does)."""

    def __init__(self, session: Session) -> None:
        self.session = session


__all__ = ["Connection", "Repository", "Session"]
