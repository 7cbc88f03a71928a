"""Send requests to the bot's ``/slack/events`` exactly as Slack does: signed, Slack's encodings.

* slash commands: ``application/x-www-form-urlencoded``, fields at top level;
* interactivity (block_actions, view_submission, view_closed, shortcuts): form-encoded, one field
  ``payload=<url-encoded JSON>``;
* Events API: raw JSON (``application/json``), with ``X-Slack-Retry-Num``/``-Reason`` on retries.

Every request carries ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` =
``v0=HMAC_SHA256(secret, "v0:{ts}:{raw_body}")``.

:class:`SlackPayloads` builds the same payloads without sending them (Socket Mode envelopes carry
them as JSON: see :mod:`bot.emulator.socket_sender`); the sender is a :class:`SlackPayloads`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDict

from bot.emulator.closing import AsyncContext
from bot.emulator.escaping import escape_command_text
from bot.emulator.manifest import manifest_should_escape
from bot.emulator.state import Workspace
from bot.emulator.view_state import find_element, input_values

__all__ = ["SlackPayloads", "SlackRequestSender", "SlackResponse", "input_values", "sign"]

FORM = "application/x-www-form-urlencoded"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"

P = ParamSpec("P")


def sign(signing_secret: str, timestamp: str, body: str) -> str:
    """Slack's v0 request signature for ``body`` sent at ``timestamp``."""
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


@dataclass
class SlackResponse:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def _name_of(some_id: str) -> str:
    """A plausible handle for the emulator's seeded ids (U0ALICE -> alice, C0INCIDENTS -> ...)."""
    return some_id[2:].lower() if some_id[1:2] == "0" else some_id.lower()


