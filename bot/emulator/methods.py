"""Slack Web API method registry over a :class:`~bot.emulator.state.Workspace`.

Each handler takes the decoded arguments and returns the success body (without ``ok``), or raises
:class:`SlackError` with Slack's error code. Response shapes and error names follow the method
docs in ``/work/shared/slack-reference/slack-methods``.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.emulator import api_chat as chat
from bot.emulator import api_conversations as conv
from bot.emulator import api_views as views
from bot.emulator.api_base import Args, SlackError
from bot.emulator.scopes import check_scopes
from bot.emulator.state import JSON, Workspace

Handler = Callable[[Workspace, Args], JSON]

METHODS: dict[str, tuple[Handler, tuple[str, ...]]] = {
    "auth.test": (chat.auth_test, ()),
    "team.info": (chat.team_info, ()),
    "users.info": (chat.users_info, ("user",)),
    "users.lookupByEmail": (chat.users_lookup_by_email, ("email",)),
    "users.list": (chat.users_list, ()),
    "chat.postMessage": (chat.chat_post_message, ("channel",)),
    "chat.update": (chat.chat_update, ("channel", "ts")),
    "chat.delete": (chat.chat_delete, ("channel", "ts")),
    "chat.postEphemeral": (chat.chat_post_ephemeral, ("channel", "user")),
    "chat.getPermalink": (chat.chat_get_permalink, ("channel", "message_ts")),
    "conversations.create": (conv.conversations_create, ()),
    "conversations.info": (conv.conversations_info, ("channel",)),
    "conversations.invite": (conv.conversations_invite, ("channel",)),
    "conversations.setTopic": (conv.conversations_set_topic, ("channel", "topic")),
    "conversations.setPurpose": (conv.conversations_set_purpose, ("channel", "purpose")),
    "conversations.archive": (conv.conversations_archive, ("channel",)),
    "conversations.open": (conv.conversations_open, ()),
    "conversations.members": (conv.conversations_members, ("channel",)),
    "conversations.history": (conv.conversations_history, ("channel",)),
    "conversations.list": (conv.conversations_list, ()),
    "conversations.replies": (conv.conversations_replies, ("channel", "ts")),
    "conversations.join": (conv.conversations_join, ("channel",)),
    "conversations.rename": (conv.conversations_rename, ("channel",)),
    "views.open": (views.views_open, ("view",)),
    "views.push": (views.views_push, ("view",)),
    "views.update": (views.views_update, ("view",)),
    "views.publish": (views.views_publish, ("user_id", "view")),
    "pins.add": (views.pins_add, ("channel",)),
    "pins.list": (views.pins_list, ("channel",)),
    "reactions.add": (views.reactions_add, ("channel",)),
    "bookmarks.add": (views.bookmarks_add, ("channel_id", "title", "type")),
    "bookmarks.list": (views.bookmarks_list, ("channel_id",)),
}

#: Methods that take an app-level token (``xapp-…``); the server answers them itself.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


def dispatch(ws: Workspace, method: str, args: Args) -> JSON:
    """Run one method; return Slack's JSON body (``ok`` true or false). The scope the call
    needs (:mod:`bot.emulator.scopes`) is checked first when ``ws.granted_scopes`` is set."""
    handler, required = METHODS[method]
    if ws.granted_scopes is not None:
        try:
            check_scopes(ws, method, args, ws.granted_scopes)
        except SlackError as exc:
            return exc.body()
    missing = [name for name in required if args.get(name) in (None, "")]
    if missing:
        message = f"[ERROR] missing required field: {missing[0]}"
        return SlackError("missing_argument", response_metadata={"messages": [message]}).body()
    try:
        return {"ok": True, **handler(ws, args)}
    except SlackError as exc:
        return exc.body()
