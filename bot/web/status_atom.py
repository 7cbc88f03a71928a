"""`GET /status.atom`: the status page as an Atom 1.0 feed for subscribers.

One entry per public update of the current and recently resolved incidents, and one
per scheduled maintenance (in progress or to come). Entry ids are tag: URIs that do not
change between fetches: an update is the n-th of its incident counting from the oldest,
and maintenance keeps its id. Nothing but what the `PublicPage` holds is written;
ElementTree escapes every text, and characters XML cannot carry are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree as ET

from bot.domain.status_history import PublicPage
from bot.web.status_html import newest_past, state_label, status_label, utc_text

ATOM = "http://www.w3.org/2005/Atom"
TAG_DATE = "2026"  # the date in every tag: URI; never change it (ids must stay put)
FEED_ENTRIES = 100  # the newest; readers keep the older ones they have seen
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class _Entry:
    id: str
    title: str
    updated: str
    text: str


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _tag(authority: str, specific: str) -> str:
    return f"tag:{authority},{TAG_DATE}:{specific}"


def _incident_entries(incident: Mapping[str, Any], authority: str) -> Iterator[_Entry]:
    oldest_first = sorted(incident["updates"], key=lambda update: update["at"])
    ref = quote(incident["id"], safe="-._~")
    for number, update in enumerate(oldest_first, start=1):
        yield _Entry(
            id=_tag(authority, f"incident/{ref}/update/{number}"),
            title=f"{incident['id']} · {incident['name']} — {status_label(update['status'])}",
            updated=update["at"],
            text=update["text"],
        )


def _maintenance_entry(item: Mapping[str, Any], names: Mapping[str, str], authority: str) -> _Entry:
    affected = ", ".join(names[key] for key in item["components"] if key in names)
    when = f"{utc_text(item['starts_at'])} to {utc_text(item['ends_at'])}"
    label = "Maintenance in progress" if item["in_progress"] else "Scheduled maintenance"
    return _Entry(
        id=_tag(authority, f"maintenance/{quote(item['id'], safe='-._~')}"),
        title=f"{label}: {item['name']}",
        updated=item["starts_at"],
        text=f"{when}." + (f" Affects: {affected}." if affected else ""),
    )


def entries(page: PublicPage, authority: str) -> list[_Entry]:
    """The feed's entries, newest first, at most `FEED_ENTRIES` of them."""
    document = page.document
    names = {key: component["name"] for key, component in document["components"].items()}
    found = [
        entry
        for incident in (*document["incidents"], *newest_past(page, FEED_ENTRIES))
        for entry in _incident_entries(incident, authority)
    ]
    found += [_maintenance_entry(item, names, authority) for item in document["maintenances"]]
    found.sort(key=lambda entry: (entry.updated, entry.id), reverse=True)
    return found[:FEED_ENTRIES]


def _add(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{name}", attrs)
    if text is not None:
        element.text = _clean(text)
    return element


def render_atom(page: PublicPage, *, base_url: str) -> bytes:
    """The feed as UTF-8 XML. `base_url` is where the page is served from
    (`https://status.example.com`); its host names the feed's and entries' ids."""
    base = base_url.rstrip("/")
    authority = urlsplit(base).hostname or "localhost"
    document = page.document
    items = entries(page, authority)
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _add(feed, "id", _tag(authority, "status"))
    _add(feed, "title", page.title)
    headline = state_label(document["overall"]["state"])
    _add(feed, "subtitle", f"Now: {headline}")
    # the newest entry's time, but never later than now (maintenance to come is dated
    # by its start)
    newest = max((item.updated for item in items), default=document["generated_at"])
    _add(feed, "updated", min(newest, document["generated_at"]))
    _add(feed, "link", rel="self", type="application/atom+xml", href=f"{base}/status.atom")
    _add(feed, "link", rel="alternate", type="text/html", href=f"{base}/status")
    _add(_add(feed, "author"), "name", page.title)
    for item in items:
        entry = _add(feed, "entry")
        _add(entry, "id", item.id)
        _add(entry, "title", item.title)
        _add(entry, "updated", item.updated)
        _add(entry, "link", rel="alternate", type="text/html", href=f"{base}/status")
        _add(entry, "content", item.text, type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
