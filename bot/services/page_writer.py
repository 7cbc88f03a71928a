"""Writes pages: the page row, its timeline entry and its deliveries, in the caller's
transaction (the caller holds the incident row locked, as the timeline's hash chain needs).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.domain.incident import Incident
from bot.domain.paging import Page, PageKind, PageStatus, Rung, TimelineKind, ack_deadline
from bot.domain.policy import Policy
from bot.services import effects
from bot.services import paging_effects as fx
from bot.services.effects import Effect
from bot.services.home import refresh_homes
from storage.outbox import OutboxRepository
from storage.paging_repository import PagingRepository
from storage.repositories import TimelineRepository
from storage.session import Session

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
        session: Session,
        incident: Incident,
        rung: Rung,
        *,
        chain: str,
        step: int,
        now: datetime,
        auto: bool = False,
        by: str | None = None,
        message: str | None = None,
    ) -> Page:
        """Store a page, its timeline entry and its deliveries (DM, channel, invite)."""
        policy = self.policy
        severity = policy.severities.get(incident.severity)
        page = await PagingRepository(session).add_page(
            incident_id=incident.id,
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
            ack_deadline=(
                ack_deadline(now, severity, policy.working_time)
                if severity
                else now + DEFAULT_ACK_TIMEOUT
            ),
        )
        role = chain if auto else rung.role
        as_what = f" as {self.title(policy, role)}" if role else ""
        text = f"Paged <@{rung.person}>{as_what} ({via_text(rung, policy)})"
        data = {"page": page.id, "role": role, "person": rung.person, "step": step}
        # What the page's triggers went to, and the severity its PagerDuty routing key
        # was chosen by: resolving the incident resolves exactly these (page_resolves.py).
        data |= {"external": self.trigger_channels(), "severity": incident.severity}
        await TimelineRepository(session).append(
            incident.id,
            TimelineKind.PAGE,
            text,
            at=now,
            actor=by,
            data=data,
            source_key=f"page:{page.id}",
        )
        await OutboxRepository(session).enqueue_many(self._deliveries(incident, page), now=now)
        await refresh_homes(session, [page.person], now)
        return page

    def _deliveries(self, incident: Incident, page: Page) -> list[Effect]:
        """A new page's rows: the paged person's DM, and in the incident's channel (where
        there is one) their invitation and the page itself; then the external pagers."""
        ids: dict[str, Any] = {"page_id": page.id, "incident_id": incident.id}
        queued: list[Effect] = [(fx.PAGE_DM, effects.dm_key(page.person), ids, incident.id)]
        if effects.has_channel(incident.channel_status):
            key = effects.incident_channel_key(incident.id)
            queued.append(effects.about(fx.PAGE_INVITE, key, incident.id, users=[page.person]))
            queued.append((fx.PAGE_POST, key, ids, incident.id))
        return queued + self._external(page.id, incident.id, "trigger", severity=incident.severity)

    async def queue_updates(
        self,
        session: Session,
        incident: Incident,
        pages: list[Page],
        now: datetime,
        *,
        ack: bool = False,
    ) -> None:
        """The page's DM and channel message show what became of it."""
        queued: list[Effect] = []
        for page in pages:
            ids: dict[str, Any] = {"page_id": page.id, "incident_id": incident.id}
            queued.append((fx.PAGE_UPDATE_DM, effects.dm_key(page.person), ids, incident.id))
            if effects.has_channel(incident.channel_status):
                key = effects.incident_channel_key(incident.id)
                queued.append((fx.PAGE_UPDATE_POST, key, ids, incident.id))
            queued += self._external(page.id, incident.id, "acknowledge" if ack else "escalate")
        await OutboxRepository(session).enqueue_many(queued, now=now)
        await refresh_homes(session, [page.person for page in pages], now)

    def trigger_channels(self) -> list[str]:
        """Where a page's trigger goes now besides Slack: PagerDuty (a routing key in the
        settings or the policy) and the webhook (configured), if the policy allows any."""
        if not self.policy.features.external_paging:
            return []  # switched off in the policy: Slack pages only
        pagerduty = self.pagerduty or _policy_routes_to_pagerduty(self.policy)
        return [fx.PAGERDUTY] * pagerduty + [fx.WEBHOOK] * self.webhook

    def _external(
        self, page_id: int, incident_id: int, action: str, *, severity: str | None = None
    ) -> list[Effect]:
        payload: dict[str, Any] = {"page_id": page_id, "incident_id": incident_id}
        payload |= {"action": action} | ({"severity": severity} if severity else {})
        return [
            (kind, fx.external_key(kind, page_id), payload, incident_id)
            for kind in self.trigger_channels()
            # PagerDuty knows trigger, acknowledge and resolve; an escalation is the next
            # page's trigger.
            if not (kind == fx.PAGERDUTY and action == "escalate")
        ]

    async def tell_broadcast(
        self,
        session: Session,
        incident: Incident,
        event: str,
        chain: str,
        title: str,
        now: datetime,
    ) -> None:
        """Once per chain: the broadcast channel hears that a page is unanswered."""
        text = f"The page for {title} is unanswered; the broadcast channel is told"
        entry = await TimelineRepository(session).append(
            incident.id,
            TimelineKind.UNANSWERED,
            text,
            at=now,
            actor=None,
            data={"chain": chain},
            source_key=f"unanswered:{incident.id}:{chain}",
        )
        if entry is not None:
            await self.broadcast(session, incident.id, now, event=event, role=title)

    async def broadcast(
        self, session: Session, incident_id: int, now: datetime, **payload: Any
    ) -> None:
        """A paging event told in the broadcast channel, if there is one."""
        if self.broadcast_channel:
            told = effects.about(
                fx.PAGE_BROADCAST,
                effects.BROADCAST_KEY,
                incident_id,
                **payload,
                channel=self.broadcast_channel,
            )
            await OutboxRepository(session).enqueue_many([told], now=now)

    @staticmethod
    def title(policy: Policy, role: str | None) -> str:
        if role and role in policy.roles:
            return policy.roles[role].title
        return role or "this incident"


def via_text(rung: Rung, policy: Policy) -> str:
    if rung.via == "accountable":
        return f"accountable: {PageWriter.title(policy, rung.role)}"
    return {"stand_in": "standing in", "manual": "paged by hand"}.get(rung.via, rung.via)


def _policy_routes_to_pagerduty(policy: Policy) -> bool:
    """The policy names a PagerDuty routing key for some role or severity."""
    return any(r.pagerduty_routing_key for r in policy.roles.values()) or any(
        s.pagerduty_routing_key for s in policy.severities.values()
    )
