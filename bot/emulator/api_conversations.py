"""conversations.* handlers."""

from __future__ import annotations

from bot.emulator.api_base import (
    Args,
    SlackError,
    flag_arg,
    get_channel,
    list_arg,
    text_arg,
    writable_channel,
)
from bot.emulator.state import JSON, Channel, Message, Workspace, channel_name_error

# -- conversations ------------------------------------------------------------------------------


def _check_name(ws: Workspace, name: str, *, except_id: str | None = None) -> None:
    error = channel_name_error(name)
    if error is not None:
        raise SlackError(error)
    clash = ws.channel_by_name(name)
    if clash is not None and clash.id != except_id:
        raise SlackError("name_taken")


def conversations_create(ws: Workspace, args: Args) -> JSON:
    name = text_arg(args, "name")
    _check_name(ws, name)
    channel = ws.add_channel(
        name, is_private=flag_arg(args, "is_private"), members=[ws.bot_user_id]
    )
    return {"channel": channel.as_dict(ws.bot_user_id)}


def conversations_info(ws: Workspace, args: Args) -> JSON:
    return {"channel": get_channel(ws, args).as_dict(ws.bot_user_id)}


def conversations_invite(ws: Workspace, args: Args) -> JSON:
    channel = writable_channel(ws, args)
    if channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    if ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    users = list_arg(args.get("users"))
    if not users:
        raise SlackError("no_user")
    problems: list[JSON] = []
    accepted: list[str] = []
    for user_id in users:
        if user_id == ws.bot_user_id:
            problems.append({"user": user_id, "ok": False, "error": "cant_invite_self"})
        elif user_id not in ws.users or ws.users[user_id].deleted:
            problems.append({"user": user_id, "ok": False, "error": "user_not_found"})
        elif user_id in channel.members:
            problems.append({"user": user_id, "ok": False, "error": "already_in_channel"})
        else:
            accepted.append(user_id)
    if problems and not flag_arg(args, "force"):
        raise SlackError(problems[0]["error"], errors=problems)
    channel.members.extend(dict.fromkeys(accepted))
    body: JSON = {"channel": channel.as_dict(ws.bot_user_id)}
    if problems:
        body["errors"] = problems
    return body


def _set_text_field(ws: Workspace, args: Args, field_name: str) -> Channel:
    channel = writable_channel(ws, args)
    value = text_arg(args, field_name)
    if len(value) > 250:
        raise SlackError("too_long")
    setattr(channel, field_name, {"value": value, "creator": ws.bot_user_id, "last_set": ws.now()})
    return channel


def conversations_set_topic(ws: Workspace, args: Args) -> JSON:
    return {"channel": _set_text_field(ws, args, "topic").as_dict(ws.bot_user_id)}


def conversations_set_purpose(ws: Workspace, args: Args) -> JSON:
    channel = _set_text_field(ws, args, "purpose")
    return {"channel": channel.as_dict(ws.bot_user_id), "purpose": channel.purpose["value"]}


def conversations_archive(ws: Workspace, args: Args) -> JSON:
    channel = get_channel(ws, args)
    if channel.is_archived:
        raise SlackError("already_archived")
    if channel.is_general:
        raise SlackError("cant_archive_general")
    if channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    channel.is_archived = True
    return {}


def conversations_open(ws: Workspace, args: Args) -> JSON:
    users = list_arg(args.get("users"))
    if not users:
        existing = ws.channels.get(text_arg(args, "channel"))
        if existing is None or not existing.is_im:
            raise SlackError(
                "users_list_not_supplied" if "channel" not in args else "channel_not_found"
            )
        users = [existing.im_user or ""]
    if len(users) > 1:
        raise SlackError("not_implemented", detail="the emulator only opens 1:1 DMs")
    if users[0] not in ws.users:
        raise SlackError("user_not_found")
    already = ws.dm_channel_for(users[0]) is not None
    channel = ws.open_dm(users[0])
    body: JSON = {
        "channel": channel.as_dict(ws.bot_user_id)
        if flag_arg(args, "return_im")
        else {"id": channel.id}
    }
    if already:
        body |= {"no_op": True, "already_open": True}
    return body


def conversations_members(ws: Workspace, args: Args) -> JSON:
    channel = get_channel(ws, args)
    return {"members": list(channel.members), "response_metadata": {"next_cursor": ""}}


