"""Shared pieces of the method handlers: :class:`SlackError` and argument/lookup helpers."""

from __future__ import annotations

from typing import Any

from bot.emulator.state import JSON, Channel, Message, Workspace

Args = dict[str, Any]


class SlackError(Exception):
    """A Slack-level error: answered with HTTP 200 and ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> JSON:
        return {"ok": False, "error": self.error, **self.extra}


def text_arg(args: Args, key: str) -> str:
    value = args.get(key)
    return "" if value is None else str(value)


def flag_arg(args: Args, key: str) -> bool:
    value = args.get(key)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def list_arg(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def json_arg(args: Args, key: str, error: str) -> Any:
    value = args.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, list | dict):
        raise SlackError(error)
    return value


def get_channel(
    ws: Workspace, args: Args, key: str = "channel", *, user_id_means_dm: bool = False
) -> Channel:
    """The channel named by ``args[key]``; private channels need the bot as a member.

    A user id (``U…``/``W…``) is not a conversation id: only chat.postMessage
    (``user_id_means_dm``) takes it as the bot's DM with that person; every other method
    answers ``channel_not_found``, as Slack does."""
    ref = text_arg(args, key)
    if ref in ws.users and not user_id_means_dm:
        raise SlackError("channel_not_found")
    channel = ws.resolve_channel(ref)
    if channel is None:
        raise SlackError("channel_not_found")
    if channel.is_private and ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    return channel


def writable_channel(
    ws: Workspace, args: Args, key: str = "channel", *, user_id_means_dm: bool = False
) -> Channel:
    channel = get_channel(ws, args, key, user_id_means_dm=user_id_means_dm)
    if channel.is_archived:
        raise SlackError("is_archived")
    return channel


def get_message(ws: Workspace, channel: Channel, ts: str) -> Message:
    message = ws.find_message(channel.id, ts)
    if message is None:
        raise SlackError("message_not_found")
    return message


def message_metadata(args: Args) -> JSON | None:
    value = args.get("metadata")
    if value is None or value == "":
        return None
    if not isinstance(value, dict) or "event_type" not in value:
        raise SlackError("invalid_metadata_format")
    return value
