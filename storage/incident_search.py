"""The incident picker's search: open incidents matching what the person typed.

One query on the `ix_incidents_status_declared` index (status, declared_at): a
`block_suggestion` must be answered within Slack's 3 seconds, at any number of open
incidents, with at most `limit` options.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String, case, cast, or_, select
from sqlalchemy.sql.elements import ColumnElement

from bot.domain.incident import Incident, Kind, Status
from storage.models import IncidentRow
from storage.repositories import incident_from_row
from storage.session import Repository

OPEN = [s.value for s in Status if s not in (Status.RESOLVED, Status.CLOSED)]
_NUMBER = re.compile(r"(?:inc-?)?(\d{1,18})", re.IGNORECASE)
_MOST_WORDS = 8


def _like(word: str) -> str:
    """`%word%` with LIKE's wildcards in the word taken literally (escape `\\`)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(word: str) -> ColumnElement[bool]:
    """A word of the filter: in the title, or the start of the number (`12`, `INC-12`)."""
    title = IncidentRow.title.ilike(_like(word), escape="\\")
    number = _NUMBER.fullmatch(word)
    if number is None:
        return title
    return or_(title, cast(IncidentRow.id, String).like(f"{number[1]}%"))


class IncidentSearch(Repository):
    async def open_matching(self, text: str, limit: int = 100) -> list[Incident]:
        """Open incidents whose title has every word of `text` (or whose number starts
        with a number in it): an exact number first, then the newest."""
        words = text.split()[:_MOST_WORDS]
        stmt = (
            select(IncidentRow)
            .where(IncidentRow.status.in_(OPEN))
            .where(IncidentRow.kind == Kind.INCIDENT.value)
            .where(IncidentRow.channel_id.is_not(None))  # a command runs in its channel
        )
        for word in words:
            stmt = stmt.where(_matches(word))
        exact = [int(m[1]) for w in words if (m := _NUMBER.fullmatch(w))]
        order: list[ColumnElement[Any]] = [IncidentRow.declared_at.desc(), IncidentRow.id.desc()]
        if exact:  # the very number typed first
            order.insert(0, case((IncidentRow.id.in_(exact), 0), else_=1))
        stmt = stmt.order_by(*order).limit(limit)
        return [incident_from_row(r) for r in (await self.session.execute(stmt)).scalars()]