def conversations_history(ws: Workspace, args: Args) -> JSON:
    channel = get_channel(ws, args)
    if not channel.is_private and not channel.is_im and ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    try:
        oldest = float(text_arg(args, "oldest") or 0)
    except ValueError:
        raise SlackError("invalid_ts_oldest") from None
    try:
        latest = float(text_arg(args, "latest") or "inf")
    except ValueError:
        raise SlackError("invalid_ts_latest") from None
    inclusive = flag_arg(args, "inclusive")
    limit = int(text_arg(args, "limit")) if text_arg(args, "limit").isdigit() else 100

    def wanted(m: Message) -> bool:
        ts = float(m.ts)
        in_range = oldest <= ts <= latest if inclusive else oldest < ts < latest
        return in_range and (not m.is_reply or m.reply_broadcast)

    selected = sorted((m for m in ws.messages[channel.id] if wanted(m)), key=lambda m: float(m.ts))
    selected.reverse()
    page = selected[:limit]
    return {
        "messages": [_message_dict(m, args) for m in page],
        "has_more": len(selected) > limit,
        "pin_count": len(ws.pins.get(channel.id, [])),
        "response_metadata": {"next_cursor": ""},
    }


def conversations_join(ws: Workspace, args: Args) -> JSON:
    ref = text_arg(args, "channel")
    channel = None if ref in ws.users else ws.resolve_channel(ref)
    if channel is None:
        raise SlackError("channel_not_found")
    if channel.is_private or channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackError("is_archived")
    body: JSON = {}
    if ws.bot_user_id in channel.members:
        body = {"warning": "already_in_channel"}
        body["response_metadata"] = {"warnings": ["already_in_channel"]}
    else:
        channel.members.append(ws.bot_user_id)
    return {"channel": channel.as_dict(ws.bot_user_id), **body}


def conversations_rename(ws: Workspace, args: Args) -> JSON:
    channel = writable_channel(ws, args)
    if ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    name = text_arg(args, "name")
    _check_name(ws, name, except_id=channel.id)
    if name != channel.name:
        channel.previous_names.insert(0, channel.name)
        channel.name = name
    return {"channel": channel.as_dict(ws.bot_user_id)}


def _message_dict(message: Message, args: Args) -> JSON:
    """Slack leaves message metadata out unless `include_all_metadata` is set."""
    out = message.as_dict()
    if not flag_arg(args, "include_all_metadata"):
        out.pop("metadata", None)
    return out


def _page(args: Args, default_limit: int) -> tuple[int, int]:
    raw_limit = text_arg(args, "limit")
    limit = int(raw_limit) if raw_limit.isdigit() and int(raw_limit) > 0 else default_limit
    cursor = text_arg(args, "cursor")
    if cursor and not cursor.startswith("offset:"):
        raise SlackError("invalid_cursor")
    try:
        offset = int(cursor.removeprefix("offset:")) if cursor else 0
    except ValueError:
        raise SlackError("invalid_cursor") from None
    return offset, limit


def conversations_list(ws: Workspace, args: Args) -> JSON:
    """Channels by creation order, paginated with Slack's opaque cursor."""
    types = set((text_arg(args, "types") or "public_channel").split(","))
    unknown = types - {"public_channel", "private_channel", "mpim", "im"}
    if unknown:
        raise SlackError("invalid_types")
    exclude_archived = flag_arg(args, "exclude_archived")

    def wanted(channel: Channel) -> bool:
        if exclude_archived and channel.is_archived:
            return False
        if channel.is_im:
            return "im" in types
        if channel.is_private:
            # A bot sees only the private channels it is in.
            return "private_channel" in types and ws.bot_user_id in channel.members
        return "public_channel" in types

    offset, limit = _page(args, 100)
    channels = [c for c in ws.channels.values() if wanted(c)]
    page = channels[offset : offset + limit]
    more = offset + limit < len(channels)
    return {
        "channels": [c.as_dict(ws.bot_user_id) for c in page],
        "response_metadata": {"next_cursor": f"offset:{offset + limit}" if more else ""},
    }


def conversations_replies(ws: Workspace, args: Args) -> JSON:
    """A thread: its parent first, then replies in order."""
    channel = get_channel(ws, args)
    if not channel.is_private and not channel.is_im and ws.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    ts = text_arg(args, "ts")
    parent = ws.find_message(channel.id, ts)
    if parent is None:
        raise SlackError("thread_not_found")
    thread = [m for m in ws.messages[channel.id] if m.ts == ts or m.thread_ts == ts]
    thread.sort(key=lambda m: float(m.ts))
    offset, limit = _page(args, 1000)
    page = thread[offset : offset + limit]
    more = offset + limit < len(thread)
    return {
        "messages": [_message_dict(m, args) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": f"offset:{offset + limit}" if more else ""},
    }
