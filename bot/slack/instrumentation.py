"""What the metrics see of Slack: its requests to /slack/events (kind, outcome, time to
answer) and Firewatch's Web API calls (method, Slack's error).

Both report to plain observers (`RequestObserver`, `ApiCallObserver`) that
bot.runtime.metrics.Metrics implements; nothing here knows Prometheus. Request bodies are
never logged.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.request_kinds import classify_request
from bot.slack.server import EVENTS_PATH


class RequestObserver(Protocol):
    def slack_request(self, kind: str, outcome: str, seconds: float) -> None: ...


class ApiCallObserver(Protocol):
    def web_api_call(self, method: str, error: str | None) -> None:
        """One Web API call to `method`; `error` is Slack's error code when it failed."""


def request_metrics(observer: RequestObserver, path: str = EVENTS_PATH) -> Middleware:
    """Times and counts POSTs to `path`; every other request passes through untouched.

    The body is read before the handler runs (aiohttp keeps it, so the handler's own
    `request.read()` returns the same bytes) and classified after it answered.
    """

    @web.middleware
    async def firewatch_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST" or request.path != path:
            return await handler(request)
        started = time.perf_counter()
        status = 500
        body = b""
        try:
            body = await request.read()
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            observer.slack_request(
                classify_request(body, request.content_type),
                outcome_for_status(status),
                time.perf_counter() - started,
            )

    return firewatch_metrics


def outcome_for_status(status: int) -> str:
    if 200 <= status < 300:
        return "ok"
    if status in (401, 403):
        return "rejected"
    return "error"


class InstrumentedWebClient(AsyncWebClient):
    """An AsyncWebClient that reports each Web API call (and Slack's error) to `metrics`.

    Every call made through it goes through `api_call`, including those of
    bot.slack.delivery.web_api.call(). Retries slack_sdk makes inside one call count once.
    """

    def __init__(self, *args: Any, metrics: ApiCallObserver, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    def __deepcopy__(self, memo: dict[int, Any]) -> InstrumentedWebClient:
        """Shared, not copied: Bolt deep-copies a request (and the client in its context)
        for each lazy listener, and the copy must keep the one keep-alive HTTP session
        instead of opening connections of its own. The client holds no per-request state."""
        return self

    async def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> AsyncSlackResponse:
        try:
            response = await super().api_call(api_method, *args, **kwargs)
        except SlackApiError as exc:
            self.metrics.web_api_call(api_method, slack_error_code(exc))
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.metrics.web_api_call(api_method, type(exc).__name__)
            raise
        self.metrics.web_api_call(api_method, None)
        return response


def slack_error_code(exc: SlackApiError) -> str:
    response = exc.response
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    status = getattr(response, "status_code", None)
    return f"http_{status}" if status else "unknown"
