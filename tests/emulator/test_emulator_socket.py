"""The emulator's Socket Mode side: apps.connections.open, the WebSocket, envelopes and acks,
checked with a bare aiohttp client and with slack_sdk's own Socket Mode client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator, SlackPayloads

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0FIREWTCH-1-secret"
REFERENCE = Path("/work/shared/slack-reference/payloads/socket_mode_envelopes.sdk.json")


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator(bot_token=TOKEN, app_token=APP_TOKEN) as emu:
        yield emu


async def open_url(slack: SlackEmulator, token: str = APP_TOKEN) -> str:
    client = AsyncWebClient(base_url=slack.api_url)
    response = await client.apps_connections_open(app_token=token)
    return str(response["url"])


async def test_apps_connections_open_needs_the_app_level_token(slack: SlackEmulator) -> None:
    url = await open_url(slack)
    port = slack.api_url.split(":")[2].split("/")[0]
    assert url.startswith(f"ws://127.0.0.1:{port}/socket?ticket=")
    client = AsyncWebClient(base_url=slack.api_url)
    for token, error in [
        (TOKEN, "not_allowed_token_type"),
        ("xapp-1-someone-else", "invalid_auth"),
    ]:
        with pytest.raises(SlackApiError) as refused:
            await client.apps_connections_open(app_token=token)
        assert refused.value.response["error"] == error
    # ... and the app-level token opens nothing but sockets.
    with pytest.raises(SlackApiError) as wrong_type:
        await AsyncWebClient(token=APP_TOKEN, base_url=slack.api_url).auth_test()
    assert wrong_type.value.response["error"] == "not_allowed_token_type"


async def test_without_an_app_token_there_is_no_socket_mode() -> None:
    async with SlackEmulator(bot_token=TOKEN) as slack:
        with pytest.raises(SlackApiError) as refused:
            await open_url(slack, "xapp-1-anything")
        assert refused.value.response["error"] == "invalid_auth"


async def test_hello_envelopes_acks_and_server_side_close(slack: SlackEmulator) -> None:
    url = await open_url(slack)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        hello = await ws.receive_json(timeout=2)
        assert hello["type"] == "hello"
        assert hello["connection_info"] == {"app_id": "A0FIREWTCH"}
        assert hello["num_connections"] == 1
        assert set(hello["debug_info"]) >= {"host"}
        await slack.wait_for(lambda: slack.socket_connected)

        async def app() -> None:
            command = await ws.receive_json(timeout=2)
            assert command["type"] == "slash_commands"
            assert command["accepts_response_payload"] is True
            assert "retry_attempt" not in command
            ack = {"envelope_id": command["envelope_id"], "payload": {"text": "on it"}}
            await ws.send_json(ack)
            event = await ws.receive_json(timeout=2)
            assert (event["retry_attempt"], event["retry_reason"]) == (2, "timeout")
            assert event["accepts_response_payload"] is False
            await ws.send_json({"envelope_id": event["envelope_id"]})
            await ws.receive_json(timeout=2)  # interactive: never acked

        answering = asyncio.ensure_future(app())
        payloads = SlackPayloads()
        answer = await slack.socket_send(
            type="slash_commands", payload=payloads.slash_command_fields("hi")
        )
        assert answer == {"text": "on it"}
        event = payloads.event_envelope({"type": "app_mention", "text": "hi"}, event_id="Ev1")
        answer = await slack.socket_send(
            type="events_api", payload=event, retry_attempt=2, retry_reason="timeout"
        )
        assert answer == {}
        with pytest.raises(TimeoutError):
            await slack.socket_send(
                type="interactive",
                payload=payloads.global_shortcut_payload("cb"),
                timeout=0.2,
            )
        await answering
        assert [a.type for a in slack.socket_acks] == ["slash_commands", "events_api"]
        with pytest.raises(ValueError, match="envelope type"):
            await slack.socket_send(type="hello", payload={})

        assert await slack.socket_disconnect() == 1
        closing = await ws.receive(timeout=2)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await slack.wait_for(lambda: not slack.socket_connected)
    [connection] = slack.socket_connections
    assert connection.closed_by_server
    assert connection.closed_at is not None


async def test_a_ticket_is_good_for_one_connection(slack: SlackEmulator) -> None:
    url = await open_url(slack)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            assert (await ws.receive_json(timeout=2))["type"] == "hello"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url)
        assert refused.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url.split("?")[0] + "?ticket=made-up")


async def test_slack_sdk_socket_mode_client_round_trip(slack: SlackEmulator) -> None:
    client = SocketModeClient(
        app_token=APP_TOKEN, web_client=AsyncWebClient(base_url=slack.api_url)
    )
    seen: list[SocketModeRequest] = []

    async def listener(sdk: Any, request: SocketModeRequest) -> None:
        seen.append(request)
        await sdk.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload={"ok": "yes"})
        )

    client.socket_mode_request_listeners.append(listener)
    try:
        await client.connect()  # type: ignore[no-untyped-call]
        assert await client.is_connected()
        await slack.wait_for(lambda: slack.socket_connected)
        payload = SlackPayloads().event_envelope({"type": "app_mention"}, event_id="Ev9")
        answer = await slack.socket_send(
            type="events_api", payload=payload, retry_attempt=1, retry_reason="timeout"
        )
        assert answer == {"ok": "yes"}
        [request] = seen
        assert (request.type, request.retry_attempt, request.retry_reason) == (
            "events_api",
            1,
            "timeout",
        )
        assert request.payload["event_id"] == "Ev9"
    finally:
        await client.close()  # type: ignore[no-untyped-call]


def test_built_payloads_have_the_reference_envelopes_fields() -> None:
    reference = json.loads(REFERENCE.read_text())
    by_type = {e["type"]: e for e in reversed(reference)}
    payloads = SlackPayloads()
    command = payloads.slash_command_fields("hi")
    assert set(by_type["slash_commands"]["payload"]) <= set(command)
    event = payloads.event_envelope({"type": "app_mention"})
    assert set(by_type["events_api"]["payload"]) == set(event)
    shortcut = payloads.global_shortcut_payload("do-something")
    assert set(by_type["interactive"]["payload"]) <= set(shortcut)
    for envelope in reference:
        assert set(envelope) >= {"envelope_id", "payload", "type", "accepts_response_payload"}
