"""The HTTP server: Slack's requests at POST /slack/events, plus health endpoints (and any
extra routes, such as /metrics).

/health/live and /health/ready are open (probes); /health gives its details (components,
team, errors) only to whom `access` allows (bot/runtime/access.py), and everyone else
only the overall status, with the same HTTP status code."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.config import ConfigError
from bot.runtime.access import OperatorAccess
from bot.runtime.load import RequestLoad
from bot.slack.errors import new_error_ref

log = logging.getLogger(__name__)

HealthProbe = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]
EVENTS_PATH = "/slack/events"


def build_web_app(
    *,
    bolt: AsyncApp | None,
    signing_secret: str | None,
    health: HealthProbe,
    ready: HealthProbe,
    extra_routes: list[web.RouteDef] | None = None,
    middlewares: list[Middleware] | None = None,
    load: RequestLoad | None = None,
    access: OperatorAccess | None = None,
    health_summary: HealthProbe | None = None,
) -> web.Application:
    """`health_summary`: what /health answers those `access` does not allow (by default
    `health`, reduced to its overall status)."""
    app = web.Application(client_max_size=1024 * 1024, middlewares=middlewares or [])
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    app.add_routes(
        [
            web.post(EVENTS_PATH, slack_events_handler(bolt, verifier, load)),
            web.get(
                "/health", _health_endpoint(health, health_summary, access or OperatorAccess())
            ),
            web.get("/health/live", _live),
            web.get("/health/ready", _probe_endpoint(ready)),
            *(extra_routes or []),
        ]
    )
    return app


def slack_events_handler(
    bolt: AsyncApp | None, verifier: SignatureVerifier | None, load: RequestLoad | None
) -> Handler:
    """POST /slack/events: check the signature, then hand the request to Bolt while
    `load` counts it as being answered. Without Bolt or a secret (Socket Mode) it is 404."""

    async def slack_events(request: web.Request) -> web.Response:
        if bolt is None or verifier is None:
            return web.json_response({"error": "this instance runs in Socket Mode"}, status=404)
        raw = await request.read()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body = None
        # Bolt verifies too; checking first means nothing unsigned is even parsed.
        if body is None or not verifier.is_valid_request(body, dict(request.headers)):
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            bolt_request = AsyncBoltRequest(
                body=body, query=request.query_string, headers=dict(request.headers)
            )
        except Exception:
            log.warning("signed request with a malformed body rejected")
            return web.json_response({"error": "malformed request body"}, status=400)
        try:
            with load.answer() if load is not None else nullcontext():
                response = await bolt.async_dispatch(bolt_request)
        except Exception:
            ref = new_error_ref()
            log.exception("dispatch failed", extra={"error_ref": ref})
            return web.json_response(
                {"error": f"could not handle the request (ref {ref})"}, status=400
            )
        if response.status >= 500:
            # Bolt answers 500 when a listener raised; Slack would show the user an error
            # page and retry. The failure is logged; tell Slack the request was malformed.
            log.warning("listener failure answered as 400", extra={"bolt_status": response.status})
            return web.json_response({"error": "the request could not be handled"}, status=400)
        return await to_aiohttp_response(response)

    return slack_events


def _probe_endpoint(probe: HealthProbe) -> Handler:
    async def endpoint(_: web.Request) -> web.Response:
        status, payload = await probe()
        return _json(payload, status)

    return endpoint


def _health_endpoint(
    probe: HealthProbe, summary: HealthProbe | None, access: OperatorAccess
) -> Handler:
    async def endpoint(request: web.Request) -> web.Response:
        if access.allows(request):
            status, payload = await probe()
            return _json(payload, status)
        status, payload = await (summary or probe)()
        return _json({"status": payload.get("status")}, status)

    return endpoint


async def _live(_: web.Request) -> web.Response:
    return _json({"status": "alive"}, 200)


class HttpServer:
    """The aiohttp server on host:port, started and stopped with Firewatch."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None

    async def start(
        self, app: web.Application, host: str, port: int, *, setting: str = "FIREWATCH_PORT"
    ) -> int:
        """Serve `app`; returns the port bound (port 0 asks for any free one). A port
        that cannot be listened on (in use, not permitted) is a ConfigError naming
        `setting`, not an error of the database."""
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            why = exc.strerror or str(exc)
            raise ConfigError(f"{setting}: cannot listen on {host}:{port} ({why})") from None
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _json(payload: dict[str, Any], status: int) -> web.Response:
    return web.Response(
        text=json.dumps(payload, default=str), status=status, content_type="application/json"
    )
