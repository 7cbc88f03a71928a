"""Paging from alerts: a policy rule (`alerts.page`: label matchers → role) pages the
role for an alert group with the alert as the reason, through the same ladder as
incidents, escalating past each step's deadline; acknowledging the group (its card's or
a page DM's button) answers every page of it and records who and when (its MTTA).

`page_firing` runs inside `AlertDesk.receive`'s transaction (an `on_firing` hook), which
holds the group's row locked. `tick` is driven by the paging tick: every deadline is a
column, and each step writes its fact and its outbox rows in one transaction holding
the group locked; the page's status transition (`waiting` → …) and the unique (group,
chain, step) key make an escalation happen once even when several processes tick on one
PostgreSQL database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.alert_pages import (
    AlertPage,
    AlertPageStatus,
    chains_to_start,
    pagerduty_on,
    roles_for,
)
from bot.domain.alerts import FIRING, AlertGroup, IncomingAlert, StoredAlert
from bot.domain.clock import Clock
from bot.domain.incident import Incident
from bot.domain.paging import Rung, absent_people, ack_deadline, next_rung
from bot.domain.policy import Policy
from bot.services import effects
from bot.services.alerts import card_update
from bot.services.base import Service
from bot.services.effects import Effect
from bot.services.page_writer import DEFAULT_ACK_TIMEOUT
from storage.alert_page_repository import AlertPageRepository
from storage.alert_repository import AlertRepository
from storage.engine import Database
from storage.outbox import OutboxRepository
from storage.paging_repository import PagingRepository
from storage.session import Session

log = logging.getLogger(__name__)

# Outbox row kinds: rows name the page; delivery renders it as it is then.
ALERT_PAGE_DM = "alert_page.dm"  # DM the paged person, with the Acknowledge button
ALERT_PAGE_UPDATE_DM = "alert_page.update_dm"  # acknowledged / escalated / resolved
ALERT_PAGE_PAGERDUTY = "alert_page.pagerduty"  # PagerDuty Events API v2

# How many of the group's alerts a page DM lists.
DM_ALERTS = 5


class AlertPagingError(Exception):
    """A request that cannot be done as asked; the message is shown to the person."""


@dataclass(frozen=True)
class AlertAck:
    """What an Acknowledge click did: `first` False when the group had been acknowledged
    already (then `by` and `at` are that first acknowledgement)."""

    group: AlertGroup
    first: bool
    by: str | None
    at: datetime | None
    pages: int = 0  # pages it answered


@dataclass(frozen=True)
class AlertPageView:
    """What a page's DM shows: the page, its group and the group's first alerts."""

    page: AlertPage
    group: AlertGroup
    alerts: list[StoredAlert]


class AlertPaging(Service):
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        on_commit: Callable[[], None] | None = None,
        *,
        pagerduty: bool = False,
    ) -> None:
        super().__init__(db, policy, clock, on_commit)
        self.pagerduty = pagerduty  # FIREWATCH_PAGERDUTY_ROUTING_KEY is set

    # --- paging (an AlertDesk.on_firing hook) ------------------------------------------

    async def page_firing(
        self, session: Session, group: AlertGroup, alerts: Sequence[IncomingAlert], now: datetime
    ) -> None:
        """Page each role the page rules name for these new firing alerts, once per
        group (step 0 of the role's chain). A group already acknowledged pages nobody."""
        policy = self.policy
        if group.acknowledged_at is not None or group.status != FIRING:
            return
        repo = AlertPageRepository(session)
        wanted = roles_for(policy.alerts, [a.labels for a in alerts])
        roles = chains_to_start(wanted, await repo.chains(group.id) if wanted else (), policy.roles)
        if not roles:
            return
        absent = absent_people(await PagingRepository(session).absences(), now)
        queued: list[Effect] = []
        for role in roles:
            rung = next_rung(policy, role, already_paged=(), absent=absent)
            if rung is None:  # nobody holds the role, nor the accountable one
                log.warning("alert page rule: nobody to page", extra={"role": role})
                continue
            page = await self._add(repo, group, rung, chain=role, step=0, now=now)
            if page is not None:
                queued += self._deliveries(page)
        if queued:
            queued += await card_update(AlertRepository(session), group)
            await OutboxRepository(session).enqueue_many(queued, now=now)

    async def _add(
        self,
        repo: AlertPageRepository,
        group: AlertGroup,
        rung: Rung,
        *,
        chain: str,
        step: int,
        now: datetime,
    ) -> AlertPage | None:
        policy = self.policy
        severity = policy.severities.get(group.severity)
        deadline = (
            ack_deadline(now, severity, policy.working_time)
            if severity is not None
            else now + DEFAULT_ACK_TIMEOUT
        )
        page = await repo.add(
            group_id=group.id,
            chain=chain,
            step=step,
            role=chain,  # the chain's role, whoever is paged (the accountable rung too)
            person=rung.person,
            via=rung.via,
            status=AlertPageStatus.WAITING.value,
            paged_at=now,
            ack_deadline=deadline,
        )
        if page is not None:
            log.info("alert page", extra={"alert_group": group.id, "role": chain, "step": step})
        return page

    def _deliveries(self, page: AlertPage) -> list[Effect]:
        ids: dict[str, Any] = {"page_id": page.id, "group_id": page.group_id}
        queued: list[Effect] = [(ALERT_PAGE_DM, effects.dm_key(page.person), ids, None)]
        return queued + self._pagerduty([page], "trigger")

    def _updates(self, pages: Sequence[AlertPage]) -> list[Effect]:
        return [
            (
                ALERT_PAGE_UPDATE_DM,
                effects.dm_key(page.person),
                {"page_id": page.id, "group_id": page.group_id},
                None,
            )
            for page in pages
        ]

    def _pagerduty(self, pages: Sequence[AlertPage], action: str) -> list[Effect]:
        if not pagerduty_on(self.policy, self.pagerduty):
            return []
        return [
            (
                ALERT_PAGE_PAGERDUTY,
                f"{ALERT_PAGE_PAGERDUTY}:{page.id}",  # per page: trigger before acknowledge
                {"page_id": page.id, "group_id": page.group_id, "action": action},
                None,
            )
            for page in pages
        ]

    # --- resolved: the alert, or the incident it is linked to -------------------------

    async def group_resolved(self, session: Session, group: AlertGroup, now: datetime) -> None:
        """In the transaction that stored the group's last resolution (AlertDesk's
        `on_resolved`): every PagerDuty alert its pages triggered is resolved, the
        acknowledged ones too; waiting pages are closed by the next tick as before."""
        pages = await AlertPageRepository(session).pages(group.id)
        await OutboxRepository(session).enqueue_many(self._pagerduty(pages, "resolve"), now=now)

    async def incident_ended(self, session: Session, incident: Incident, now: datetime) -> None:
        """In the transaction resolving or closing an incident (TimelineService.on_ended):
        the PagerDuty alerts of its linked alert groups' pages are resolved too. Only
        outbox rows are written here (this transaction holds the incident; the lock order
        is group, then incident)."""
        queued: list[Effect] = []
        repo = AlertPageRepository(session)
        for group in await AlertRepository(session).groups_of_incident(incident.id):
            queued += self._pagerduty(await repo.pages(group.id), "resolve")
        await OutboxRepository(session).enqueue_many(queued, now=now)

    # --- the periodic driver ----------------------------------------------------------

    async def tick(self, now: datetime | None = None) -> int:
        """Escalate unacknowledged pages past their deadline, close the waiting pages of
        groups that resolved. Safe anywhere, any number of times, in any number of
        processes. Returns how many pages it moved on."""
        now = now or self.clock.now()
        async with self.db.session(write=False) as session:
            due = await AlertPageRepository(session).due(now)
        moved = 0
        for page_id, group_id in due:
            try:
                moved += await self.escalate(page_id, group_id, now)
            except Exception:  # one bad group must not stop the others' deadlines
                log.exception("alert page step failed; retried at the next tick")
        return moved

    async def escalate(self, page_id: int, group_id: int, now: datetime) -> bool:
        """A waiting page past its deadline: page the next rung of its role, once (at the
        ladder's end: unanswered, and the card says so). Its group resolved: closed."""
        async with self.db.session() as session:
            alerts = AlertRepository(session)
            group = await alerts.lock_group(group_id)
            repo = AlertPageRepository(session)
            page = await repo.page(page_id)
            if group is None or page is None or page.status is not AlertPageStatus.WAITING:
                return False
            if group.status != FIRING:
                queued = await self._close_resolved(repo, page)
            elif page.ack_deadline > now:
                return False
            else:
                queued = await self._escalate(repo, alerts, group, page, now)
            if queued is None:
                return False  # another process got there first
            await OutboxRepository(session).enqueue_many(queued, now=now)
        self._on_commit()
        return True

    async def _close_resolved(
        self, repo: AlertPageRepository, page: AlertPage
    ) -> list[Effect] | None:
        """The alerts resolved before anyone answered: the page is closed, its DM says so,
        and PagerDuty resolves the chain's alerts."""
        if not await repo.transition(page.id, AlertPageStatus.WAITING, AlertPageStatus.RESOLVED):
            return None
        log.info("alert page closed: resolved", extra={"page": page.id})
        chain = await repo.pages(page.group_id, page.chain)
        return self._updates([page]) + self._pagerduty(chain, "resolve")

    async def _escalate(
        self,
        repo: AlertPageRepository,
        alerts: AlertRepository,
        group: AlertGroup,
        page: AlertPage,
        now: datetime,
    ) -> list[Effect] | None:
        policy = self.policy
        rung: Rung | None = None
        if page.role in policy.roles:
            chain = await repo.pages(group.id, page.chain)
            absent = absent_people(await PagingRepository(repo.session).absences(), now)
            already = [p.person for p in chain]
            rung = next_rung(policy, page.role, already_paged=already, absent=absent)
        status = AlertPageStatus.ESCALATED if rung else AlertPageStatus.UNANSWERED
        to = rung.person if rung else None
        if not await repo.transition(page.id, AlertPageStatus.WAITING, status, escalated_to=to):
            return None
        log.info("alert page escalated", extra={"page": page.id, "to": to})
        queued = self._updates([page])
        if rung is not None:
            step = await self._add(repo, group, rung, chain=page.chain, step=page.step + 1, now=now)
            if step is not None:
                queued += self._deliveries(step)
        return queued + await card_update(alerts, group)

    # --- acknowledging ------------------------------------------------------------------

    async def acknowledge(self, group_id: int, user: str) -> AlertAck:
        """`user` acknowledges the alert group: the first acknowledgement is recorded
        (who and when: its MTTA), every page of it is answered (DMs updated, PagerDuty
        told) and the card shows it. A second click changes nothing."""
        now = self.clock.now()
        async with self.db.session() as session:
            alerts = AlertRepository(session)
            group = await alerts.lock_group(group_id)
            if group is None:
                raise AlertPagingError("This alert group no longer exists.")
            if not await alerts.acknowledge(group_id, user, now):
                return AlertAck(group, False, group.acknowledged_by, group.acknowledged_at)
            pages = await AlertPageRepository(session).acknowledge_all(group_id, user, now)
            group = await alerts.group(group_id) or group
            queued = self._updates(pages) + self._pagerduty(pages, "acknowledge")
            queued += await card_update(alerts, group)
            await OutboxRepository(session).enqueue_many(queued, now=now)
        self._on_commit()
        log.info("alert group acknowledged", extra={"alert_group": group_id, "pages": len(pages)})
        return AlertAck(group, True, user, now, len(pages))

    # --- what delivery reads --------------------------------------------------------------

    async def view(self, page_id: int) -> AlertPageView | None:
        async with self.db.session(write=False) as session:
            page = await AlertPageRepository(session).page(page_id)
            if page is None:
                return None
            alerts = AlertRepository(session)
            group = await alerts.group(page.group_id)
            if group is None:
                return None
            shown = await alerts.alerts(group.id, limit=DM_ALERTS)
        return AlertPageView(page, group, shown)

    async def dm_posted(self, page_id: int, channel: str, ts: str) -> None:
        async with self.db.session() as session:
            await AlertPageRepository(session).dm_posted(page_id, channel, ts)

    async def pages(self, group_id: int) -> list[AlertPage]:
        async with self.db.session(write=False) as session:
            return await AlertPageRepository(session).pages(group_id)
