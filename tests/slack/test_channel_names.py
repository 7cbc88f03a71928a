"""A configured `#name` resolved once: the calls made, and what is stored, when the
channel is found, renamed, gone, or when a stored cursor has expired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import FrozenClock
from bot.emulator import SlackEmulator
from bot.services.channel_names import ChannelNameService
from bot.services.outbox_worker import PermanentFailure, RetryLater
from bot.slack.delivery.channel_names import PAGE_SIZE, ChannelNames
from storage.engine import Database
from tests.support import TOKEN

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(bot_token=TOKEN)
    await emulator.start()
    for n in range(2 * PAGE_SIZE):  # the seeded channels and these: three pages
        emulator.add_channel(f"team-{n:03d}", bot_is_member=False)
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
def store(db: Database) -> ChannelNameService:
    return ChannelNameService(db, FrozenClock(T0))


def names(slack: SlackEmulator, store: ChannelNameService) -> ChannelNames:
    """A resolver as a new process has it: nothing in memory, only what is stored."""
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    return ChannelNames(client, store, FrozenClock(T0))


def cursors(slack: SlackEmulator) -> list[str | None]:
    return [c.args.get("cursor") for c in slack.calls_to("conversations.list")]


async def test_a_found_name_is_stored_and_a_new_process_only_checks_it(
    slack: SlackEmulator, store: ChannelNameService
) -> None:
    target = slack.add_channel("ops-broadcast", bot_is_member=False)
    assert await names(slack, store).channel_id("ops-broadcast") == target.id
    assert cursors(slack) == [None, "offset:200", "offset:400"]
    assert await store.find("ops-broadcast") == (target.id, None)

    slack.reset_calls()
    assert await names(slack, store).channel_id("ops-broadcast") == target.id
    assert slack.calls_to("conversations.list") == []
    assert [c.method for c in slack.calls] == ["conversations.info"]


async def test_a_renamed_channel_is_searched_for_again(
    slack: SlackEmulator, store: ChannelNameService
) -> None:
    old = slack.add_channel("ops-broadcast")
    await names(slack, store).channel_id("ops-broadcast")
    old.name = "ops-broadcast-old"
    new = slack.add_channel("ops-broadcast")
    slack.reset_calls()

    assert await names(slack, store).channel_id("ops-broadcast") == new.id
    assert cursors(slack) == [None, "offset:200", "offset:400"]
    assert await store.find("ops-broadcast") == (new.id, None)


async def test_a_name_no_channel_has_fails_for_good_and_the_next_search_starts_over(
    slack: SlackEmulator, store: ChannelNameService
) -> None:
    await store.searched_to("nowhere", "offset:200")  # a search a rate limit interrupted
    with pytest.raises(PermanentFailure, match="channel_not_found"):
        await names(slack, store).channel_id("nowhere")
    assert cursors(slack) == ["offset:200", "offset:400"]
    assert await store.find("nowhere") == (None, None)


async def test_an_expired_cursor_starts_the_search_over(
    slack: SlackEmulator, store: ChannelNameService
) -> None:
    target = slack.add_channel("ops-broadcast")
    await store.searched_to("ops-broadcast", "stale-cursor")
    assert await names(slack, store).channel_id("ops-broadcast") == target.id
    assert cursors(slack) == ["stale-cursor", None, "offset:200", "offset:400"]


async def test_a_rate_limit_keeps_the_place_and_the_wait_applies_to_every_row(
    slack: SlackEmulator, store: ChannelNameService
) -> None:
    target = slack.add_channel("ops-broadcast")
    slack.fail("conversations.list", status=429, retry_after=30, after=1)
    resolver = names(slack, store)
    with pytest.raises(RetryLater) as first:
        await resolver.channel_id("ops-broadcast")
    assert (first.value.retry_after, first.value.counts) == (30, False)
    assert await store.find("ops-broadcast") == (None, "offset:200")

    # Another row for the same name, within the Retry-After: no call, the same wait.
    with pytest.raises(RetryLater) as second:
        await resolver.channel_id("ops-broadcast")
    assert second.value.retry_after == 30
    assert cursors(slack) == [None, "offset:200"]

    resolver.clock = FrozenClock(T0.replace(second=31))
    assert await resolver.channel_id("ops-broadcast") == target.id
    assert cursors(slack) == [None, "offset:200", "offset:200", "offset:400"]


async def test_a_rate_limit_on_the_first_page_read_counts_as_an_attempt(
    slack: SlackEmulator, store: ChannelNameService
) -> None:
    slack.fail("conversations.list", status=429, retry_after=5)
    with pytest.raises(RetryLater) as failed:
        await names(slack, store).channel_id("ops-broadcast")
    assert (failed.value.retry_after, failed.value.counts) == (5, True)
