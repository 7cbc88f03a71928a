"""Adding messages to an incident's timeline (part of the timeline feature): the message
shortcut "Add to incident timeline", its form when used outside an incident channel, and
the policy's reaction. Adding to a timeline is an action (`capture` in the policy's
permissions): guests and other organisations' people may not, unless the policy says so.

Each is answered once its capture request is stored (bot/services/captures.py): the
capture worker reads the message from Slack when the request does not carry it
(`reacted_message`), checks the permission and records the entry. A reaction event is
recorded as handled in the transaction that stores its request, so a delivery whose
handling failed is handled again when Slack retries it. The capture form carries only
its request's key.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.permissions import Action as Can
from bot.domain.policy import Policy
from bot.services.captures import Fetched, Outcome, permalink
from bot.services.incidents import IncidentNotFound
from bot.services.outbox_handlers import PermanentFailure
from bot.services.timeline import Captured
from bot.slack import messages
from bot.slack.blocks.timeline import capture_modal
from bot.slack.delivery.web_api import call, slack_error
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import Event, TimelineIds
from bot.slack.listeners.forms import answering, metadata, read_value, state_values
from bot.slack.permission import actor_of, require

# conversations.replies for a ts that is in no thread (the message was deleted).
NO_SUCH_MESSAGE = frozenset({"thread_not_found", "message_not_found"})

WORDING = {
    Outcome.ADDED: messages.CAPTURED,
    Outcome.ALREADY: messages.ALREADY_CAPTURED,
    Outcome.DELETED: messages.CAPTURE_DELETED,
    Outcome.NO_ACCESS: messages.CAPTURE_NO_ACCESS,
    Outcome.INCIDENT_GONE: messages.CAPTURE_INCIDENT_GONE,
    Outcome.GAVE_UP: messages.CAPTURE_GAVE_UP,
}


def capture_wording(outcome: Outcome, ref: str) -> str:
    """What the person who asked for a capture is told (the capture worker's wording)."""
    return WORDING[outcome].format(ref=ref)


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


def shortcut_key(body: dict[str, Any]) -> str:
    """A shortcut's capture request: its trigger (the answer and the form share it)."""
    return f"shortcut:{body.get('trigger_id', '')}"


def captures(policy: Policy, event: dict[str, Any]) -> bool:
    """Whether a reaction event adds a message to the timeline (or takes it back): the
    policy's emoji on a message, unless the policy switched reactions off."""
    if not policy.features.capture_reactions:
        return False
    item = event.get("item") or {}
    return event.get("reaction") == policy.declare.reaction_emoji and item.get("type") == "message"


async def reacted_message(client: AsyncWebClient, channel: str, ts: str) -> dict[str, Any] | None:
    """The message a reaction is on (the event does not carry it): in the channel's
    history, or else in a thread; None when Slack has no such message. Slack's failures
    as the outbox's RetryLater (may pass) or PermanentFailure (may not read it)."""
    found = await call(
        client, "conversations.history", channel=channel, latest=ts, oldest=ts, inclusive=True
    )
    history = [m for m in found.get("messages") or [] if m.get("ts") == ts]
    if history:
        return dict(history[0])
    try:
        found = await call(
            client, "conversations.replies", channel=channel, ts=ts, latest=ts, oldest=ts
        )
    except PermanentFailure as exc:
        if slack_error(exc) in NO_SUCH_MESSAGE:
            return None
        raise
    replies = [m for m in found.get("messages") or [] if m.get("ts") == ts]
    return dict(replies[0]) if replies else None


class SlackMessages:
    """The capture worker's source of messages (`MessageSource`)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def fetch(self, channel: str, ts: str) -> Fetched | None:
        found = await reacted_message(self.client, channel, ts)
        if found is None:
            return None
        return Fetched(str(found.get("text", "")), found.get("user") or found.get("bot_id"))


class FormExpired(Exception):
    pass


class CaptureListeners:
    def __init__(self, deps: ListenerDeps) -> None:
        self.deps = deps
        self.incidents, self.notices, self.authority = deps.incidents, deps.notices, deps.authority
        assert deps.captures is not None
        self.captures = deps.captures

    @answer_errors
    async def capture_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        key = str(metadata(view).get("capture") or "")
        gone = (ValueError, TypeError, IncidentNotFound)
        async with answering(ack, TimelineIds.INCIDENT, gone=gone, refused=(FormExpired,)):
            incident_id = int(read_value(state_values(view), TimelineIds.INCIDENT))
            await require(self.authority, actor_of(body), Can.CAPTURE, incident_id)
            user = body["user"]["id"]
            if not await self.captures.chosen(key, incident_id=incident_id, user=user):
                raise FormExpired(messages.CAPTURE_FORM_EXPIRED)

    # --- message shortcut: Add to incident timeline ---------------------------------------

    async def capture_here(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """The capture request is stored before the answer: for the open incident whose
        channel the message is in, else for the form (`choose_incident`)."""
        message = captured_from(body)
        incident = await self.incidents.by_channel(message.channel_id)
        if incident is None or incident.is_open:
            user = body.get("user") or {}
            await self.captures.shortcut(
                shortcut_key(body),
                message,
                incident_id=incident.id if incident is not None else None,
                user=str(user.get("id", "")),
                team=user.get("team_id"),
            )
        await ack()

    async def choose_incident(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Elsewhere, a form asks which open incident's timeline (after the answer); it
        carries the request's key, the request keeps the message."""
        message = captured_from(body)
        if await self.incidents.by_channel(message.channel_id) is not None:
            return
        key = shortcut_key(body)
        open_incidents = await self.incidents.list_open(limit=100)
        if not open_incidents:
            await self.captures.forget_form(key)
            await self.notices.tell(
                body["user"]["id"], message.channel_id, messages.NO_OPEN_INCIDENT
            )
            return
        await client.views_open(
            trigger_id=body["trigger_id"], view=capture_modal(open_incidents, message.text, key)
        )

    # --- reactions ------------------------------------------------------------------------

    async def reaction_added(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._reaction(body, removed=False)
        await ack()

    async def reaction_removed(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._reaction(body, removed=True)
        await ack()

    async def _reaction(self, body: dict[str, Any], *, removed: bool) -> None:
        """Store the request (the event id with it) before the answer; a failure here
        answers Slack with an error, and Slack's retry is handled as new."""
        event: dict[str, Any] = body.get("event") or {}
        if not captures(self.deps.policy(), event):
            return
        item = event["item"]
        incident = await self.incidents.by_channel(str(item.get("channel", "")))
        if incident is None:
            return
        event_id = body.get("event_id")
        user = str(event.get("user", ""))
        await self.captures.reaction(
            str(event_id) if event_id else f"{item['ts']}:{user}:{event.get('event_ts')}",
            incident_id=incident.id,
            channel=str(item["channel"]),
            ts=str(item["ts"]),
            user=user,
            team=event.get("user_team"),
            author=event.get("item_user"),
            removed=removed,
            record_event=bool(event_id),
        )


def register(app: AsyncApp, deps: ListenerDeps) -> None:
    listeners = CaptureListeners(deps)
    app.view(TimelineIds.CAPTURE_MODAL)(listeners.capture_submitted)
    app.shortcut(TimelineIds.ADD_TO_TIMELINE)(
        ack=listeners.capture_here, lazy=[listeners.choose_incident]
    )
    app.event(Event.REACTION_ADDED)(listeners.reaction_added)
    app.event(Event.REACTION_REMOVED)(listeners.reaction_removed)
