"""Writes pages: the page row, its timeline entry and its deliveries, in the caller's
transaction (the caller holds the incident row locked, as the timeline's hash chain needs).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.incident import ChannelStatus
from bot.domain.paging import PageKind, PageStatus, Rung, TimelineKind, ack_deadline
from bot.domain.policy import Policy
from bot.services import effects
from bot.services import paging_effects as fx
from storage.models import IncidentRow
from storage.outbox import OutboxRepository
from storage.paging_models import PageRow
from storage.paging_repository import PagingRepository
from storage.repositories import TimelineRepository

DEFAULT_ACK_TIMEOUT = timedelta(minutes=30)


class PageWriter:
    """What a page, an escalation or an acknowledgement writes besides its status."""

    def __init__(
        self,
        policy: Callable[[], Policy],
        broadcast_channel: str | None,
        *,
        pagerduty: bool = False,
        webhook: bool = False,
    ) -> None:
        self._policy = policy
        self.broadcast_channel = broadcast_channel
        self.pagerduty = pagerduty
        self.webhook = webhook

    @property
    def policy(self) -> Policy:
        return self._policy()

    async def page(
        self,
        session: AsyncSession,
        row: IncidentRow,
        rung: Rung,
        *,
        chain: str,
        step: int,
        now: datetime,
        auto: bool = False,
        by: str | None = None,
        message: str | None = None,
    ) -> PageRow:
        """Store a page, its timeline entry and its deliveries (DM, channel, invite)."""
        policy = self.policy
        severity = policy.severities.get(row.severity)
        deadline = (
            ack_deadline(now, severity, policy.working_time)
            if severity
            else now + DEFAULT_ACK_TIMEOUT
        )
        page = await PagingRepository(session).add_page(
            PageRow(
                incident_id=row.id,
                chain=chain,
                step=step,
                # An automatic page is for its chain's role, whoever is paged (the
                # accountable rung included); escalation works that role's ladder.
                role=chain if auto else (rung.role or None),
                person=rung.person,
                kind=(PageKind.AUTO if auto else PageKind.MANUAL).value,
                via=rung.via,
                status=PageStatus.WAITING.value,
                paged_by=by,
                message=message,
                paged_at=now,
                ack_deadline=deadline,
            )
        )
        role = chain if auto else rung.role
        as_what = f" as {self.title(policy, role)}" if role else ""
        await TimelineRepository(session).append(
            incident_id=row.id,
            at=now,
            kind=TimelineKind.PAGE,
            actor=by,
            text=f"Paged <@{rung.person}>{as_what} ({via_text(rung, policy)})",
            data={"page": page.id, "role": role, "person": rung.person, "step": step},
            source_key=f"page:{page.id}",
        )
        outbox = OutboxRepository(session)
        ids: dict[str, Any] = {"page_id": page.id, "incident_id": row.id}
        await outbox.enqueue(
            fx.PAGE_DM, effects.dm_key(rung.person), ids, now=now, incident_id=row.id
        )
        if has_channel(row):
            key = effects.incident_channel_key(row.id)
            invite = {"incident_id": row.id, "users": [rung.person]}
            await outbox.enqueue(fx.PAGE_INVITE, key, invite, now=now, incident_id=row.id)
            await outbox.enqueue(fx.PAGE_POST, key, ids, now=now, incident_id=row.id)
        await self.queue_external(outbox, page.id, row.id, "trigger", now)
        return page

    async def queue_updates(
        self,
        outbox: OutboxRepository,
        row: IncidentRow,
        pages: list[PageRow],
        now: datetime,
        *,
        ack: bool = False,
    ) -> None:
        """The page's DM and channel message show what became of it."""
        for page in pages:
            ids: dict[str, Any] = {"page_id": page.id, "incident_id": row.id}
            await outbox.enqueue(
                fx.PAGE_UPDATE_DM, effects.dm_key(page.person), ids, now=now, incident_id=row.id
            )
            if has_channel(row):
                key = effects.incident_channel_key(row.id)
                await outbox.enqueue(fx.PAGE_UPDATE_POST, key, ids, now=now, incident_id=row.id)
            await self.queue_external(
                outbox, page.id, row.id, "acknowledge" if ack else "escalate", now
            )

    async def queue_external(
        self, outbox: OutboxRepository, page_id: int, incident_id: int, action: str, now: datetime
    ) -> None:
        if not self.policy.features.external_paging:
            return  # switched off in the policy: Slack pages only
        payload = {"page_id": page_id, "incident_id": incident_id, "action": action}
        # PagerDuty knows trigger and acknowledge; an escalation is the next page's trigger.
        if action != "escalate" and (self.pagerduty or _policy_routes_to_pagerduty(self.policy)):
            key = fx.external_key(fx.PAGERDUTY, page_id)
            await outbox.enqueue(fx.PAGERDUTY, key, payload, now=now, incident_id=incident_id)
        if self.webhook:
            key = fx.external_key(fx.WEBHOOK, page_id)
            await outbox.enqueue(fx.WEBHOOK, key, payload, now=now, incident_id=incident_id)

    async def tell_broadcast(
        self,
        session: AsyncSession,
        row: IncidentRow,
        event: str,
        chain: str,
        title: str,
        now: datetime,
    ) -> None:
        """Once per chain: the broadcast channel hears that a page is unanswered."""
        entry = await TimelineRepository(session).append(
            incident_id=row.id,
            at=now,
            kind=TimelineKind.UNANSWERED,
            actor=None,
            text=f"The page for {title} is unanswered; the broadcast channel is told",
            data={"chain": chain},
            source_key=f"unanswered:{row.id}:{chain}",
        )
        if entry is not None and self.broadcast_channel:
            await OutboxRepository(session).enqueue(
                fx.PAGE_BROADCAST,
                effects.BROADCAST_KEY,
                {
                    "incident_id": row.id,
                    "event": event,
                    "role": title,
                    "channel": self.broadcast_channel,
                },
                now=now,
                incident_id=row.id,
            )

    @staticmethod
    def title(policy: Policy, role: str | None) -> str:
        if role and role in policy.roles:
            return policy.roles[role].title
        return role or "this incident"


def has_channel(row: IncidentRow) -> bool:
    """The incident has (or is getting) its own channel to post pages in."""
    return row.channel_status in (ChannelStatus.PENDING.value, ChannelStatus.CREATED.value)


def via_text(rung: Rung, policy: Policy) -> str:
    if rung.via == "accountable":
        return f"accountable: {PageWriter.title(policy, rung.role)}"
    return {"stand_in": "standing in", "manual": "paged by hand"}.get(rung.via, rung.via)


def _policy_routes_to_pagerduty(policy: Policy) -> bool:
    """The policy names a PagerDuty routing key for some role or severity."""
    return any(r.pagerduty_routing_key for r in policy.roles.values()) or any(
        s.pagerduty_routing_key for s in policy.severities.values()
    )