@dataclass(kw_only=True, eq=False)
class SlackPayloads:
    """Builds Slack-shaped payloads (slash command fields, interactivity payloads, Events API
    envelopes) for one workspace and app; transport-free, shared by HTTP and Socket Mode."""

    team_id: str = "T0FIREWTCH"
    team_domain: str = "firewatch-demo"
    api_app_id: str = "A0FIREWTCH"
    bot_user_id: str = "U0FIREBOT"
    verification_token: str = "verification_token"
    #: e.g. ``emulator.hooks_url``; default (None): Slack's real (unreachable) hooks host.
    response_url_base: str | None = None
    clock: Callable[[], float] = time.time
    #: The emulator's ``state``: whom ``@name``/``#name`` name when Slack escapes command text.
    workspace: Workspace | None = None
    should_escape: bool | None = None
    _counter: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.response_url_base = self.response_url_base or "https://hooks.slack.com/"

    # -- ids ----------------------------------------------------------------------------------

    def new_trigger_id(self) -> str:
        """A fresh trigger id in Slack's ``digits.digits.hex`` shape."""
        return f"{int(self.clock() * 1000)}.{next(self._counter)}.{secrets.token_hex(16)}"

    def _response_url(self, kind: str) -> str:
        serial, secret = next(self._counter), secrets.token_hex(12)
        return f"{self.response_url_base}{kind}/{self.team_id}/{serial}/{secret}"

    def _action_ts(self) -> str:
        return f"{self.clock():.6f}"

    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self.team_domain}

    def _user(self, user_id: str) -> dict[str, Any]:
        name = _name_of(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    # -- slash commands and interactivity -----------------------------------------------------

    def slash_command_fields(
        self,
        text: str = "",
        *,
        command: str = "/incident",
        user_id: str = "U0ALICE",
        user_name: str = "alice",
        channel_id: str = "C0INCIDENTS",
        channel_name: str = "incidents",
    ) -> dict[str, str]:
        """A slash command's fields (form-encoded over HTTP, a JSON object over a socket)."""
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": escape_command_text(text, self.workspace) if self._escapes(command) else text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url("commands"),
            "trigger_id": self.new_trigger_id(),
        }

    def _escapes(self, command: str) -> bool:  # should_escape None: as the manifest says
        return manifest_should_escape(command) if self.should_escape is None else self.should_escape

    def _base_payload(self, kind: str, user_id: str) -> dict[str, Any]:
        return {
            "type": kind,
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def block_action_payload(
        self,
        action_id: str,
        *,
        value: str | None = None,
        block_id: str = "b",
        user_id: str = "U0ALICE",
        channel_id: str | None = None,
        message: Mapping[str, Any] | None = None,
        view: Mapping[str, Any] | None = None,
        selected_option: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A click on ``action_id`` in ``message`` (in ``channel_id``) or in ``view``.

        The action's ``type`` and ``text`` come from the matching element when the message/view
        blocks contain it; otherwise a button (or static_select with ``selected_option``).
        """
        payload = self._base_payload("block_actions", user_id)
        payload["trigger_id"] = self.new_trigger_id()
        blocks = (view or message or {}).get("blocks")
        found = find_element(blocks, action_id)
        action: dict[str, Any] = {"action_id": action_id, "block_id": block_id}
        if found is not None:
            block, element = found
            action["block_id"] = block.get("block_id", block_id)
            action["type"] = element.get("type", "button")
            if "text" in element:
                action["text"] = element["text"]
        else:
            action["type"] = "static_select" if selected_option is not None else "button"
        if value is not None:
            action["value"] = value
        if selected_option is not None:
            action["selected_option"] = dict(selected_option)
        action["action_ts"] = self._action_ts()
        payload["actions"] = [action]
        payload["state"] = {"values": {}}
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id")}
            payload["view"] = dict(view)
        if channel_id is not None:
            payload["channel"] = {"id": channel_id, "name": _name_of(channel_id)}
        if message is not None:
            container = {"type": "message", "message_ts": message.get("ts")}
            container |= {"channel_id": channel_id, "is_ephemeral": False}
            payload["container"] = container
            payload["message"] = dict(message)
            payload["response_url"] = self._response_url("actions")
        if "container" not in payload:
            payload["container"] = {"type": "message", "channel_id": channel_id}
        return payload

    def view_submission_payload(
        self,
        view: Mapping[str, Any],
        values: Mapping[str, Mapping[str, Any]],
        *,
        user_id: str = "U0ALICE",
    ) -> dict[str, Any]:
        """Submitting ``view`` (as the emulator recorded it) with ``values`` as ``state.values``."""
        payload = self._base_payload("view_submission", user_id)
        payload["trigger_id"] = self.new_trigger_id()
        payload["view"] = self._view(view, values)
        payload["response_urls"] = []
        return payload

    def view_closed_payload(
        self, view: Mapping[str, Any], *, user_id: str = "U0ALICE", is_cleared: bool = False
    ) -> dict[str, Any]:
        payload = self._base_payload("view_closed", user_id)
        payload["view"] = self._view(view, {})
        payload["is_cleared"] = is_cleared
        return payload

    def _view(self, view: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"team_id": self.team_id, "app_id": self.api_app_id}
        out["previous_view_id"] = None
        out |= {"private_metadata": "", "callback_id": "", "external_id": "", "hash": ""}
        out |= dict(view)
        out.setdefault("root_view_id", out.get("id"))
        out["state"] = {"values": {k: dict(v) for k, v in values.items()}}
        return out

    def global_shortcut_payload(
        self, callback_id: str, *, user_id: str = "U0ALICE"
    ) -> dict[str, Any]:
        payload = self._base_payload("shortcut", user_id)
        payload["user"] = {"id": user_id, "username": _name_of(user_id), "team_id": self.team_id}
        payload |= {"action_ts": self._action_ts(), "callback_id": callback_id}
        payload["trigger_id"] = self.new_trigger_id()
        return payload

    def message_shortcut_payload(
        self,
        callback_id: str,
        *,
        message: Mapping[str, Any],
        channel_id: str,
        user_id: str = "U0ALICE",
    ) -> dict[str, Any]:
        payload = self._base_payload("message_action", user_id)
        payload["user"] = {"id": user_id, "name": _name_of(user_id)}
        payload |= {"action_ts": self._action_ts(), "callback_id": callback_id}
        payload["trigger_id"] = self.new_trigger_id()
        payload["channel"] = {"id": channel_id, "name": _name_of(channel_id)}
        payload["message_ts"] = message.get("ts")
        payload["message"] = dict(message)
        payload["response_url"] = self._response_url("app")
        return payload

    # -- Events API ---------------------------------------------------------------------------

    def event_envelope(
        self, event: Mapping[str, Any], *, event_id: str | None = None
    ) -> dict[str, Any]:
        """``event`` in an ``event_callback`` envelope (a fresh ``event_id`` unless given)."""
        now = self.clock()
        inner = dict(event)
        inner.setdefault("event_ts", f"{now:.6f}")
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }


def _posted(
    build: Callable[Concatenate[SlackPayloads, P], dict[str, Any]], *, form: bool = False
) -> Callable[Concatenate[SlackRequestSender, P], Coroutine[Any, Any, SlackResponse]]:
    """A sender method that posts what ``build`` makes, with ``build``'s arguments: one
    signature per payload, written once in :class:`SlackPayloads`.

    ``form``: the payload's fields are the form (slash commands); otherwise it is one
    interactivity payload (``payload=<url-encoded JSON>``).
    """

    async def post(self: SlackRequestSender, /, *args: P.args, **kwargs: P.kwargs) -> SlackResponse:
        payload = build(self, *args, **kwargs)
        if form:
            return await self.post_raw(urlencode(payload), content_type=FORM)
        return await self.interactive(payload)

    post.__name__ = build.__name__.removesuffix("_payload").removesuffix("_fields")
    post.__doc__ = f"Post :meth:`SlackPayloads.{build.__name__}` (same arguments)."
    return post


@dataclass(eq=False)
class SlackRequestSender(SlackPayloads, AsyncContext):
    """Signs and posts Slack-shaped requests to the bot's events URL (the workspace's
    keyword arguments are :class:`SlackPayloads`'s)."""

    events_url: str
    signing_secret: str
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def _exit(self) -> None:
        await self.close()

    # -- slash commands and interactivity -----------------------------------------------------

    slash_command = _posted(SlackPayloads.slash_command_fields, form=True)
    block_action = _posted(SlackPayloads.block_action_payload)
    view_submission = _posted(SlackPayloads.view_submission_payload)
    view_closed = _posted(SlackPayloads.view_closed_payload)
    global_shortcut = _posted(SlackPayloads.global_shortcut_payload)
    message_shortcut = _posted(SlackPayloads.message_shortcut_payload)

    async def interactive(self, payload: Mapping[str, Any]) -> SlackResponse:
        """Post any interactivity payload as Slack does (``payload=<url-encoded JSON>``)."""
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
        return await self.post_raw(body, content_type=FORM)

    # -- Events API ---------------------------------------------------------------------------

    async def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> SlackResponse:
        """Deliver ``event`` in an ``event_callback`` envelope (a retry if ``retry_num``)."""
        envelope = self.event_envelope(event, event_id=event_id)
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        body = json.dumps(envelope)
        return await self.post_raw(body, content_type="application/json", extra_headers=headers)

    async def url_verification(self, challenge: str) -> SlackResponse:
        body = {"token": self.verification_token, "challenge": challenge}
        body["type"] = "url_verification"
        return await self.post_raw(json.dumps(body), content_type="application/json")

    # -- raw ----------------------------------------------------------------------------------

    async def post_raw(
        self,
        body: bytes | str,
        *,
        content_type: str,
        sign: bool = True,
        timestamp: int | None = None,
        signature: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> SlackResponse:
        """POST ``body`` as-is. ``sign=False`` omits both signing headers; ``signature``
        overrides the computed one; ``timestamp`` overrides now (e.g. a stale one)."""
        raw = body if isinstance(body, bytes) else body.encode()
        headers = {"Content-Type": content_type, "User-Agent": USER_AGENT}
        if sign or signature is not None:
            ts = str(int(self.clock()) if timestamp is None else timestamp)
            headers["X-Slack-Request-Timestamp"] = ts
            computed = _sign_bytes(self.signing_secret, ts, raw)
            headers["X-Slack-Signature"] = signature if signature is not None else computed
        headers.update(extra_headers or {})
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        async with self._session.post(self.events_url, data=raw, headers=headers) as resp:
            text = await resp.text()
            return SlackResponse(resp.status, CIMultiDict(resp.headers), text)


def _sign_bytes(signing_secret: str, timestamp: str, body: bytes) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
