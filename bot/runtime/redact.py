"""Masking secrets for people to read: `check-config`, `Settings.masked()` and every log line.

A secret shows at most its length and its last 4 characters. A URL keeps its scheme, host
and shape, but not what authenticates it: the password (or a lone user name, often a
token) before `@`, every query value, and path segments that look like tokens (16 or
more characters of letters and digits, e.g. a Slack webhook's last segment).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "****"
# Shorter secrets show only their length: 4 characters of 8 is half of it.
_SHOW_TAIL_FROM = 16
_TOKEN_SEGMENT = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9_\-.~]{16,}$")
_SLACK_TOKEN = re.compile(r"\b(xox[abposr]|xapp)-[A-Za-z0-9-]+")
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s\"'<>]+", re.IGNORECASE)


def mask_secret(secret: str) -> str:
    """`****…wxyz (51 chars)`; only the length for a secret shorter than 16."""
    if len(secret) < _SHOW_TAIL_FROM:
        return f"{MASK} ({len(secret)} chars)"
    return f"{MASK}…{secret[-4:]} ({len(secret)} chars)"


def mask_url(url: str) -> str:
    """The URL with its credentials, query values and token-like path segments masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{MASK}@{host}"
    path = "/".join(
        MASK if _TOKEN_SEGMENT.match(segment) else segment for segment in parts.path.split("/")
    )
    query = "&".join(
        f"{pair.partition('=')[0]}={MASK}" if "=" in pair else MASK
        for pair in parts.query.split("&")
        if pair
    )
    if "://" not in url:
        return urlunsplit((parts.scheme, netloc, path, query, MASK if parts.fragment else ""))
    # By hand: urlunsplit drops the empty host of sqlite:///path.
    return (
        f"{parts.scheme}://{netloc}{path}"
        + (f"?{query}" if parts.query else "")
        + (f"#{MASK}" if parts.fragment else "")
    )


def redact(text: str) -> str:
    """`text` with every URL masked (`mask_url`) and every Slack token cut to its prefix."""
    text = _URL.sub(lambda m: mask_url(m.group(0)), text)
    return _SLACK_TOKEN.sub(lambda m: m.group(1) + "-" + MASK, text)
