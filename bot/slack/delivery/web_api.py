"""Slack's Web API as the outbox handlers use it: one call wrapper and its error mapping.

`call` makes one Web API call and translates Slack's answer for the generic outbox worker:
the response data, or RetryLater (429 with Retry-After, 5xx, network trouble, errors an
operator can fix), or PermanentFailure. `SlackPoster` posts the messages of every
feature's handlers with their outbox ids in Slack message metadata, so a retry after a
crash or a timeout finds a message that was in fact posted (`find_posted`) instead of
posting it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.outbox_worker import OutboxItem, PermanentFailure, RetryLater

log = logging.getLogger(__name__)

METADATA_EVENT = "firewatch_outbox"
# Recent messages a retry reads back when it looks for its earlier post.
LOOKUP_LIMIT = 200
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
    """Slack's error code in a failure `call` raised (`method: code`)."""
    return str(exc).rsplit(": ", 1)[-1]


@contextmanager
def tolerating(*errors: str) -> Iterator[None]:
    """Let a call's PermanentFailure pass when Slack's error says there is nothing left to
    do (`already_pinned`, `already_in_channel`, ...): a retry after a lost answer meets it."""
    try:
        yield
    except PermanentFailure as exc:
        if slack_error(exc) not in errors:
            raise


async def update_message(
    client: AsyncWebClient, channel: str | None, ts: str, text: str, body: list[dict[str, Any]]
) -> None:
    """chat.update a message Firewatch posted: idempotent, it shows the record as it is now."""
    await call(client, "chat.update", channel=channel, ts=ts, text=text, blocks=body)


async def invite_users(client: AsyncWebClient, channel: str | None, users: list[str]) -> None:
    """conversations.invite, where someone already in the channel (or the bot) is no failure."""
    with tolerating("already_in_channel", "cant_invite_self"):
        await call(client, "conversations.invite", channel=channel, users=",".join(users))


async def public_channel_named(client: AsyncWebClient, name: str) -> dict[str, Any] | None:
    """The unarchived public channel called `name`, read from conversations.list page by
    page (no further page once it is found)."""
    cursor: str | None = None
    while True:
        args: dict[str, Any] = {"limit": 200, "exclude_archived": True, "types": "public_channel"}
        if cursor:
            args["cursor"] = cursor
        data = await call(client, "conversations.list", **args)
        channels: list[dict[str, Any]] = data.get("channels", [])
        match = next((c for c in channels if c.get("name") == name), None)
        if match is not None:
            return match
        cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return None


def carried_ids(message: dict[str, Any]) -> list[Any]:
    """The outbox ids a message carries in its metadata ([] for any other message)."""
    meta = message.get("metadata") or {}
    if meta.get("event_type") != METADATA_EVENT:
        return []
    payload = meta.get("event_payload") or {}
    return list(payload.get("outbox_ids") or [payload.get("outbox_id")])


async def find_posted(
    client: AsyncWebClient,
    item: OutboxItem,
    channel: str,
    *,
    thread_ts: str | None = None,
    limit: int = LOOKUP_LIMIT,
) -> tuple[dict[str, Any], str] | None:
    """After an attempt with no answer: the message Slack posted for `item` anyway, and the
    channel it was found in. A thread is read with conversations.replies, a channel with
    conversations.history. A user id (a page, a post-mortem request, a digest or reporter
    DM: chat.postMessage takes it) is no conversation id for them: Slack answers
    channel_not_found, so the DM is opened first and read by its D… id."""
    try:
        if channel[:1] in {"U", "W"}:
            opened = await call(client, "conversations.open", users=channel)
            channel = str(opened["channel"]["id"])
        if thread_ts:
            data = await call(
                client,
                "conversations.replies",
                channel=channel,
                ts=thread_ts,
                limit=limit,
                include_all_metadata=True,
            )
        else:
            data = await call(
                client,
                "conversations.history",
                channel=channel,
                limit=limit,
                include_all_metadata=True,
            )
    except PermanentFailure as exc:
        log.warning("could not look for an earlier delivery of outbox row %s: %s", item.id, exc)
        return None
    message = next((m for m in data.get("messages", []) if item.id in carried_ids(m)), None)
    return (message, channel) if message is not None else None


class NameResolver(Protocol):
    """A configured `#name` as a channel id the bot has joined (ChannelNames)."""

    async def channel_id(self, name: str) -> str: ...


class Posted(NamedTuple):
    """A message posted for outbox rows: where it is, and which rows it carries."""

    ts: str
    channel: str
    ids: list[int]


class SlackPoster:
    """Posts outbox rows as Slack messages, each once, and finds configured channels.

    The handlers of every feature post through this: a row whose last attempt had no
    answer is first looked for in the channel, by the outbox ids in its metadata."""

    # How a retry looks for its earlier post (see find_posted).
    lookup_limit = LOOKUP_LIMIT

    def __init__(self, client: AsyncWebClient, names: NameResolver | None = None) -> None:
        self.client = client
        # `#name`s resolved once and stored (channel_names.py); None: paged each process.
        self.names = names
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
        if self.names is not None:
            self._channel_ids[channel] = await self.names.channel_id(channel[1:])
            return self._channel_ids[channel]
        match = await public_channel_named(self.client, channel[1:])
        if match is None:
            raise PermanentFailure(f"conversations.list: channel_not_found ({channel})")
        if not match.get("is_member"):
            await call(self.client, "conversations.join", channel=match["id"])
        self._channel_ids[channel] = str(match["id"])
        return self._channel_ids[channel]

    async def post(
        self,
        item: OutboxItem,
        channel: str,
        text: str,
        body: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
    ) -> Posted:
        """Post one message for `item` (and the rows batched behind it); returns its ts,
        channel and the outbox ids it carries — after a lost answer, those of the message
        Slack had in fact posted."""
        if item.outcome_unknown:
            found = await find_posted(
                self.client,
                item,
                channel,
                thread_ts=thread_ts,
                limit=self.lookup_limit,
            )
            if found:
                message, channel = found
                ids = carried_ids(message)
                posted = [i for i in item.ids if i in ids]
                return Posted(str(message["ts"]), str(message.get("channel") or channel), posted)
        args: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": body,
            "unfurl_links": False,
            "metadata": {"event_type": METADATA_EVENT, "event_payload": self.event_payload(item)},
        }
        if thread_ts:
            args["thread_ts"] = thread_ts
        data = await call(self.client, "chat.postMessage", **args)
        return Posted(str(data["ts"]), str(data["channel"]), item.ids)

    def event_payload(self, item: OutboxItem) -> dict[str, Any]:
        """The message metadata's payload, where `find_posted` looks: the row's id and
        those of the rows batched behind it."""
        return {"outbox_id": item.id, "outbox_ids": item.ids}
