"""Firewatch in Socket Mode, end to end: the emulator hands out a WebSocket URL for the app-level
token, pushes Slack's envelopes over it and collects the acks; Web API calls go over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.domain.clock import FrozenClock
from bot.emulator import SocketModeSender, input_values
from bot.slack.ids import Block, Callback
from storage.models import SlackEventRow
from tests.support import APP_TOKEN, QUALIFYING, REPORT, Harness, start_harness

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def harness(database_url: str, clock: FrozenClock) -> AsyncIterator[Harness]:
    async with start_harness(database_url, socket=True, clock=clock) as h:
        yield h


def sock(h: Harness) -> SocketModeSender:
    assert h.socket is not None
    return h.socket


async def health(h: Harness) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{h.app.port}/health") as response,
    ):
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def eventually(
    check: Callable[[], Awaitable[bool]],
    what: str,
    timeout: float = 5.0,  # noqa: ASYNC109
) -> None:
    """Poll ``check`` every 10 ms until it holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.01)


async def open_declare_modal(h: Harness, text: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """``/incident`` over the socket; returns the ack's payload and the modal views.open made."""
    before = len(h.slack.opened_views(Callback.DECLARE_MODAL))
    ack = await sock(h).slash_command(text)
    views = await h.slack.wait_for(lambda: h.slack.opened_views(Callback.DECLARE_MODAL)[before:])
    return ack, views[-1]


async def declare(h: Harness) -> str:
    """Declare INC-1 over the socket; returns its channel id once the outbox has settled."""
    _, view = await open_declare_modal(h)
    ack = await sock(h).view_submission(view, input_values(view, {**REPORT, **QUALIFYING}))
    assert ack == {}  # the modal closes
    await h.settled()
    channel = h.slack.channel_by_name("inc-1-checkout-errors")
    assert channel is not None
    return channel.id


async def test_connects_with_the_app_token_and_reports_it_in_health(harness: Harness) -> None:
    slack = harness.slack
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.ok
    assert opened.token == APP_TOKEN  # the app-level token, not the bot token
    assert opened.response["url"].startswith(f"ws://127.0.0.1:{slack.api_url.split(':')[2][:-5]}")
    assert slack.socket_connected
    [connection] = slack.socket_connections
    assert connection.open
    assert connection.ticket in opened.response["url"]

    body = await health(harness)
    assert body["mode"] == "socket"
    socket = body["components"]["socket_mode"]
    assert socket["connected"] is True
    assert socket["status"] == "ok"
    assert socket["last_message_at"] == T0.isoformat()  # Slack's `hello`


async def test_slash_command_is_acked_over_the_socket_and_opens_the_modal(
    harness: Harness,
) -> None:
    ack, view = await open_declare_modal(harness, "declare Checkout errors")

    assert ack == {}  # nothing to show in the channel: the modal is the answer
    [envelope] = harness.slack.socket_envelopes
    assert envelope["type"] == "slash_commands"
    assert envelope["accepts_response_payload"] is True
    [ack_record] = harness.slack.socket_acks
    assert ack_record.envelope_id == envelope["envelope_id"]
    call = harness.slack.calls_to("views.open")[-1]
    assert call.token == "xoxb-test-token"  # Web API calls use the bot token
    assert call.args["trigger_id"] == envelope["payload"]["trigger_id"]
    assert view["callback_id"] == Callback.DECLARE_MODAL
    blocks = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert blocks[Block.TITLE]["element"]["initial_value"] == "Checkout errors"
    assert json.loads(view["private_metadata"]) == {"origin_channel": "C0INCIDENTS"}


async def test_view_submission_over_the_socket_declares_the_incident(harness: Harness) -> None:
    channel_id = await declare(harness)

    [incident] = await harness.incidents()
    assert (incident.title, incident.severity, incident.reporter_id) == (
        "Checkout errors",
        "sev1",
        "U0ALICE",
    )
    assert incident.channel_id == channel_id
    slack = harness.slack
    channel = slack.channel(channel_id)
    assert channel is not None
    assert "U0ALICE" in channel.members
    [report] = slack.messages(channel_id)
    assert "INC-1" in report.text
    assert incident.report_ts == report.ts
    [announcement] = slack.messages("#incidents")
    assert "INC-1" in announcement.text
    kinds = [e.kind for e in await harness.timeline()]
    assert kinds == ["declared", "channel"]


async def test_a_view_submission_with_errors_is_answered_in_the_ack(harness: Harness) -> None:
    _, view = await open_declare_modal(harness)
    bad = {**REPORT, Block.TITLE: "   ", Block.IMPACT: ""}
    values = input_values(view, {**bad, **QUALIFYING})

    ack = await sock(harness).view_submission(view, values)

    assert ack["response_action"] == "errors"
    assert set(ack["errors"]) == {Block.TITLE, Block.IMPACT}
    assert await harness.incidents() == []
    assert harness.slack.calls_to("conversations.create") == []


async def test_an_events_api_retry_is_handled_once(harness: Harness) -> None:
    channel = await declare(harness)
    posted = harness.slack.add_message(channel, "rolled back to v41", user="U0CAROL")
    event = {
        "type": "reaction_added",
        "user": "U0BOB",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel, "ts": posted.ts},
        "item_user": "U0CAROL",
        "event_ts": "1795000001.000100",
    }
    first = await sock(harness).event(event, event_id="EvSOCK1")
    retry = await sock(harness).event(
        event, event_id="EvSOCK1", retry_attempt=1, retry_reason="timeout"
    )
    assert (first, retry) == ({}, {})
    envelopes = [e for e in harness.slack.socket_envelopes if e["type"] == "events_api"]
    assert [(e["retry_attempt"], e["retry_reason"]) for e in envelopes] == [(0, ""), (1, "timeout")]

    async def captured() -> list[Any]:
        return [e for e in await harness.timeline() if e.kind == "captured"]

    async def some_captured() -> bool:
        return bool(await captured())

    await eventually(some_captured, "the lazy listener captured the message")
    [entry] = await captured()
    assert (entry.text, entry.actor) == ("rolled back to v41", "U0BOB")
    assert len(harness.slack.calls_to("conversations.history")) == 1
    async with harness.app.db.session(write=False) as session:
        count = (
            await session.execute(select(func.count()).select_from(SlackEventRow))
        ).scalar_one()
    assert count == 1


