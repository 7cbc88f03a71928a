"""What permissions depend on, in one read: an incident's reporter and channel, its
per-incident assignments and the people paged, a page's person and role, the post-mortem's owner,
an action item's owner and incident, and who is away now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, literal, null, select, union_all

from storage.models import ChangeRow, IncidentRow
from storage.paging_models import AbsenceRow, PageRow, RoleAssignmentRow
from storage.postmortem_models import ActionItemRow, PostmortemRow
from storage.session import Repository


@dataclass
class StoredFacts:
    incident_id: int | None = None  # None: no such incident (or item/page)
    reporter_id: str = ""
    channel_id: str | None = None  # the incident's channel, once created
    assigned: set[str] = field(default_factory=set)
    paged: set[str] = field(default_factory=set)
    page_person: str | None = None
    page_role: str | None = None
    postmortem_owner: str | None = None
    item_owner: str | None = None
    absent: set[str] = field(default_factory=set)


class PermissionRepository(Repository):
    async def facts(
        self,
        incident_id: int | None,
        now: datetime,
        *,
        page_id: int | None = None,
        item_id: int | None = None,
        change_id: int | None = None,
        postmortem_id: int | None = None,
    ) -> StoredFacts:
        """One statement: a UNION ALL of what each fact needs (absent rows are skipped)."""
        parts: list[Any] = [
            select(literal("away", String), null(), AbsenceRow.person, null()).where(
                AbsenceRow.until > now
            )
        ]
        if item_id is not None:
            item = ActionItemRow
            parts.append(
                select(literal("item", String), item.incident_id, item.owner_id, null()).where(
                    item.id == item_id
                )
            )
        if page_id is not None:
            parts.append(
                select(
                    literal("page", String), PageRow.incident_id, PageRow.person, PageRow.role
                ).where(PageRow.id == page_id)
            )
        incident = _incident_of(incident_id, item_id, page_id, change_id, postmortem_id)
        if incident is not None:
            parts += _incident_parts(incident)
        found = StoredFacts()
        for kind, of, person, role in (await self.session.execute(union_all(*parts))).all():
            _collect(found, str(kind), of, str(person), role)
        return found


def _incident_of(
    incident_id: int | None,
    item_id: int | None,
    page_id: int | None,
    change_id: int | None,
    postmortem_id: int | None,
) -> Any:
    """The incident id, or a scalar subquery finding it from what was named."""
    if incident_id is not None:
        return incident_id
    for table, key in (
        (ActionItemRow, item_id),
        (PageRow, page_id),
        (ChangeRow, change_id),
        (PostmortemRow, postmortem_id),
    ):
        if key is not None:
            return select(table.incident_id).where(table.id == key).scalar_subquery()
    return None


def _incident_parts(incident: Any) -> list[Any]:
    """The incident's reporter, assignments, people paged and post-mortem owner."""
    return [
        select(
            literal("incident", String),
            IncidentRow.id,
            IncidentRow.reporter_id,
            IncidentRow.channel_id,
        ).where(IncidentRow.id == incident),
        select(
            literal("assigned", String),
            RoleAssignmentRow.incident_id,
            RoleAssignmentRow.person,
            RoleAssignmentRow.role,
        ).where(RoleAssignmentRow.incident_id == incident),
        select(literal("paged", String), PageRow.incident_id, PageRow.person, null()).where(
            PageRow.incident_id == incident
        ),
        select(
            literal("postmortem", String), PostmortemRow.incident_id, PostmortemRow.owner_id, null()
        ).where(PostmortemRow.incident_id == incident),
    ]


def _collect(
    found: StoredFacts, kind: str, incident: int | None, person: str, role: str | None
) -> None:
    if kind == "away":
        found.absent.add(person)
        return
    if kind == "incident":
        found.incident_id, found.reporter_id = int(incident or 0), person
        found.channel_id = role
    elif kind == "assigned":
        found.assigned.add(person)
    elif kind == "paged":
        found.paged.add(person)
    elif kind == "page":
        found.page_person, found.page_role = person, role
    elif kind == "postmortem":
        found.postmortem_owner = person
    elif kind == "item":
        found.item_owner = person
