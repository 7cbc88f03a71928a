"""`GET /status`: the public status page as one server-rendered HTML5 document.

No JavaScript, inline CSS only, readable on a phone and with a screen reader: every state
is written out in words (colour only repeats it), and each day of a component's strip
says its date, state and time down. The page shows what the `PublicPage` holds and
nothing else; Jinja2 escapes every text (autoescape on).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from bot.domain.status_history import ComponentHistory, Day, PublicPage
from bot.domain.status_page import ComponentState

ALL_GOOD = "All systems operational"
PAST_SHOWN = 25  # resolved incidents listed, newest first: a week can hold hundreds


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        state_label=state_label, status_label=status_label, utc_text=utc_text
    )
    return environment


def state_label(state: str) -> str:
    """ "major_outage" → "Major outage"."""
    return ComponentState(state).label


def status_label(status: str) -> str:
    """An incident status ("investigating") as the page writes it ("Investigating")."""
    return status.replace("_", " ").capitalize()


def utc_text(iso: str) -> str:
    """ "2026-11-03T14:05:00Z" → "2026-11-03 14:05 UTC"."""
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def duration_text(seconds: float) -> str:
    """Time down as people say it: "45 min", "3 h", "1 h 12 min", "under 1 min"."""
    minutes = round(seconds / 60)
    if minutes == 0:
        return "under 1 min"
    hours, minutes = divmod(minutes, 60)
    parts = ([f"{hours} h"] if hours else []) + ([f"{minutes} min"] if minutes else [])
    return " ".join(parts)


def day_text(day: Day) -> str:
    """ "2026-11-03: partial outage, 1 h 12 min down" (the strip's words for one day)."""
    text = f"{day.day.isoformat()}: {day.state.label.lower()}"
    if day.down_seconds > 0:
        text += f", {duration_text(day.down_seconds)} down"
    return text


def uptime_text(uptime: float) -> str:
    """Rounded down to two decimals, so an outage never shows as 100.00 %."""
    return f"{math.floor(uptime * 100) / 100:.2f} %"


@dataclass(frozen=True)
class _Strip:
    cells: Markup  # the <li> of each day, built here: 90 a component is the page's bulk
    uptime: str
    days: int


def _cell(day: Day) -> str:
    words = escape(day_text(day))
    return f'<li class="s-{day.state.value}" title="{words}"><span class="vh">{words}</span></li>'


def _strip(history: ComponentHistory | None) -> _Strip | None:
    if history is None or not history.days:
        return None
    cells = Markup("".join(_cell(day) for day in history.days))
    return _Strip(cells, uptime_text(history.uptime), len(history.days))


def _groups(
    components: Mapping[str, Any], histories: Mapping[str, ComponentHistory]
) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """Components by group, in the policy's order: each group (and the ungrouped ones)
    where its first component stands."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for key, component in components.items():
        groups.setdefault(component["group"], []).append(
            {
                "key": key,
                "name": component["name"],
                "description": component["description"],
                "state": component["state"],
                "strip": _strip(histories.get(key)),
            }
        )
    return [(name, items) for name, items in groups.items() if items]


def _incident(item: Mapping[str, Any]) -> dict[str, Any]:
    updates = sorted(item["updates"], key=lambda update: update["at"], reverse=True)
    return {**item, "updates": updates}


def page_context(page: PublicPage) -> dict[str, Any]:
    """What the template shows, worked out from the page."""
    document = page.document
    components = document["components"]
    headline = document["overall"]["state"]
    maintenances = document["maintenances"]
    return {
        "title": page.title,
        "headline_state": headline,
        "headline": ALL_GOOD if headline == ComponentState.OPERATIONAL else state_label(headline),
        "generated_at": document["generated_at"],
        "groups": _groups(components, page.histories),
        "names": {key: component["name"] for key, component in components.items()},
        "incidents": [_incident(item) for item in document["incidents"]],
        "in_progress": [item for item in maintenances if item["in_progress"]],
        "upcoming": [item for item in maintenances if not item["in_progress"]],
        "past_incidents": [_incident(item) for item in newest_past(page, PAST_SHOWN)],
    }


def newest_past(page: PublicPage, count: int) -> list[dict[str, Any]]:
    """The `count` most recently resolved of the page's past incidents, newest first."""
    found = sorted(page.past_incidents, key=lambda item: str(item["resolved_at"]), reverse=True)
    return found[:count]


def render_html(page: PublicPage) -> str:
    """The whole page, `<!DOCTYPE html>` to `</html>`."""
    return _environment().get_template("status.html").render(page_context(page))
