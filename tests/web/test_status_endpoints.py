"""`/status`, `/status.json` and `/status.atom` over real HTTP on loopback (issue 24):
what a browser, another app's banner and a feed reader get, caching, and failures."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import feedparser  # type: ignore[import-untyped, unused-ignore]
import jsonschema  # type: ignore[import-untyped, unused-ignore]
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.domain.status_history import PublicPage
from bot.web.status_server import build_status_app, status_routes
from tests.web.pages import HOSTILE, INTERNAL, outage_page, resolved_page

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "status.schema.json").read_text())
Client = TestClient[web.Request, web.Application]


def validate(value: Any, part: str | None = None) -> None:
    schema = dict(SCHEMA)
    if part is not None:
        schema = {"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{part}"}
    cls = jsonschema.validators.validator_for(schema)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(value)


class Pages:
    """The provider: answers with `page`, or raises when `page` is None."""

    def __init__(self, page: PublicPage | None) -> None:
        self.page = page
        self.calls = 0

    async def __call__(self) -> PublicPage:
        self.calls += 1
        if self.page is None:
            raise RuntimeError("database is down")
        return self.page


@pytest.fixture
def pages() -> Pages:
    return Pages(outage_page())


@pytest.fixture
async def client(pages: Pages) -> AsyncIterator[Client]:
    routes = status_routes(pages, cache_seconds=30, base_url="https://status.example.com/")
    async with TestClient(TestServer(build_status_app(routes), host="127.0.0.1", port=0)) as c:
        yield c


async def test_the_page_is_html_and_says_what_is_down(client: Client) -> None:
    response = await client.get("/status")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=30"
    assert "script-src" not in response.headers["Content-Security-Policy"]
    html = await response.text()
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html
    assert html.count("<h1>") == 1
    assert "Major outage" in html
    assert "2026-12-06 08:50 UTC" in html
    assert "<script" not in html
    # newest update first
    assert html.index("Logins with SSOe fail") < html.index("We are looking into SSOe")
    assert "Identity provider upgrade" in html
    assert "2026-12-03: partial outage, 2 h down" in html


async def test_the_json_is_the_documented_shape_and_any_origin_may_read_it(
    client: Client,
) -> None:
    response = await client.get("/status.json")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = await response.json()
    validate(document)
    assert document["components"]["ssoe"]["state"] == "major_outage"
    assert document["components"]["sis"]["state"] == "operational"


async def test_a_banner_asks_about_one_component(client: Client) -> None:
    ssoe = await client.get("/status.json", params={"component": "ssoe"})
    sis = await client.get("/status.json", params={"component": "sis"})
    assert ssoe.status == sis.status == 200
    assert ssoe.headers["Access-Control-Allow-Origin"] == "*"
    answers = [await ssoe.json(), await sis.json()]
    for answer in answers:
        validate(answer, "component_answer")
    assert (answers[0]["affected"], answers[0]["incidents"]) == (True, ["INC-12"])
    assert (answers[1]["affected"], answers[1]["state"]) == (False, "operational")


async def test_an_unknown_component_is_404_naming_the_known_ones(client: Client) -> None:
    response = await client.get("/status.json", params={"component": "ldap"})
    assert response.status == 404
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = await response.json()
    assert body["known"] == ["ssoe", "sis", "va_profile"]
    assert "ldap" in body["error"]


async def test_the_feed_reads_in_a_feed_reader(client: Client) -> None:
    response = await client.get("/status.atom")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(await response.read())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Example status"
    assert feed.feed.id == "tag:status.example.com,2026:status"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["self"] == "https://status.example.com/status.atom"
    ids = [entry.id for entry in feed.entries]
    assert ids == [
        "tag:status.example.com,2026:maintenance/mnt-7",
        "tag:status.example.com,2026:incident/INC-12/update/2",
        "tag:status.example.com,2026:incident/INC-12/update/1",
    ]
    assert feed.entries[1].updated == "2026-12-06T08:50:00Z"
    assert feed.entries[1].title == "INC-12 · Major outage: SSOe — Identified"


async def test_entry_ids_stay_put_after_resolution(client: Client, pages: Pages) -> None:
    before = feedparser.parse(await (await client.get("/status.atom")).read())
    pages.page = resolved_page()
    after = feedparser.parse(await (await client.get("/status.atom")).read())
    assert not after.bozo
    first = {e.id: e.title for e in before.entries if "INC-12/update/1" in e.id}
    again = {e.id: e.title for e in after.entries if "INC-12/update/1" in e.id}
    assert first.keys() == again.keys()
    assert after.entries[0].title == "INC-12 · Major outage: SSOe — Resolved"
    assert after.entries[0].summary == "SSOe logins work again."


@pytest.mark.parametrize("path", ["/status", "/status.json", "/status.atom"])
async def test_a_cached_copy_is_confirmed_with_304(client: Client, path: str) -> None:
    first = await client.get(path)
    etag = first.headers["ETag"]
    assert etag.startswith('"')
    assert not etag.startswith("W/")
    again = await client.get(path, headers={"If-None-Match": f'"other", {etag}'})
    assert again.status == 304
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "public, max-age=30"
    assert await again.read() == b""
    stale = await client.get(path, headers={"If-None-Match": '"other"'})
    assert stale.status == 200


@pytest.mark.parametrize("path", ["/status", "/status.json", "/status.atom"])
async def test_head_answers_the_headers_without_the_body(client: Client, path: str) -> None:
    get = await client.get(path)
    head = await client.head(path)
    assert head.status == 200
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert await head.read() == b""


@pytest.mark.parametrize("path", ["/slack/events", "/metrics", "/health", "/", "/status/x"])
async def test_the_status_app_serves_nothing_else(client: Client, path: str) -> None:
    assert (await client.get(path)).status == 404
    assert (await client.post(path, data=b"{}")).status in (404, 405)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/status", "text/plain"),
        ("/status.json", "application/json"),
        ("/status.atom", "text/plain"),
    ],
)
async def test_when_the_page_cannot_be_built_the_answer_is_503_and_logged(
    client: Client, pages: Pages, caplog: pytest.LogCaptureFixture, path: str, kind: str
) -> None:
    pages.page = None
    with caplog.at_level(logging.ERROR, logger="bot.web.status_server"):
        response = await client.get(path)
    assert response.status == 503
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content_type == kind
    assert "database is down" not in await response.text()
    assert any("database is down" in str(r.exc_info) for r in caplog.records)


# --- hostile and internal text ----------------------------------------------------------


@pytest.fixture
def hostile(pages: Pages) -> Callable[[], None]:
    def use() -> None:
        pages.page = outage_page(text=HOSTILE)

    return use


async def test_hostile_public_updates_are_escaped_in_the_page(
    client: Client, hostile: Callable[[], None]
) -> None:
    hostile()
    html = await (await client.get("/status")).text()
    assert "<script" not in html
    assert "<@U123>" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;@U123&gt; &lt;b&gt;bold" in html


async def test_hostile_public_updates_are_plain_text_in_the_feed(
    client: Client, hostile: Callable[[], None]
) -> None:
    hostile()
    body = await (await client.get("/status.atom")).read()
    assert b"<script" not in body
    assert b"<@U123>" not in body
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    update = next(e for e in feed.entries if e.id.endswith("INC-12/update/2"))
    assert update.content[0].type == "text/plain"
    assert update.content[0].value == HOSTILE.replace("\x1b", "").strip()


async def test_hostile_public_updates_survive_the_json_as_text(
    client: Client, hostile: Callable[[], None]
) -> None:
    hostile()
    document = await (await client.get("/status.json")).json()
    validate(document)
    assert document["incidents"][0]["updates"][0]["text"] == HOSTILE


@pytest.mark.parametrize("path", ["/status", "/status.json", "/status.atom"])
async def test_nothing_internal_of_the_incident_is_published(client: Client, path: str) -> None:
    body = await (await client.get(path)).text()
    secrets = [*INTERNAL.values(), "C0SECRET", "grafana.internal", "sev1"]
    assert [secret for secret in secrets if secret in body] == []
