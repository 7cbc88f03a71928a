"""A broadcast channel configured by `#name` in a workspace of 5,000 channels.

Slack has no lookup by name: Firewatch pages conversations.list (200 channels a page)
to find it. The name is resolved once and its id stored; a rate limit half-way is
waited out (Retry-After) and the search resumes at the page where it stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.clock import FrozenClock
from bot.emulator import SlackEmulator
from bot.services import effects
from storage.models import SlackChannelNameRow
from tests.support import TOKEN, Harness, start_harness

BROADCAST = "major-incidents"
CHANNELS = 5_000
PAGE = 200  # what Firewatch asks conversations.list for
RETRY_AFTER = 120  # beyond Harness.settled's horizon: the row waits for the clock
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
async def workspace() -> AsyncIterator[SlackEmulator]:
    """5,000 public channels, the broadcast channel last (on the last page), the bot in
    none of them; the third conversations.list call is answered 429 + Retry-After."""
    slack = SlackEmulator(bot_token=TOKEN)
    await slack.start()
    seeded = len(slack.state.channels)
    for n in range(CHANNELS - seeded - 1):
        slack.add_channel(f"team-{n:04d}", bot_is_member=False)
    slack.add_channel(BROADCAST, bot_is_member=False)
    slack.fail("conversations.list", status=429, retry_after=RETRY_AFTER, after=2)
    try:
        yield slack
    finally:
        await slack.stop()


def list_cursors(slack: SlackEmulator) -> list[tuple[str | None, int]]:
    """Each conversations.list call: the cursor it asked for, and Slack's HTTP status."""
    return [(c.args.get("cursor"), c.http_status) for c in slack.calls_to("conversations.list")]


def page_cursor(page: int) -> str | None:
    """The emulator's cursor for page `page` (1: no cursor)."""
    return None if page == 1 else f"offset:{(page - 1) * PAGE}"


async def stored_names(harness: Harness) -> list[tuple[str, str | None, str | None]]:
    async with harness.app.db.session(write=False) as session:
        rows = (await session.execute(select(SlackChannelNameRow))).scalars()
        return [(r.name, r.channel_id, r.list_cursor) for r in rows]


async def test_a_broadcast_name_in_5000_channels_is_resolved_once_through_a_rate_limit(
    database_url: str, workspace: SlackEmulator
) -> None:
    slack, clock = workspace, FrozenClock(T0)
    broadcast = slack.channel_by_name(BROADCAST)
    assert broadcast is not None
    settings: dict[str, Any] = {"FIREWATCH_BROADCAST_CHANNEL": f"#{BROADCAST}"}
    async with start_harness(database_url, clock=clock, emulator=slack, **settings) as harness:
        await harness.declare()
        await harness.settled()

        # Pages 1 and 2 read, page 3 rate limited: the row waits Retry-After, its place kept.
        assert list_cursors(slack) == [(page_cursor(1), 200), (page_cursor(2), 200)] + [
            (page_cursor(3), 429)
        ]
        [announce] = [r for r in await harness.outbox() if r.kind == effects.ANNOUNCE]
        assert announce.status == "pending"
        assert announce.attempts == 0  # progress made: not a failed attempt
        assert announce.next_attempt_at - clock.now() >= timedelta(seconds=RETRY_AFTER)
        assert await stored_names(harness) == [(BROADCAST, None, page_cursor(3))]
        assert slack.messages(broadcast.id) == []

        clock.advance(timedelta(seconds=RETRY_AFTER + 1))
        await harness.settled()

        pages = CHANNELS // PAGE
        assert list_cursors(slack) == [
            (page_cursor(1), 200),
            (page_cursor(2), 200),
            (page_cursor(3), 429),
            *[(page_cursor(page), 200) for page in range(3, pages + 1)],
        ]
        [announcement] = slack.messages(broadcast.id)
        assert "INC-1" in announcement.text
        assert broadcast.members == [slack.state.bot_user_id]  # joined once
        assert len(slack.calls_to("conversations.join")) == 1
        assert await stored_names(harness) == [(BROADCAST, broadcast.id, None)]
        [incident] = await harness.incidents()
        assert incident.announcement_channel_id == broadcast.id

        # The second incident's announcement asks conversations.list nothing.
        slack.reset_calls()
        await harness.declare()
        await harness.settled()
        assert slack.calls_to("conversations.list") == []
        assert len(slack.messages(broadcast.id)) == 2

    # Nor does a new process: the stored id is checked with conversations.info.
    slack.reset_calls()
    async with start_harness(database_url, clock=clock, emulator=slack, **settings) as harness:
        await harness.declare()
        await harness.settled()
        assert slack.calls_to("conversations.list") == []
        checked = [
            c for c in slack.calls_to("conversations.info") if c.args["channel"] == broadcast.id
        ]
        assert len(checked) == 1  # (the incident's own channel is read for its topic)
        assert len(slack.messages(broadcast.id)) == 3
