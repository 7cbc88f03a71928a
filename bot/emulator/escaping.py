"""Slash-command text as Slack sends it when the command has ``should_escape: true``.

Slack rewrites what the person typed: ``@bob`` (a workspace member's name) becomes
``<@U0BOB|bob>``, ``#ops`` (a channel's name) ``<#C0OPS|ops>``, a link ``<https://…>``.
Names nobody has, and text already inside ``<…>``, stay as typed.
"""

from __future__ import annotations

import re

from bot.emulator.state import Workspace

_MARKUP = re.compile(r"(<[^<>]*>)")
_TOKEN = re.compile(r"(?<![\w@#/])([@#])([\w.\-]+)|(https?://[^\s<>]+)")


def escape_command_text(text: str, ws: Workspace | None) -> str:
    """``text`` with known ``@name``/``#name`` and links escaped as Slack does."""
    parts = _MARKUP.split(text)
    return "".join(part if _MARKUP.fullmatch(part) else _escape(part, ws) for part in parts)


def _escape(text: str, ws: Workspace | None) -> str:
    def rewrite(match: re.Match[str]) -> str:
        if match.group(3):
            return f"<{match.group(3)}>"
        sigil, name = match.group(1), match.group(2)
        # A trailing full stop or comma ends a sentence, not the name.
        stripped = name.rstrip(".-")
        tail = name[len(stripped) :]
        if ws is not None and sigil == "@":
            user = next((u for u in ws.users.values() if u.name == stripped), None)
            if user is not None:
                return f"<@{user.id}|{stripped}>{tail}"
        if ws is not None and sigil == "#":
            channel = ws.channel_by_name(stripped)
            if channel is not None:
                return f"<#{channel.id}|{stripped}>{tail}"
        return match.group(0)

    return _TOKEN.sub(rewrite, text)
