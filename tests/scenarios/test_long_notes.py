"""Issue 19, item 4, in Slack: a pasted log of 12,000 characters is a note like any other.
It is stored whole; its echo in the channel shows its start, in blocks Slack accepts, and
says how to read all of it; `/incident timeline #n` answers with all of it, in pieces each
within Slack's limits. Past the longest text Slack lets a person send, the answer says so
without quoting any of it."""

from __future__ import annotations

from typing import Any

from bot.emulator.block_limits import check_message_blocks
from bot.services.timeline import NOTE_MAX
from tests.support import Harness

LINE = "2026-12-06T04:00:01Z ERROR checkout-api upstream <db-1> timed out & retried\n"
LOG = (LINE * (12_000 // len(LINE) + 1))[:11_999] + "."
MARKER = "`/incident timeline INC-1 #3` shows all of it"


async def declared(harness: Harness) -> str:
    await harness.declare()
    await harness.settled()
    [row] = await harness.incidents()
    assert row.channel_id is not None
    return row.channel_id


def plain_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b.get("text", {}).get("type") == "plain_text"]


async def test_a_pasted_12000_character_log_is_stored_whole_and_shown_in_pieces(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    answer = await harness.sender.slash_command(f"note {LOG}", channel_id=channel)
    assert answer.json()["text"] == "Noted on INC-1's timeline."
    await harness.noted()
    note = (await harness.timeline())[-1]
    assert (note.seq, note.kind, note.text) == (3, "note", LOG)

    await harness.settled()
    echo = harness.slack.messages(channel)[-1]
    assert echo.blocks is not None
    check_message_blocks(echo.blocks)  # what Slack accepted, checked again here
    shown = echo.blocks[0]["text"]["text"]
    assert shown.startswith(":memo: 2026-12-06T04:00:01Z ERROR checkout-api upstream &lt;db-1&gt;")
    assert MARKER in shown
    assert MARKER in echo.text
    assert len(echo.text) < 4000

    whole = await harness.sender.slash_command("timeline #3", channel_id=channel)
    blocks = whole.json()["blocks"]
    check_message_blocks(blocks)
    pieces = plain_texts(blocks)
    assert len(pieces) == 5  # 12,000 characters in sections of at most 3,000
    assert "".join(pieces) == LOG  # as written: plain text is not parsed, nothing escaped
    assert "12,000 characters" in blocks[0]["text"]["text"]


async def test_a_note_longer_than_slack_lets_anyone_send_is_refused_without_quoting_it(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    too_long = "<!channel> " + "x" * NOTE_MAX
    answer = (await harness.sender.slash_command(f"note {too_long}", channel_id=channel)).json()
    assert answer["text"] == (
        "A note holds at most 40,000 characters; this one has 40,011. Nothing was saved:"
        " split it into several, or attach the log as a file and note its link."
    )
    assert "blocks" not in answer
    assert [e.kind for e in await harness.timeline()] == ["declared", "channel"]


async def test_an_entry_that_is_not_there_is_answered_plainly(harness: Harness) -> None:
    channel = await declared(harness)
    answer = await harness.sender.slash_command("timeline INC-1 #99", channel_id=channel)
    assert answer.json()["text"] == "INC-1 has no timeline entry #99."


async def test_a_long_status_update_is_stored_whole_and_its_broadcast_fits(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    answer = await harness.sender.slash_command(f"status monitoring {LOG}", channel_id=channel)
    assert answer.json()["text"] == "INC-1 is now monitoring."
    status = (await harness.timeline())[-1]
    assert status.kind == "status"
    assert status.data["update"] == LOG
    await harness.settled()
    update = harness.slack.messages("#incidents")[-1]
    assert update.blocks is not None
    check_message_blocks(update.blocks)
    assert "`/incident timeline INC-1 #3` shows all of it" in update.blocks[0]["text"]["text"]
    assert len(update.text) < 4000
    echo = harness.slack.messages(channel)[-1]
    check_message_blocks(echo.blocks)
    assert "`/incident timeline INC-1 #3` shows all of it" in echo.text
