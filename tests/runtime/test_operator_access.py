"""/metrics and /health's details: a bearer token when FIREWATCH_METRICS_TOKEN is set,
loopback clients only when it is not; probes stay open; aggregates read at most every
few seconds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import Mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bot.domain.clock import FrozenClock
from bot.runtime.access import OperatorAccess, is_loopback
from bot.runtime.health import SUMMARY_CACHE_SECONDS, Health
from bot.runtime.metrics import AGGREGATE_CACHE_SECONDS, Metrics
from bot.slack.server import HttpServer, build_web_app
from storage.engine import Database
from storage.instrumentation import time_statements
from tests.support import start_harness

TOKEN = "0123456789abcdef0123456789abcdef"  # noqa: S105 - a test token
DETAILS = {
    "status": "degraded",
    "components": {"slack_auth": {"status": "failing", "team": "T0SECRET"}},
}


async def report() -> tuple[int, dict[str, Any]]:
    return 200, DETAILS


async def ready() -> tuple[int, dict[str, Any]]:
    return 200, {"status": "ready"}


def web_app(token: str | None) -> web.Application:
    access = OperatorAccess(token)
    metrics = Metrics(process_metrics=False)
    return build_web_app(
        bolt=None,
        signing_secret=None,
        health=report,
        ready=ready,
        extra_routes=[metrics.route(access=access)],
        access=access,
    )


@asynccontextmanager
async def served(token: str | None, host: str = "127.0.0.1") -> AsyncIterator[str]:
    server = HttpServer()
    port = await server.start(web_app(token), host, 0)
    try:
        yield f"http://{host}:{port}"
    finally:
        await server.stop()


async def get(url: str, **headers: str) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.text(), response.headers


@pytest.mark.parametrize(
    ("peer", "loopback"),
    [
        (("127.0.0.1", 5000), True),
        (("127.0.0.2", 5000), True),  # all of 127.0.0.0/8
        (("::1", 5000, 0, 0), True),
        (("::ffff:127.0.0.1", 5000, 0, 0), True),
        ("", True),  # a Unix socket
        (("10.0.0.5", 5000), False),
        (("192.0.2.2", 5000), False),
        (("::ffff:10.0.0.5", 5000, 0, 0), False),
        (("fe80::1%eth0", 5000, 0, 2), False),
        (("fd00::2", 5000, 0, 0), False),
        (None, False),
        (("not-an-address", 1), False),
    ],
)
def test_loopback_is_decided_from_the_socket_peer(peer: Any, loopback: bool) -> None:
    assert is_loopback(peer) is loopback


def mocked(peer: Any, **headers: str) -> web.Request:
    transport = Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peer if name == "peername" else default
    )
    return make_mocked_request("GET", "/metrics", headers=headers, transport=transport)


def test_a_forwarded_header_does_not_make_a_remote_client_local() -> None:
    access = OperatorAccess()
    forged = mocked(("203.0.113.9", 4000), **{"X-Forwarded-For": "127.0.0.1"})
    assert access.verdict(forged) == "forbidden"
    assert access.verdict(mocked(("127.0.0.1", 4000))) == "allowed"


def test_with_a_token_only_the_exact_bearer_is_allowed_even_from_loopback() -> None:
    access = OperatorAccess(TOKEN)
    local = ("127.0.0.1", 4000)
    assert access.verdict(mocked(local)) == "unauthorized"
    assert access.verdict(mocked(local, Authorization=f"Bearer {TOKEN[:-1]}")) == "unauthorized"
    assert access.verdict(mocked(local, Authorization=TOKEN)) == "unauthorized"
    remote = mocked(("203.0.113.9", 4000), Authorization=f"Bearer {TOKEN}")
    assert access.verdict(remote) == "allowed"


async def test_without_a_token_loopback_gets_metrics_and_health_details() -> None:
    async with served(None) as base:
        status, body, _ = await get(f"{base}/metrics")
        assert status == 200
        assert "firewatch_build_info" in body
        status, body, _ = await get(f"{base}/health")
        assert status == 200
        assert "T0SECRET" in body


async def test_with_a_token_metrics_need_the_bearer() -> None:
    async with served(TOKEN) as base:
        status, body, headers = await get(f"{base}/metrics")
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert "firewatch_" not in body
        status, _, _ = await get(f"{base}/metrics", Authorization="Bearer wrong")
        assert status == 401
        status, body, _ = await get(f"{base}/metrics", Authorization=f"Bearer {TOKEN}")
        assert status == 200
        assert "firewatch_build_info" in body


async def test_with_a_token_health_shows_only_the_status_without_it() -> None:
    async with served(TOKEN) as base:
        status, body, _ = await get(f"{base}/health")
        assert (status, body) == (200, '{"status": "degraded"}')
        status, body, _ = await get(f"{base}/health", Authorization=f"Bearer {TOKEN}")
        assert status == 200
        assert "T0SECRET" in body
        # The probes stay open.
        assert (await get(f"{base}/health/live"))[0] == 200
        assert (await get(f"{base}/health/ready"))[0] == 200


async def answer(app: web.Application, path: str, peer: Any, **headers: str) -> tuple[int, str]:
    """The app's answer to a request from `peer` (a mocked socket: tests send traffic
    only to loopback, so a remote client is simulated at the transport)."""
    probe = make_mocked_request("GET", path, app=app)
    match = await app.router.resolve(probe)
    transport = Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peer if name == "peername" else default
    )
    request = make_mocked_request(
        "GET", path, headers=headers, transport=transport, app=app, match_info=match
    )
    response = await match.handler(request)
    assert isinstance(response, web.Response)
    return response.status, response.text or ""


async def test_a_client_on_another_address_is_refused_without_a_token() -> None:
    remote = ("203.0.113.9", 4000)
    app = web_app(None)
    status, body = await answer(app, "/metrics", remote)
    assert status == 403
    assert "firewatch_" not in body
    forged = {"X-Forwarded-For": "127.0.0.1"}
    assert await answer(app, "/health", remote, **forged) == (200, '{"status": "degraded"}')
    assert (await answer(app, "/health/live", remote))[0] == 200
    assert (await answer(app, "/health/ready", remote))[0] == 200
    with_token = web_app(TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (await answer(with_token, "/metrics", remote, **auth))[0] == 200


async def test_database_aggregates_are_read_at_most_once_per_window(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    selects: list[str] = []
    uninstall = time_statements(
        db.engine, lambda op, _s: selects.append(op) if op == "select" else None
    )
    try:
        metrics = Metrics(process_metrics=False)
        refresh = metrics.database_refresh(db, now=clock.now)
        await refresh()
        first = len(selects)
        assert first > 0
        await refresh()
        clock.advance(timedelta(seconds=AGGREGATE_CACHE_SECONDS - 1))
        await asyncio.gather(refresh(), refresh(), refresh())
        assert len(selects) == first  # one read served five scrapes
        clock.advance(timedelta(seconds=1))
        await asyncio.gather(refresh(), refresh())
        assert len(selects) == 2 * first  # the window ended: read once more
    finally:
        uninstall()


async def test_firewatch_wires_its_metrics_token(database_url: str) -> None:
    async with start_harness(database_url, FIREWATCH_METRICS_TOKEN=TOKEN) as h:
        base = f"http://127.0.0.1:{h.app.port}"
        assert (await get(f"{base}/metrics"))[0] == 401
        status, body, _ = await get(f"{base}/metrics", Authorization=f"Bearer {TOKEN}")
        assert status == 200
        assert "firewatch_incidents" in body or "firewatch_outbox_backlog" in body
        status, body, _ = await get(f"{base}/health")
        assert set(json.loads(body)) == {"status"}
        status, body, _ = await get(f"{base}/health", Authorization=f"Bearer {TOKEN}")
        assert "components" in json.loads(body)
        assert (await get(f"{base}/health/ready"))[0] == 200


class Identity:
    ok = True
    team_id = "T0SECRET"
    error = None
    checked_at = None
    scopes = None  # Slack has not said which scopes it granted
    missing_scopes: dict[str, str] = {}  # noqa: RUF012 - read only


async def test_the_public_health_status_is_worked_out_at_most_once_per_window(
    db: Database,
) -> None:
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    reads: list[int] = []

    async def backlog() -> tuple[int, float]:
        reads.append(1)
        return 0, 0.0

    health = Health(db, clock, backlog, Identity(), None)
    assert await health.summary() == (200, {"status": "ok"})
    clock.advance(timedelta(seconds=SUMMARY_CACHE_SECONDS - 1))
    await asyncio.gather(health.summary(), health.summary())
    assert len(reads) == 1
    clock.advance(timedelta(seconds=1))
    await health.summary()
    assert len(reads) == 2
    await health.report()  # the details are never cached
    assert len(reads) == 3
