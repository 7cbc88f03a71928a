"""Slack failing while Firewatch talks to it: nothing lost, nothing twice, order kept."""

from __future__ import annotations

from bot.emulator import SlackEmulator
from tests.support import REPORT, TOKEN, Harness, start_harness


async def test_429_and_500_delay_messages_but_lose_none(harness: Harness) -> None:
    slack = harness.slack
    slack.fail("chat.postMessage", status=429, retry_after=1)
    slack.fail("pins.add", status=500, times=2)
    await harness.declare()
    await harness.settled(timeout=15)

    channel = slack.channel_by_name("inc-1-checkout-errors")
    assert channel is not None
    assert len(slack.messages(channel.id)) == 1
    assert len(slack.messages("#incidents")) == 1
    assert len(slack.pins(channel.id)) == 1
    posts = slack.calls_to("chat.postMessage")
    limited = next(c for c in posts if c.http_status == 429)
    retry = next(
        c
        for c in posts
        if c.at > limited.at
        and c.args["channel"] == limited.args["channel"]
        and c.args["text"] == limited.args["text"]
    )
    assert retry.http_status == 200
    # The retry came no sooner than Retry-After said.
    assert retry.at - limited.at >= 0.95
    assert [c.http_status for c in slack.calls_to("pins.add")] == [500, 500, 200]


async def test_a_restart_mid_delivery_posts_each_message_once_in_order(database_url: str) -> None:
    async with SlackEmulator(bot_token=TOKEN) as slack:
        # Slack posts the announcement of INC-1 but the answer never arrives, then we crash.
        slack.fail("chat.postMessage", drop_connection=True, apply=True, times=3)
        async with start_harness(database_url, emulator=slack, start_worker=False) as first:
            for title in ("Checkout errors", "Login slow", "Search down"):
                await first.declare({**REPORT, "title": title})
            await first.app.worker.run_once()  # channels created, first posts get no answer
        async with start_harness(database_url, emulator=slack) as second:
            await second.settled(timeout=15)
            announcements = slack.messages("#incidents")
            assert [m.text.split(":")[0].split()[-1] for m in announcements] == [
                "INC-1",
                "INC-2",
                "INC-3",
            ]
            for n, name in enumerate(["checkout-errors", "login-slow", "search-down"], start=1):
                channel = slack.channel_by_name(f"inc-{n}-{name}")
                assert channel is not None
                assert len(slack.messages(channel.id)) == 1, name
            assert len(slack.calls_to("conversations.create")) == 3


async def test_a_declaration_interrupted_before_its_channel_completes_at_restart(
    database_url: str,
) -> None:
    async with SlackEmulator(bot_token=TOKEN) as slack:
        async with start_harness(database_url, emulator=slack, start_worker=False) as first:
            await first.declare()
            assert slack.calls_to("conversations.create") == []
        async with start_harness(database_url, emulator=slack) as second:
            await second.settled()
            channel = slack.channel_by_name("inc-1-checkout-errors")
            assert channel is not None
            [incident] = await second.incidents()
            assert incident.channel_id == channel.id
            assert len(slack.pins(channel.id)) == 1


async def test_a_timed_out_channel_creation_adopts_the_channel_instead_of_making_another(
    database_url: str,
) -> None:
    async with SlackEmulator(bot_token=TOKEN) as slack:
        slack.fail("conversations.create", delay=2.0)  # created, but the answer comes too late
        async with start_harness(
            database_url, emulator=slack, FIREWATCH_SLACK_TIMEOUT_SECONDS=1
        ) as h:
            await h.declare()
            await h.settled(timeout=15)
            # The slow first call is recorded when its late answer goes out.
            await slack.wait_for(lambda: len(slack.calls_to("conversations.create")) == 2)
            created = [c for c in slack.calls_to("conversations.create") if c.response.get("ok")]
            names = [c.args["name"] for c in slack.calls_to("conversations.create")]
            assert names == ["inc-1-checkout-errors", "inc-1-checkout-errors"]
            assert len(created) == 1  # the retry met name_taken and adopted it
            assert slack.channel_by_name("inc-1-checkout-errors-2") is None
            [incident] = await h.incidents()
            assert incident.channel_id == slack.channel_by_name("inc-1-checkout-errors").id  # type: ignore[union-attr]