async def test_health_follows_messages_and_the_connection(
    harness: Harness, clock: FrozenClock
) -> None:
    slack = harness.slack
    later = clock.advance(timedelta(minutes=3))
    await open_declare_modal(harness)
    socket = (await health(harness))["components"]["socket_mode"]
    assert (socket["connected"], socket["last_message_at"]) == (True, later.isoformat())

    # Keep the reconnect visible: the next URL comes late.
    slack.fail("apps.connections.open", delay=0.5)
    assert await slack.socket_disconnect() == 1
    first = slack.socket_connections[0]
    assert first.closed_by_server

    async def disconnected() -> bool:
        body = await health(harness)
        return body["components"]["socket_mode"]["connected"] is False

    await eventually(disconnected, "health reports the socket disconnected", timeout=2)
    body = await health(harness)
    assert body["status"] == "degraded"
    assert body["components"]["socket_mode"]["status"] == "disconnected"

    async def reconnected() -> bool:
        body = await health(harness)
        return bool(body["components"]["socket_mode"]["connected"]) and slack.socket_connected

    # slack_sdk reconnects on its own, with a fresh URL (tickets are single use).
    await eventually(reconnected, "slack_sdk reconnected", timeout=5)
    assert len(slack.socket_connections) == 2
    assert [c.ok for c in slack.calls_to("apps.connections.open")] == [True, True]

    even_later = clock.advance(timedelta(minutes=1))
    ack, _ = await open_declare_modal(harness)
    assert ack == {}
    assert slack.socket_acks[-1].envelope_id == slack.socket_envelopes[-1]["envelope_id"]
    socket = (await health(harness))["components"]["socket_mode"]
    assert socket["last_message_at"] == even_later.isoformat()


async def test_the_http_server_serves_health_but_not_slack_events(harness: Harness) -> None:
    base = f"http://127.0.0.1:{harness.app.port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/health/live") as live:
            assert live.status == 200
        async with session.get(f"{base}/health/ready") as ready:
            assert ready.status == 200
        # Even a correctly signed request: there is no signing secret, Slack uses the socket.
        response = await harness.sender.slash_command("declare Checkout errors")
    assert response.status == 404
    assert "Socket Mode" in response.json()["error"]
    assert harness.slack.calls_to("views.open") == []
    assert (await health(harness))["mode"] == "socket"


async def test_a_refresh_request_makes_slack_sdk_move_to_a_new_connection(
    harness: Harness,
) -> None:
    slack = harness.slack
    assert await slack.socket_disconnect(reason="refresh_requested") == 1

    # slack_sdk moved to a new connection on the `disconnect` message and closed the old one.
    first, second = slack.socket_connections
    assert not first.open
    assert not first.closed_by_server
    assert second.open
    ack, _ = await open_declare_modal(harness)
    assert ack == {}
    assert len(slack.calls_to("apps.connections.open")) == 2
    assert slack.socket_envelopes[-1]["envelope_id"] == second.received[-1]["envelope_id"]


async def test_a_refused_app_token_leaves_the_socket_down_and_stop_cleans_up(
    database_url: str,
) -> None:
    from bot.app import Firewatch
    from bot.emulator import SlackEmulator
    from tests.support import TOKEN, make_settings

    async with SlackEmulator(bot_token=TOKEN, app_token=APP_TOKEN) as slack:
        settings = make_settings(
            database_url,
            slack.api_url,
            SLACK_APP_TOKEN="xapp-1-revoked",
            SLACK_SIGNING_SECRET=None,
        )
        app = Firewatch(settings)
        # slack_sdk keeps retrying a refused token; start() must not wait for it, so the
        # process still answers /health and stops on SIGTERM.
        await asyncio.wait_for(app.start(), timeout=10)
        try:
            await slack.wait_for(lambda: slack.calls_to("apps.connections.open"))
            [refused] = slack.calls_to("apps.connections.open")
            assert refused.response == {"ok": False, "error": "invalid_auth"}
            assert app.port is not None
            status, body = await app.health()
            assert status == 200
            assert body["components"]["socket_mode"]["connected"] is False
            assert body["status"] == "degraded"
            assert slack.socket_connections == []
        finally:
            await asyncio.wait_for(app.stop(grace=1.0), timeout=10)
