"""The App Home's read (one transaction) and its debounced refresh requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, insert, or_, select

from bot.domain.home import HomeIncident, HomeItem, HomePage, HomePostmortem, HomeSnapshot
from bot.domain.incident import Kind, Status
from bot.domain.paging import PageStatus
from bot.domain.postmortem import PostmortemStatus
from storage.models import IncidentRow, OutboxRow
from storage.outbox_table import OUTBOX, PENDING
from storage.paging_models import AbsenceRow, PageRow, RoleAssignmentRow
from storage.postmortem_models import ActionItemRow, PostmortemRow
from storage.session import Repository

_OPEN = [s.value for s in Status if s not in (Status.RESOLVED, Status.CLOSED)]
_UNACKED = [PageStatus.WAITING.value, PageStatus.ESCALATED.value, PageStatus.UNANSWERED.value]
_OWED = [
    PostmortemStatus.REQUESTED.value,
    PostmortemStatus.DRAFT.value,
    PostmortemStatus.CHANGES_REQUESTED.value,
]


class HomeRepository(Repository):
    async def snapshot(
        self, user: str, *, today: date, severities: Sequence[str], limit: int, incidents: int
    ) -> HomeSnapshot:
        """The viewer's Home: open incidents (most severe, then nearest deadline, first),
        their unacknowledged pages, post-mortems they owe and overdue action items."""
        return HomeSnapshot(
            incidents=await self._incidents(severities, incidents),
            incidents_total=await self._count(
                select(func.count()).select_from(IncidentRow).where(*_open_incident())
            ),
            pages=await self._pages(user, limit),
            pages_total=await self._count(
                select(func.count())
                .select_from(PageRow)
                .where(PageRow.person == user, PageRow.status.in_(_UNACKED))
            ),
            postmortems=await self._postmortems(user, limit),
            postmortems_total=await self._count(
                select(func.count())
                .select_from(PostmortemRow)
                .where(PostmortemRow.owner_id == user, PostmortemRow.status.in_(_OWED))
            ),
            items=await self._items(user, today, limit),
            items_total=await self._count(
                select(func.count()).select_from(ActionItemRow).where(*_overdue(user, today))
            ),
            assigned=await self._assigned(user),
            absences={
                str(p): u
                for p, u in (
                    await self.session.execute(select(AbsenceRow.person, AbsenceRow.until))
                )
            },
        )

    async def _count(self, stmt: object) -> int:
        return int((await self.session.execute(stmt)).scalar_one())  # type: ignore[call-overload]

    async def _incidents(self, severities: Sequence[str], limit: int) -> list[HomeIncident]:
        rank = case(
            {key: n for n, key in enumerate(severities)},
            value=IncidentRow.severity,
            else_=len(severities),
        )
        stmt = (
            select(
                IncidentRow.id,
                IncidentRow.title,
                IncidentRow.severity,
                IncidentRow.status,
                IncidentRow.channel_id,
                IncidentRow.declared_at,
                IncidentRow.response_deadline,
            )
            .where(*_open_incident())
            .order_by(rank, IncidentRow.declared_at.desc(), IncidentRow.id.desc())
            .limit(limit)
        )
        return [HomeIncident(*row) for row in await self.session.execute(stmt)]

    async def _pages(self, user: str, limit: int) -> list[HomePage]:
        stmt = (
            select(
                PageRow.id,
                PageRow.incident_id,
                IncidentRow.title,
                PageRow.role,
                PageRow.paged_at,
                PageRow.ack_deadline,
            )
            .join(IncidentRow, IncidentRow.id == PageRow.incident_id)
            .where(PageRow.person == user, PageRow.status.in_(_UNACKED))
            .order_by(PageRow.ack_deadline, PageRow.id)
            .limit(limit)
        )
        return [HomePage(*row) for row in await self.session.execute(stmt)]

    async def _postmortems(self, user: str, limit: int) -> list[HomePostmortem]:
        stmt = (
            select(
                PostmortemRow.incident_id,
                IncidentRow.title,
                PostmortemRow.status,
                PostmortemRow.due_at,
            )
            .join(IncidentRow, IncidentRow.id == PostmortemRow.incident_id)
            .where(PostmortemRow.owner_id == user, PostmortemRow.status.in_(_OWED))
            .order_by(PostmortemRow.due_at, PostmortemRow.id)
            .limit(limit)
        )
        return [HomePostmortem(*row) for row in await self.session.execute(stmt)]

    async def _items(self, user: str, today: date, limit: int) -> list[HomeItem]:
        stmt = (
            select(
                ActionItemRow.id,
                ActionItemRow.incident_id,
                ActionItemRow.text,
                ActionItemRow.due_on,
            )
            .where(*_overdue(user, today))
            .order_by(ActionItemRow.due_on, ActionItemRow.id)
            .limit(limit)
        )
        return [HomeItem(*row) for row in await self.session.execute(stmt)]

    async def _assigned(self, user: str) -> dict[int, list[str]]:
        stmt = (
            select(RoleAssignmentRow.incident_id, RoleAssignmentRow.role)
            .join(IncidentRow, IncidentRow.id == RoleAssignmentRow.incident_id)
            .where(RoleAssignmentRow.person == user, *_open_incident())
            .order_by(RoleAssignmentRow.incident_id, RoleAssignmentRow.role)
        )
        assigned: dict[int, list[str]] = {}
        for incident_id, role in await self.session.execute(stmt):
            assigned.setdefault(int(incident_id), []).append(str(role))
        return assigned

    # --- refreshes ------------------------------------------------------------------

    async def incident_people(self, incident_id: int, limit: int) -> list[str]:
        """Whose Home shows this incident as theirs: its reporter, the people holding a
        role in it and the people paged for it (at most `limit`)."""
        reporter = select(IncidentRow.reporter_id).where(IncidentRow.id == incident_id)
        roles = select(RoleAssignmentRow.person).where(RoleAssignmentRow.incident_id == incident_id)
        paged = select(PageRow.person).where(PageRow.incident_id == incident_id).distinct()
        people: list[str] = []
        for stmt in (reporter, roles, paged.limit(limit)):
            for person in (await self.session.execute(stmt)).scalars():
                if person and person not in people:
                    people.append(str(person))
        return people[:limit]

    async def queue_refresh(
        self, kind: str, key: str, users: Sequence[str], *, now: datetime, due: datetime
    ) -> list[str]:
        """Queue a refresh (`kind`, on ordering key `key`, sent at `due`) for each of
        `users` who has none waiting: a refresh not yet being sent will show the newest
        state anyway. Returns the users queued."""
        if not users:
            return []
        user = OutboxRow.payload["user"].as_string()
        stmt = select(user).where(
            OutboxRow.ordering_key == key,
            OutboxRow.kind == kind,
            OutboxRow.status == PENDING,
            user.in_(list(users)),
            or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
        )
        waiting = set((await self.session.execute(stmt)).scalars())
        fresh = [u for u in dict.fromkeys(users) if u not in waiting]
        if fresh:
            rows = [_refresh_row(kind, key, u, now, due) for u in fresh]
            await self.session.execute(insert(OUTBOX), rows)
        return fresh


def _refresh_row(kind: str, key: str, user: str, now: datetime, due: datetime) -> dict[str, Any]:
    return {
        "kind": kind,
        "ordering_key": key,
        "payload": {"user": user},
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": now,
        "incident_id": None,
        "progress": {},
        "result": {},
        "outcome_unknown": False,
    }


def _open_incident() -> tuple[ColumnElement[bool], ...]:
    return (IncidentRow.kind == Kind.INCIDENT.value, IncidentRow.status.in_(_OPEN))


def _overdue(user: str, today: date) -> tuple[ColumnElement[bool], ...]:
    return (
        ActionItemRow.owner_id == user,
        ActionItemRow.status == "open",
        ActionItemRow.due_on < today,
    )
