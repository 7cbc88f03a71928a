"""auth.*, team.*, users.* and chat.* handlers."""

from __future__ import annotations

from typing import Any

from bot.emulator.api_base import (
    Args,
    SlackError,
    flag_arg,
    get_channel,
    get_message,
    json_arg,
    message_metadata,
    text_arg,
    writable_channel,
)
from bot.emulator.block_limits import check_message_blocks
from bot.emulator.state import JSON, Ephemeral, Message, Workspace

# -- auth / team / users ------------------------------------------------------------------------


def auth_test(ws: Workspace, _args: Args) -> JSON:
    return {
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": ws.team_name,
        "user": ws.users[ws.bot_user_id].name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def team_info(ws: Workspace, _args: Args) -> JSON:
    team: JSON = {"id": ws.team_id, "name": ws.team_name, "domain": ws.team_domain}
    team |= {"email_domain": "example.com", "icon": {"image_default": True}}
    return {"team": team}


def users_info(ws: Workspace, args: Args) -> JSON:
    user = ws.users.get(text_arg(args, "user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": user.as_dict(ws.team_id, ws.clock())}


def users_lookup_by_email(ws: Workspace, args: Args) -> JSON:
    user = ws.user_by_email(text_arg(args, "email"))
    if user is None:
        raise SlackError("users_not_found")
    return {"user": user.as_dict(ws.team_id, ws.clock())}


def users_list(ws: Workspace, _args: Args) -> JSON:
    now = ws.clock()
    members = [u.as_dict(ws.team_id, now) for u in ws.users.values()]
    return {"members": members, "cache_ts": int(now), "response_metadata": {"next_cursor": ""}}


# -- chat ---------------------------------------------------------------------------------------


def message_content(args: Args) -> tuple[str, list[Any] | None, list[Any] | None]:
    blocks = json_arg(args, "blocks", "invalid_blocks_format")
    attachments = json_arg(args, "attachments", "invalid_attachments")
    text = text_arg(args, "text")
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    if blocks is not None and not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    check_message_blocks(blocks)
    return text, blocks, attachments


def chat_post_message(ws: Workspace, args: Args) -> JSON:
    channel = writable_channel(ws, args, user_id_means_dm=True)
    if not channel.is_private and ws.bot_user_id not in channel.members:
        # Posting in a public channel the app has not joined needs chat:write.public.
        if ws.granted_scopes is not None and "chat:write.public" not in ws.granted_scopes:
            raise SlackError("not_in_channel")
    text, blocks, attachments = message_content(args)
    thread_ts = text_arg(args, "thread_ts") or None
    message = Message(
        channel=channel.id,
        ts=ws.next_ts(),
        user=ws.bot_user_id,
        text=text,
        blocks=blocks,
        attachments=attachments,
        thread_ts=thread_ts,
        reply_broadcast=flag_arg(args, "reply_broadcast"),
        metadata=message_metadata(args),
        bot_id=ws.bot_id,
        app_id=ws.app_id,
        team=ws.team_id,
    )
    ws.add_message(channel.id, message)
    return {"channel": channel.id, "ts": message.ts, "message": message.as_dict()}


def chat_update(ws: Workspace, args: Args) -> JSON:
    channel = writable_channel(ws, args)
    message = get_message(ws, channel, text_arg(args, "ts"))
    if message.user != ws.bot_user_id:
        raise SlackError("cant_update_message")
    if "text" in args or "blocks" in args or "attachments" in args:
        text, blocks, attachments = message_content(args)
        message.text = text
        if "blocks" in args:
            message.blocks = blocks
        if "attachments" in args:
            message.attachments = attachments
    if "metadata" in args:
        message.metadata = message_metadata(args)
    message.edited = {"user": ws.bot_user_id, "ts": ws.next_ts()}
    body = message.as_dict()
    return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": body}


def chat_delete(ws: Workspace, args: Args) -> JSON:
    channel = get_channel(ws, args)
    message = get_message(ws, channel, text_arg(args, "ts"))
    if message.user != ws.bot_user_id:
        raise SlackError("cant_delete_message")
    ws.messages[channel.id].remove(message)
    ws.pins[channel.id] = [p for p in ws.pins.get(channel.id, []) if p.ts != message.ts]
    return {"channel": channel.id, "ts": message.ts}


def chat_post_ephemeral(ws: Workspace, args: Args) -> JSON:
    channel = writable_channel(ws, args)
    user = text_arg(args, "user")
    # Strict like Slack, public channels included: the user must be a member of the channel.
    if user not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks, attachments = message_content(args)
    ephemeral = Ephemeral(
        channel=channel.id,
        user=user,
        ts=ws.next_ts(),
        text=text,
        blocks=blocks,
        attachments=attachments,
        thread_ts=text_arg(args, "thread_ts") or None,
    )
    ws.ephemerals.append(ephemeral)
    return {"message_ts": ephemeral.ts}


def chat_get_permalink(ws: Workspace, args: Args) -> JSON:
    channel = get_channel(ws, args)
    message = get_message(ws, channel, text_arg(args, "message_ts"))
    return {"channel": channel.id, "permalink": ws.permalink(channel.id, message)}
