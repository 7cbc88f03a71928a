"""Paging queries: pages and their deadlines, paging state, assignments, absences, breaches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from bot.domain.incident import OPEN_STATUSES, Incident, Kind
from bot.domain.paging import Page, PageKind, PageStatus
from storage.models import IncidentRow
from storage.paging_models import (
    AbsenceRow,
    BreachRow,
    PageRow,
    PagingStateRow,
    RoleAssignmentRow,
)
from storage.repositories import incident_from_row
from storage.rows import added, from_row, held
from storage.session import Repository

_OPEN = list(OPEN_STATUSES)


def page_from_row(row: PageRow) -> Page:
    return from_row(Page, row, kind=PageKind(row.kind), status=PageStatus(row.status))


class PagingRepository(Repository):
    # --- incidents ------------------------------------------------------------------

    async def lock_incident(self, incident_id: int) -> Incident | None:
        """The incident row, locked for this transaction; None if another process holds it.

        PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent ticks share the work instead of
        queueing; whoever skips finds the work done on its next tick. SQLite ignores the
        clause (its single writer already serialises us).
        """
        stmt = (
            select(IncidentRow)
            .where(IncidentRow.id == incident_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return incident_from_row(held(self.session, row)) if row is not None else None

    async def incidents_to_page(self, limit: int = 100) -> list[int]:
        """Open incidents whose current severity's roles have not been paged yet."""
        stmt = (
            select(IncidentRow.id)
            .outerjoin(PagingStateRow, PagingStateRow.incident_id == IncidentRow.id)
            .where(IncidentRow.kind == Kind.INCIDENT.value)
            .where(IncidentRow.status.in_(_OPEN))
            .where(
                or_(
                    PagingStateRow.incident_id.is_(None),
                    PagingStateRow.severity != IncidentRow.severity,
                )
            )
            .order_by(IncidentRow.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def paged_severity(self, incident_id: int) -> str | None:
        row = await self.session.get(PagingStateRow, incident_id, populate_existing=True)
        return row.severity if row is not None else None

    async def mark_paged(self, incident_id: int, severity: str, now: datetime) -> None:
        row = await self.session.get(PagingStateRow, incident_id)
        if row is None:
            self.session.add(
                PagingStateRow(incident_id=incident_id, severity=severity, updated_at=now)
            )
        else:
            row.severity, row.updated_at = severity, now
        await self.session.flush()

    async def breach_candidates(self, now: datetime, limit: int = 100) -> list[int]:
        """Open incidents past their response deadline, unacknowledged, with no breach yet."""
        stmt = (
            select(IncidentRow.id)
            .outerjoin(BreachRow, BreachRow.incident_id == IncidentRow.id)
            .where(IncidentRow.kind == Kind.INCIDENT.value)
            .where(IncidentRow.status.in_(_OPEN))
            .where(IncidentRow.response_deadline <= now)
            .where(IncidentRow.acknowledged_at.is_(None))
            .where(BreachRow.incident_id.is_(None))
            .order_by(IncidentRow.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def has_breach(self, incident_id: int) -> bool:
        return await self.session.get(BreachRow, incident_id, populate_existing=True) is not None

    async def add_breach(
        self, incident_id: int, severity: str, deadline: datetime, now: datetime
    ) -> None:
        """Record that the incident's response deadline passed unacknowledged."""
        breach = BreachRow(
            incident_id=incident_id, severity=severity, deadline=deadline, recorded_at=now
        )
        await added(self.session, breach)

    async def count_breaches(self, since: datetime, until: datetime) -> int:
        """Breaches recorded in [since, until): for the weekly digest."""
        stmt = select(func.count()).where(
            BreachRow.recorded_at >= since, BreachRow.recorded_at < until
        )
        return int((await self.session.execute(stmt)).scalar_one())

    # --- pages ----------------------------------------------------------------------

    async def add_page(self, **values: Any) -> Page:
        """Store a page (`values`: its columns); returned with its id."""
        return page_from_row(await added(self.session, PageRow(**values)))

    async def page(self, page_id: int) -> Page | None:
        """The page as stored now (re-read, not as this transaction first saw it)."""
        row = await self.session.get(PageRow, page_id, populate_existing=True)
        return page_from_row(row) if row is not None else None

    async def pages(self, incident_id: int, chain: str | None = None) -> list[Page]:
        stmt = select(PageRow).where(PageRow.incident_id == incident_id)
        if chain is not None:
            stmt = stmt.where(PageRow.chain == chain)
        stmt = stmt.order_by(PageRow.chain, PageRow.step).execution_options(populate_existing=True)
        return [page_from_row(r) for r in (await self.session.execute(stmt)).scalars()]

    async def due_pages(self, now: datetime, limit: int = 100) -> list[tuple[int, int]]:
        """(page id, incident id) of automatic pages past their deadline, still waiting."""
        stmt = (
            select(PageRow.id, PageRow.incident_id)
            .where(PageRow.status == PageStatus.WAITING.value)
            .where(PageRow.kind == PageKind.AUTO.value)
            .where(PageRow.ack_deadline <= now)
            .order_by(PageRow.ack_deadline, PageRow.id)
            .limit(limit)
        )
        return [(int(a), int(b)) for a, b in (await self.session.execute(stmt)).all()]

    async def transition(
        self, page_id: int, old: PageStatus, new: PageStatus, **values: Any
    ) -> bool:
        """Move a page from `old` to `new` only if it is still `old`: the claim that lets
        exactly one process act on a deadline."""
        result = await self.session.execute(
            update(PageRow)
            .where(PageRow.id == page_id, PageRow.status == old.value)
            .values(status=new.value, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def set_page(self, page_id: int, **values: Any) -> None:
        await self.session.execute(
            update(PageRow)
            .where(PageRow.id == page_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    # --- assignments and absences ---------------------------------------------------

    async def assignments(self, incident_id: int) -> dict[str, str]:
        stmt = select(RoleAssignmentRow.role, RoleAssignmentRow.person).where(
            RoleAssignmentRow.incident_id == incident_id
        )
        return {str(role): str(person) for role, person in (await self.session.execute(stmt)).all()}

    async def assign(
        self, incident_id: int, role: str, person: str, by: str, now: datetime
    ) -> None:
        row = await self.session.get(RoleAssignmentRow, (incident_id, role))
        if row is None:
            self.session.add(
                RoleAssignmentRow(
                    incident_id=incident_id,
                    role=role,
                    person=person,
                    assigned_by=by,
                    assigned_at=now,
                )
            )
        else:
            row.person, row.assigned_by, row.assigned_at = person, by, now
        await self.session.flush()

    async def absences(self) -> dict[str, datetime]:
        rows = (await self.session.execute(select(AbsenceRow.person, AbsenceRow.until))).all()
        return {str(person): until for person, until in rows}

    async def set_absence(self, person: str, until: datetime | None, now: datetime) -> None:
        await self.session.execute(delete(AbsenceRow).where(AbsenceRow.person == person))
        if until is not None:
            self.session.add(AbsenceRow(person=person, until=until, set_at=now))
        # Others' absences that ran out are left to `end_absences` (the paging tick),
        # which brings up to date what showed them.
        await self.session.flush()

    async def end_absences(self, now: datetime) -> list[str]:
        """End the absences whose `until` has passed: their rows deleted, the people
        returned. One statement, so two ticks on one database end each absence once
        (the second finds it gone)."""
        stmt = delete(AbsenceRow).where(AbsenceRow.until <= now).returning(AbsenceRow.person)
        return sorted(str(p) for p in (await self.session.execute(stmt)).scalars())
