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
    RoleFacts,
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
        who_may=tuple(describe(policy, party, roles, known, action) for party in parties),
        roles=tuple(party for party in parties if party in policy.roles),
    )


_PARTY_NAMES = {
    "irt": "the Incident Response Team",
    "incident_responders": "the people assigned or paged for this incident",
    "reporter": "the reporter",
    "paged_person": "the person paged and their role's backups",
    "owner": "its owner",
    "members": "full members of the workspace",
    "channel_members": "people in the incident's channel",
    "guests": "guests",
    "external": "people of other organisations",
}


def describe(
    policy: Policy, party: str, roles: RoleFacts, facts: IncidentFacts, action: Action
) -> str:
    """A party for a refusal: its title, with its people now as mentions where known."""
    if party in policy.roles:
        name = f"the {policy.roles[party].title}"
    else:
        name = _PARTY_NAMES.get(party, party)
    people = party_people(party, roles, facts, action)
    if people is None or party in ("incident_responders", "channel_members"):
        return name
    if not people:
        return f"{name} (nobody now)"
    return f"{name} ({', '.join(f'<@{person}>' for person in sorted(people))})"


# What each action is, completing "Only … may …".
DOING: dict[Action, str] = {
    Action.DECLARE: "declare an incident",
    Action.ASSIGN_ROLE: "assign incident roles",
    Action.CHANGE_SEVERITY: "change the severity",
    Action.CHANGE_STATUS: "change the status",
    Action.RESOLVE: "resolve the incident",
    Action.PAGE: "page people",
    Action.ACKNOWLEDGE: "acknowledge this page",
    Action.PROPOSE_CHANGE: "propose a change",
    Action.APPROVE_CHANGE: "approve a change",
    Action.REJECT_CHANGE: "reject a change",
    Action.APPLY_CHANGE: "apply a change",
    Action.VERIFY_CHANGE: "verify a change",
    Action.VALIDATE_CHANGE: "validate a change",
    Action.ROLL_BACK_CHANGE: "roll back a change",
    Action.WRITE_POSTMORTEM: "write the post-mortem",
    Action.SUBMIT_POSTMORTEM: "submit the post-mortem",
    Action.APPROVE_POSTMORTEM: "review a post-mortem",
    Action.COMPLETE_ACTION_ITEM: "mark this action item done",
    Action.READ_TIMELINE: "read this timeline",
    Action.EXPORT: "export this incident",
    Action.RELOAD_ROSTER: "reload the roster",
}


def refusal(policy: Policy, roles: RoleFacts, decision: Decision, action: Action) -> str:
    """The sentence for the person refused: who may do it instead.

    One role alone keeps the RACI wording: "Only the Product Manager can approve a
    change; acting Product Manager now: <@U…>."
    """
    doing = DOING[action]
    parties = policy.permissions.get(action, ())
    if len(parties) == 1 and parties[0] in policy.roles:
        title = policy.roles[parties[0]].title
        people = sorted(roles.holders.get(parties[0], frozenset()))
        who = ", ".join(f"<@{person}>" for person in people) or "nobody (the role is vacant)"
        return f"Only the {title} can {doing}; acting {title} now: {who}."
    return f"Only {' or '.join(decision.who_may) or 'nobody'} may {doing}."
