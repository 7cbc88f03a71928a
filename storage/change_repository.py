"""Emergency changes (CHG): their queries, and the record services see of one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.domain.changes import ChangeStatus, change_reference
from storage.models import ChangeRow
from storage.rows import added, changed, from_row, held
from storage.session import Repository


@dataclass(frozen=True)
class Change:
    id: int
    incident_id: int
    summary: str
    plan: str
    rollback_plan: str
    risk: str
    checklist: dict[str, Any]
    status: ChangeStatus
    proposed_by: str
    proposed_at: datetime
    steps: dict[str, Any]
    message_channel_id: str | None
    message_ts: str | None

    @property
    def ref(self) -> str:
        return change_reference(self.id)


def change_from_row(row: ChangeRow) -> Change:
    return from_row(
        Change,
        row,
        checklist=dict(row.checklist or {}),
        status=ChangeStatus(row.status),
        steps=dict(row.steps or {}),
    )


class ChangeRepository(Repository):
    async def add(self, **values: Any) -> Change:
        """Store a proposed change (`values`: its columns); returned with its id."""
        return change_from_row(await added(self.session, ChangeRow(**values)))

    async def get(self, change_id: int, *, lock: bool = False) -> Change | None:
        row = await self.session.get(ChangeRow, change_id, with_for_update=lock)
        if row is not None and lock:
            held(self.session, row)
        return change_from_row(row) if row is not None else None

    async def update(self, change_id: int, **values: Any) -> Change:
        """Change columns of a change this transaction has read (`get`), with no
        statement of its own (`rows.changed`); returns it as it is now."""
        return change_from_row(await changed(self.session, ChangeRow, change_id, values))

    async def by_propose_key(self, key: str) -> Change | None:
        """The change a modal's submission proposed, if it was already stored."""
        stmt = select(ChangeRow).where(ChangeRow.propose_key == key)
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return change_from_row(row) if row is not None else None

    async def for_incident(self, incident_id: int) -> list[Change]:
        stmt = select(ChangeRow).where(ChangeRow.incident_id == incident_id).order_by(ChangeRow.id)
        return [change_from_row(r) for r in (await self.session.execute(stmt)).scalars()]
