"""Adding messages to an incident's timeline (part of the timeline feature): the message
shortcut "Add to incident timeline", its form when used outside an incident channel, and
the policy's reaction. Adding to a timeline is an action (`capture` in the policy's
permissions): guests and other organisations' people may not, unless the policy says so.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.permissions import Action as Can
from bot.domain.permissions import Actor
from bot.domain.policy import Policy
from bot.services.incidents import IncidentNotFound
from bot.services.timeline import Captured
from bot.slack import messages
from bot.slack.blocks.timeline import capture_modal
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import Event, TimelineIds
from bot.slack.listeners.forms import (
    acknowledge,
    answering,
    metadata,
    read_value,
    state_values,
)
from bot.slack.permission import actor_of, refusal, require


def permalink(team_domain: str | None, channel: str, ts: str) -> str:
    """Slack's message link, built without an API call."""
    host = f"https://{team_domain}.slack.com" if team_domain else "https://slack.com"
    return f"{host}/archives/{channel}/p{ts.replace('.', '')}"


def captured_from(body: dict[str, Any]) -> Captured:
    """The message a message shortcut was used on."""
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id", "")
    ts = str(message.get("ts", ""))
    return Captured(
        channel_id=channel,
        ts=ts,
        author=message.get("user") or message.get("bot_id"),
        text=str(message.get("text", "")),
        permalink=permalink((body.get("team") or {}).get("domain"), channel, ts),
    )


def captures(policy: Policy, event: dict[str, Any]) -> bool:
    """Whether a reaction event adds a message to the timeline (or takes it back): the
    policy's emoji on a message, unless the policy switched reactions off."""
    if not policy.features.capture_reactions:
        return False
    item = event.get("item") or {}
    return event.get("reaction") == policy.declare.reaction_emoji and item.get("type") == "message"


async def reacted_message(client: AsyncWebClient, channel: str, ts: str) -> dict[str, Any] | None:
    """The message a reaction is on (the event does not carry it): in the channel's
    history, or else in a thread."""
    found = await client.conversations_history(
        channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
    )
    history = found.get("messages") or []
    if not history:
        found = await client.conversations_replies(channel=channel, ts=ts, limit=1)
        history = found.get("messages") or []
    return history[0] if history else None


class CaptureListeners:
    def __init__(self, deps: ListenerDeps) -> None:
        self.deps = deps
        self.incidents, self.timeline = deps.incidents, deps.timeline
        self.notices, self.authority = deps.notices, deps.authority

    @answer_errors
    async def capture_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        message = metadata(view).get("message") or {}
        gone = (ValueError, TypeError, IncidentNotFound)
        async with answering(ack, TimelineIds.INCIDENT, gone=gone):
            incident_id = int(read_value(state_values(view), TimelineIds.INCIDENT))
            await require(self.authority, actor_of(body), Can.CAPTURE, incident_id)
            await self.timeline.capture(
                incident_id, Captured(**message), actor=body["user"]["id"], via="shortcut"
            )

    # --- message shortcut: Add to incident timeline ---------------------------------------

    async def capture_here(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """In an open incident's channel the message goes straight onto its timeline."""
        await ack()
        message = captured_from(body)
        incident = await self.incidents.by_channel(message.channel_id)
        if incident is not None and incident.is_open:
            user = body["user"]["id"]
            refused = await refusal(self.authority, actor_of(body), Can.CAPTURE, incident.id)
            if refused is not None:
                await self.notices.tell(user, message.channel_id, refused)
                return
            entry = await self.timeline.capture(incident.id, message, actor=user, via="shortcut")
            told = messages.CAPTURED if entry else messages.ALREADY_CAPTURED
            await self.notices.tell(user, message.channel_id, told.format(ref=incident.ref))

    async def choose_incident(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Elsewhere, a form asks which open incident's timeline (after the answer)."""
        message = captured_from(body)
        if await self.incidents.by_channel(message.channel_id) is not None:
            return
        open_incidents = await self.incidents.list_open(limit=100)
        if not open_incidents:
            await self.notices.tell(
                body["user"]["id"], message.channel_id, messages.NO_OPEN_INCIDENT
            )
            return
        data = message.__dict__ | {"text": message.text[:1500]}
        await client.views_open(
            trigger_id=body["trigger_id"], view=capture_modal(open_incidents, data)
        )

    # --- reactions ------------------------------------------------------------------------

    async def reaction_added(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        """Runs after the answer: it fetches the message from Slack."""
        if not captures(self.deps.policy(), event):
            return
        item = event["item"]
        incident = await self.incidents.by_channel(item.get("channel", ""))
        if incident is None or await self.refused_reaction(event, incident.id):
            return
        channel, ts = item["channel"], item["ts"]
        found = await reacted_message(client, channel, ts)
        text = found.get("text", "") if found else ""
        author = found.get("user") if found else event.get("item_user")
        await self.timeline.capture(
            incident.id,
            Captured(channel, ts, author, text, permalink(None, channel, ts)),
            actor=event.get("user", ""),
            via="reaction",
        )

    async def reaction_removed(self, event: dict[str, Any]) -> None:
        if not captures(self.deps.policy(), event):
            return
        item = event["item"]
        incident = await self.incidents.by_channel(item.get("channel", ""))
        if incident is not None:
            await self.timeline.withdraw_capture(
                incident.id, item["channel"], item["ts"], actor=event.get("user", "")
            )

    async def refused_reaction(self, event: dict[str, Any], incident_id: int) -> bool:
        """A reaction's check: True when refused, the person told (privately) who may."""
        channel = str((event.get("item") or {}).get("channel", ""))
        user = str(event.get("user", ""))
        actor = Actor(user, team_id=event.get("user_team"), channel_id=channel)
        refused = await refusal(self.authority, actor, Can.CAPTURE, incident_id)
        if refused is not None:
            await self.notices.tell(user, channel, refused)
        return refused is not None


def register(app: AsyncApp, deps: ListenerDeps) -> None:
    listeners = CaptureListeners(deps)
    app.view(TimelineIds.CAPTURE_MODAL)(listeners.capture_submitted)
    app.shortcut(TimelineIds.ADD_TO_TIMELINE)(
        ack=listeners.capture_here, lazy=[listeners.choose_incident]
    )
    app.event(Event.REACTION_ADDED)(ack=acknowledge, lazy=[listeners.reaction_added])
    app.event(Event.REACTION_REMOVED)(listeners.reaction_removed)
