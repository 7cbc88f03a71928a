"""Firewatch's Web API clients: one for the outbox, one for interactive calls, and the
token-less one Bolt gets. The first two are counted by the metrics and share one
keep-alive connection pool while Firewatch runs."""

from __future__ import annotations

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.slack.instrumentation import ApiCallObserver, InstrumentedWebClient


class SlackClients:
    """Two clients: the outbox's retries are durable (ours), so its client makes none of
    its own; interactive calls such as views.open keep slack_sdk's default
    connection-error retry."""

    def __init__(self, settings: Settings, metrics: ApiCallObserver) -> None:
        self.settings = settings
        token = settings.slack_bot_token
        self.token = token.get_secret_value() if token is not None else ""
        self.outbox = self._instrumented(metrics)
        self.outbox.retry_handlers = []
        self.interactive = self._instrumented(metrics)
        self._http: aiohttp.ClientSession | None = None

    def _instrumented(self, metrics: ApiCallObserver) -> InstrumentedWebClient:
        return InstrumentedWebClient(
            metrics=metrics,
            token=self.token,
            base_url=self.settings.slack_api_url,
            timeout=int(self.settings.slack_timeout_seconds),
        )

    def for_bolt(self) -> AsyncWebClient:
        """Bolt's client is token-less: `authorize` hands each request the token."""
        return AsyncWebClient(
            base_url=self.settings.slack_api_url, timeout=int(self.settings.slack_timeout_seconds)
        )

    def share_session(self) -> None:
        """One connection pool for the outbox's and Firewatch's own Web API calls: a call
        reuses a warm keep-alive connection instead of opening one (slack_sdk makes a
        session per call otherwise). Not for Bolt's client: lazy listeners deep-copy the
        request context, and a session (with its event loop) must not be copied."""
        if self._http is None:
            # slack_sdk applies its timeout only to sessions it makes itself.
            timeout = aiohttp.ClientTimeout(total=self.settings.slack_timeout_seconds)
            self._http = aiohttp.ClientSession(timeout=timeout)
        for client in (self.interactive, self.outbox):
            client.session = self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
