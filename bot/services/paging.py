"""Paging use cases: page the IRT, acknowledge, escalate to backups, record breaches.

The periodic part (paging new incidents, escalating, breaches) is `PagingDeadlines`
(bot/services/paging_deadlines.py); here are the requests: acknowledge, page by hand,
assign a role, the roster, and what delivery and listeners read. Each use case writes
its fact, its timeline entries and its outbox rows in one transaction, holding the
incident row locked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.clock import Clock
from bot.domain.incident import Incident
from bot.domain.paging import (
    Page,
    PageStatus,
    Rung,
    TimelineKind,
    absent_people,
    next_rung,
    parse_person,
    roster,
)
from bot.domain.paging import Roster as RosterView
from bot.domain.policy import Policy
from bot.services import effects
from bot.services.home import refresh_homes
from bot.services.page_resolves import pagerduty_resolved_count, resolve_external_pages
from bot.services.page_writer import PageWriter
from bot.services.paging_deadlines import PagingDeadlines, TickReport
from bot.services.roster import RosterKeeper
from bot.services.roster_changes import TOPIC_SYNCS_MAX, role_mates, topic_syncs
from storage.engine import Database
from storage.outbox import OutboxRepository
from storage.paging_repository import PagingRepository
from storage.repositories import IncidentRepository, TimelineRepository
from storage.session import Session

__all__ = ["TOPIC_SYNCS_MAX", "AckOutcome", "PagingError", "PagingService", "TickReport"]

log = logging.getLogger(__name__)

# The RACI task whose accountable role may reload the roster.
ADMIN_TASK = "maintain_policy"


class PagingError(Exception):
    """A request that cannot be done as asked; the message is shown to the user."""


@dataclass(frozen=True)
class AckOutcome:
    page: Page
    first: bool  # False when the role's page had already been acknowledged


class PagingService(PagingDeadlines):
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
        super().__init__(db, policy, clock, on_commit)
        self.broadcast_channel = broadcast_channel
        self.roster_keeper = roster_keeper
        self.writer = PageWriter(
            lambda: self.policy, broadcast_channel, pagerduty=pagerduty, webhook=webhook
        )

    @property
    def policy(self) -> Policy:
        """The policy in use, roster people as Slack user ids."""
        return self.roster_keeper.policy if self.roster_keeper else self._policy()

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
            incident = await IncidentRepository(session).find(found.incident_id, lock=True)
            page = await repo.page(page_id)
            assert incident is not None
            assert page is not None
            if page.status is PageStatus.ACKNOWLEDGED:
                return AckOutcome(page, first=False)
            chain = [p for p in await repo.pages(incident.id, page.chain) if p.status in _UNACKED]
            for each in chain:
                await repo.set_page(
                    each.id,
                    status=PageStatus.ACKNOWLEDGED.value,
                    acknowledged_by=user,
                    acknowledged_at=now,
                )
            if incident.acknowledged_at is None:
                await IncidentRepository(session).update(
                    incident.id, acknowledged_at=now, updated_at=now
                )
                if effects.has_channel(incident.channel_status):  # no "respond by" now
                    key = effects.incident_channel_key(incident.id)
                    sync = effects.about(effects.SYNC_CHANNEL, key, incident.id)
                    await OutboxRepository(session).enqueue_many([sync], now=now)
            title = self.writer.title(policy, page.role)
            behalf = f" (paged: <@{page.person}>)" if user != page.person else ""
            await TimelineRepository(session).append(
                incident.id,
                TimelineKind.ACKNOWLEDGED,
                f"<@{user}> acknowledged the page for {title}{behalf}",
                at=now,
                actor=user,
                data={"page": page_id, "role": page.role, "paged": page.person},
                source_key=f"ack:{incident.id}:{page.chain}",
            )
            await self.writer.queue_updates(session, incident, chain, now, ack=True)
            result = (await repo.page(page_id)) or page
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
            incident = await _existing(session, incident_id)
            await PagingRepository(session).assign(incident_id, role, person, by, now)
            if effects.has_channel(incident.channel_status):  # the lead in the topic
                key = effects.incident_channel_key(incident_id)
                sync = effects.about(effects.SYNC_CHANNEL, key, incident_id)
                await OutboxRepository(session).enqueue_many([sync], now=now)
            await TimelineRepository(session).append(
                incident_id,
                TimelineKind.ASSIGNED,
                f"<@{by}> assigned <@{person}> as {title}",
                at=now,
                actor=by,
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
            incident = await _existing(session, incident_id)
            existing = await PagingRepository(session).pages(incident_id, chain)
            if existing:  # the same command delivered twice
                return existing[0]
            page = await self.writer.page(
                session,
                incident,
                rung,
                chain=chain,
                step=0,
                now=now,
                by=by,
                message=message or None,
            )
        self._on_commit()
        return page

    # --- what delivery and listeners read and report --------------------------------

    async def page_view(self, page_id: int) -> tuple[Page, Incident] | None:
        async with self.db.session(write=False) as session:
            page = await PagingRepository(session).page(page_id)
            if page is None:
                return None
            incident = await IncidentRepository(session).find(page.incident_id)
            assert incident is not None
            return page, incident

    async def incident(self, incident_id: int) -> Incident:
        async with self.db.session(write=False) as session:
            return await _existing(session, incident_id, lock=False)

    async def resolve_outside_slack(
        self, session: Session, incident: Incident, now: datetime
    ) -> None:
        """In the transaction resolving or closing the incident (TimelineService.on_ended):
        PagerDuty and the webhook hear its pages resolved, once each."""
        await resolve_external_pages(session, self.writer, incident, now)

    async def pagerduty_resolved(self, incident_id: int) -> int:
        """How many of the incident's PagerDuty alerts Firewatch resolved (queued)."""
        async with self.db.session(write=False) as session:
            return await pagerduty_resolved_count(session, incident_id)

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
            return await PagingRepository(session).pages(incident_id)

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
        rostered = any(user in role.people for role in self.policy.roles.values())
        async with self.db.session() as session:
            await PagingRepository(session).set_absence(user, until, now)
            if rostered:  # a stand-in may now lead: the channels' topics name the lead
                await OutboxRepository(session).enqueue_many(await topic_syncs(session), now=now)
            # Their Home (away or back) and their role mates' (who acts now).
            await refresh_homes(session, role_mates(self.policy, [user]), now)
        self._on_commit()

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
        before = self.policy
        outcome = await self.roster_keeper.reload()
        if outcome.changed:
            await self.roster_changed(before)
        if outcome.error:
            raise PagingError(
                "The policy file was not loaded; the roster in use is unchanged.\n"
                f"```{outcome.error}```"
            )
        return "Policy reloaded." if outcome.changed else "The policy file has not changed."


_UNACKED = {PageStatus.WAITING.value, PageStatus.ESCALATED.value, PageStatus.UNANSWERED.value}


async def _existing(session: Session, incident_id: int, *, lock: bool = True) -> Incident:
    """The incident (by default locked, for a write); PagingError if it was purged."""
    incident = await IncidentRepository(session).find(incident_id, lock=lock)
    if incident is None:
        raise PagingError("This incident no longer exists.")
    return incident
