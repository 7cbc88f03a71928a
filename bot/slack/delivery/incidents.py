"""Outbox handlers that talk to Slack's Web API.

Each handler makes one kind of call and translates Slack's answer for the generic worker:
a result, RetryLater (429 with Retry-After, 5xx, network trouble) or PermanentFailure.
Messages carry their outbox id in Slack message metadata, so a retry after a crash or a
timeout finds a message that was in fact posted instead of posting it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.incident import ChannelStatus, Incident, with_suffix
from bot.domain.policy import Policy
from bot.services import effects
from bot.services.incidents import IncidentService
from bot.services.outbox_worker import (
    EffectHandler,
    NotReady,
    OutboxItem,
    PermanentFailure,
    RetryLater,
)
from bot.slack import messages
from bot.slack.blocks import incident as blocks

log = logging.getLogger(__name__)

METADATA_EVENT = "firewatch_outbox"
MAX_NAME_ATTEMPTS = 20
# Timeline entries claimed for one echoed message at most; blocks.timeline_entries
# packs them into Slack's 50 blocks and carries over what does not fit. Slack posts
# about one message a second to a channel: in a storm of 300 notes a second, a message
# must carry a second's notes or more for the channel to keep up (a cap of 200 left a
# backlog of 30-40 s after a 60-s storm).
ECHO_BATCH = 1000
# Slack documents these as not accepting JSON bodies (json_input_supported).
FORM_ONLY_METHODS = {
    "chat.getPermalink",
    "conversations.info",
    "conversations.list",
    "conversations.members",
    "conversations.replies",
    "pins.list",
    "users.info",
    "users.list",
    "users.lookupByEmail",
}
# Slack errors that a later attempt may not meet (besides HTTP 429 and 5xx).
TRANSIENT_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
    # Credentials can be fixed by an operator without losing the queued work.
    "invalid_auth",
    "not_authed",
    "token_expired",
    "account_inactive",
}


async def call(client: AsyncWebClient, method: str, **kwargs: Any) -> dict[str, Any]:
    """One Web API call, with failures classified for the outbox worker."""
    try:
        if method in FORM_ONLY_METHODS:
            form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in kwargs.items()}
            response = await client.api_call(method, data=form)
        else:
            response = await client.api_call(method, json=kwargs)
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
        if status == 429 or error == "ratelimited":
            retry_after = _retry_after(exc.response.headers)
            raise RetryLater(f"{method}: rate limited", retry_after=retry_after) from None
        if status >= 500:
            raise RetryLater(f"{method}: HTTP {status}", outcome_unknown=True) from None
        if error in TRANSIENT_ERRORS:
            raise RetryLater(f"{method}: {error}") from None
        raise PermanentFailure(f"{method}: {error or f'HTTP {status}'}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RetryLater(f"{method}: {type(exc).__name__}", outcome_unknown=True) from None
    data = response.data
    assert isinstance(data, dict)
    return data


async def update_message(
    client: AsyncWebClient, channel: str | None, ts: str, text: str, body: list[dict[str, Any]]
) -> None:
    """chat.update a message Firewatch posted: idempotent, it shows the record as it is now."""
    await call(client, "chat.update", channel=channel, ts=ts, text=text, blocks=body)


def _retry_after(headers: Any) -> float | None:
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key) if headers else None
        if value:
            if isinstance(value, list):
                value = value[0]
            try:
                return float(value)
            except ValueError:
                return None
    return None


def slack_error(exc: PermanentFailure) -> str:
    return str(exc).rsplit(": ", 1)[-1]


class SlackEffects:
    """Builds the outbox handlers for every effect kind the services queue."""

    def __init__(
        self,
        client: AsyncWebClient,
        incidents: IncidentService,
        policy: Callable[[], Policy],
        bot_user_id: Callable[[], Awaitable[str]],
    ) -> None:
        self.client = client
        self.incidents = incidents
        self.policy = policy
        self.bot_user_id = bot_user_id
        self._channel_ids: dict[str, str] = {}

    async def resolve_channel(self, channel: str) -> str:
        """A channel id for a configured `#name` (joined once, so the bot may post and read)."""
        if channel in self._channel_ids:
            return self._channel_ids[channel]
        if channel[:1] in ("U", "W", "D"):
            return channel  # a person: chat.postMessage opens the app's DM with them
        if not channel.startswith("#"):
            # An id: join it if it is public and the bot is not in it yet.
            info = (await call(self.client, "conversations.info", channel=channel))["channel"]
            if not info.get("is_member") and not info.get("is_private") and not info.get("is_im"):
                await call(self.client, "conversations.join", channel=channel)
            self._channel_ids[channel] = channel
            return channel
        name, cursor = channel[1:], None
        while True:
            args: dict[str, Any] = {
                "limit": 200,
                "exclude_archived": True,
                "types": "public_channel",
            }
            if cursor:
                args["cursor"] = cursor
            data = await call(self.client, "conversations.list", **args)
            match = next((c for c in data.get("channels", []) if c.get("name") == name), None)
            if match is not None:
                if not match.get("is_member"):
                    await call(self.client, "conversations.join", channel=match["id"])
                self._channel_ids[channel] = str(match["id"])
                return self._channel_ids[channel]
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                raise PermanentFailure(f"conversations.list: channel_not_found ({channel})")

    def handlers(self) -> dict[str, EffectHandler]:
        return {
            effects.CREATE_CHANNEL: Handler(self.create_channel, self.channel_gave_up),
            effects.INVITE: Handler(self.invite),
            effects.POST_REPORT: Handler(self.post_report),
            effects.PIN_REPORT: Handler(self.pin_report),
            effects.ANNOUNCE: Handler(self.announce),
            effects.REPORT_FALLBACK: Handler(self.report_fallback),
            effects.UPDATE_ANNOUNCEMENT: Handler(self.update_announcement),
            effects.UPDATE_REPORT: Handler(self.update_report),
            effects.TIMELINE_ECHO: Handler(self.echo_timeline_entry, batch_limit=ECHO_BATCH),
        }

    # --- channel --------------------------------------------------------------------

    async def create_channel(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.incidents.get(item.payload["incident_id"])
        if incident.channel_id:
            return {"channel": incident.channel_id}
        base = str(item.payload["name"])
        tried: list[str] = list(item.progress.get("tried", []))
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            name = with_suffix(base, attempt)
            tried_before = name in tried
            if not tried_before:
                tried.append(name)
                # Durable before the call: a retry knows this name may already be ours.
                await item.save_progress({"tried": tried})
            try:
                data = await call(self.client, "conversations.create", name=name, is_private=False)
            except PermanentFailure as exc:
                if slack_error(exc) != "name_taken":
                    raise
                adopted = await self._adopt(name) if tried_before else None
                if adopted:
                    await self.incidents.channel_created(incident.id, adopted, name)
                    return {"channel": adopted, "name": name, "adopted": True}
                continue
            channel = data["channel"]
            await self.incidents.channel_created(incident.id, channel["id"], channel["name"])
            return {"channel": channel["id"], "name": channel["name"]}
        raise PermanentFailure(
            f"conversations.create: no free name after {MAX_NAME_ATTEMPTS} tries"
        )

    async def _adopt(self, name: str) -> str | None:
        """The channel called `name` if this bot created it and no incident has it yet.

        conversations.create is not idempotent: when an earlier attempt timed out after
        Slack had created the channel, the retry meets name_taken for our own channel.
        """
        me = await self.bot_user_id()
        cursor: str | None = None
        while True:
            args: dict[str, Any] = {
                "limit": 200,
                "exclude_archived": True,
                "types": "public_channel",
            }
            if cursor:
                args["cursor"] = cursor
            data = await call(self.client, "conversations.list", **args)
            for channel in data.get("channels", []):
                if channel.get("name") == name:
                    mine = channel.get("creator") == me
                    unclaimed = await self.incidents.channel_owner(channel["id"]) is None
                    return str(channel["id"]) if mine and unclaimed else None
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    async def channel_gave_up(self, item: OutboxItem, error: str) -> None:
        await self.incidents.channel_failed(item.payload["incident_id"], error.rsplit(": ", 1)[-1])

    async def invite(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self._with_channel(item)
        me = await self.bot_user_id()
        users = [u for u in item.payload["users"] if u != me]
        if not users:
            return {}
        try:
            await call(
                self.client,
                "conversations.invite",
                channel=incident.channel_id,
                users=",".join(users),
            )
        except PermanentFailure as exc:
            if slack_error(exc) not in {"already_in_channel", "cant_invite_self"}:
                raise
        return {"invited": users}

    # --- messages -------------------------------------------------------------------

    async def post_report(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self._with_channel(item)
        text, body = blocks.incident_report(incident, self.policy())
        assert incident.channel_id is not None
        ts = await self._post(item, incident.channel_id, text, body)
        await self.incidents.report_posted(incident.id, ts)
        return {"channel": incident.channel_id, "ts": ts}

    async def pin_report(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self._with_channel(item)
        if not incident.report_ts:
            raise PermanentFailure("pins.add: the report was never posted")
        try:
            await call(
                self.client, "pins.add", channel=incident.channel_id, timestamp=incident.report_ts
            )
        except PermanentFailure as exc:
            if slack_error(exc) != "already_pinned":
                raise
        return {"pinned": incident.report_ts}

    async def announce(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.incidents.get(item.payload["incident_id"])
        if incident.channel_status is ChannelStatus.PENDING:
            # The announcement links the channel: wait until it exists (or failed).
            raise NotReady("incident channel not created yet")
        text, body = blocks.announcement(incident, self.policy())
        channel = await self.resolve_channel(item.payload["channel"])
        ts, channel = await self.post_with_channel(item, channel, text, body)
        await self.incidents.announcement_posted(incident.id, channel, ts)
        return {"channel": channel, "ts": ts}

    async def report_fallback(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.incidents.get(item.payload["incident_id"])
        policy = self.policy()
        reason = item.payload.get("reason")
        if reason:
            note = messages.CHANNEL_FALLBACK_NOTE.format(ref=incident.ref, reason=reason)
        else:
            severity = policy.severities.get(incident.severity)
            note = messages.NO_CHANNEL_NOTE.format(
                label=severity.label if severity else incident.severity
            )
        text, body = blocks.incident_report(incident, policy, note=note)
        thread_ts = incident.announcement_ts if incident.announcement_channel_id else None
        channel = incident.announcement_channel_id or await self.resolve_channel(
            item.payload["channel"]
        )
        ts, _ = await self.post_with_channel(item, channel, text, body, thread_ts=thread_ts)
        return {"channel": channel, "ts": ts, "thread_ts": thread_ts}

    async def update_announcement(self, item: OutboxItem) -> dict[str, Any]:
        """chat.update is idempotent: it always shows the record as it is now."""
        incident = await self.incidents.get(item.payload["incident_id"])
        if not (incident.announcement_channel_id and incident.announcement_ts):
            return {"skipped": "no announcement"}
        text, body = blocks.announcement(incident, self.policy())
        await update_message(
            self.client, incident.announcement_channel_id, incident.announcement_ts, text, body
        )
        return {"ts": incident.announcement_ts}

    async def update_report(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self._with_channel(item)
        if not incident.report_ts:
            return {"skipped": "no report"}
        text, body = blocks.incident_report(incident, self.policy())
        await update_message(self.client, incident.channel_id, incident.report_ts, text, body)
        return {"ts": incident.report_ts}

    async def echo_timeline_entry(self, item: OutboxItem) -> dict[str, Any]:
        """Echo entries in the incident channel. Entries queued together go out as one
        message, so a storm of notes is not held back by Slack's ~1 message/s per channel."""
        incident = await self._with_channel(item)
        queued = (item, *item.batch)
        entries = await self.incidents.timeline_entries([q.payload["entry_id"] for q in queued])
        if not entries:
            return {"skipped": "entries purged"}
        text, body, shown = blocks.timeline_entries(entries)
        # Rows whose entries did not fit in one message wait for the next one; rows whose
        # entries were purged meanwhile are done.
        shown_ids = {e.id for e in entries[:shown]}
        stored_ids = {e.id for e in entries}
        carried = [
            q
            for q in queued
            if q.payload["entry_id"] in shown_ids or q.payload["entry_id"] not in stored_ids
        ]
        if len(carried) < len(queued):
            item = replace(item, batch=[q for q in carried if q.id != item.id])
        assert incident.channel_id is not None
        ts, channel, delivered = await self.post_batch(item, incident.channel_id, text, body)
        return {"channel": channel, "ts": ts, "delivered_ids": delivered}

    async def _with_channel(self, item: OutboxItem) -> Incident:
        incident = await self.incidents.get(item.payload["incident_id"])
        if not incident.channel_id:
            raise NotReady("incident channel not created yet")
        return incident

    async def _post(
        self, item: OutboxItem, channel: str, text: str, body: list[dict[str, Any]], **kw: Any
    ) -> str:
        ts, _ = await self.post_with_channel(item, channel, text, body, **kw)
        return ts

    async def post_with_channel(
        self,
        item: OutboxItem,
        channel: str,
        text: str,
        body: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
    ) -> tuple[str, str]:
        ts, channel, _ = await self.post_batch(item, channel, text, body, thread_ts=thread_ts)
        return ts, channel

    async def post_batch(
        self,
        item: OutboxItem,
        channel: str,
        text: str,
        body: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
    ) -> tuple[str, str, list[int]]:
        """Post one message for `item` (and the rows batched behind it); returns its ts,
        channel and the outbox ids it carries — after a lost answer, those of the message
        Slack had in fact posted."""
        if item.outcome_unknown:
            found = await self._find_posted(item, channel, thread_ts)
            if found:
                return found
        args: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": body,
            "unfurl_links": False,
            "metadata": {
                "event_type": METADATA_EVENT,
                "event_payload": {"outbox_id": item.id, "outbox_ids": item.ids},
            },
        }
        if thread_ts:
            args["thread_ts"] = thread_ts
        data = await call(self.client, "chat.postMessage", **args)
        return str(data["ts"]), str(data["channel"]), item.ids

    async def _find_posted(
        self, item: OutboxItem, channel: str, thread_ts: str | None
    ) -> tuple[str, str, list[int]] | None:
        """After an attempt with no answer: did Slack post it anyway?"""
        try:
            if thread_ts:
                data = await call(
                    self.client,
                    "conversations.replies",
                    channel=channel,
                    ts=thread_ts,
                    limit=200,
                    include_all_metadata=True,
                )
            else:
                data = await call(
                    self.client,
                    "conversations.history",
                    channel=channel,
                    limit=200,
                    include_all_metadata=True,
                )
        except PermanentFailure as exc:
            log.warning("could not look for an earlier delivery of outbox row %s: %s", item.id, exc)
            return None
        for message in data.get("messages", []):
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            ids = payload.get("outbox_ids") or [payload.get("outbox_id")]
            if meta.get("event_type") == METADATA_EVENT and item.id in ids:
                posted = [i for i in item.ids if i in ids]
                return str(message["ts"]), str(message.get("channel") or channel), posted
        return None


class Handler:
    def __init__(
        self,
        deliver: Callable[[OutboxItem], Awaitable[dict[str, Any]]],
        gave_up: Callable[[OutboxItem, str], Awaitable[None]] | None = None,
        *,
        batch_limit: int = 1,
    ) -> None:
        self._deliver = deliver
        self._gave_up = gave_up
        self.batch_limit = batch_limit

    async def deliver(self, item: OutboxItem) -> dict[str, Any]:
        return await self._deliver(item)

    async def gave_up(self, item: OutboxItem, error: str) -> None:
        if self._gave_up is not None:
            await self._gave_up(item, error)
