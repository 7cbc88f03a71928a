"""Paging use cases: page the IRT, acknowledge, escalate to backups, record breaches.

Every deadline is a database column and `tick()` drives them, so a restart loses no
escalation and repeats none. Each use case writes its fact, its timeline entries and its
outbox rows in one transaction, holding the incident row locked; the page's status
transition (`waiting` → `escalated`) and the unique (incident, chain, step) key make an
escalation happen once even when several processes tick on one PostgreSQL database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.clock import Clock
from bot.domain.incident import Incident, Kind, Status
from bot.domain.paging import (
    Page,
    PageStatus,
    Rung,
    TimelineKind,
    absent_people,
    leaves_the_role,
    next_rung,
    parse_person,
    roster,
)
from bot.domain.paging import Roster as RosterView
from bot.domain.policy import Policy
from bot.services import effects
from bot.services import paging_effects as fx
from bot.services.page_writer import PageWriter, via_text
from bot.services.roster import RosterKeeper
from storage.engine import Database
from storage.outbox import OutboxRepository
from storage.paging_models import BreachRow
from storage.paging_repository import PagingRepository, page_from_row
from storage.repositories import IncidentRepository, TimelineRepository, incident_from_row

log = logging.getLogger(__name__)

OPEN = {Status.INVESTIGATING.value, Status.IDENTIFIED.value, Status.MONITORING.value}
DEFAULT_ACK_TIMEOUT = timedelta(minutes=30)
# The RACI task whose accountable role may reload the roster.
ADMIN_TASK = "maintain_policy"


class PagingError(Exception):
    """A request that cannot be done as asked; the message is shown to the user."""


@dataclass
class TickReport:
    paged: int = 0
    escalated: int = 0
    breaches: int = 0
    reloaded: bool = False


@dataclass(frozen=True)
class AckOutcome:
    page: Page
    first: bool  # False when the role's page had already been acknowledged


class PagingService:
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        broadcast_channel: str | None,
        on_commit: Callable[[], None] | None = None,
        *,
        roster_keeper: RosterKeeper | None = None,
        pagerduty: bool = False,
        webhook: bool = False,
    ) -> None:
        self.db = db
        self._policy = policy
        self.clock = clock
        self.broadcast_channel = broadcast_channel
        self._on_commit = on_commit or (lambda: None)
        self.roster_keeper = roster_keeper
        self.writer = PageWriter(
            lambda: self.policy, broadcast_channel, pagerduty=pagerduty, webhook=webhook
        )

    @property
    def policy(self) -> Policy:
        """The policy in use, roster people as Slack user ids."""
        return self.roster_keeper.policy if self.roster_keeper else self._policy()

    # --- the periodic driver ----------------------------------------------------------

    async def tick(self) -> TickReport:
        """Reload a changed policy file, page new incidents, escalate unanswered pages
        past their deadline, record response-time breaches. Safe to run anywhere, any
        number of times, in any number of processes."""
        report = TickReport()
        if self.roster_keeper is not None:
            report.reloaded = (await self.roster_keeper.reload_if_changed()).changed
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
            row = await repo.lock_incident(incident_id)
            if row is None or row.kind != Kind.INCIDENT.value or row.status not in OPEN:
                return 0
            if await repo.paged_severity(incident_id) == row.severity:
                return 0
            severity = policy.severities.get(row.severity)
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
                        session, row, rung, chain=role, step=0, now=now, auto=True
                    )
                    created += 1
            await repo.mark_paged(incident_id, row.severity, now)
        if created:
            self._on_commit()
        return created

    async def escalate(self, page_id: int, incident_id: int) -> bool:
        """Past its deadline and unacknowledged: page the next rung, once."""
        now, policy = self.clock.now(), self.policy
        async with self.db.session() as session:
            repo = PagingRepository(session)
            row = await repo.lock_incident(incident_id)
            page = await repo.page(page_id)
            if row is None or page is None or page.status != PageStatus.WAITING.value:
                return False
            if page.ack_deadline > now:
                return False
            if row.status not in OPEN:
                await repo.transition(page_id, PageStatus.WAITING, PageStatus.CLOSED)
                return False
            rung: Rung | None = None
            if page.role in policy.roles:
                chain = await repo.pages(incident_id, page.chain)
                rung = next_rung(
                    policy,
                    page.role,
                    already_paged=[p.person for p in chain],
                    absent=absent_people(await repo.absences(), now),
                    assigned=(await repo.assignments(incident_id)).get(page.role),
                )
            status = PageStatus.ESCALATED if rung else PageStatus.UNANSWERED
            escalated_to = rung.person if rung else None
            if not await repo.transition(
                page_id, PageStatus.WAITING, status, escalated_to=escalated_to
            ):
                return False  # another process got there first
            timeline = TimelineRepository(session)
            title = self.writer.title(policy, page.role)
            waited = _minutes(now - page.paged_at)
            if rung is not None:
                text = (
                    f"No acknowledgement from <@{page.person}> for {title} within {waited}; "
                    f"paging <@{rung.person}> ({via_text(rung, policy)})"
                )
                kind = TimelineKind.ESCALATION
            else:
                text = f"No acknowledgement for {title} within {waited}; nobody is left to page"
                kind = TimelineKind.UNANSWERED
            await timeline.append(
                incident_id=incident_id,
                at=now,
                kind=kind,
                actor=None,
                text=text,
                data={"page": page_id, "to": escalated_to, "role": page.role},
                source_key=f"escalate:{page_id}",
            )
            outbox = OutboxRepository(session)
            await self.writer.queue_updates(outbox, row, [page], now)
            if rung is not None:
                await self.writer.page(
                    session, row, rung, chain=page.chain, step=page.step + 1, now=now, auto=True
                )
            if leaves_the_role(rung):
                await self.writer.tell_broadcast(
                    session, row, fx.UNANSWERED, page.chain, title, now
                )
        self._on_commit()
        log.info("page escalated", extra={"page": page_id, "to": escalated_to})
        return True

    async def record_breach(self, incident_id: int) -> bool:
        """The response deadline passed without acknowledgement: record it once."""
        now = self.clock.now()
        async with self.db.session() as session:
            repo = PagingRepository(session)
            row = await repo.lock_incident(incident_id)
            if row is None or row.status not in OPEN or row.acknowledged_at is not None:
                return False
            deadline = row.response_deadline
            if deadline is None or deadline > now or await repo.has_breach(incident_id):
                return False
            await repo.add_breach(
                BreachRow(
                    incident_id=incident_id,
                    severity=row.severity,
                    deadline=deadline,
                    recorded_at=now,
                )
            )
            await TimelineRepository(session).append(
                incident_id=incident_id,
                at=now,
                kind=TimelineKind.BREACH,
                actor=None,
                text="The response deadline passed without an acknowledgement",
                data={"deadline": deadline.isoformat(), "severity": row.severity},
                source_key=f"breach:{incident_id}",
            )
            if self.broadcast_channel:
                await OutboxRepository(session).enqueue(
                    fx.PAGE_BROADCAST,
                    effects.BROADCAST_KEY,
                    {
                        "incident_id": incident_id,
                        "event": fx.BREACH,
                        "channel": self.broadcast_channel,
                    },
                    now=now,
                    incident_id=incident_id,
                )
        self._on_commit()
        log.warning("response deadline breached", extra={"incident": incident_id})
        return True

    async def acknowledge(self, page_id: int, user: str) -> AckOutcome:
        """`user` acknowledges the page (for its whole chain: one ack per role).

        Anyone may acknowledge on behalf of the paged person; who did is recorded. The
        first acknowledgement of an incident sets its acknowledged time (MTTA).
        """
        now, policy = self.clock.now(), self.policy
        async with self.db.session() as session:
            repo = PagingRepository(session)
            found = await repo.page(page_id)
            if found is None:
                raise PagingError("This page no longer exists.")
            row = await IncidentRepository(session).get(found.incident_id, for_update=True)
            page = await repo.page(page_id)
            assert row is not None
            assert page is not None
            if page.status == PageStatus.ACKNOWLEDGED.value:
                return AckOutcome(page_from_row(page), first=False)
            open_ones = {PageStatus.WAITING.value, PageStatus.ESCALATED.value}
            open_ones.add(PageStatus.UNANSWERED.value)
            chain = [p for p in await repo.pages(row.id, page.chain) if p.status in open_ones]
            for each in chain:
                await repo.set_page(
                    each.id,
                    status=PageStatus.ACKNOWLEDGED.value,
                    acknowledged_by=user,
                    acknowledged_at=now,
                )
            if row.acknowledged_at is None:
                row.acknowledged_at, row.updated_at = now, now
            title = self.writer.title(policy, page.role)
            behalf = f" (paged: <@{page.person}>)" if user != page.person else ""
            await TimelineRepository(session).append(
                incident_id=row.id,
                at=now,
                kind=TimelineKind.ACKNOWLEDGED,
                actor=user,
                text=f"<@{user}> acknowledged the page for {title}{behalf}",
                data={"page": page_id, "role": page.role, "paged": page.person},
                source_key=f"ack:{row.id}:{page.chain}",
            )
            await self.writer.queue_updates(OutboxRepository(session), row, chain, now, ack=True)
            result = page_from_row((await repo.page(page_id)) or page)
        self._on_commit()
        return AckOutcome(result, first=True)

    async def page_by_hand(
        self, incident_id: int, target: str, *, by: str, message: str, key: str
    ) -> Page:
        """`/incident page <role or @person> [message]`: a page that does not escalate."""
        policy = self.policy
        role = target.strip().lower()
        if role in policy.roles:
            async with self.db.session(write=False) as session:
                repo = PagingRepository(session)
                absent = absent_people(await repo.absences(), self.clock.now())
                assigned = (await repo.assignments(incident_id)).get(role)
            rung = next_rung(policy, role, already_paged=(), absent=absent, assigned=assigned)
            if rung is None:
                raise PagingError(
                    f"Nobody holds {self.writer.title(policy, role)} now. "
                    f"Use `/incident assign {role} @person`."
                )
            rung = Rung(rung.person, "manual", role)
        else:
            person = parse_person(target)
            if person is None:
                known = ", ".join(policy.roles)
                raise PagingError(f"Page whom? Name a role ({known}) or mention a person.")
            rung = Rung(person, "manual", "")
        return await self._page_once(incident_id, rung, f"manual:{key}", by=by, message=message)

    async def assign_role(
        self, incident_id: int, role: str, person: str, *, by: str, key: str
    ) -> Page:
        """`/incident assign <role> @person`: who holds the role in this incident; they are
        paged and invited to the channel, and the role's later escalations start there."""
        policy = self.policy
        if role not in policy.roles:
            raise PagingError(f"There is no role `{role}`; roles are {', '.join(policy.roles)}.")
        now, title = self.clock.now(), self.writer.title(policy, role)
        async with self.db.session() as session:
            row = await IncidentRepository(session).get(incident_id, for_update=True)
            if row is None:
                raise PagingError("This incident no longer exists.")
            await PagingRepository(session).assign(incident_id, role, person, by, now)
            await TimelineRepository(session).append(
                incident_id=incident_id,
                at=now,
                kind=TimelineKind.ASSIGNED,
                actor=by,
                text=f"<@{by}> assigned <@{person}> as {title}",
                data={"role": role, "person": person},
                source_key=f"assign:{key}",
            )
        message = f"You are assigned as {title} for this incident."
        rung = Rung(person, "assigned", role)
        return await self._page_once(incident_id, rung, f"assign:{key}", by=by, message=message)

    async def _page_once(
        self, incident_id: int, rung: Rung, chain: str, *, by: str, message: str
    ) -> Page:
        now = self.clock.now()
        async with self.db.session() as session:
            repo = PagingRepository(session)
            row = await IncidentRepository(session).get(incident_id, for_update=True)
            if row is None:
                raise PagingError("This incident no longer exists.")
            existing = await repo.pages(incident_id, chain)
            if existing:  # the same command delivered twice
                return page_from_row(existing[0])
            page = await self.writer.page(
                session, row, rung, chain=chain, step=0, now=now, by=by, message=message or None
            )
            result = page_from_row(page)
        self._on_commit()
        return result

    # --- what delivery and listeners read and report --------------------------------

    async def page_view(self, page_id: int) -> tuple[Page, Incident] | None:
        async with self.db.session(write=False) as session:
            page = await PagingRepository(session).page(page_id)
            if page is None:
                return None
            row = await IncidentRepository(session).get(page.incident_id)
            assert row is not None
            return page_from_row(page), incident_from_row(row)

    async def incident(self, incident_id: int) -> Incident:
        async with self.db.session(write=False) as session:
            row = await IncidentRepository(session).get(incident_id)
            if row is None:
                raise PagingError("This incident no longer exists.")
            return incident_from_row(row)

    async def assignments(self, incident_id: int) -> dict[str, str]:
        """Who holds which role for this incident (`/incident assign`)."""
        async with self.db.session(write=False) as session:
            return await PagingRepository(session).assignments(incident_id)

    async def holders(self, role: str, incident_id: int) -> set[str]:
        """Who may act as `role` in this incident now: the person assigned to it there,
        and the roster's acting holder (absences, stand-ins and emails resolved). This
        is what RACI checks (approving a change or a post-mortem) ask."""
        async with self.db.session(write=False) as session:
            repo = PagingRepository(session)
            assigned = (await repo.assignments(incident_id)).get(role)
            absent = absent_people(await repo.absences(), self.clock.now())
        people = {assigned} if assigned else set()
        holder = self.policy.acting_holders(absent).get(role)
        if holder is not None and holder.person:
            people.add(holder.person)
        return people

    async def pages(self, incident_id: int) -> list[Page]:
        async with self.db.session(write=False) as session:
            return [page_from_row(p) for p in await PagingRepository(session).pages(incident_id)]

    async def dm_posted(self, page_id: int, channel: str, ts: str) -> None:
        async with self.db.session() as session:
            await PagingRepository(session).set_page(page_id, dm_channel=channel, dm_ts=ts)

    async def channel_posted(self, page_id: int, ts: str) -> None:
        async with self.db.session() as session:
            await PagingRepository(session).set_page(page_id, channel_ts=ts)

    # --- roster -----------------------------------------------------------------------

    async def roster_view(self) -> RosterView:
        async with self.db.session(write=False) as session:
            absences = await PagingRepository(session).absences()
        return roster(self.policy, absences, self.clock.now())

    async def set_away(self, user: str, until: datetime | None) -> None:
        """Mark `user` unavailable until `until` (None: available again)."""
        now = self.clock.now()
        if until is not None and until <= now:
            raise PagingError("That time has already passed.")
        async with self.db.session() as session:
            await PagingRepository(session).set_absence(user, until, now)

    def may_maintain_policy(self, user: str) -> bool:
        """The people of the role accountable for maintaining the policy (RACI)."""
        policy = self.policy
        if ADMIN_TASK not in policy.raci:
            return False
        role = policy.roles.get(policy.accountable(ADMIN_TASK))
        acting = policy.acting_holders().get(policy.accountable(ADMIN_TASK))
        people = set(role.people if role else ()) | {acting.person if acting else None}
        return user in people

    async def reload_roster(self, user: str) -> str:
        """`/incident roster reload`: re-read the policy file now (policy maintainers)."""
        if not self.may_maintain_policy(user):
            raise PagingError("Only the people accountable for the policy may reload it.")
        if self.roster_keeper is None:
            raise PagingError("This Firewatch has no policy file to reload.")
        outcome = await self.roster_keeper.reload()
        if outcome.error:
            raise PagingError(
                "The policy file was not loaded; the roster in use is unchanged.\n"
                f"```{outcome.error}```"
            )
        return "Policy reloaded." if outcome.changed else "The policy file has not changed."


def _minutes(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
