"""Post-mortems and their action items: their queries, and the records services see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select

from bot.domain.digest import ActionItemFacts
from bot.domain.postmortem import ActionItem, PostmortemStatus
from storage.paging_models import PageRow
from storage.postmortem_models import ActionItemRow, PostmortemRow
from storage.rows import added, changed, from_row, held
from storage.session import Repository


@dataclass(frozen=True)
class Postmortem:
    id: int
    incident_id: int
    status: PostmortemStatus
    owner_id: str
    due_at: datetime
    resolution_summary: str
    root_cause: str
    impact: str
    assessments: dict[str, Any]
    items: list[dict[str, Any]]
    submitted_by: str | None
    decided_by: str | None
    decision_note: str | None


@dataclass(frozen=True)
class PostmortemState:
    """What a change reads first, under the post-mortem's row lock: which one it is, for
    which incident, whose, and where it stands."""

    id: int
    incident_id: int
    status: PostmortemStatus
    owner_id: str


def postmortem_from_row(row: PostmortemRow, items: Sequence[ActionItemRow]) -> Postmortem:
    return from_row(
        Postmortem,
        row,
        status=PostmortemStatus(row.status),
        assessments=dict(row.assessments or {}),
        items=[
            {
                "id": i.id,
                "text": i.text,
                "owner": i.owner_id,
                "due_on": i.due_on.isoformat(),
                "status": i.status,
            }
            for i in items
        ],
    )


def _state(row: PostmortemRow) -> PostmortemState:
    return from_row(PostmortemState, row, status=PostmortemStatus(row.status))


class PostmortemRepository(Repository):
    # --- post-mortems ---------------------------------------------------------------

    async def get(self, postmortem_id: int) -> Postmortem | None:
        """The post-mortem with its action items; as this transaction has changed it, when
        it has (its row is then read from the session, with no statement)."""
        row = await self.session.get(PostmortemRow, postmortem_id)
        return postmortem_from_row(row, await self._items(row.id)) if row else None

    async def for_incident(self, incident_id: int) -> Postmortem | None:
        row = (await self.session.execute(_by_incident(incident_id))).scalar_one_or_none()
        return postmortem_from_row(row, await self._items(row.id)) if row else None

    async def lock(self, postmortem_id: int) -> PostmortemState | None:
        """Lock the post-mortem's row for this transaction."""
        stmt = select(PostmortemRow).where(PostmortemRow.id == postmortem_id).with_for_update()
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return _state(held(self.session, row)) if row else None

    async def lock_for_incident(self, incident_id: int) -> PostmortemState | None:
        """Lock the incident's post-mortem row, if it has one, for this transaction."""
        stmt = _by_incident(incident_id).with_for_update()
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return _state(held(self.session, row)) if row else None

    async def add(self, **values: Any) -> PostmortemState:
        """Store a new post-mortem (`values`: its columns); returned with its id."""
        return _state(await added(self.session, PostmortemRow(**values)))

    async def update(self, postmortem_id: int, **values: Any) -> None:
        """Change columns of a post-mortem this transaction has locked (`lock`), with no
        statement of its own (`rows.changed`)."""
        await changed(self.session, PostmortemRow, postmortem_id, values)

    # --- action items ---------------------------------------------------------------

    async def replace_open_items(
        self, postmortem_id: int, incident_id: int, items: Sequence[ActionItem], *, now: datetime
    ) -> None:
        """A re-saved post-mortem's action items replace the open ones; done ones stay."""
        await self.session.execute(
            delete(ActionItemRow)
            .where(ActionItemRow.postmortem_id == postmortem_id)
            .where(ActionItemRow.status == "open")
        )
        self.session.add_all(
            ActionItemRow(
                postmortem_id=postmortem_id,
                incident_id=incident_id,
                text=i.text,
                owner_id=i.owner,
                due_on=i.due_on,
                status="open",
                created_at=now,
            )
            for i in items
        )
        await self.session.flush()

    async def item(self, item_id: int, *, lock: bool = False) -> ActionItemFacts | None:
        stmt = select(ActionItemRow).where(ActionItemRow.id == item_id)
        if lock:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        if row is not None and lock:
            held(self.session, row)  # for update_item
        return from_row(ActionItemFacts, row) if row else None

    async def update_item(self, item_id: int, **values: Any) -> None:
        """Change columns of an action item this transaction has locked (`item`)."""
        await changed(self.session, ActionItemRow, item_id, values)

    async def open_items(
        self, *, owner: str | None = None, due_before: date | None = None, limit: int = 200
    ) -> list[ActionItemFacts]:
        stmt = select(ActionItemRow).where(ActionItemRow.status == "open")
        if owner is not None:
            stmt = stmt.where(ActionItemRow.owner_id == owner)
        if due_before is not None:
            stmt = stmt.where(ActionItemRow.due_on < due_before)
        stmt = stmt.order_by(ActionItemRow.due_on, ActionItemRow.id).limit(limit)
        return [from_row(ActionItemFacts, r) for r in (await self.session.execute(stmt)).scalars()]

    async def _items(self, postmortem_id: int) -> Sequence[ActionItemRow]:
        stmt = (
            select(ActionItemRow)
            .where(ActionItemRow.postmortem_id == postmortem_id)
            .order_by(ActionItemRow.id)
        )
        return (await self.session.execute(stmt)).scalars().all()

    # --- the record's facts ---------------------------------------------------------

    async def page_counts(self, incident_id: int) -> tuple[int, int]:
        """(pages sent, of which escalations) for an incident."""
        total, escalations = (
            await self.session.execute(
                select(
                    func.count(PageRow.id), func.count(PageRow.id).filter(PageRow.step > 0)
                ).where(PageRow.incident_id == incident_id)
            )
        ).one()
        return int(total or 0), int(escalations or 0)


def _by_incident(incident_id: int) -> Any:
    return select(PostmortemRow).where(PostmortemRow.incident_id == incident_id)
