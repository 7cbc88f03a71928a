"""How the status page and feed put things into words, and how much they list."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import feedparser  # type: ignore[import-untyped, unused-ignore]
import pytest

from bot.domain.status_history import Day
from bot.domain.status_page import ComponentState
from bot.web.status_atom import FEED_ENTRIES, render_atom
from bot.web.status_html import PAST_SHOWN, day_text, duration_text, render_html, uptime_text
from tests.web.pages import resolved_page

S = ComponentState


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(20, "under 1 min"), (45 * 60, "45 min"), (3 * 3600, "3 h"), (72 * 60 + 10, "1 h 12 min")],
)
def test_time_down_reads_as_people_say_it(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_a_day_says_its_date_state_and_time_down() -> None:
    assert (
        day_text(Day(date(2026, 11, 3), S.PARTIAL_OUTAGE, 72 * 60))
        == "2026-11-03: partial outage, 1 h 12 min down"
    )
    assert day_text(Day(date(2026, 11, 4), S.OPERATIONAL, 0)) == "2026-11-04: operational"


def test_uptime_never_rounds_an_outage_up_to_100_percent() -> None:
    assert uptime_text(99.9999) == "99.99 %"
    assert uptime_text(100.0) == "100.00 %"


def past(number: int) -> dict[str, Any]:
    at = f"2026-12-{1 + number // 24:02d}T{number % 24:02d}:00:00Z"
    return {
        "id": f"INC-{number}",
        "name": "Partial outage: SiS",
        "status": "resolved",
        "started_at": at,
        "resolved_at": at,
        "components": {"sis": "partial_outage"},
        "updates": [{"at": at, "status": "resolved", "text": f"Fixed {number}."}],
    }


def test_a_busy_week_lists_the_newest_past_incidents_only() -> None:
    page = replace(resolved_page(), past_incidents=[past(n) for n in range(120)])
    html = render_html(page)
    section = html[html.index('id="past-incidents"') :]
    assert section.count("<article") == PAST_SHOWN
    assert "INC-119 ·" in section
    assert section.index("INC-119 ·") < section.index("INC-118 ·")
    assert f"INC-{119 - PAST_SHOWN} ·" not in section
    feed = feedparser.parse(render_atom(page, base_url="https://status.example.com"))
    assert len(feed.entries) == FEED_ENTRIES
    assert feed.entries[0].id.endswith("incident/INC-119/update/1")
