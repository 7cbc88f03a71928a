"""Emergency changes: propose, decide (accountable role only), apply, verify, validate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.changes import DECISIONS, ChangeStatus, ChangeStep, advance, change_reference
from bot.domain.clock import Clock
from bot.domain.incident import Incident
from bot.domain.policy import Policy
from bot.domain.timeline import EntryKind
from bot.services import effects
from bot.services.base import Service, locked_incident
from bot.services.incidents import InvalidChange
from bot.services.raci import Raci, RoleHolders, Rostered
from storage.change_repository import Change, ChangeRepository
from storage.engine import Database
from storage.outbox import OutboxRepository
from storage.repositories import TimelineRepository
from storage.session import Session

__all__ = ["Change", "ChangeNotFound", "ChangeProposal", "ChangeService"]

log = logging.getLogger(__name__)

APPROVE_TASK = "approve_change"
SUMMARY_MAX = 200
TEXT_MAX = 3000


class ChangeNotFound(Exception):
    pass


@dataclass(frozen=True)
class ChangeProposal:
    summary: str
    plan: str
    rollback_plan: str
    risk: str
    checklist: dict[str, bool] = field(default_factory=dict)  # handling question → yes


class ChangeService(Service):
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        holders: RoleHolders | None = None,
        rostered: Rostered | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(db, policy, clock, on_commit)
        self.raci = Raci(policy, holders, rostered)

    def check_proposal(self, proposal: ChangeProposal) -> dict[str, str]:
        errors = {}
        for name, limit in (
            ("summary", SUMMARY_MAX),
            ("plan", TEXT_MAX),
            ("rollback_plan", TEXT_MAX),
            ("risk", TEXT_MAX),
        ):
            value = getattr(proposal, name).strip()
            if not value:
                errors[name] = "Please fill this in."
            elif len(value) > limit:
                errors[name] = f"Keep it under {limit} characters."
        return errors

    async def propose(
        self, incident_id: int, proposal: ChangeProposal, *, actor: str, propose_key: str
    ) -> Change:
        errors = self.check_proposal(proposal)
        if errors:
            raise InvalidChange("; ".join(f"{k}: {v}" for k, v in errors.items()))
        now = self.clock.now()
        async with self.db.session() as session:
            changes = ChangeRepository(session)
            existing = await changes.by_propose_key(propose_key)
            if existing is not None:
                return existing
            incident = await locked_incident(session, incident_id)
            change = await changes.add(
                incident_id=incident.id,
                propose_key=propose_key,
                summary=proposal.summary.strip(),
                plan=proposal.plan.strip(),
                rollback_plan=proposal.rollback_plan.strip(),
                risk=proposal.risk.strip(),
                checklist=dict(proposal.checklist),
                status=ChangeStatus.PROPOSED.value,
                proposed_by=actor,
                proposed_at=now,
                steps={},
                updated_at=now,
            )
            text = f"{change.ref} proposed: {change.summary}"
            await _record(session, incident, change, actor, now, text, effects.POST_CHANGE)
        self._on_commit()
        return change

    async def step(self, change_id: int, step: ChangeStep, *, actor: str) -> Change:
        """Apply a person's step. Approve/reject are the accountable role's alone (RACI)."""
        now = self.clock.now()
        async with self.db.session() as session:
            changes = ChangeRepository(session)
            change = await changes.get(change_id, lock=True)
            if change is None:
                raise ChangeNotFound(change_reference(change_id))
            if step in DECISIONS:
                await self.raci.require_accountable(
                    APPROVE_TASK, actor, doing=f"{step.value} a change"
                )
            new = advance(change.status, step)
            change = await changes.update(
                change_id,
                status=new.value,
                steps={**change.steps, new.value: {"by": actor, "at": now.isoformat()}},
                updated_at=now,
            )
            incident = await locked_incident(session, change.incident_id)
            text = f"{change.ref} {new.value.replace('_', ' ')}: {change.summary}"
            await _record(session, incident, change, actor, now, text, effects.UPDATE_CHANGE)
        self._on_commit()
        return change

    async def get(self, change_id: int) -> Change:
        async with self.db.session(write=False) as session:
            change = await ChangeRepository(session).get(change_id)
        if change is None:
            raise ChangeNotFound(change_reference(change_id))
        return change

    async def for_incident(self, incident_id: int) -> list[Change]:
        async with self.db.session(write=False) as session:
            return await ChangeRepository(session).for_incident(incident_id)

    async def message_posted(self, change_id: int, channel_id: str, ts: str) -> None:
        async with self.db.session() as session:
            changes = ChangeRepository(session)
            if await changes.get(change_id, lock=True) is not None:
                await changes.update(change_id, message_channel_id=channel_id, message_ts=ts)


async def _record(
    session: Session,
    incident: Incident,
    change: Change,
    actor: str,
    now: datetime,
    text: str,
    message: str,
) -> None:
    """The step on the timeline (echoed in the channel), then the change's own message
    posted (`POST_CHANGE`) or brought up to date (`UPDATE_CHANGE`)."""
    data = {"change": change.id, "status": change.status.value}
    entry = await TimelineRepository(session).append(
        incident.id, EntryKind.CHANGE, text, at=now, actor=actor, data=data
    )
    # The change message itself shows the step; the echo keeps the channel's running
    # log complete.
    queued = effects.echoes(incident.channel_status, [entry])
    key = effects.incident_channel_key(incident.id)
    queued.append(effects.about(message, key, incident.id, change_id=change.id))
    await OutboxRepository(session).enqueue_many(queued, now=now)
