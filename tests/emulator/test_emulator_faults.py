"""Fault injection: 429/5xx, Slack errors, slow answers, dropped connections, rate limits, chaos."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import TOKEN, FakeClock


async def test_429_with_retry_after_visible_to_slack_sdk(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    emulator.fail("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="#incidents", text="x")
    response = info.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response["error"] == "ratelimited"
    assert emulator.messages("incidents") == []
    # times=1: the next call goes through
    await client.chat_postMessage(channel="#incidents", text="x")
    assert [c.http_status for c in emulator.calls_to("chat.postMessage")] == [429, 200]


async def test_429_defaults_retry_after_to_one(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    emulator.fail("*", status=429)
    with pytest.raises(SlackApiError) as info:
        await client.auth_test()
    assert info.value.response.headers["Retry-After"] == "1"


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_change_nothing_by_default(
    client: AsyncWebClient, emulator: SlackEmulator, status: int
) -> None:
    emulator.fail("conversations.create", status=status, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as info:
            await client.conversations_create(name="inc-500")
        assert info.value.response.status_code == status
    assert emulator.channel_by_name("inc-500") is None
    await client.conversations_create(name="inc-500")
    assert emulator.channel_by_name("inc-500") is not None


async def test_server_error_after_the_work_was_done(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    emulator.fail("conversations.create", status=500, apply=True)
    with pytest.raises(SlackApiError):
        await client.conversations_create(name="inc-half")
    assert emulator.channel_by_name("inc-half") is not None
    with pytest.raises(SlackApiError) as retry:
        await client.conversations_create(name="inc-half")
    assert retry.value.response["error"] == "name_taken"


async def test_injected_slack_error(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    emulator.fail("conversations.create", error="restricted_action")
    with pytest.raises(SlackApiError) as info:
        await client.conversations_create(name="inc-x")
    assert info.value.response.status_code == 200
    assert info.value.response["error"] == "restricted_action"


async def test_slow_create_still_creates_so_a_retry_meets_name_taken(
    emulator: SlackEmulator,
) -> None:
    emulator.fail("conversations.create", delay=0.5)
    impatient = AsyncWebClient(token=TOKEN, base_url=emulator.api_url, timeout=0.1)  # type: ignore[arg-type]
    with pytest.raises(asyncio.TimeoutError):
        await impatient.conversations_create(name="inc-slow")
    assert emulator.channel_by_name("inc-slow") is not None
    with pytest.raises(SlackApiError) as retry:
        await impatient.conversations_create(name="inc-slow")
    assert retry.value.response["error"] == "name_taken"


async def test_delay_answers_late_with_the_real_result(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    emulator.fail("auth.test", delay=0.2)
    started = time.monotonic()
    response = await client.auth_test()
    assert time.monotonic() - started >= 0.2
    assert response["user_id"] == "U0FIREBOT"


async def test_a_released_answer_waits_for_the_test(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    """The call is done at once, its answer goes out only when the test says so; a
    failing fault with ``apply`` holds its failure the same way."""
    release = asyncio.Event()
    emulator.fail("conversations.create", release=release)
    call = asyncio.create_task(client.conversations_create(name="inc-held"))
    await emulator.wait_for(lambda: emulator.channel_by_name("inc-held") is not None)
    await asyncio.sleep(0.2)
    assert not call.done()
    release.set()
    assert (await asyncio.wait_for(call, 5))["channel"]["name"] == "inc-held"

    failure = asyncio.Event()
    emulator.fail("conversations.create", status=500, apply=True, release=failure)
    call = asyncio.create_task(client.conversations_create(name="inc-held-2"))
    await emulator.wait_for(lambda: emulator.channel_by_name("inc-held-2") is not None)
    await asyncio.sleep(0.2)
    assert not call.done()
    failure.set()
    with pytest.raises(SlackApiError) as info:
        await asyncio.wait_for(call, 5)
    assert info.value.response.status_code == 500


async def test_latency_applies_to_every_call(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    emulator.latency = 0.1
    started = time.monotonic()
    await client.auth_test()
    await client.team_info()
    assert time.monotonic() - started >= 0.2


async def test_dropped_connection_without_state_change(emulator: SlackEmulator) -> None:
    emulator.fail("chat.postMessage", drop_connection=True)
    no_retry = AsyncWebClient(token=TOKEN, base_url=emulator.api_url, retry_handlers=[])
    with pytest.raises(aiohttp.ClientError):
        await no_retry.chat_postMessage(channel="#incidents", text="lost")
    assert emulator.messages("incidents") == []
    assert emulator.calls[-1].http_status == 0


async def test_dropped_connection_after_the_work_meets_slack_sdk_retry(
    emulator: SlackEmulator,
) -> None:
    # slack_sdk retries once on a server disconnect by default: the retry finds the channel.
    # (Its default handler, minus the ~1 s back-off.)
    retry = AsyncConnectionErrorRetryHandler(
        interval_calculator=FixedValueRetryIntervalCalculator(0)
    )
    client = AsyncWebClient(token=TOKEN, base_url=emulator.api_url, retry_handlers=[retry])
    emulator.fail("conversations.create", drop_connection=True, apply=True)
    with pytest.raises(SlackApiError) as info:
        await client.conversations_create(name="inc-dropped")
    assert info.value.response["error"] == "name_taken"
    assert [c.http_status for c in emulator.calls_to("conversations.create")] == [0, 200]
    assert emulator.channel_by_name("inc-dropped") is not None


async def test_per_channel_rate_limit_refills(
    clocked_emulator: SlackEmulator, clock: FakeClock
) -> None:
    emulator = clocked_emulator
    client = AsyncWebClient(token=TOKEN, base_url=emulator.api_url)
    emulator.rate_limit("chat.postMessage", per_second=1.0, burst=3)
    for i in range(3):
        await client.chat_postMessage(channel="#incidents", text=str(i))
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C0INCIDENTS", text="burst exceeded")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "1"
    await client.chat_postMessage(channel="#general", text="other channel has its own bucket")
    clock.advance(1.0)
    await client.chat_postMessage(channel="#incidents", text="refilled")
    assert [m.text for m in emulator.messages("incidents")] == ["0", "1", "2", "refilled"]


async def test_rate_limit_handled_by_slack_sdk_retry_handler(emulator: SlackEmulator) -> None:
    emulator.fail("chat.postMessage", status=429, retry_after=0)
    client = AsyncWebClient(
        token=TOKEN, base_url=emulator.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler()]
    )
    await client.chat_postMessage(channel="#incidents", text="eventually")
    assert [c.http_status for c in emulator.calls_to("chat.postMessage")] == [429, 200]
    assert len(emulator.messages("incidents")) == 1


async def test_random_failures_are_seeded_and_change_nothing() -> None:
    async def statuses(seed: int) -> list[int]:
        async with SlackEmulator(bot_token=TOKEN) as emu:
            emu.random_failures(rate=0.5, statuses=(429, 503), seed=seed)
            client = AsyncWebClient(token=TOKEN, base_url=emu.api_url, retry_handlers=[])
            for i in range(20):
                try:
                    await client.chat_postMessage(channel="#incidents", text=str(i))
                except SlackApiError:
                    pass
            ok = sum(1 for c in emu.calls if c.http_status == 200)
            assert len(emu.messages("incidents")) == ok
            return [c.http_status for c in emu.calls]

    first, second = await statuses(7), await statuses(7)
    assert first == second
    assert set(first) == {200, 429, 503}


async def test_clear_faults(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    emulator.fail("*", status=503, times=10)
    emulator.clear_faults()
    await client.auth_test()
