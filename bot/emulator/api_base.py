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


def get_channel(ws: Workspace, args: Args, key: str = "channel") -> Channel:
    """The channel named by ``args[key]``; private channels need the bot as a member."""
    channel = ws.resolve_channel(text_arg(args, key))
    if channel is None:
        raise SlackError("channel_not_found")
    if channel.is_private and ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    return channel


def writable_channel(ws: Workspace, args: Args, key: str = "channel") -> Channel:
    channel = get_channel(ws, args, key)
    if channel.is_archived:
        raise SlackError("is_archived")
    return channel


def get_message(ws: Workspace, channel: Channel, ts: str) -> Message:
    message = ws.find_message(channel.id, ts)
    if message is None:
        raise SlackError("message_not_found")
    return message


def message_content(args: Args) -> tuple[str, list[Any] | None, list[Any] | None]:
    blocks = json_arg(args, "blocks", "invalid_blocks_format")
    attachments = json_arg(args, "attachments", "invalid_attachments")
    text = text_arg(args, "text")
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    check_block_limits(blocks)
    return text, blocks, attachments


# Block Kit's documented limits for a message: 50 blocks; a section's text 3,000 characters.
MAX_MESSAGE_BLOCKS = 50
MAX_SECTION_TEXT = 3000


def check_block_limits(blocks: list[Any] | None) -> None:
    if not blocks:
        return
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise SlackError("invalid_blocks_format")
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise SlackError("invalid_blocks")
    for block in blocks:
        text = block.get("text")
        if block.get("type") == "section" and isinstance(text, dict):
            if len(str(text.get("text", ""))) > MAX_SECTION_TEXT:
                raise SlackError("msg_blocks_too_long")


def message_metadata(args: Args) -> JSON | None:
    value = args.get("metadata")
    if value is None or value == "":
        return None
    if not isinstance(value, dict) or "event_type" not in value:
        raise SlackError("invalid_metadata_format")
    return value
