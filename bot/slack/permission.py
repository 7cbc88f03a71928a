"""Listeners ask `Authority` before acting; a refusal is the sentence to tell the person.

The actor comes from the request's user id (what Slack signed), every fact from the
database and the roster (`bot.services.authority`).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.domain.changes import ChangeStep
from bot.domain.permissions import Action, Actor
from bot.services.authority import Authority, Refused
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


def actor_of(payload: dict[str, Any]) -> Actor:
    """Who asks: a block action's or view's `user`, or a slash command's `user_id` (with
    the workspace each carries; `Authority` tells another organisation's users apart)."""
    user = payload.get("user")
    if isinstance(user, dict):
        return Actor(str(user.get("id", "")), team_id=user.get("team_id"))
    return Actor(str(payload.get("user_id", "")), team_id=payload.get("team_id"))


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
