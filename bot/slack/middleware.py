"""Cross-cutting Bolt middleware: request context for logs, the shared Web API client,
Events API de-duplication."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import Clock
from bot.runtime import logs
from bot.services.events import EventLog

log = logging.getLogger(__name__)

Next = Callable[[], Awaitable[BoltResponse]]


class FirewatchMiddleware(AsyncMiddleware):
    """One Bolt middleware for every request, in this order:

    * request context for the logs (team id, a request id);
    * `client`: the Web API client listeners get instead of the one Bolt makes for each
      request (and each lazy listener), so their calls share one keep-alive HTTP session;
    * Slack re-sends an event it thinks we missed (X-Slack-Retry-Num): a delivery
      already handled is answered at once and not handled again (`EventLog`). Nothing
      is recorded here: the listener records the event id with what it stores.

    A subclass of Bolt's `AsyncMiddleware` rather than three decorated functions: Bolt
    inspects a function middleware's signature and builds its arguments on every request,
    which cost a note's answer about a tenth of its CPU (docs/performance.md)."""

    def __init__(self, events: EventLog, clock: Clock, client: AsyncWebClient | None) -> None:
        self._events = events
        self._clock = clock
        self._client = client

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,  # noqa: ARG002 — Bolt's signature
        next: Next,  # noqa: A002 — Bolt's signature
    ) -> BoltResponse | None:
        body: dict[str, Any] = req.body if isinstance(req.body, dict) else {}
        team = body.get("team_id") or (body.get("team") or {}).get("id")
        logs.team_id.set(str(team) if team else None)
        logs.request_id.set(
            str(
                body.get("event_id")
                or body.get("trigger_id")
                or req.headers.get("x-slack-request-timestamp", [""])[0]
            )
            or None
        )
        if self._client is not None:
            req.context["client"] = self._client
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and await self._events.handled(str(event_id)):
            log.info("duplicate event skipped", extra={"event_id": event_id})
            return BoltResponse(status=200, body="")
        return await next()


def install(
    app: AsyncApp, events: EventLog, clock: Clock, client: AsyncWebClient | None = None
) -> None:
    """`client`: see `FirewatchMiddleware`."""
    app.middleware(FirewatchMiddleware(events, clock, client))
