"""HTTP-level details: GET with query args, bad bodies, response_url hooks, chaos headers."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from bot.emulator import SlackEmulator, SlackRequestSender

from .conftest import TOKEN


async def test_get_with_query_token(emulator: SlackEmulator) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            emulator.api_url + "users.info", params={"token": TOKEN, "user": "U0BOB"}
        ) as resp,
    ):
        body = await resp.json()
    assert resp.status == 200
    assert body["user"]["name"] == "bob"


async def test_multipart_form(emulator: SlackEmulator) -> None:
    form = aiohttp.FormData()
    form.add_field("token", TOKEN)
    form.add_field("channel", "#incidents")
    form.add_field("text", "from multipart")
    form.add_field("attachment", b"bytes", filename="log.txt")  # forces multipart/form-data
    async with (
        aiohttp.ClientSession() as session,
        session.post(emulator.api_url + "chat.postMessage", data=form) as resp,
    ):
        assert (await resp.json())["ok"] is True
    assert [m.text for m in emulator.messages("incidents")] == ["from multipart"]


async def test_malformed_json_body(emulator: SlackEmulator) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(emulator.api_url + "chat.postMessage", data=b"{oops", headers=headers) as resp,
    ):
        body = await resp.json()
    assert (resp.status, body) == (200, {"ok": False, "error": "invalid_json"})


async def test_invalid_blocks_string(emulator: SlackEmulator) -> None:
    form = {"token": TOKEN, "channel": "C0INCIDENTS", "text": "x", "blocks": "[not json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(emulator.api_url + "chat.postMessage", data=form) as resp,
    ):
        body = await resp.json()
    assert body == {"ok": False, "error": "invalid_blocks_format"}
    assert emulator.messages("incidents") == []


async def test_response_url_posts_land_in_the_emulator(emulator: SlackEmulator) -> None:
    received: list[str] = []

    async def events(request: web.Request) -> web.Response:
        received.append(str((await request.post())["response_url"]))
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with SlackRequestSender(
            f"http://127.0.0.1:{port}/slack/events", "s", response_url_base=emulator.hooks_url
        ) as sender:
            await sender.slash_command("status")
    finally:
        await runner.cleanup()
    [response_url] = received
    assert response_url.startswith(emulator.hooks_url + "commands/T0FIREWTCH/")
    async with (
        aiohttp.ClientSession() as session,
        session.post(response_url, json={"text": "only you can see this"}) as resp,
    ):
        assert resp.status == 200
    [post] = emulator.response_url_posts
    assert post.body == {"text": "only you can see this"}
    assert post.path.startswith("commands/T0FIREWTCH/")


async def test_chaos_429_carries_retry_after(emulator: SlackEmulator) -> None:
    emulator.random_failures(
        rate=1.0, statuses=(429,), seed=1, methods={"auth.test"}, retry_after=3
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(emulator.api_url + "auth.test") as limited:
            assert limited.status == 429
            assert limited.headers["Retry-After"] == "3"
        async with session.post(emulator.api_url + "team.info") as untouched:
            assert untouched.status == 200


async def test_inspection_helpers_tolerate_unknown_channels(emulator: SlackEmulator) -> None:
    assert emulator.messages("inc-not-yet") == []
    assert emulator.pins("inc-not-yet") == []
    assert emulator.ephemerals(channel="inc-not-yet") == []
    assert emulator.channel_by_name("#incidents") is emulator.channel("C0INCIDENTS")
