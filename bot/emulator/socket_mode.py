"""Slack's Socket Mode, server side, for the emulator.

The app calls ``apps.connections.open`` with its app-level token (``xapp-…``) and gets a one-time
``ws://…/socket?ticket=…`` URL; on connecting it is greeted with ``hello``. Slack then pushes
envelopes ``{"envelope_id", "type", "payload", "accepts_response_payload"[, "retry_attempt",
"retry_reason"]}`` and the app acknowledges each with ``{"envelope_id": …[, "payload": {…}]}``
on the socket (see ``slack-reference/payloads/socket_mode_envelopes.sdk.json``).

:class:`SocketModeHub` is that server side; :class:`~bot.emulator.server.SlackEmulator` exposes it
as ``socket_send``, ``socket_connected``, ``socket_disconnect`` and ``socket_connections``.
The app's side in the tests, :class:`~bot.emulator.socket_sender.SocketModeSender`, lives in its
own module: it drives the emulator, which holds this hub.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.emulator.api_base import SlackError
from bot.emulator.state import JSON

__all__ = ["ENVELOPE_TYPES", "SocketAck", "SocketConnection", "SocketModeHub"]

ENVELOPE_TYPES = ("slash_commands", "interactive", "events_api")
#: Interactivity payloads whose ack may carry a response (``response_action``, options).
_RESPONDING_INTERACTIONS = ("view_submission", "block_suggestion")


@dataclass(eq=False)
class SocketConnection:
    """One WebSocket the app opened; ``received`` holds what the app sent (acks), parsed."""

    ticket: str
    connected_at: float
    ws: web.WebSocketResponse = field(repr=False)
    closed_at: float | None = None
    closed_by_server: bool = False
    received: list[JSON] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.closed_at is None and not self.ws.closed


@dataclass
class SocketAck:
    """The app's acknowledgement of an envelope (``payload`` is ``{}`` when it sent none)."""

    envelope_id: str
    type: str
    payload: JSON
    at: float


class SocketModeHub:
    """Tickets, connections, envelopes and acks of the emulated Socket Mode endpoint."""

    def __init__(
        self, *, app_id: str, clock: Callable[[], float], notify: Callable[[], None]
    ) -> None:
        self.app_id = app_id
        self.clock = clock
        self._notify_emulator = notify
        self._changed = asyncio.Event()
        self.connections: list[SocketConnection] = []
        self.envelopes: list[JSON] = []
        self.acks: list[SocketAck] = []
        self._tickets: dict[str, bool] = {}  # ticket -> used
        self._pending: dict[str, tuple[str, asyncio.Future[JSON]]] = {}

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        self._notify_emulator()

    async def _until(self, predicate: Callable[[], bool], timeout: float) -> bool:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
        return True

    # -- apps.connections.open ----------------------------------------------------------------

    def open_connection_url(self, base_url: str, token: str | None, app_token: str | None) -> JSON:
        """``apps.connections.open``: a one-time URL for an app-level token (body with ``ok``)."""
        try:
            if not token:
                raise SlackError("not_authed")
            if not token.startswith("xapp-"):
                raise SlackError("not_allowed_token_type")
            if app_token is None or token != app_token:
                raise SlackError("invalid_auth")
        except SlackError as exc:
            return exc.body()
        ticket = uuid.uuid4().hex
        self._tickets[ticket] = False
        ws_base = "ws://" + base_url.removeprefix("http://")
        return {"ok": True, "url": f"{ws_base}socket?ticket={ticket}"}

    # -- the WebSocket ------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if self._tickets.get(ticket) is not False:  # unknown, or already used
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        self._tickets[ticket] = True
        ws = web.WebSocketResponse(autoping=True)  # answers the SDK's pings with pongs
        await ws.prepare(request)
        connection = SocketConnection(ticket, self.clock(), ws)
        self.connections.append(connection)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": sum(1 for c in self.connections if c.open),
                "debug_info": {
                    "host": "applink-emulator",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        self._notify()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._received(connection, str(message.data))
        finally:
            connection.closed_at = self.clock()
            self._notify()
        return ws

    def _received(self, connection: SocketConnection, text: str) -> None:
        try:
            message: Any = json.loads(text)
        except ValueError:
            message = {"raw": text}
        if not isinstance(message, dict):
            message = {"raw": message}
        connection.received.append(message)
        envelope_id = message.get("envelope_id")
        pending = self._pending.pop(str(envelope_id), None) if envelope_id else None
        if pending is not None:
            kind, future = pending
            payload = message.get("payload")
            body: JSON = payload if isinstance(payload, dict) else {}
            self.acks.append(SocketAck(str(envelope_id), kind, body, self.clock()))
            if not future.done():
                future.set_result(body)
        self._notify()

    def current(self) -> SocketConnection | None:
        """The newest open connection (Slack spreads envelopes; one is enough here)."""
        return next((c for c in reversed(self.connections) if c.open), None)

    @property
    def connected(self) -> bool:
        return self.current() is not None

    async def send(
        self,
        connection: SocketConnection,
        kind: str,
        payload: Mapping[str, Any],
        *,
        retry_attempt: int,
        retry_reason: str,
        accepts_response_payload: bool | None,
        envelope_id: str | None,
        timeout: float,  # noqa: ASYNC109 - the ack's deadline
    ) -> JSON:
        if kind not in ENVELOPE_TYPES:
            raise ValueError(f"envelope type must be one of {ENVELOPE_TYPES}, not {kind!r}")
        if accepts_response_payload is None:
            accepts_response_payload = kind == "slash_commands" or (
                kind == "interactive" and payload.get("type") in _RESPONDING_INTERACTIONS
            )
        envelope: JSON = {
            "envelope_id": envelope_id or str(uuid.uuid4()),
            "payload": dict(payload),
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope |= {"retry_attempt": retry_attempt, "retry_reason": retry_reason}
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._pending[envelope["envelope_id"]] = (kind, future)
        self.envelopes.append(envelope)
        try:
            await connection.ws.send_json(envelope)
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no ack for {kind} envelope {envelope['envelope_id']} within {timeout}s"
            ) from None
        finally:
            self._pending.pop(envelope["envelope_id"], None)

    async def disconnect(self, reason: str | None = None, *, grace: float = 2.0) -> int:
        """Close every open connection from the server side; how many there were.

        With ``reason`` (e.g. ``"refresh_requested"``), first send Slack's ``{"type":
        "disconnect", "reason": ...}`` and give the app ``grace`` seconds to open a new
        connection and close the old one itself, as Slack does before a refresh; whatever is
        still open then is closed by the server (``closed_by_server``).
        """
        closing = [c for c in self.connections if c.open]
        if reason is not None:
            message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "emu"}}
            for connection in closing:
                try:
                    await connection.ws.send_json(message)
                except ConnectionError:
                    pass

            def moved() -> bool:
                newer = [c for c in self.connections if c.open and c not in closing]
                return bool(newer) and not any(c.open for c in closing)

            await self._until(moved, grace)
        for connection in closing:
            if connection.open:
                connection.closed_by_server = True
                await connection.ws.close(code=1001, message=b"server closed the connection")
        return len(closing)

    async def close(self) -> None:
        await self.disconnect()
        for _, future in self._pending.values():
            future.cancel()
        self._pending.clear()
