"""The kind of a Slack request (command, view_submission, block_actions, shortcut, event,
other: the `kind` label of bot.runtime.metric_families.REQUEST_KINDS), read from its raw body for
the request metrics.

The body is untrusted until the handler has verified its signature, so nothing here
parses it: a few C-level substring searches and at most `_PAYLOAD_HEAD` URL-decoded
bytes, whatever the body's size.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

_PAYLOAD_TYPES = {
    "view_submission": "view_submission",
    "block_actions": "block_actions",
    "shortcut": "shortcut",
    "message_action": "shortcut",
}
_EVENT_CALLBACK = b'"event_callback"'
_TYPE_KEY_BEFORE = re.compile(rb'"type"\s*:\s*\Z')  # ends right where the value starts
_PAYLOAD_HEAD = 512  # encoded bytes of `payload=` decoded to find a leading "type"
_PAYLOAD_SCAN = 64 * 1024  # encoded bytes scanned when "type" is not the first key
_HEAD_TYPE = re.compile(r'\A\s*\{\s*"type"\s*:\s*"([A-Za-z_]{1,40})"')
_Q = rb'(?:"|%22)'
_WS = rb"(?:\s|\+|%20)*"
_ENCODED_TYPE = re.compile(
    _Q
    + rb"type"
    + _Q
    + _WS
    + rb"(?::|%3[Aa])"
    + _WS
    + _Q
    + rb"(view_submission|block_actions|shortcut|message_action)"
    + _Q
)


def classify_request(body: bytes, content_type: str = "") -> str:
    """The kind of a Slack request, from a cheap look at its raw (unverified) body.

    * form with a `command` field: a slash command;
    * form with a `payload` field: the payload's JSON `type`, read from the start of the
      decoded payload (where Slack puts it), else searched for in the first 64 KiB of the
      encoded payload; block_actions, view_submission, shortcut and message_action (a
      message shortcut) have kinds, anything else (view_closed, block_suggestion ...) is
      "other";
    * JSON with `"type": "event_callback"`: an event (url_verification is "other").

    Nothing is JSON-decoded, at most `_PAYLOAD_HEAD` bytes are URL-decoded and every scan
    is a C-level substring search, so a large or hostile body stays cheap (about a
    millisecond per MiB).
    """
    if content_type == "application/json" or body[:64].lstrip().startswith(b"{"):
        return "event" if _is_event_callback(body) else "other"
    start = _form_value_start(body, b"payload")
    if start is None:
        return "command" if _form_value_start(body, b"command") is not None else "other"
    end = body.find(b"&", start)
    end = len(body) if end == -1 else end
    head = body[start : min(end, start + _PAYLOAD_HEAD)]
    leading = _HEAD_TYPE.match(unquote_plus(head.decode("latin-1")))
    if leading is not None:
        return _PAYLOAD_TYPES.get(leading.group(1), "other")
    scanned = _ENCODED_TYPE.search(body, start, min(end, start + _PAYLOAD_SCAN))
    return _PAYLOAD_TYPES[scanned.group(1).decode()] if scanned else "other"


def _is_event_callback(body: bytes, tries: int = 8) -> bool:
    """Whether `"event_callback"` appears as the value of a "type" key (JSON strings escape
    their quotes, so text that merely mentions it does not count)."""
    found = body.find(_EVENT_CALLBACK)
    while found != -1 and tries > 0:
        if _TYPE_KEY_BEFORE.search(body, max(0, found - 32), found):
            return True
        found = body.find(_EVENT_CALLBACK, found + 1)
        tries -= 1
    return False


def _form_value_start(body: bytes, name: bytes) -> int | None:
    """Where the value of form field `name` starts (a raw `&` only separates fields)."""
    if body.startswith(name + b"="):
        return len(name) + 1
    found = body.find(b"&" + name + b"=")
    return None if found == -1 else found + len(name) + 2
