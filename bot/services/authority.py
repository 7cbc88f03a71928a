"""Authority: the one permission check every listener asks before acting.

It gathers what the decision depends on from storage in one read (the incident's
reporter, assignments and pages, a page's person, an owner, who is away), asks the
domain's `may`, and on a refusal records who tried what on the incident's timeline
and tells the observer (the refusals metric).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bot.domain.clock import Clock
from bot.domain.permission_check import may, refusal, role_facts
from bot.domain.permissions import Action, Actor, ActorKind, IncidentFacts, RoleFacts
from bot.domain.policy import Policy
from bot.domain.timeline import EntryKind
from bot.services.base import locked_incident
from storage.engine import Database
from storage.permission_repository import PermissionRepository, StoredFacts
from storage.repositories import TimelineRepository

RefusalObserver = Callable[[Action], None]


class Refused(Exception):
    """Said to the person as is: it names who may do this instead."""

    def __init__(self, sentence: str, action: Action) -> None:
        super().__init__(sentence)
        self.action = action


class Authority:
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        on_refusal: RefusalObserver | None = None,
        home_team: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.db = db
        self._policy = policy
        self.clock = clock
        self._on_refusal = on_refusal or (lambda _action: None)
        self._home_team = home_team  # the installation's workspace (auth.test)

    async def require(
        self,
        actor: Actor,
        action: Action,
        incident_id: int | None = None,
        *,
        page_id: int | None = None,
        item_id: int | None = None,
        change_id: int | None = None,
        postmortem_id: int | None = None,
    ) -> None:
        """Return if the policy lets `actor` do `action`; else record it and raise Refused.

        The incident is `incident_id`, or the one the page, item, change or post-mortem
        belongs to; all facts come from one read.
        """
        policy, actor = self._policy(), self._classified(actor)
        async with self.db.session(write=False) as session:
            stored = await PermissionRepository(session).facts(
                incident_id,
                self.clock.now(),
                page_id=page_id,
                item_id=item_id,
                change_id=change_id,
                postmortem_id=postmortem_id,
            )
        roles = role_facts(policy, stored.absent)
        facts = _incident_facts(policy, stored)
        decision = may(policy, roles, actor, action, facts)
        if decision.allowed:
            return
        sentence = refusal(policy, roles, decision, action)
        if stored.incident_id is not None:
            await self._record(stored.incident_id, actor, action)
        self._on_refusal(action)
        raise Refused(sentence, action)

    def _classified(self, actor: Actor) -> Actor:
        """A user of another workspace than the installation's is EXTERNAL."""
        home = self._home_team()
        if actor.team_id and home and actor.team_id != home:
            return replace(actor, kind=ActorKind.EXTERNAL)
        return actor

    async def rostered(self, role: str) -> set[str]:
        """The roster's acting holder of `role` now (absences, stand-ins), never a
        per-incident assignment: what approvals (RACI's accountable) count."""
        policy = self._policy()
        async with self.db.session(write=False) as session:
            stored = await PermissionRepository(session).facts(None, self.clock.now())
        return set(role_facts(policy, stored.absent).holders.get(role, frozenset()))

    async def roles(self) -> RoleFacts:
        async with self.db.session(write=False) as session:
            stored = await PermissionRepository(session).facts(None, self.clock.now())
        return role_facts(self._policy(), stored.absent)

    async def _record(self, incident_id: int, actor: Actor, action: Action) -> None:
        now = self.clock.now()
        text = f"<@{actor.user_id}> tried to {action.value.replace('_', ' ')}: refused"
        data = {"action": action.value, "kind": actor.kind.value}
        async with self.db.session() as session:
            incident = await locked_incident(session, incident_id)
            await TimelineRepository(session).append(
                incident.id, EntryKind.REFUSED, text, at=now, actor=actor.user_id, data=data
            )


def _incident_facts(policy: Policy, stored: StoredFacts) -> IncidentFacts | None:
    if stored.incident_id is None and stored.item_owner is None and stored.page_person is None:
        return None
    backups: frozenset[str] = frozenset()
    if stored.page_role in policy.roles:
        backups = frozenset(policy.roles[stored.page_role].backups) - {stored.page_person}
    return IncidentFacts(
        incident_id=stored.incident_id or 0,
        reporter_id=stored.reporter_id,
        assigned=frozenset(stored.assigned),
        paged=frozenset(stored.paged),
        page_person=stored.page_person,
        page_backups=backups,
        item_owner=stored.item_owner,
        postmortem_owner=stored.postmortem_owner,
    )
