"""A local Slack Web API emulator over real HTTP (aiohttp), with recording and fault injection.

Usage::

    async with SlackEmulator() as slack:
        client = AsyncWebClient(token="xoxb-test-token", base_url=slack.api_url)
        await client.chat_postMessage(channel="#incidents", text="hi")
        assert slack.messages("incidents")[0].text == "hi"

With ``SlackEmulator(app_token="xapp-…")`` it also serves Socket Mode: ``apps.connections.open``
and a WebSocket at ``/socket`` (see :mod:`bot.emulator.socket_mode`)::

    ack = await slack.socket_send(type="slash_commands", payload={...})
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypedDict, TypeVar, Unpack

from aiohttp import web

from bot.emulator.closing import AsyncContext
from bot.emulator.faults import Chaos, Fault, RateLimit, error_for
from bot.emulator.intercept import CALLER, Interception
from bot.emulator.manifest import manifest_bot_scopes
from bot.emulator.methods import APP_TOKEN_METHODS, METHODS, dispatch
from bot.emulator.socket_mode import SocketAck, SocketConnection, SocketModeHub
from bot.emulator.state import JSON, Bookmark, Channel, Ephemeral, Message, User, Workspace
from bot.emulator.wire import BadRequest, RecordedCall, ResponseUrlPost, read_args

__all__ = ["RecordedCall", "ResponseUrlPost", "SlackEmulator"]

T = TypeVar("T")


class ChannelOptions(TypedDict, total=False):
    """How :meth:`SlackEmulator.add_channel` seeds a channel, passed on to the workspace."""

    channel_id: str | None
    is_private: bool


class SlackEmulator(AsyncContext):
    """Slack's Web API on ``127.0.0.1``; see the module docstring and ``docs`` of each helper."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        team_id: str = "T0FIREWTCH",
        team_domain: str = "firewatch-demo",
        bot_user_id: str = "U0FIREBOT",
        app_token: str | None = None,
        app_id: str = "A0FIREWTCH",
        clock: Callable[[], float] = time.time,
        scopes: Collection[str] | None = None,
    ) -> None:
        self.bot_token = bot_token
        #: The app-level token (``xapp-…``) ``apps.connections.open`` accepts; None: no Socket Mode.
        self.app_token = app_token
        self.clock = clock
        self.state = Workspace(
            team_id=team_id, team_domain=team_domain, bot_user_id=bot_user_id, clock=clock
        )
        self.scopes = set(manifest_bot_scopes() if scopes is None else scopes)
        self.calls: list[RecordedCall] = []
        self.response_url_posts: list[ResponseUrlPost] = []
        #: Seconds added before every Web API call is processed.
        self.latency = 0.0
        self._faults: list[Fault] = []
        self._interceptions: list[Interception] = []
        self._rate_limits: dict[str, RateLimit] = {}
        self._chaos: Chaos | None = None
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._socket = SocketModeHub(app_id=app_id, clock=clock, notify=self._notify)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        app = web.Application()
        app.router.add_route("POST", "/api/{method}", self._handle_api)
        app.router.add_route("GET", "/api/{method}", self._handle_api)
        app.router.add_route("POST", "/r/{replica}/api/{method}", self._handle_api)
        app.router.add_route("GET", "/r/{replica}/api/{method}", self._handle_api)
        app.router.add_route("POST", "/hooks/{path:.*}", self._handle_hook)
        app.router.add_route("GET", "/socket", self._socket.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        site = web.SockSite(runner, sock)
        await site.start()
        bound_port = sock.getsockname()[1]
        self._runner = runner
        self._base_url = f"http://{host}:{bound_port}/"

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await self._socket.close()
            await runner.cleanup()

    async def _enter(self) -> None:
        await self.start()

    async def _exit(self) -> None:
        await self.stop()

    @property
    def scopes(self) -> set[str]:
        """The bot scopes the installation granted (default: exactly manifest.yaml's), checked
        on every call; a mutable set tests may change. ``auth.test`` reports them in the
        ``x-oauth-scopes`` header."""
        assert self.state.granted_scopes is not None
        return self.state.granted_scopes

    @scopes.setter
    def scopes(self, scopes: Collection[str]) -> None:
        self.state.granted_scopes = set(scopes)

    def api_url_for(self, replica: str) -> str:
        """A base URL of its own for one replica of a test: its calls are recorded with
        ``replica`` (and :meth:`intercept` callbacks receive it)."""
        return self._url(f"r/{replica}/api/")

    @property
    def api_url(self) -> str:
        """Base URL for ``AsyncWebClient(base_url=...)``, with the trailing slash it expects."""
        return self._url("api/")

    @property
    def hooks_url(self) -> str:
        """Base for fake ``response_url``s; POSTs there land in :attr:`response_url_posts`."""
        return self._url("hooks/")

    def _url(self, path: str) -> str:
        if self._base_url is None:
            raise RuntimeError("emulator not started")
        return self._base_url + path

    # -- seeding and inspection ---------------------------------------------------------------

    def add_user(
        self, user_id: str, name: str, email: str, *, tz: str = "UTC", is_restricted: bool = False
    ) -> User:
        user = self.state.add_user(user_id, name, email, tz=tz, is_restricted=is_restricted)
        self._notify()
        return user

    def add_channel(
        self,
        name: str,
        *,
        members: Sequence[str] = (),
        bot_is_member: bool = True,
        **options: Unpack[ChannelOptions],
    ) -> Channel:
        everyone = [*members, self.state.bot_user_id] if bot_is_member else list(members)
        channel = self.state.add_channel(name, members=everyone, **options)
        self._notify()
        return channel

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0ALICE",
        thread_ts: str | None = None,
        blocks: list[Any] | None = None,
    ) -> Message:
        """Seed a message by a human (as if typed in Slack); returns it with its ``ts``."""
        target = self.state.resolve_channel(channel)
        if target is None:
            raise KeyError(f"no channel {channel!r}")
        ts = self.state.next_ts()
        message = Message(
            target.id, ts, user, text, blocks, None, thread_ts, team=self.state.team_id
        )
        self.state.add_message(target.id, message)
        self._notify()
        return message

    def channel(self, channel_id: str) -> Channel | None:
        return self.state.channels.get(channel_id)

    def channel_by_name(self, name: str) -> Channel | None:
        return self.state.channel_by_name(name)

    def dm_channel_for(self, user_id: str) -> Channel | None:
        return self.state.dm_channel_for(user_id)

    def _find(self, channel: str) -> Channel | None:
        if channel in self.state.channels:
            return self.state.channels[channel]
        if channel in self.state.users:
            return self.state.dm_channel_for(channel)
        return self.state.channel_by_name(channel)

    def messages(self, channel: str) -> list[Message]:
        """Messages (thread replies included, ephemerals not) in ``ts`` order; ``[]`` if the
        channel (id, name, ``#name``, or user id for the bot's DM) does not exist (yet)."""
        found = self._find(channel)
        if found is None:
            return []
        return sorted(self.state.messages.get(found.id, []), key=lambda m: float(m.ts))

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        channel_id = None
        if channel is not None:
            found = self._find(channel)
            if found is None:
                return []
            channel_id = found.id
        return [
            e
            for e in self.state.ephemerals
            if (user is None or e.user == user) and (channel_id is None or e.channel == channel_id)
        ]

    def opened_views(self, callback_id: str | None = None) -> list[JSON]:
        """Snapshots of views after each views.open/push/update, newest last (with id, hash)."""
        log = self.state.view_log
        return [dict(v) for v in log if callback_id is None or v["callback_id"] == callback_id]

    def home_view(self, user_id: str) -> JSON | None:
        view_id = self.state.home_views.get(user_id)
        return None if view_id is None else dict(self.state.views[view_id])

    def pins(self, channel: str) -> list[Message]:
        found = self._find(channel)
        if found is None:
            return []
        pinned = [
            self.state.find_message(found.id, p.ts) for p in self.state.pins.get(found.id, [])
        ]
        return [m for m in pinned if m is not None]

    def bookmarks(self, channel: str) -> list[Bookmark]:
        found = self._find(channel)
        return [] if found is None else list(self.state.bookmarks.get(found.id, []))

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method]

    def reset_calls(self) -> None:
        self.calls.clear()
        self.response_url_posts.clear()

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the agreed API
    ) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every state change); return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(
                    f"{c.method}->{c.response.get('error', 'ok')}" for c in self.calls[-8:]
                )
                raise TimeoutError(f"condition not met within {timeout}s; last calls: [{recent}]")
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                continue

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- Socket Mode --------------------------------------------------------------------------

    @property
    def socket_connected(self) -> bool:
        """Whether the app holds an open Socket Mode connection."""
        return self._socket.connected

    @property
    def socket_connections(self) -> list[SocketConnection]:
        """Every Socket Mode connection so far, oldest first (open or closed)."""
        return list(self._socket.connections)

    @property
    def socket_envelopes(self) -> list[JSON]:
        """Envelopes pushed to the app, oldest first."""
        return list(self._socket.envelopes)

    @property
    def socket_acks(self) -> list[SocketAck]:
        """The app's acks, in the order they arrived."""
        return list(self._socket.acks)

    async def socket_send(
        self,
        *,
        type: str,  # noqa: A002 - Slack's envelope field
        payload: Mapping[str, Any],
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
        envelope_id: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the agreed API
    ) -> JSON:
        """Push an envelope (``slash_commands``, ``interactive`` or ``events_api``) over the
        newest open connection, waiting for one up to ``timeout``; return the ack's payload
        (``{}`` when the ack had none). Raises TimeoutError when no ack comes in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        connection = await self.wait_for(self._socket.current, timeout)
        assert connection is not None  # wait_for returns only a truthy result
        return await self._socket.send(
            connection,
            type,
            payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            accepts_response_payload=accepts_response_payload,
            envelope_id=envelope_id,
            timeout=max(deadline - loop.time(), 0.0),
        )

    async def socket_disconnect(self, reason: str | None = None, *, grace: float = 2.0) -> int:
        """Close the app's Socket Mode connections from the server side; how many were open.

        With ``reason``, first send Slack's ``{"type": "disconnect", "reason": ...}`` and wait up
        to ``grace`` seconds for the app to reconnect and close the old connection itself."""
        return await self._socket.disconnect(reason, grace=grace)

    # -- fault injection ----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        drop_connection: bool = False,
        apply: bool = False,
        after: int = 0,
        release: asyncio.Event | None = None,
    ) -> Fault:
        """Make the next ``times`` calls to ``method`` (``"*"``: any) misbehave (see Fault),
        once ``after`` calls to it have been answered normally."""
        fault = Fault(
            method, times, status, error, retry_after, delay, drop_connection, apply, after, release
        )
        self._faults.append(fault)
        return fault

    def rate_limit(
        self,
        method: str = "chat.postMessage",
        *,
        per_second: float = 1.0,
        burst: int = 3,
        per_channel: bool = True,
    ) -> RateLimit:
        """Answer 429 + ``Retry-After`` once a token bucket (per channel by default) runs dry."""
        limit = RateLimit(method, per_second, burst, per_channel)
        self._rate_limits[method] = limit
        return limit

    def random_failures(
        self,
        rate: float = 0.3,
        statuses: Sequence[int] = (429, 503),
        *,
        seed: int | None = None,
        methods: Collection[str] | None = None,
        retry_after: int = 1,
    ) -> None:
        """Chaos: each call (to ``methods``, default all) fails with probability ``rate``."""
        self._chaos = Chaos(rate, tuple(statuses), random.Random(seed), methods, retry_after)

    def intercept(
        self, method: str, *, nth: int = 1, phase: str, then: Callable[[str | None], object]
    ) -> Interception:
        """Run ``then(replica)`` at ``phase`` of the ``nth`` call of ``method`` from now (see
        :mod:`bot.emulator.intercept`); used to kill the replica that made the call."""
        held = Interception(method, nth, phase, then)
        self._interceptions.append(held)
        return held

    def clear_faults(self) -> None:
        self._faults.clear()
        self._interceptions.clear()
        self._rate_limits.clear()
        self._chaos = None
        self.latency = 0.0

    # -- HTTP ---------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        CALLER.set(request.match_info.get("replica"))
        at = self.clock()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        try:
            args, token = await read_args(request)
        except BadRequest as exc:
            return self._answer(method, {}, None, at, 200, {"ok": False, "error": str(exc)})
        if method not in METHODS and method not in APP_TOKEN_METHODS:
            return self._answer(
                method, args, token, at, 404, {"ok": False, "error": "unknown_method"}
            )
        held = next((i for i in self._interceptions if i.hit(method)), None)
        if held is not None:
            return self._intercepted(request, held, method, args, token, at)
        fault = next((f for f in self._faults if f.matches(method)), None)
        if fault is not None and not fault.take():
            fault = None
        if fault is not None and fault.fails:
            if fault.apply:
                self._run(method, args, token)
            await fault.hold()
            if fault.drop_connection:
                return self._drop(request, method, args, token, at)
            body = {"ok": False, "error": fault.error or error_for(fault.status)}
            return self._answer(method, args, token, at, fault.status, body, fault.retry_after)
        chaos = self._chaos.pick(method) if self._chaos is not None else None
        if chaos is not None and self._chaos is not None:
            body = {"ok": False, "error": error_for(chaos)}
            retry_after = self._chaos.retry_after if chaos == 429 else None
            return self._answer(method, args, token, at, chaos, body, retry_after)
        status, body, retry_after = self._run(method, args, token)
        if fault is not None:
            await fault.hold()
        return self._answer(method, args, token, at, status, body, retry_after)

    def _intercepted(
        self,
        request: web.Request,
        held: Interception,
        method: str,
        args: dict[str, Any],
        token: str | None,
        at: float,
    ) -> web.StreamResponse:
        caller = CALLER.get()
        if held.phase == "before":
            held.then(caller)
            return self._drop(request, method, args, token, at)
        status, body, retry_after = self._run(method, args, token)
        if held.phase == "effect":
            held.then(caller)
            return self._drop(request, method, args, token, at)
        asyncio.get_running_loop().call_soon(held.then, caller)  # once the answer is out
        return self._answer(method, args, token, at, status, body, retry_after)

    def _run(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, JSON, int | None]:
        if method in APP_TOKEN_METHODS:
            return 200, self._socket.open_connection_url(self._url(""), token, self.app_token), None
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, None
        if token.startswith("xapp-"):
            return 200, {"ok": False, "error": "not_allowed_token_type"}, None
        if token != self.bot_token:
            return 200, {"ok": False, "error": "invalid_auth"}, None
        limit = self._rate_limits.get(method)
        if limit is not None:
            ref = str(args.get("channel") or args.get("channel_id") or "")
            channel = self._find(ref) if ref else None  # no side effects (no DM opened)
            retry_after = limit.check(channel.id if channel else ref, self.clock())
            if retry_after is not None:
                return 429, {"ok": False, "error": "ratelimited"}, retry_after
        return 200, dispatch(self.state, method, args), None

    def _answer(
        self,
        method: str,
        args: dict[str, Any],
        token: str | None,
        at: float,
        status: int,
        body: JSON,
        retry_after: int | None = None,
    ) -> web.Response:
        headers: dict[str, str] = {}
        if status == 429 or retry_after is not None:
            headers["Retry-After"] = str(1 if retry_after is None else retry_after)
        if method == "auth.test" and body.get("ok"):
            headers["x-oauth-scopes"] = ",".join(sorted(self.scopes))
        self.calls.append(
            RecordedCall(method, args, at, status, body, token, headers, CALLER.get())
        )
        self._notify()
        return web.json_response(body, status=status, headers=headers)

    def _drop(
        self, request: web.Request, method: str, args: dict[str, Any], token: str | None, at: float
    ) -> web.StreamResponse:
        self.calls.append(RecordedCall(method, args, at, 0, {}, token, replica=CALLER.get()))
        self._notify()
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError

    async def _handle_hook(self, request: web.Request) -> web.Response:
        text = await request.text()
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        self.response_url_posts.append(
            ResponseUrlPost(request.match_info["path"], body, self.clock())
        )
        self._notify()
        return web.Response(text="ok")
