"""How Slack's requests reach Firewatch's Bolt app: the app built from Settings, and in
Socket Mode the WebSocket that brings them (over HTTP, bot/slack/server.py does).

Socket Mode connects in the background so a bad app token cannot hang start-up (and with
it SIGTERM): /health shows the socket disconnected and the logs say why."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.config import Settings
from bot.domain.clock import Clock
from bot.services.events import EventLog
from bot.slack.auth import SlackAuth
from bot.slack.bolt_app import build_bolt_app
from bot.slack.clients import SlackClients
from bot.slack.deps import ListenerDeps

log = logging.getLogger(__name__)


def build_slack_app(
    settings: Settings,
    *,
    clients: SlackClients,
    auth: SlackAuth,
    deps: ListenerDeps,
    events: EventLog,
    clock: Clock,
) -> AsyncApp | None:
    """The Bolt app, or None without a bot token and a way to be reached (a signing
    secret for HTTP, an app token for Socket Mode)."""
    if settings.slack_bot_token is None or (
        settings.slack_signing_secret is None and not settings.socket_mode
    ):
        return None
    secret = settings.slack_signing_secret
    return build_bolt_app(
        client=clients.for_bolt(),
        signing_secret=secret.get_secret_value() if secret is not None else "",
        authorize=auth.authorizer(clients.token),
        deps=deps,
        events=events,
        clock=clock,
        # Socket Mode has no signatures to check.
        verify_requests=secret is not None,
        # Firewatch's own client: one keep-alive session, and its calls are counted.
        listener_client=clients.interactive,
    )


class SocketMode:
    """One Socket Mode connection: `open`, then run `connect()` in a task; `close` at stop."""

    def __init__(self, app_token: str, clock: Clock) -> None:
        self.app_token = app_token
        self.clock = clock
        self.last_message_at: datetime | None = None
        self._handler: Any = None

    def open(self, bolt: AsyncApp) -> None:
        """Build the handler. It is kept before connecting: slack_sdk retries a refused
        connection forever, and `close` must still be able to close the client (and its
        aiohttp session) then."""
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(bolt, self.app_token)

        async def seen(*_: Any) -> None:
            self.last_message_at = self.clock.now()

        handler.client.message_listeners.append(seen)
        self._handler = handler

    async def connect(self) -> None:
        try:
            await self._handler.connect_async()
        except Exception:
            log.exception("Socket Mode could not connect; check SLACK_APP_TOKEN")

    async def connected(self) -> bool:
        """Whether the socket is open now (False before `open`, or if asking fails)."""
        if self._handler is None:
            return False
        try:
            return bool(await self._handler.client.is_connected())
        except Exception:
            return False

    async def close(self) -> None:
        if self._handler is not None:
            await self._handler.close_async()
