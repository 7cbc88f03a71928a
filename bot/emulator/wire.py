"""Wire-level pieces of the emulator: call records and decoding of Web API arguments."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: Arguments Slack documents as "JSON-encoded string" when sent form-encoded.
JSON_STRING_ARGS = ("blocks", "attachments", "view", "metadata", "users", "unfurls")


@dataclass
class RecordedCall:
    """One Web API call as the emulator saw and answered it.

    ``http_status`` is 0 and ``response`` empty when the connection was dropped.
    """

    method: str
    args: dict[str, Any]
    at: float
    http_status: int
    response: dict[str, Any]
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: The replica that called, when it used its own address (``api_url_for``).
    replica: str | None = None

    @property
    def ok(self) -> bool:
        return self.http_status == 200 and bool(self.response.get("ok"))


@dataclass
class ResponseUrlPost:
    """A POST the bot made to a ``response_url`` pointing at :attr:`SlackEmulator.hooks_url`."""

    path: str
    body: Any
    at: float


class BadRequest(Exception):
    """The body could not be decoded; ``str(exc)`` is the Slack error to answer."""


async def read_args(request: web.Request) -> tuple[dict[str, Any], str | None]:
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = json.loads(await request.text())
            except ValueError:
                raise BadRequest("invalid_json") from None
            if not isinstance(body, dict):
                raise BadRequest("invalid_json")
            args.update(body)
        else:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key in JSON_STRING_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            try:
                args[key] = json.loads(value)
            except ValueError:
                pass  # left as a string: the handler answers e.g. invalid_blocks_format
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    form_token = args.pop("token", None)
    return args, token or (str(form_token) if form_token else None)
