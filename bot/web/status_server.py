"""The status page's HTTP handlers: `GET /status` (HTML), `GET /status.json` (the
versioned document; `?component=KEY` answers one component, for banners in other apps)
and `GET /status.atom` (the feed); HEAD too.

Every answer carries a strong ETag (a hash of the body; `If-None-Match` gets 304) and
`Cache-Control: public, max-age=<cache_seconds>`. The JSON may be read from any origin
(`Access-Control-Allow-Origin: *`). When the provider (or rendering) fails the answer
is 503 with `Retry-After`, logged, never 500. `build_status_app` serves these paths and
nothing else, so it can listen on a port exposed to the public.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.domain.status_history import PublicPage
from bot.domain.status_page import UnknownComponent, component_answer
from bot.web.status_atom import render_atom
from bot.web.status_html import render_html

log = logging.getLogger(__name__)

Provider = Callable[[], Awaitable[PublicPage]]

HTML = "text/html"
JSON = "application/json"
ATOM = "application/atom+xml"
# No script may run on the page, whatever a public update says; styles are inline.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """`If-None-Match` names `etag` (weak comparison, as RFC 9110 says for it) or is *."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


class _StatusHandlers:
    def __init__(self, provider: Provider, cache_seconds: int, base_url: str | None) -> None:
        if cache_seconds < 0:
            raise ValueError("cache_seconds must not be negative")
        self._provider = provider
        self._cache_seconds = cache_seconds
        self._base_url = base_url.rstrip("/") if base_url else None

    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"X-Content-Type-Options": "nosniff"}
        if content_type == JSON:
            headers["Access-Control-Allow-Origin"] = "*"
        if content_type == HTML:
            headers["Content-Security-Policy"] = PAGE_POLICY
        return headers

    def _answer(
        self, request: web.Request, body: bytes, content_type: str, status: int = 200
    ) -> web.Response:
        etag = strong_etag(body)
        headers = {
            **self._headers(content_type),
            "ETag": etag,
            "Cache-Control": f"public, max-age={self._cache_seconds}",
        }
        if status == 200 and etag_matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=body, status=status, content_type=content_type, charset="utf-8", headers=headers
        )

    def _unavailable(self, content_type: str) -> web.Response:
        retry = max(self._cache_seconds, 10)
        headers = {
            **self._headers(content_type),
            "Retry-After": str(retry),
            "Cache-Control": "no-store",
        }
        message = f"The status page is unavailable right now; try again in {retry} seconds."
        if content_type == JSON:
            body = _json({"error": "unavailable", "message": message, "retry_after": retry})
            return web.Response(
                body=body, status=503, content_type=JSON, charset="utf-8", headers=headers
            )
        return web.Response(text=message, status=503, headers=headers)

    async def _serve(
        self,
        request: web.Request,
        content_type: str,
        render: Callable[[PublicPage], tuple[bytes, int]],
    ) -> web.Response:
        try:
            page = await self._provider()
            body, status = render(page)
        except Exception:
            log.exception("status page: could not build %s", request.path)
            return self._unavailable(content_type)
        return self._answer(request, body, content_type, status)

    async def html(self, request: web.Request) -> web.Response:
        return await self._serve(request, HTML, lambda page: (render_html(page).encode(), 200))

    async def atom(self, request: web.Request) -> web.Response:
        base = self._base_url or str(request.url.origin())
        return await self._serve(
            request, ATOM, lambda page: (render_atom(page, base_url=base), 200)
        )

    async def json(self, request: web.Request) -> web.Response:
        key = request.query.get("component")
        return await self._serve(request, JSON, lambda page: _json_body(page, key))


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _json_body(page: PublicPage, key: str | None) -> tuple[bytes, int]:
    if key is None:
        return _json(page.document), 200
    try:
        return _json(component_answer(page.document, key)), 200
    except UnknownComponent as unknown:
        return _json({"error": str(unknown), "known": list(unknown.known)}), 404


def status_routes(
    provider: Provider, *, cache_seconds: int, base_url: str | None = None
) -> list[web.RouteDef]:
    """GET and HEAD for `/status`, `/status.json` and `/status.atom`, each building the
    page with `provider`. `base_url` (`https://status.example.com`) is where the public
    reaches them, for the feed's links and ids; without it, the request's own origin."""
    handlers = _StatusHandlers(provider, cache_seconds, base_url)
    return [
        web.get("/status", handlers.html),
        web.get("/status.json", handlers.json),
        web.get("/status.atom", handlers.atom),
    ]


def build_status_app(routes: list[web.RouteDef]) -> web.Application:
    """An application serving `routes` only: any other path is 404, so the port it
    listens on can be public while `/slack/events` and `/metrics` stay internal."""
    app = web.Application(client_max_size=1024)
    app.add_routes(routes)
    return app
