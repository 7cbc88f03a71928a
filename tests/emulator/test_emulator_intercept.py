"""Holding a call at a chosen point and knowing which replica made it (the fault matrix)."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator
from tests.support import TOKEN


@pytest.mark.parametrize(
    ("phase", "posted", "answered"),
    [
        ("before", 0, False),
        ("effect", 1, False),
        ("answer", 1, True),
    ],
)
async def test_the_nth_call_is_held_at_its_phase_and_the_caller_named(
    phase: str, posted: int, answered: bool
) -> None:
    async with SlackEmulator(bot_token=TOKEN) as slack:
        seen: list[str | None] = []
        slack.intercept("chat.postMessage", nth=2, phase=phase, then=seen.append)
        # No retry on a dropped connection: the test looks at one attempt.
        client = AsyncWebClient(
            token=TOKEN, base_url=slack.api_url_for("b"), timeout=5, retry_handlers=[]
        )
        await client.chat_postMessage(channel="C0INCIDENTS", text="first")
        got_answer = True
        try:
            await client.chat_postMessage(channel="C0INCIDENTS", text="second")
        except (SlackApiError, OSError, TimeoutError) as exc:
            got_answer = isinstance(exc, SlackApiError)
        except Exception:  # aiohttp's ServerDisconnectedError and friends
            got_answer = False
        await slack.wait_for(lambda: seen, timeout=5)
        assert seen == ["b"]
        assert [m.text for m in slack.messages("C0INCIDENTS")] == ["first", "second"][: 1 + posted]
        assert got_answer is answered
        assert {call.replica for call in slack.calls_to("chat.postMessage")} == {"b"}


async def test_the_plain_address_names_no_replica() -> None:
    async with SlackEmulator(bot_token=TOKEN) as slack:
        client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
        await client.auth_test()
        assert slack.calls_to("auth.test")[0].replica is None
