"""Resolution and post-mortems: request, write, submit, approve (accountable role only),
close the incident; action items tracked until done."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.clock import Clock
from bot.domain.incident import ChannelStatus, Incident, Status, reference
from bot.domain.policy import Policy
from bot.domain.postmortem import (
    ActionItem,
    PostmortemStatus,
    after_decision,
    after_save,
    mtta,
    mttr,
)
from bot.domain.timeline import EntryKind
from bot.services import effects
from bot.services.changes import Change
from bot.services.incidents import IncidentNotFound, InvalidChange
from bot.services.raci import Raci, RoleHolders
from bot.services.schedule_times import next_run
from bot.services.timeline import TimelineService
from storage.engine import Database
from storage.models import IncidentRow
from storage.outbox import OutboxRepository
from storage.postmortem_models import ActionItemRow, PostmortemRow
from storage.postmortem_repository import PostmortemRepository
from storage.repositories import IncidentRepository, TimelineRepository, incident_from_row

log = logging.getLogger(__name__)

WRITE_TASK, APPROVE_TASK = "write_postmortem", "approve_postmortem"
TEXT_MAX = 3000


class PostmortemNotFound(Exception):
    pass


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
class Facts:
    """What the record already says, pre-filled into the post-mortem."""

    declared_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    mtta: timedelta | None
    mttr: timedelta | None
    pages: int
    escalations: int
    changes: list[Change]


def _from_row(row: PostmortemRow, items: list[ActionItemRow]) -> Postmortem:
    return Postmortem(
        id=row.id,
        incident_id=row.incident_id,
        status=PostmortemStatus(row.status),
        owner_id=row.owner_id,
        due_at=row.due_at,
        resolution_summary=row.resolution_summary,
        root_cause=row.root_cause,
        impact=row.impact,
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
        submitted_by=row.submitted_by,
        decided_by=row.decided_by,
        decision_note=row.decision_note,
    )


class PostmortemService:
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        timeline: TimelineService,
        *,
        timezone: str = "UTC",
        holders: RoleHolders | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self._policy = policy
        self.clock = clock
        self.timeline = timeline
        self.timezone = timezone
        self.raci = Raci(policy, holders)
        self._on_commit = on_commit or (lambda: None)

    async def owner_for(self, incident: IncidentRow) -> str:
        """The RACI's responsible role for writing it (its acting holder), else the reporter."""
        policy = self._policy()
        task = policy.raci.get(WRITE_TASK)
        roles = policy.expand_parties(task.responsible) if task else ()
        for role in roles:
            people = sorted(await self.raci.holders(role, incident.id))
            if people:
                return people[0]
        return incident.reporter_id

    def due_date(self, now: datetime) -> datetime:
        """Before the next weekly post-mortem meeting."""
        return next_run(self._policy().schedules.weekly_digest, self.timezone, now)

    # --- resolve -----------------------------------------------------------------------

    async def resolve(
        self, incident_id: int, *, actor: str, summary: str, source_key: str | None = None
    ) -> Incident:
        """Resolve the incident and ask its owner for a post-mortem, in one transaction."""
        summary = summary.strip()
        if not summary:
            raise InvalidChange("Say how it was resolved.")

        async def request(session: AsyncSession, incident: IncidentRow, now: datetime) -> None:
            await self._request(session, incident, now, summary=summary)

        return await self.timeline.change_status(
            incident_id,
            Status.RESOLVED,
            actor=actor,
            update=summary,
            source_key=source_key,
            also=request,
        )

    async def _request(
        self, session: AsyncSession, incident: IncidentRow, now: datetime, *, summary: str
    ) -> None:
        repo = PostmortemRepository(session)
        row = await repo.for_incident(incident.id, for_update=True)
        owner = await self.owner_for(incident)
        due = self.due_date(now)
        if row is None:
            row = PostmortemRow(
                incident_id=incident.id,
                status=PostmortemStatus.REQUESTED.value,
                owner_id=owner,
                requested_at=now,
                due_at=due,
                resolution_summary=summary,
                root_cause="",
                impact="",
                assessments={},
                updated_at=now,
            )
            session.add(row)
            await session.flush()
        else:  # resolved again after a reopen: the post-mortem continues
            row.resolution_summary, row.due_at, row.updated_at = summary, due, now
            owner = row.owner_id
        await TimelineRepository(session).append(
            incident_id=incident.id,
            at=now,
            kind=EntryKind.POSTMORTEM,
            actor=None,
            text=f"Post-mortem requested from <@{owner}>, due {due:%Y-%m-%d %H:%M} UTC",
            data={"postmortem": row.id, "owner": owner, "due": due.isoformat()},
        )
        await OutboxRepository(session).enqueue(
            effects.POSTMORTEM_REQUEST,
            effects.dm_key(owner),
            {"incident_id": incident.id, "postmortem_id": row.id},
            now=now,
            incident_id=incident.id,
        )

    # --- write, submit -------------------------------------------------------------------

    async def get_for_incident(self, incident_id: int) -> Postmortem | None:
        async with self.db.session(write=False) as session:
            repo = PostmortemRepository(session)
            row = await repo.for_incident(incident_id)
            return _from_row(row, list(await repo.items(row.id))) if row else None

    async def get(self, postmortem_id: int) -> Postmortem:
        async with self.db.session(write=False) as session:
            repo = PostmortemRepository(session)
            row = await repo.get(postmortem_id)
            if row is None:
                raise PostmortemNotFound(str(postmortem_id))
            return _from_row(row, list(await repo.items(row.id)))

    async def facts(self, incident_id: int, changes: list[Change]) -> Facts:
        async with self.db.session(write=False) as session:
            incident = await IncidentRepository(session).get(incident_id)
            if incident is None:
                raise IncidentNotFound(reference(incident_id))
            pages, escalations = await PostmortemRepository(session).page_counts(incident_id)
        return Facts(
            declared_at=incident.declared_at,
            acknowledged_at=incident.acknowledged_at,
            mitigated_at=incident.mitigated_at,
            resolved_at=incident.resolved_at,
            mtta=mtta(incident.declared_at, incident.acknowledged_at),
            mttr=mttr(incident.declared_at, incident.resolved_at),
            pages=pages,
            escalations=escalations,
            changes=changes,
        )

    def check(
        self, root_cause: str, impact: str, items: list[ActionItem], *, submit: bool
    ) -> dict[str, str]:
        errors: dict[str, str] = {}
        for name, value in (("root_cause", root_cause), ("impact", impact)):
            if len(value) > TEXT_MAX:
                errors[name] = f"Keep it under {TEXT_MAX} characters."
            elif submit and not value.strip():
                errors[name] = "Needed before submitting for approval."
        for n, item in enumerate(items, start=1):
            if len(item.text) > 500:
                errors[f"item_{n}"] = "Keep an action item under 500 characters."
        return errors

    async def save(
        self,
        postmortem_id: int,
        *,
        actor: str,
        root_cause: str,
        impact: str,
        assessments: dict[str, Any],
        items: list[ActionItem],
        submit: bool,
    ) -> Postmortem:
        errors = self.check(root_cause, impact, items, submit=submit)
        if errors:
            raise InvalidChange("; ".join(errors.values()))
        now = self.clock.now()
        async with self.db.session() as session:
            repo = PostmortemRepository(session)
            row = await repo.get(postmortem_id, for_update=True)
            if row is None:
                raise PostmortemNotFound(str(postmortem_id))
            new = after_save(PostmortemStatus(row.status), submit=submit)
            row.root_cause, row.impact = root_cause.strip(), impact.strip()
            row.assessments = assessments
            row.status, row.updated_at = new.value, now
            if submit:
                row.submitted_by, row.submitted_at = actor, now
            await repo.replace_open_items(
                row.id,
                [
                    ActionItemRow(
                        postmortem_id=row.id,
                        incident_id=row.incident_id,
                        text=i.text.strip(),
                        owner_id=i.owner,
                        due_on=i.due_on,
                        status="open",
                        created_at=now,
                    )
                    for i in items
                    if i.text.strip()
                ],
            )
            verb = "submitted for approval" if submit else "saved as a draft"
            await TimelineRepository(session).append(
                incident_id=row.incident_id,
                at=now,
                kind=EntryKind.POSTMORTEM,
                actor=actor,
                text=f"Post-mortem {verb}",
                data={"postmortem": row.id, "status": new.value},
            )
            if submit:
                await OutboxRepository(session).enqueue(
                    effects.POSTMORTEM_REVIEW,
                    effects.incident_channel_key(row.incident_id),
                    {"incident_id": row.incident_id, "postmortem_id": row.id},
                    now=now,
                    incident_id=row.incident_id,
                )
            result = _from_row(row, list(await repo.items(row.id)))
        self._on_commit()
        return result

    # --- review --------------------------------------------------------------------------

    async def decide(
        self, postmortem_id: int, *, approve: bool, actor: str, note: str = ""
    ) -> Postmortem:
        """Approve (closing the incident) or request changes: the accountable role only."""
        policy = self._policy()
        now = self.clock.now()
        async with self.db.session() as session:
            repo = PostmortemRepository(session)
            row = await repo.get(postmortem_id, for_update=True)
            if row is None:
                raise PostmortemNotFound(str(postmortem_id))
            await self.raci.require_accountable(
                APPROVE_TASK, actor, row.incident_id, doing="review a post-mortem"
            )
            new = after_decision(PostmortemStatus(row.status), approve=approve)
            row.status, row.decided_by, row.decided_at = new.value, actor, now
            row.decision_note, row.updated_at = note.strip() or None, now
            incident = await IncidentRepository(session).get(row.incident_id, for_update=True)
            assert incident is not None
            outbox = OutboxRepository(session)
            ids = {"incident_id": incident.id, "postmortem_id": row.id}
            if approve:
                incident.status, incident.closed_at, incident.updated_at = (
                    Status.CLOSED.value,
                    now,
                    now,
                )
                text = "Post-mortem approved; the incident is closed"
                await outbox.enqueue(
                    effects.POSTMORTEM_FINAL,
                    effects.incident_channel_key(incident.id),
                    ids,
                    now=now,
                    incident_id=incident.id,
                )
                await outbox.enqueue(
                    effects.UPDATE_ANNOUNCEMENT,
                    effects.BROADCAST_KEY,
                    ids,
                    now=now,
                    incident_id=incident.id,
                )
                days = policy.postmortem.archive_channel_after_days
                if days is not None and incident.channel_status == ChannelStatus.CREATED.value:
                    # Its own key: a scheduled archive must not hold up the channel's queue.
                    await outbox.enqueue(
                        effects.ARCHIVE_CHANNEL,
                        f"archive:{incident.id}",
                        ids,
                        now=now + timedelta(days=days),
                        incident_id=incident.id,
                    )
            else:
                text = "Changes requested on the post-mortem" + (
                    f": {note.strip()}" if note.strip() else ""
                )
                await outbox.enqueue(
                    effects.POSTMORTEM_CHANGES,
                    effects.dm_key(row.owner_id),
                    ids,
                    now=now,
                    incident_id=incident.id,
                )
            await TimelineRepository(session).append(
                incident_id=incident.id,
                at=now,
                kind=EntryKind.POSTMORTEM,
                actor=actor,
                text=text,
                data={"postmortem": row.id, "status": new.value},
            )
            result = _from_row(row, list(await repo.items(row.id)))
            closed = incident_from_row(incident)
        self._on_commit()
        log.info("post-mortem %s", new.value, extra={"incident": closed.ref})
        return result

    # --- action items --------------------------------------------------------------------

    async def followups(
        self, *, owner: str | None = None, overdue_on: date | None = None
    ) -> list[dict[str, Any]]:
        async with self.db.session(write=False) as session:
            rows = await PostmortemRepository(session).open_items(
                owner=owner, due_before=overdue_on
            )
        return [
            {
                "id": r.id,
                "incident": reference(r.incident_id),
                "text": r.text,
                "owner": r.owner_id,
                "due_on": r.due_on,
                "overdue": r.due_on < self.clock.now().date(),
            }
            for r in rows
        ]

    async def complete_item(self, item_id: int, *, actor: str) -> bool:
        now = self.clock.now()
        async with self.db.session() as session:
            item = await PostmortemRepository(session).item(item_id, for_update=True)
            if item is None or item.status != "open":
                return False
            item.status, item.done_by, item.done_at = "done", actor, now
            await TimelineRepository(session).append(
                incident_id=item.incident_id,
                at=now,
                kind=EntryKind.POSTMORTEM,
                actor=actor,
                text=f"Action item done: {item.text}",
                data={"action_item": item.id},
                source_key=f"action-done:{item.id}",
            )
        return True
