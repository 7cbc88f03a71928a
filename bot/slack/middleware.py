"""Cross-cutting Bolt middleware: request context for logs, Events API de-duplication."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.clock import Clock
from storage.engine import Database
from storage.repositories import SlackEventRepository

log = logging.getLogger(__name__)

Next = Callable[[], Awaitable[BoltResponse]]


def install(
    app: AsyncApp, db: Database, clock: Clock, client: AsyncWebClient | None = None
) -> None:
    """`client`: the Web API client listeners get instead of the one Bolt makes for each
    request (and each lazy listener), so their calls share one keep-alive HTTP session."""

    async def shared_client(context: AsyncBoltContext, next: Next) -> BoltResponse:  # noqa: A002
        context["client"] = client
        return await next()

    async def request_context(req: AsyncBoltRequest, next: Next) -> BoltResponse:  # noqa: A002
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
        return await next()

    async def deduplicate_events(req: AsyncBoltRequest, next: Next) -> BoltResponse:  # noqa: A002
        """Slack re-sends an event it thinks we missed (X-Slack-Retry-Num); handle it once."""
        body = req.body if isinstance(req.body, dict) else {}
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            async with db.session() as session:
                first = await SlackEventRepository(session).first_time(str(event_id), clock.now())
            if not first:
                log.info("duplicate event skipped", extra={"event_id": event_id})
                return BoltResponse(status=200, body="")
        return await next()

    app.middleware(request_context)
    if client is not None:
        app.middleware(shared_client)
    app.middleware(deduplicate_events)
