"""Authority: the one permission check every listener asks before acting.

It gathers what the decision depends on from storage in one read (the incident's
reporter, assignments and pages, a page's person, an owner, who is away), asks the
domain's `may`, and on a refusal records who tried what (in the refusals, and on the
incident's timeline when there is one) and tells the observer (the refusals metric).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from bot.domain import permissions
from bot.domain.clock import Clock
from bot.domain.permission_check import may, refusal, role_facts
from bot.domain.permissions import Action, Actor, ActorKind, IncidentFacts, RoleFacts
from bot.domain.policy import Policy
from bot.domain.timeline import EntryKind
from bot.services.base import locked_incident
from storage.engine import Database
from storage.permission_repository import PermissionRepository, StoredFacts
from storage.refusals import RefusalRepository
from storage.repositories import TimelineRepository

RefusalObserver = Callable[[Action], None]
Wording = Callable[[permissions.Refusal], str]  # the Slack layer's sentence for a refusal


class Directory(Protocol):
    """Whether a person is a full member or a guest (the Slack layer's `UserDirectory`)."""

    def known(self, user_id: str) -> ActorKind | None: ...  # cached only, no Slack call

    async def kind(self, user_id: str) -> ActorKind: ...


class Refused(Exception):
    """Said to the person as is: it names who may do this instead (`refusal`: the same,
    as data)."""

    def __init__(
        self, sentence: str, refusal: permissions.Refusal, unrecorded: Actor | None = None
    ) -> None:
        super().__init__(sentence)
        self.refusal = refusal
        self.action = refusal.action
        # Who was refused, while the refusal is not yet recorded (`Authority.record`).
        self.unrecorded = unrecorded


class Authority:
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        wording: Wording,
        on_refusal: RefusalObserver | None = None,
        home_team: Callable[[], str | None] = lambda: None,
        directory: Directory | None = None,
    ) -> None:
        self.db = db
        self._policy = policy
        self.clock = clock
        self._on_refusal = on_refusal or (lambda _action: None)
        self._wording = wording
        self._home_team = home_team  # the installation's workspace (auth.test)
        self._directory = directory  # guests; None: everyone of the workspace is a member

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
        about = {
            "page_id": page_id,
            "item_id": item_id,
            "change_id": change_id,
            "postmortem_id": postmortem_id,
        }
        actor, decision, incident = await self._decide(actor, action, incident_id, about)
        if decision.allowed:
            return
        await self._record(incident, actor, action)
        self._on_refusal(action)
        raise self._refused(decision, action)

    async def allows(self, actor: Actor, action: Action, incident_id: int | None = None) -> bool:
        """`require` as a question: nothing is recorded or counted (listings filter with it)."""
        return (await self._decide(actor, action, incident_id, {}))[1].allowed

    async def _decide(
        self, actor: Actor, action: Action, incident_id: int | None, about: dict[str, int | None]
    ) -> tuple[Actor, permissions.Decision, int | None]:
        """The actor as classified, the decision, and the incident it was about."""
        policy, actor = self._policy(), await self.classified(actor)
        async with self.db.session(write=False) as session:
            stored = await PermissionRepository(session).facts(
                incident_id, self.clock.now(), **about
            )
        roles = role_facts(policy, stored.absent)
        decision = may(policy, roles, actor, action, _incident_facts(policy, stored, actor))
        return actor, decision, stored.incident_id

    async def reads_all(self, actor: Actor, *, record: bool = False) -> bool:
        """Whether `actor` may read every incident wherever they ask (full members by
        default), not only the one whose channel they ask from: listings and the digest.
        `record`: a no is a refusal (the digest), recorded and counted as one; a listing
        that only narrows what it shows records nothing."""
        policy, actor = self._policy(), await self.classified(actor)
        allowed = may(policy, role_facts(policy), actor, Action.READ_TIMELINE).allowed
        if not allowed and record:
            await self._record(None, actor, Action.READ_TIMELINE)
            self._on_refusal(Action.READ_TIMELINE)
        return allowed

    def require_now(self, actor: Actor, action: Action) -> None:
        """`require` for an action on no incident whose parties are kinds of people
        (`declare: [members]`), in memory: no database read, no Slack call. The kind is
        what the team id and the directory's cache say; someone not cached counts as a
        member (the declare form is opened only after `kind` looked them up)."""
        policy, actor = self._policy(), self._external(actor)
        if actor.kind is ActorKind.MEMBER and self._directory is not None:
            actor = replace(actor, kind=self._directory.known(actor.user_id) or ActorKind.MEMBER)
        roles = role_facts(policy)
        decision = may(policy, roles, actor, action)
        if not decision.allowed:
            self._on_refusal(action)
            raise self._refused(decision, action, actor)

    def _refused(
        self, decision: permissions.Decision, action: Action, unrecorded: Actor | None = None
    ) -> Refused:
        refused = refusal(decision, action)
        return Refused(self._wording(refused), refused, unrecorded)

    async def record(self, refused: Refused) -> None:
        """Record a refusal `require_now` decided in memory (once the answer can wait for
        a write): it concerns no incident, so it goes to the refusals only."""
        if refused.unrecorded is not None:
            await self._record(None, refused.unrecorded, refused.action)
            refused.unrecorded = None

    async def classified(self, actor: Actor) -> Actor:
        """EXTERNAL if of another workspace than the installation's; GUEST if Slack says
        the account is restricted (the directory's cache, or `users.info`)."""
        actor = self._external(actor)
        if actor.kind is ActorKind.MEMBER and self._directory is not None:
            actor = replace(actor, kind=await self._directory.kind(actor.user_id))
        return actor

    def _external(self, actor: Actor) -> Actor:
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

    async def _record(self, incident_id: int | None, actor: Actor, action: Action) -> None:
        """Who tried what: in the refusals, and on the incident's timeline when there is one."""
        now = self.clock.now()
        async with self.db.session() as session:
            await RefusalRepository(session).add(
                at=now,
                actor=actor.user_id,
                actor_kind=actor.kind.value,
                action=action.value,
                incident_id=incident_id,
            )
            if incident_id is None:
                return
            text = f"<@{actor.user_id}> tried to {action.value.replace('_', ' ')}: refused"
            data = {"action": action.value, "kind": actor.kind.value}
            incident = await locked_incident(session, incident_id)
            await TimelineRepository(session).append(
                incident.id, EntryKind.REFUSED, text, at=now, actor=actor.user_id, data=data
            )


def _incident_facts(policy: Policy, stored: StoredFacts, actor: Actor) -> IncidentFacts | None:
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
        channel_members=_in_channel(stored, actor),
    )


def _in_channel(stored: StoredFacts, actor: Actor) -> frozenset[str] | None:
    """The request's channel is signed by Slack: asking from the incident's channel shows
    the person is in it. Who else is in it is not known (None when nothing is)."""
    if stored.channel_id is None or actor.channel_id is None:
        return None
    return frozenset({actor.user_id}) if actor.channel_id == stored.channel_id else frozenset()
