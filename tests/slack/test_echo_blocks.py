"""Grouped timeline echoes stay within Slack's message limits, however many entries wait."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.timeline import TimelineEntry
from bot.slack.blocks.timeline import timeline_entries


def entries(count: int, length: int) -> list[TimelineEntry]:
    at = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    return [
        TimelineEntry(
            incident_id=1,
            seq=n + 1,
            at=at,
            kind="note",
            actor="U0ALICE",
            text=f"{n:04d} " + "x" * (length - 5),
            data={},
            prev_hash="",
            hash="",
            id=n + 1,
        )
        for n in range(count)
    ]


def test_a_storms_worth_of_short_notes_fits_one_message() -> None:
    batch = entries(1000, 30)
    text, blocks, shown = timeline_entries(batch)

    assert shown == 1000
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)
    assert text.split("\n") == [e.text for e in batch]  # the fallback text is whole


def test_long_notes_stop_where_the_fallback_text_would_be_cut() -> None:
    batch = entries(100, 1000)
    text, blocks, shown = timeline_entries(batch)

    assert 0 < shown < 100
    assert len(text) <= 39000
    assert text.split("\n") == [e.text for e in batch[:shown]]
    assert sum(b["text"]["text"].count(":memo:") for b in blocks) == shown
