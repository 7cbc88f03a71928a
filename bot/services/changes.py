"""Emergency changes: propose, decide (accountable role only), apply, verify, validate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.domain.changes import (
    DECISIONS,
    ChangeStatus,
    ChangeStep,
    advance,
    change_reference,
)
from bot.domain.clock import Clock
from bot.domain.incident import ChannelStatus, reference
from bot.domain.policy import Policy
from bot.domain.timeline import EntryKind
from bot.services import effects
from bot.services.incidents import IncidentNotFound, InvalidChange
from bot.services.raci import Raci, RoleHolders
from storage.engine import Database
from storage.models import ChangeRow, IncidentRow
from storage.outbox import OutboxRepository
from storage.repositories import IncidentRepository, TimelineRepository

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
    return Change(
        id=row.id,
        incident_id=row.incident_id,
        summary=row.summary,
        plan=row.plan,
        rollback_plan=row.rollback_plan,
        risk=row.risk,
        checklist=dict(row.checklist or {}),
        status=ChangeStatus(row.status),
        proposed_by=row.proposed_by,
        proposed_at=row.proposed_at,
        steps=dict(row.steps or {}),
        message_channel_id=row.message_channel_id,
        message_ts=row.message_ts,
    )


class ChangeService:
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        holders: RoleHolders | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self._policy = policy
        self.clock = clock
        self.raci = Raci(policy, holders)
        self._on_commit = on_commit or (lambda: None)

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
            existing = (
                await session.execute(select(ChangeRow).where(ChangeRow.propose_key == propose_key))
            ).scalar_one_or_none()
            if existing is not None:
                return change_from_row(existing)
            incident = await self._incident(session, incident_id)
            row = ChangeRow(
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
            session.add(row)
            await session.flush()
            await self._record(
                session,
                incident,
                row,
                actor,
                now,
                f"{change_reference(row.id)} proposed: {row.summary}",
                message=effects.POST_CHANGE,
            )
            change = change_from_row(row)
        self._on_commit()
        return change

    async def step(self, change_id: int, step: ChangeStep, *, actor: str) -> Change:
        """Apply a person's step. Approve/reject are the accountable role's alone (RACI)."""
        now = self.clock.now()
        async with self.db.session() as session:
            row = await session.get(ChangeRow, change_id, with_for_update=True)
            if row is None:
                raise ChangeNotFound(change_reference(change_id))
            if step in DECISIONS:
                await self.raci.require_accountable(
                    APPROVE_TASK, actor, row.incident_id, doing=f"{step.value} a change"
                )
            new = advance(ChangeStatus(row.status), step)
            row.status = new.value
            row.steps = {**(row.steps or {}), new.value: {"by": actor, "at": now.isoformat()}}
            row.updated_at = now
            incident = await self._incident(session, row.incident_id)
            await self._record(
                session,
                incident,
                row,
                actor,
                now,
                f"{change_reference(row.id)} {new.value.replace('_', ' ')}: {row.summary}",
                message=effects.UPDATE_CHANGE,
            )
            change = change_from_row(row)
        self._on_commit()
        return change

    async def get(self, change_id: int) -> Change:
        async with self.db.session(write=False) as session:
            row = await session.get(ChangeRow, change_id)
            if row is None:
                raise ChangeNotFound(change_reference(change_id))
            return change_from_row(row)

    async def for_incident(self, incident_id: int) -> list[Change]:
        async with self.db.session(write=False) as session:
            rows = await session.execute(
                select(ChangeRow).where(ChangeRow.incident_id == incident_id).order_by(ChangeRow.id)
            )
            return [change_from_row(r) for r in rows.scalars()]

    async def message_posted(self, change_id: int, channel_id: str, ts: str) -> None:
        async with self.db.session() as session:
            row = await session.get(ChangeRow, change_id, with_for_update=True)
            if row is not None:
                row.message_channel_id, row.message_ts = channel_id, ts

    async def _incident(self, session: Any, incident_id: int) -> IncidentRow:
        row = await IncidentRepository(session).get(incident_id, for_update=True)
        if row is None:
            raise IncidentNotFound(reference(incident_id))
        return row

    async def _record(
        self,
        session: Any,
        incident: IncidentRow,
        row: ChangeRow,
        actor: str,
        now: datetime,
        text: str,
        *,
        message: str,
    ) -> None:
        """The step on the timeline (echoed in the channel), then the change's own
        message posted (`POST_CHANGE`) or brought up to date (`UPDATE_CHANGE`)."""
        outbox = OutboxRepository(session)
        key = effects.incident_channel_key(incident.id)
        entry = await TimelineRepository(session).append(
            incident_id=incident.id,
            at=now,
            kind=EntryKind.CHANGE,
            actor=actor,
            text=text,
            data={"change": row.id, "status": row.status},
        )
        if entry is not None and incident.channel_status in (
            ChannelStatus.PENDING.value,
            ChannelStatus.CREATED.value,
        ):
            # The change message itself shows the step; the echo keeps the channel's
            # running log complete.
            await outbox.enqueue(
                effects.TIMELINE_ECHO,
                key,
                {"incident_id": incident.id, "entry_id": entry.id},
                now=now,
                incident_id=incident.id,
            )
        await outbox.enqueue(
            message,
            key,
            {"incident_id": incident.id, "change_id": row.id},
            now=now,
            incident_id=incident.id,
        )
