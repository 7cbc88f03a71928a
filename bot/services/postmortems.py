"""Resolution and post-mortems: request, write, submit, approve (accountable role only),
close the incident; action items tracked until done."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

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
from bot.services.base import IncidentNotFound, Service, locked_incident
from bot.services.changes import Change
from bot.services.home import refresh_homes
from bot.services.incidents import InvalidChange
from bot.services.raci import Raci, RoleHolders, Rostered
from bot.services.schedule_times import next_run
from bot.services.timeline import TimelineService
from storage.engine import Database
from storage.outbox import OutboxRepository
from storage.postmortem_repository import Postmortem, PostmortemRepository, PostmortemState
from storage.repositories import IncidentRepository, TimelineRepository
from storage.session import Session

__all__ = ["Facts", "Postmortem", "PostmortemNotFound", "PostmortemService"]

log = logging.getLogger(__name__)

WRITE_TASK, APPROVE_TASK = "write_postmortem", "approve_postmortem"
TEXT_MAX = 3000


class PostmortemNotFound(Exception):
    pass


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


class PostmortemService(Service):
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        timeline: TimelineService,
        *,
        timezone: str = "UTC",
        holders: RoleHolders | None = None,
        rostered: Rostered | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(db, policy, clock, on_commit)
        self.timeline = timeline
        self.timezone = timezone
        self.raci = Raci(policy, holders, rostered)
        # Resolving by any path (status command, modal, /incident resolve) requests it.
        timeline.on_resolved = self._request

    async def owner_for(self, incident: Incident) -> str:
        """The RACI's responsible role for writing it (its acting holder), else the reporter."""
        policy = self.policy
        task = policy.raci.get(WRITE_TASK)
        roles = policy.expand_parties(task.responsible) if task else ()
        for role in roles:
            people = sorted(await self.raci.holders(role, incident.id))
            if people:
                return people[0]
        return incident.reporter_id

    def due_date(self, now: datetime) -> datetime:
        """Before the next weekly post-mortem meeting."""
        return next_run(self.policy.schedules.weekly_digest, self.timezone, now)

    # --- resolve -----------------------------------------------------------------------

    async def resolve(
        self,
        incident_id: int,
        *,
        actor: str,
        summary: str,
        source_key: str | None = None,
        public_update: str = "",
    ) -> Incident:
        """Resolve the incident; the status change asks its owner for a post-mortem
        (`_request`, in the same transaction). `public_update`: what the status page says
        (a standard sentence when empty, for an incident the page shows)."""
        summary = summary.strip()
        if not summary:
            raise InvalidChange("Say how it was resolved.")
        return await self.timeline.change_status(
            incident_id,
            Status.RESOLVED,
            actor=actor,
            update=summary,
            source_key=source_key,
            public_update=public_update,
        )

    async def _request(
        self, session: Session, incident: Incident, now: datetime, summary: str
    ) -> None:
        """Once per incident: resolved again after a reopen, the post-mortem already
        requested continues (its resolution summary brought up to date), nobody is asked twice."""
        repo = PostmortemRepository(session)
        current = await repo.lock_for_incident(incident.id)
        if current is not None:
            await repo.update(current.id, resolution_summary=summary, updated_at=now)
            return
        owner = await self.owner_for(incident)
        due = self.due_date(now)
        current = await repo.add(
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
        text = f"Post-mortem requested from <@{owner}>, due {due:%Y-%m-%d %H:%M} UTC"
        data = {"postmortem": current.id, "owner": owner, "due": due.isoformat()}
        await _record(session, incident.id, text, actor=None, at=now, data=data)
        await _tell(session, current, effects.POSTMORTEM_REQUEST, effects.dm_key(owner), now)
        await refresh_homes(session, [owner], now)  # the post-mortem they owe

    # --- write, submit -------------------------------------------------------------------

    async def get_for_incident(self, incident_id: int) -> Postmortem | None:
        async with self.db.session(write=False) as session:
            return await PostmortemRepository(session).for_incident(incident_id)

    async def get(self, postmortem_id: int) -> Postmortem:
        async with self.db.session(write=False) as session:
            return await _found(PostmortemRepository(session), postmortem_id)

    async def facts(self, incident_id: int, changes: list[Change]) -> Facts:
        async with self.db.session(write=False) as session:
            incident = await IncidentRepository(session).find(incident_id)
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
            current = await _locked(repo, postmortem_id)
            new = after_save(current.status, submit=submit)
            submitted = {"submitted_by": actor, "submitted_at": now} if submit else {}
            await repo.update(
                current.id,
                root_cause=root_cause.strip(),
                impact=impact.strip(),
                assessments=assessments,
                status=new.value,
                updated_at=now,
                **submitted,
            )
            kept = [dataclasses.replace(i, text=i.text.strip()) for i in items if i.text.strip()]
            await repo.replace_open_items(current.id, current.incident_id, kept, now=now)
            verb = "submitted for approval" if submit else "saved as a draft"
            data = {"postmortem": current.id, "status": new.value}
            await _record(
                session, current.incident_id, f"Post-mortem {verb}", actor=actor, at=now, data=data
            )
            if submit:
                review = effects.incident_channel_key(current.incident_id)
                await _tell(session, current, effects.POSTMORTEM_REVIEW, review, now)
            result = await _found(repo, current.id)
        self._on_commit()
        return result

    # --- review --------------------------------------------------------------------------

    async def decide(
        self, postmortem_id: int, *, approve: bool, actor: str, note: str = ""
    ) -> Postmortem:
        """Approve (closing the incident) or request changes: the accountable role only."""
        now = self.clock.now()
        async with self.db.session() as session:
            repo = PostmortemRepository(session)
            current = await _locked(repo, postmortem_id)
            await self.raci.require_accountable(APPROVE_TASK, actor, doing="review a post-mortem")
            new = after_decision(current.status, approve=approve)
            await repo.update(
                current.id,
                status=new.value,
                decided_by=actor,
                decided_at=now,
                decision_note=note.strip() or None,
                updated_at=now,
            )
            incident = await locked_incident(session, current.incident_id)
            if approve:
                text = await self._close(session, incident, current, now)
            else:
                text = await _send_back(session, current, note, now)
            data = {"postmortem": current.id, "status": new.value}
            await _record(session, incident.id, text, actor=actor, at=now, data=data)
            result = await _found(repo, current.id)
        self._on_commit()
        log.info("post-mortem %s", new.value, extra={"incident": incident.ref})
        return result

    async def _close(
        self, session: Session, incident: Incident, postmortem: PostmortemState, now: datetime
    ) -> str:
        """Approved: the incident is closed, the final report posted in its channel and the
        announcement brought up to date; the channel is archived later if the policy says so."""
        await IncidentRepository(session).update(
            incident.id, status=Status.CLOSED.value, closed_at=now, updated_at=now
        )
        for ended in self.timeline.on_ended:  # closed straight from a reopened state too
            await ended(session, incident, now)
        channel = effects.incident_channel_key(incident.id)
        await _tell(session, postmortem, effects.POSTMORTEM_FINAL, channel, now)
        if effects.has_channel(incident.channel_status):  # "Closed" in the channel's topic
            sync = effects.about(effects.SYNC_CHANNEL, channel, incident.id)
            await OutboxRepository(session).enqueue_many([sync], now=now)
        await _tell(session, postmortem, effects.UPDATE_ANNOUNCEMENT, effects.BROADCAST_KEY, now)
        days = self.policy.postmortem.archive_channel_after_days
        if days is not None and incident.channel_status == ChannelStatus.CREATED:
            # Its own key: a scheduled archive must not hold up the channel's queue. One
            # at once goes behind the final report (archived first, it could not post).
            archive = f"archive:{incident.id}" if days > 0 else channel
            await _tell(
                session, postmortem, effects.ARCHIVE_CHANNEL, archive, now + timedelta(days=days)
            )
            if days > 0:  # "Archiving this channel in N days", once
                notice = effects.about(effects.ARCHIVE_NOTICE, channel, incident.id, days=days)
                await OutboxRepository(session).enqueue_many([notice], now=now)
        return "Post-mortem approved; the incident is closed"

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
            repo = PostmortemRepository(session)
            item = await repo.item(item_id, lock=True)
            if item is None or item.status != "open":
                return False
            await repo.update_item(item.id, status="done", done_by=actor, done_at=now)
            await _record(
                session,
                item.incident_id,
                f"Action item done: {item.text}",
                actor=actor,
                at=now,
                data={"action_item": item.id},
                source_key=f"action-done:{item.id}",
            )
            await refresh_homes(session, [item.owner_id], now)  # off their overdue list
        self._on_commit()
        return True


async def _send_back(
    session: Session, postmortem: PostmortemState, note: str, now: datetime
) -> str:
    """Changes requested: its owner is told."""
    owner = effects.dm_key(postmortem.owner_id)
    await _tell(session, postmortem, effects.POSTMORTEM_CHANGES, owner, now)
    return "Changes requested on the post-mortem" + (f": {note.strip()}" if note.strip() else "")


async def _locked(repo: PostmortemRepository, postmortem_id: int) -> PostmortemState:
    current = await repo.lock(postmortem_id)
    if current is None:
        raise PostmortemNotFound(str(postmortem_id))
    return current


async def _found(repo: PostmortemRepository, postmortem_id: int) -> Postmortem:
    postmortem = await repo.get(postmortem_id)
    if postmortem is None:
        raise PostmortemNotFound(str(postmortem_id))
    return postmortem


async def _record(
    session: Session,
    incident_id: int,
    text: str,
    *,
    actor: str | None,
    at: datetime,
    data: dict[str, Any],
    source_key: str | None = None,
) -> None:
    """A post-mortem step on the incident's timeline."""
    await TimelineRepository(session).append(
        incident_id,
        EntryKind.POSTMORTEM,
        text,
        at=at,
        actor=actor,
        data=data,
        source_key=source_key,
    )


async def _tell(
    session: Session, postmortem: PostmortemState, kind: str, key: str, at: datetime
) -> None:
    """An outbox row about the post-mortem (its payload names it and its incident), due `at`."""
    effect = effects.about(kind, key, postmortem.incident_id, postmortem_id=postmortem.id)
    await OutboxRepository(session).enqueue_many([effect], now=at)
