"""Many notes at once while Slack misbehaves: stored order kept in the channel, none twice."""

from __future__ import annotations

import asyncio

from tests.support import Harness


async def test_500_notes_from_5_posters_arrive_in_stored_order_despite_429_and_503(
    harness: Harness,
) -> None:
    await harness.declare()
    await harness.settled()
    [incident] = await harness.incidents()
    channel = incident.channel_id
    assert channel is not None
    harness.slack.random_failures(
        rate=0.3, statuses=(429, 503), seed=7, methods=["chat.postMessage"], retry_after=0
    )

    async def poster(user: str) -> None:
        for n in range(100):
            response = await harness.sender.slash_command(
                f"note {user} #{n}", user_id=user, channel_id=channel
            )
            assert response.status == 200
            assert response.json()["text"].startswith("Noted on INC-1")

    users = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ALICE"]
    await asyncio.gather(*(poster(f"{u}") for u in users[:4]), poster("U0ERIN"))
    await harness.settled(timeout=120)

    stored = [e.text for e in await harness.timeline() if e.kind == "note"]
    assert len(stored) == 500
    # Echoes queued together share a message, one line per entry.
    lines = [line for m in harness.slack.messages(channel) for line in m.text.split("\n")]
    shown = [line for line in lines if line in set(stored)]
    assert shown == stored  # every note, once, in the order it was stored
    failures = [
        c for c in harness.slack.calls_to("chat.postMessage") if c.http_status in (429, 503)
    ]
    assert failures, "the emulator should have injected failures"


async def test_a_backlog_of_long_notes_is_packed_into_messages_within_slacks_limits(
    harness: Harness,
) -> None:
    """Echoes queued while Slack was unreachable go out grouped; what does not fit in one
    message (50 blocks, 3,000 characters a section) waits for the next, none lost."""
    await harness.declare()
    await harness.settled()
    [incident] = await harness.incidents()
    channel = incident.channel_id
    assert channel is not None
    harness.slack.fail("chat.postMessage", status=503, times=3)  # Slack down for a while
    notes = [f"note {n:03d} " + "x" * 1500 for n in range(120)]
    for text in notes:
        response = await harness.sender.slash_command(f"note {text}", channel_id=channel)
        assert response.status == 200
    await harness.settled(timeout=60)

    echoes = [m for m in harness.slack.messages(channel) if m.text.startswith("note ")]
    assert len(echoes) > 1  # more than one message could hold
    assert len(echoes) < len(notes)  # but grouped, not one message per note
    assert all(len(m.blocks or []) <= 50 for m in echoes)
    shown = [line for m in echoes for line in m.text.split("\n")]
    assert shown == notes  # every note once, in stored order


async def test_echoes_are_paced_to_slacks_rate_per_channel(database_url: str) -> None:
    """With FIREWATCH_ECHO_INTERVAL_SECONDS, a burst of notes reaches the channel as a
    few grouped messages at that pace, not one message per note."""
    from tests.support import start_harness

    async with start_harness(database_url, FIREWATCH_ECHO_INTERVAL_SECONDS=0.4) as harness:
        await harness.declare()
        await harness.settled()
        [incident] = await harness.incidents()
        channel = incident.channel_id
        assert channel is not None
        for n in range(60):
            response = await harness.sender.slash_command(f"note paced #{n}", channel_id=channel)
            assert response.status == 200
            await asyncio.sleep(0.01)  # a note every ~15 ms for about a second
        await harness.settled(timeout=30)

        echoes = [m for m in harness.slack.messages(channel) if m.text.startswith("paced")]
        shown = [line for m in echoes for line in m.text.split("\n")]
        assert shown == [f"paced #{n}" for n in range(60)]
        assert 2 <= len(echoes) <= 6  # about one per 0.4 s, not sixty
        posted = [c.at for c in harness.slack.calls_to("chat.postMessage") if c.ok]
        echo_times = posted[-len(echoes) :]
        gaps = [b - a for a, b in zip(echo_times, echo_times[1:], strict=False)]
        assert all(gap >= 0.35 for gap in gaps)
