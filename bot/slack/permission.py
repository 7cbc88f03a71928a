"""Listeners ask `Authority` before acting; a refusal is the sentence to tell the person.

The actor comes from the request's user id (what Slack signed), every fact from the
database and the roster (`bot.services.authority`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.domain.changes import ChangeStep
from bot.domain.incident import Incident
from bot.domain.permissions import Action, Actor, Refusal, WhoMay
from bot.services.authority import Authority, Refused
from bot.slack import messages
from bot.slack.listeners.forms import metadata
from bot.slack.subcommands import ephemeral

CHANGE_ACTIONS = {
    ChangeStep.APPROVE: Action.APPROVE_CHANGE,
    ChangeStep.REJECT: Action.REJECT_CHANGE,
    ChangeStep.APPLY: Action.APPLY_CHANGE,
    ChangeStep.VERIFY: Action.VERIFY_CHANGE,
    ChangeStep.VALIDATE: Action.VALIDATE_CHANGE,
    ChangeStep.ROLL_BACK: Action.ROLL_BACK_CHANGE,
}


def refusal_sentence(refused: Refusal) -> str:
    """What the person refused is told: who may instead (the sentences in `messages`).

    One role alone keeps the RACI wording: "Only the Product Manager can approve a
    change; acting Product Manager now: <@U…>."
    """
    doing = messages.DOING.get(refused.action.value, refused.action.value.replace("_", " "))
    sole = refused.sole_role
    if sole is not None and sole.title is not None:
        who = mentions(sole.people or ()) or messages.ROLE_VACANT
        return messages.REFUSED_ROLE.format(title=sole.title, doing=doing, who=who)
    names = messages.PARTY_OR.join(_party(party) for party in refused.who_may)
    return messages.REFUSED.format(who=names or messages.REFUSED_NOBODY, doing=doing)


def _party(party: WhoMay) -> str:
    if party.title is not None:
        name = messages.PARTY_ROLE.format(title=party.title)
    else:
        name = messages.PARTY_NAMES.get(party.party, party.party)
    if party.people is None:
        return name
    if not party.people:
        return messages.PARTY_NOBODY_NOW.format(name=name)
    return messages.PARTY_WITH_PEOPLE.format(name=name, people=mentions(party.people))


def mentions(people: Iterable[str]) -> str:
    return ", ".join(f"<@{person}>" for person in people)


#: A command run through the incident picker (bot/slack/listeners/picker.py) carries the
#: incident's channel as `channel_id`, and here the channel it was typed in: the person
#: asks from there, and is not shown to be in the incident's channel. Slack never sends
#: this field; only Firewatch's own copy of a command has it.
PICKED_FROM = "firewatch_picked_from"


def actor_of(payload: dict[str, Any]) -> Actor:
    """Who asks: a block action's or view's `user`, or a slash command's `user_id`, with
    the workspace each carries (`Authority` tells another organisation's users apart and
    asks who is a guest) and the channel asked from (a view has none)."""
    user, channel = payload.get("user"), payload.get("channel")
    if isinstance(user, dict):
        channel_id = channel.get("id") if isinstance(channel, dict) else None
        return Actor(str(user.get("id", "")), team_id=user.get("team_id"), channel_id=channel_id)
    return Actor(
        str(payload.get("user_id", "")),
        team_id=payload.get("team_id"),
        channel_id=payload.get(PICKED_FROM, payload.get("channel_id")),
    )


async def refusal(
    authority: Authority | None,
    user_id: str | Actor,
    action: Action,
    incident_id: int | None = None,
    **about: int | None,
) -> str | None:
    """None if `user_id` may do `action`; else who may (the refusal is recorded)."""
    if authority is None:
        return None
    try:
        await authority.require(_actor(user_id), action, incident_id, **about)
    except Refused as exc:
        return str(exc)
    return None


def _actor(user: str | Actor) -> Actor:
    return user if isinstance(user, Actor) else Actor(user)


async def refusal_now(authority: Authority | None, actor: Actor, action: Action) -> str | None:
    """`refusal` decided in memory, for an action on no incident decided by the kind of
    person (declaring): no database read and no Slack call when allowed
    (`Authority.require_now`); a refusal is recorded before it is answered."""
    if authority is None:
        return None
    try:
        authority.require_now(actor, action)
    except Refused as exc:
        await authority.record(exc)
        return str(exc)
    return None


async def look_up(authority: Authority | None, payload: dict[str, Any]) -> None:
    """Find out whether the person is a guest ahead of a form's submission (which reads
    only the cache): call after the answer, where a Slack call costs nobody time."""
    if authority is not None:
        await authority.classified(actor_of(payload))


async def require(
    authority: Authority | None,
    user_id: str | Actor,
    action: Action,
    incident_id: int | None = None,
    **about: int | None,
) -> None:
    """Raise Refused unless `user_id` may do `action` (inside a modal's `answering`)."""
    if authority is not None:
        await authority.require(_actor(user_id), action, incident_id, **about)


async def refused_answer(
    ack: AsyncAck,
    authority: Authority | None,
    user_id: str | Actor,
    action: Action,
    incident_id: int | None = None,
) -> bool:
    """A command's check: True when refused, the person answered (ephemerally) who may."""
    refused = await refusal(authority, user_id, action, incident_id)
    if refused is not None:
        await ephemeral(ack, refused)
    return refused is not None


async def require_in_form(
    authority: Authority | None, body: dict[str, Any], view: dict[str, Any], action: Action
) -> int:
    """A modal's check (inside `answering`, which shows a refusal under the field):
    the incident id of the view's metadata, once the submitter may do `action` there."""
    incident_id = int(metadata(view).get("incident_id", 0))
    await require(authority, actor_of(body), action, incident_id)
    return incident_id


async def reads_everywhere(
    authority: Authority | None, actor: Actor, *, refusing: bool = False
) -> bool:
    """Whether `actor` may read every incident from anywhere (listings, the digest);
    guests and other organisations' people read only the incident of their channel.
    `refusing`: a no is answered as a refusal (the digest), so it is recorded."""
    return authority is None or await authority.reads_all(actor, record=refusing)


async def readable_here(
    authority: Authority | None, actor: Actor, incidents: list[Incident]
) -> list[Incident]:
    """`incidents` as `actor` may list them: all, or only the one of the channel asked
    from, if they may read it there."""
    if await reads_everywhere(authority, actor):
        return incidents
    here = [i for i in incidents if i.channel_id and i.channel_id == actor.channel_id]
    assert authority is not None  # reads_everywhere is True without one
    return [i for i in here if await authority.allows(actor, Action.READ_TIMELINE, i.id)]
