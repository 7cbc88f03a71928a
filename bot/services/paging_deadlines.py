"""Paging's periodic driver: page new incidents, escalate unanswered pages past their
deadline, record response-time breaches (`PagingService` is one, with the requests).

Every deadline is a database column and `tick()` drives them, so a restart loses no
escalation and repeats none. Each step writes its fact, its timeline entries and its
outbox rows in one transaction, holding the incident row locked; the page's status
transition (`waiting` → `escalated`) and the unique (incident, chain, step) key make an
escalation happen once even when several processes tick on one PostgreSQL database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.incident import OPEN_STATUSES, Kind
from bot.domain.paging import (
    Page,
    PageStatus,
    Rung,
    TimelineKind,
    absent_people,
    leaves_the_role,
    next_rung,
)
from bot.domain.policy import Policy
from bot.services import paging_effects as fx
from bot.services.base import Service
from bot.services.page_writer import PageWriter, via_text
from bot.services.roster import RosterKeeper
from bot.services.roster_changes import absences_ended, roster_reloaded
from storage.paging_repository import PagingRepository
from storage.repositories import TimelineRepository

log = logging.getLogger(__name__)

OPEN = set(OPEN_STATUSES)


@dataclass
class TickReport:
    paged: int = 0
    escalated: int = 0
    breaches: int = 0
    reloaded: bool = False
    back: int = 0  # people whose absence ran out


class PagingDeadlines(Service):
    """The tick and its steps; `PagingService` sets the writer and the roster keeper."""

    writer: PageWriter
    roster_keeper: RosterKeeper | None

    # --- the periodic driver ----------------------------------------------------------

    async def tick(self) -> TickReport:
        """Reload a changed policy file, page new incidents, escalate unanswered pages
        past their deadline, record response-time breaches. Safe to run anywhere, any
        number of times, in any number of processes."""
        report = TickReport()
        if self.roster_keeper is not None:
            before = self.policy
            report.reloaded = (await self.roster_keeper.reload_if_changed()).changed
            if report.reloaded:
                await self._guard(self.roster_changed(before), None)
        report.back = await self._guard(self.end_absences(), 0)
        now = self.clock.now()
        async with self.db.session(write=False) as session:
            repo = PagingRepository(session)
            to_page = await repo.incidents_to_page()
            due = await repo.due_pages(now)
            breaches = await repo.breach_candidates(now)
        for incident_id in to_page:
            report.paged += await self._guard(self.page_incident(incident_id), 0)
        for page_id, incident_id in due:
            report.escalated += await self._guard(self.escalate(page_id, incident_id), False)
        for incident_id in breaches:
            report.breaches += await self._guard(self.record_breach(incident_id), False)
        return report

    async def end_absences(self) -> int:
        """Absences whose `until` has passed end (their rows go, once across replicas):
        the topics and Homes that showed them brought up to date. How many ended."""
        now, policy = self.clock.now(), self.policy
        async with self.db.session() as session:
            ended = await PagingRepository(session).end_absences(now)
            if ended:
                await absences_ended(session, ended, policy, now)
        if ended:
            self._on_commit()
            log.info("absences ended", extra={"people": len(ended)})
        return len(ended)

    async def roster_changed(self, before: Policy) -> None:
        """A reloaded policy changed the roster: topics and the Homes of those moved."""
        now = self.clock.now()
        async with self.db.session() as session:
            await roster_reloaded(session, before, self.policy, now)
        self._on_commit()

    async def _guard(self, work: Any, failed: Any) -> Any:
        try:
            return await work
        except Exception:  # one bad incident must not stop the others' deadlines
            log.exception("paging step failed; retried at the next tick")
            return failed

    # --- paging -----------------------------------------------------------------------

    async def page_incident(self, incident_id: int) -> int:
        """Page the roles the incident's severity lists that have not been paged yet.

        Idempotent: an incident is paged once per role (a raised severity pages only the
        roles it adds). Returns how many pages were created.
        """
        now, policy, created = self.clock.now(), self.policy, 0
        async with self.db.session() as session:
            repo = PagingRepository(session)
            incident = await repo.lock_incident(incident_id)
            if (
                incident is None
                or incident.kind is not Kind.INCIDENT
                or incident.status not in OPEN
            ):
                return 0
            if await repo.paged_severity(incident_id) == incident.severity:
                return 0
            severity = policy.severities.get(incident.severity)
            if severity is not None:
                chains = {p.chain for p in await repo.pages(incident_id)}
                absent = absent_people(await repo.absences(), now)
                assigned = await repo.assignments(incident_id)
                for role in severity.page_roles:
                    if role in chains or role not in policy.roles:
                        continue
                    rung = next_rung(
                        policy, role, already_paged=(), absent=absent, assigned=assigned.get(role)
                    )
                    if rung is None:  # nobody holds the role, nor the accountable one
                        continue
                    await self.writer.page(
                        session, incident, rung, chain=role, step=0, now=now, auto=True
                    )
                    created += 1
            await repo.mark_paged(incident_id, incident.severity, now)
        if created:
            self._on_commit()
        return created

    async def escalate(self, page_id: int, incident_id: int) -> bool:
        """Past its deadline and unacknowledged: page the next rung, once."""
        now, policy = self.clock.now(), self.policy
        async with self.db.session() as session:
            repo = PagingRepository(session)
            incident = await repo.lock_incident(incident_id)
            page = await repo.page(page_id)
            if incident is None or page is None or page.status is not PageStatus.WAITING:
                return False
            if page.ack_deadline > now:
                return False
            if incident.status not in OPEN:
                await repo.transition(page_id, PageStatus.WAITING, PageStatus.CLOSED)
                return False
            rung = await self._next_rung(repo, page, now) if page.role in policy.roles else None
            status = PageStatus.ESCALATED if rung else PageStatus.UNANSWERED
            escalated_to = rung.person if rung else None
            if not await repo.transition(
                page_id, PageStatus.WAITING, status, escalated_to=escalated_to
            ):
                return False  # another process got there first
            kind, text = _escalation_text(page, rung, policy, now)
            await TimelineRepository(session).append(
                incident_id,
                kind,
                text,
                at=now,
                actor=None,
                data={"page": page_id, "to": escalated_to, "role": page.role, "paged": page.person},
                source_key=f"escalate:{page_id}",
            )
            await self.writer.queue_updates(session, incident, [page], now)
            if rung is not None:
                next_step = page.step + 1
                await self.writer.page(
                    session, incident, rung, chain=page.chain, step=next_step, now=now, auto=True
                )
            if leaves_the_role(rung):
                title = self.writer.title(policy, page.role)
                await self.writer.tell_broadcast(
                    session, incident, fx.UNANSWERED, page.chain, title, now
                )
        self._on_commit()
        log.info("page escalated", extra={"page": page_id, "to": escalated_to})
        return True

    async def _next_rung(self, repo: PagingRepository, page: Page, now: datetime) -> Rung | None:
        """Who the page's role escalates to: the next of its ladder not paged yet in this
        chain, nor away, starting from the person assigned the role in the incident."""
        assert page.role is not None
        chain = await repo.pages(page.incident_id, page.chain)
        return next_rung(
            self.policy,
            page.role,
            already_paged=[p.person for p in chain],
            absent=absent_people(await repo.absences(), now),
            assigned=(await repo.assignments(page.incident_id)).get(page.role),
        )

    async def record_breach(self, incident_id: int) -> bool:
        """The response deadline passed without acknowledgement: record it once."""
        now = self.clock.now()
        async with self.db.session() as session:
            repo = PagingRepository(session)
            incident = await repo.lock_incident(incident_id)
            if incident is None or incident.status not in OPEN:
                return False
            if incident.acknowledged_at is not None:
                return False
            deadline = incident.response_deadline
            if deadline is None or deadline > now or await repo.has_breach(incident_id):
                return False
            await repo.add_breach(incident_id, incident.severity, deadline, now)
            await TimelineRepository(session).append(
                incident_id,
                TimelineKind.BREACH,
                "The response deadline passed without an acknowledgement",
                at=now,
                actor=None,
                data={"deadline": deadline.isoformat(), "severity": incident.severity},
                source_key=f"breach:{incident_id}",
            )
            await self.writer.broadcast(session, incident_id, now, event=fx.BREACH)
        self._on_commit()
        log.warning("response deadline breached", extra={"incident": incident_id})
        return True


def _minutes(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _escalation_text(
    page: Page, rung: Rung | None, policy: Policy, now: datetime
) -> tuple[str, str]:
    """The timeline's kind and text for a page that went unanswered past its deadline."""
    title = PageWriter.title(policy, page.role)
    waited = _minutes(now - page.paged_at)
    if rung is None:
        text = f"No acknowledgement for {title} within {waited}; nobody is left to page"
        return TimelineKind.UNANSWERED, text
    text = (
        f"No acknowledgement from <@{page.person}> for {title} within {waited}; "
        f"paging <@{rung.person}> ({via_text(rung, policy)})"
    )
    return TimelineKind.ESCALATION, text
