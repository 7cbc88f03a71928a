"""Queries of the weekly meeting: the digest's facts, reminders, job claims, agenda answers.

Every read goes through an index: incidents by `declared_at` and by `resolved_at`,
post-mortems by `(status, due_at)`, action items by `(status, due_on)` and by owner,
breaches by `recorded_at`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from bot.domain.digest import ActionItemFacts, BreachFacts, IncidentFacts, PostmortemFacts
from storage.models import IncidentRow
from storage.paging_models import BreachRow
from storage.postmortem_models import ActionItemRow, JobRunRow, MeetingAnswerRow, PostmortemRow
from storage.session import Repository

_INCIDENT_COLUMNS = (
    IncidentRow.id,
    IncidentRow.kind,
    IncidentRow.severity,
    IncidentRow.title,
    IncidentRow.status,
    IncidentRow.reporter_id,
    IncidentRow.declared_at,
    IncidentRow.acknowledged_at,
    IncidentRow.resolved_at,
)
_POSTMORTEM_COLUMNS = (
    PostmortemRow.id,
    PostmortemRow.incident_id,
    IncidentRow.title,
    IncidentRow.severity,
    PostmortemRow.status,
    PostmortemRow.owner_id,
    PostmortemRow.due_at,
    PostmortemRow.submitted_by,
    PostmortemRow.submitted_at,
)


def _incident(row: Any) -> IncidentFacts:
    return IncidentFacts(*row)


def _postmortem(row: Any) -> PostmortemFacts:
    return PostmortemFacts(*row)


class RunAlreadyClaimed(Exception):
    """A scheduled job's run was claimed already: by another process, or before a restart."""


