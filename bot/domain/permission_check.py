"""The one check: may this person do this, by the policy's `permissions`, the roster now
and what the database records about the incident (see `bot.domain.permissions`)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.permissions import (
    READ_ACTIONS,
    Action,
    Actor,
    ActorKind,
    Decision,
    IncidentFacts,
    Refusal,
    RoleFacts,
    WhoMay,
)
from bot.domain.policy import Policy

_NO_FACTS = IncidentFacts(incident_id=0, reporter_id="")


def role_facts(policy: Policy, absent: Iterable[str] = ()) -> RoleFacts:
    """The roster's acting holders (absences, backups, stand-ins resolved) as `RoleFacts`."""
    holders = policy.acting_holders(frozenset(absent))
    return RoleFacts(
        holders={
            key: frozenset({holder.person}) if holder.person else frozenset()
            for key, holder in holders.items()
        },
        irt_roles=frozenset(policy.irt_roles),
    )


def party_people(
    party: str, roles: RoleFacts, facts: IncidentFacts, action: Action
) -> frozenset[str] | None:
    """The people a party names for this incident; None for the parties of a kind
    (`members`, `guests`, `external`) or an unknown channel membership."""
    if party in roles.holders:
        return roles.holders[party]
    irt = frozenset().union(*(roles.holders.get(key, frozenset()) for key in roles.irt_roles))
    people: dict[str, frozenset[str] | None] = {
        "irt": irt,
        "incident_responders": facts.assigned | facts.paged,
        "reporter": _one(facts.reporter_id),
        "paged_person": _one(facts.page_person) | facts.page_backups,
        "owner": _one(
            facts.item_owner if action is Action.COMPLETE_ACTION_ITEM else facts.postmortem_owner
        ),
        "channel_members": facts.channel_members,
    }
    return people.get(party)


def _one(person: str | None) -> frozenset[str]:
    return frozenset({person}) if person else frozenset()


def _matches(party: str, actor: Actor, action: Action, roles: RoleFacts, f: IncidentFacts) -> bool:
    if party == "members":
        return actor.kind is ActorKind.MEMBER
    if party in ("guests", "external"):
        return actor.kind.value == party.removesuffix("s")
    if actor.kind is not ActorKind.MEMBER and not (
        party == "channel_members" and action in READ_ACTIONS
    ):
        return False  # guests and other organisations: reading their channel at most
    people = party_people(party, roles, f, action)
    return people is not None and actor.user_id in people


def may(
    policy: Policy,
    roles: RoleFacts,
    actor: Actor,
    action: Action,
    facts: IncidentFacts | None = None,
) -> Decision:
    """Allowed if the actor belongs to one of the action's parties; else who may."""
    parties = policy.permissions.get(action, ())
    known = facts or _NO_FACTS
    if any(_matches(party, actor, action, roles, known) for party in parties):
        return Decision(allowed=True)
    return Decision(
        allowed=False,
        who_may=tuple(who_may(policy, party, roles, known, action) for party in parties),
    )


def who_may(
    policy: Policy, party: str, roles: RoleFacts, facts: IncidentFacts, action: Action
) -> WhoMay:
    """A party for a refusal: a role's title, and its people now where they can be named
    (not the incident's responders or its channel's members, nor a kind of people)."""
    title = policy.roles[party].title if party in policy.roles else None
    people = party_people(party, roles, facts, action)
    if people is None or party in ("incident_responders", "channel_members"):
        return WhoMay(party, title)
    return WhoMay(party, title, tuple(sorted(people)))


def refusal(decision: Decision, action: Action) -> Refusal:
    """What the person refused is told (the Slack layer words it): who may instead."""
    sole = decision.who_may[0] if len(decision.who_may) == 1 else None
    return Refusal(action, decision.who_may, sole if sole and sole.title else None)