class DigestRepository(Repository):
    # --- the digest's facts ---------------------------------------------------------------

    async def incidents_between(self, start: datetime, end: datetime) -> list[IncidentFacts]:
        """Incidents (and non-incident reports) declared or resolved in [start, end)."""
        declared = select(*_INCIDENT_COLUMNS).where(
            IncidentRow.declared_at >= start, IncidentRow.declared_at < end
        )
        # Declared earlier, resolved in the period (the first query has the others).
        resolved = select(*_INCIDENT_COLUMNS).where(
            IncidentRow.resolved_at >= start,
            IncidentRow.resolved_at < end,
            IncidentRow.declared_at < start,
        )
        rows = [*await self.session.execute(declared), *await self.session.execute(resolved)]
        return [_incident(r) for r in rows]

    async def postmortems_for_review(
        self, statuses: Collection[str], resolved_from: datetime, resolved_to: datetime
    ) -> list[PostmortemFacts]:
        """Post-mortems in `statuses` (any age), and those of incidents resolved in the
        period (whatever their status)."""
        joined = select(*_POSTMORTEM_COLUMNS).join(
            IncidentRow, IncidentRow.id == PostmortemRow.incident_id
        )
        by_status = joined.where(PostmortemRow.status.in_(list(statuses)))
        of_period = joined.where(
            IncidentRow.resolved_at >= resolved_from,
            IncidentRow.resolved_at < resolved_to,
            PostmortemRow.status.not_in(list(statuses)),
        )
        rows = [*await self.session.execute(by_status), *await self.session.execute(of_period)]
        return [_postmortem(r) for r in rows]

    async def overdue_action_items(
        self, today: date, *, owner: str | None = None
    ) -> list[ActionItemFacts]:
        stmt = select(
            ActionItemRow.id,
            ActionItemRow.incident_id,
            ActionItemRow.text,
            ActionItemRow.owner_id,
            ActionItemRow.due_on,
            ActionItemRow.status,
        ).where(ActionItemRow.status == "open", ActionItemRow.due_on < today)
        if owner is not None:
            stmt = stmt.where(ActionItemRow.owner_id == owner)
        return [ActionItemFacts(*r) for r in await self.session.execute(stmt)]

    async def breaches_between(self, start: datetime, end: datetime) -> list[BreachFacts]:
        stmt = (
            select(
                BreachRow.incident_id,
                IncidentRow.title,
                BreachRow.severity,
                BreachRow.deadline,
                BreachRow.recorded_at,
            )
            .join(IncidentRow, IncidentRow.id == BreachRow.incident_id)
            .where(BreachRow.recorded_at >= start, BreachRow.recorded_at < end)
        )
        return [BreachFacts(*r) for r in await self.session.execute(stmt)]

    # --- reminders ------------------------------------------------------------------------

    async def outstanding_postmortems(
        self, statuses: Collection[str], *, owner: str | None = None
    ) -> list[PostmortemFacts]:
        stmt = (
            select(*_POSTMORTEM_COLUMNS)
            .join(IncidentRow, IncidentRow.id == PostmortemRow.incident_id)
            .where(PostmortemRow.status.in_(list(statuses)))
        )
        if owner is not None:
            stmt = stmt.where(PostmortemRow.owner_id == owner)
        return [_postmortem(r) for r in await self.session.execute(stmt)]

    async def resolved_without_postmortem(
        self, start: datetime, end: datetime
    ) -> list[IncidentFacts]:
        stmt = (
            select(*_INCIDENT_COLUMNS)
            .outerjoin(PostmortemRow, PostmortemRow.incident_id == IncidentRow.id)
            .where(
                IncidentRow.resolved_at >= start,
                IncidentRow.resolved_at < end,
                IncidentRow.kind == "incident",
                PostmortemRow.id.is_(None),
            )
        )
        return [_incident(r) for r in await self.session.execute(stmt)]

    # --- scheduled runs -------------------------------------------------------------------

    async def claim_run(
        self, job: str, scheduled_for: datetime, *, outcome: str, at: datetime, worker: str
    ) -> None:
        """Insert the run's claim; raises RunAlreadyClaimed when it is already claimed (by
        another process, or before a restart). Flushed, so the caller learns it at once."""
        self.session.add(
            JobRunRow(
                job=job, scheduled_for=scheduled_for, outcome=outcome, ran_at=at, claimed_by=worker
            )
        )
        try:
            await self.session.flush()
        except IntegrityError as exc:  # the unique (job, scheduled_for)
            raise RunAlreadyClaimed(f"{job} at {scheduled_for.isoformat()}") from exc

    async def has_runs(self, job: str) -> bool:
        stmt = select(func.count()).select_from(JobRunRow).where(JobRunRow.job == job)
        return bool((await self.session.execute(stmt)).scalar_one())

    # --- the meeting's agenda -------------------------------------------------------------

    async def postmortem_exists(self, postmortem_id: int) -> bool:
        stmt = select(PostmortemRow.id).where(PostmortemRow.id == postmortem_id)
        return (await self.session.execute(stmt)).first() is not None

    async def save_answers(
        self,
        meeting: str,
        postmortem_id: int,
        answers: dict[str, bool],
        *,
        by: str,
        at: datetime,
    ) -> None:
        """Upsert one row per question (the unique key makes concurrent ticks safe)."""
        if not answers:
            return
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(MeetingAnswerRow).values(
            [
                {
                    "meeting": meeting,
                    "postmortem_id": postmortem_id,
                    "question": question,
                    "checked": checked,
                    "answered_by": by,
                    "answered_at": at,
                }
                for question, checked in answers.items()
            ]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["meeting", "postmortem_id", "question"],
            set_={
                "checked": stmt.excluded.checked,
                "answered_by": stmt.excluded.answered_by,
                "answered_at": stmt.excluded.answered_at,
            },
        )
        await self.session.execute(stmt)

    async def answers(
        self, meeting: str, postmortem_ids: Collection[int] | None = None
    ) -> dict[int, dict[str, bool]]:
        stmt = select(
            MeetingAnswerRow.postmortem_id, MeetingAnswerRow.question, MeetingAnswerRow.checked
        ).where(MeetingAnswerRow.meeting == meeting)
        if postmortem_ids is not None:
            stmt = stmt.where(MeetingAnswerRow.postmortem_id.in_(list(postmortem_ids)))
        out: dict[int, dict[str, bool]] = {}
        for pm_id, question, checked in await self.session.execute(stmt):
            out.setdefault(pm_id, {})[question] = checked
        return out
