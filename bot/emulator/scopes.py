"""Which bot scope each Web API call needs, per conversation type, as Slack checks it.

A method's documentation lists one scope per conversation type (fidelity.md, "Scopes are
checked per conversation type"): Slack checks the one for the conversation the call touches,
so ``channels:history`` does not let the app read a DM. A missing scope is answered, before
anything that would reveal state, with::

    {"ok": false, "error": "missing_scope", "needed": "im:history", "provided": "chat:write,…"}
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from bot.emulator.api_base import Args, SlackError, flag_arg, list_arg, text_arg
from bot.emulator.state import Workspace

PUBLIC, PRIVATE, IM, MPIM = "public_channel", "private_channel", "im", "mpim"

#: Any one scope of a tuple will do; a kind missing from a method's map needs no scope (the
#: method itself refuses that kind of conversation).
PerKind = dict[str, tuple[str, ...]]


def _per_kind(verb: str) -> PerKind:
    return {
        PUBLIC: (f"channels:{verb}",),
        PRIVATE: (f"groups:{verb}",),
        IM: (f"im:{verb}",),
        MPIM: (f"mpim:{verb}",),
    }


_MANAGE: PerKind = {PUBLIC: ("channels:manage",), PRIVATE: ("groups:write",)}

#: Methods whose scope depends on the conversation named by ``channel``.
CONVERSATION_SCOPES: dict[str, PerKind] = {
    "conversations.history": _per_kind("history"),
    "conversations.replies": _per_kind("history"),
    "conversations.info": _per_kind("read"),
    "conversations.members": _per_kind("read"),
    "conversations.invite": {
        PUBLIC: ("channels:manage", "channels:write.invites"),
        PRIVATE: ("groups:write", "groups:write.invites"),
    },
    "conversations.setTopic": {
        PUBLIC: ("channels:manage", "channels:write.topic"),
        PRIVATE: ("groups:write", "groups:write.topic"),
    },
    "conversations.setPurpose": {
        PUBLIC: ("channels:manage", "channels:write.topic"),
        PRIVATE: ("groups:write", "groups:write.topic"),
    },
    "conversations.rename": _MANAGE,
    "conversations.archive": _MANAGE,
    "conversations.unarchive": _MANAGE,
}

#: Methods that need the same scope whatever the conversation.
FLAT_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.getPermalink": ("chat:write",),
    "conversations.join": ("channels:join",),
    "pins.add": ("pins:write",),
    "pins.remove": ("pins:write",),
    "pins.list": ("pins:read",),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "reactions.get": ("reactions:read",),
    "bookmarks.add": ("bookmarks:write",),
    "bookmarks.edit": ("bookmarks:write",),
    "bookmarks.remove": ("bookmarks:write",),
    "bookmarks.list": ("bookmarks:read",),
    "users.info": ("users:read",),
    "users.list": ("users:read",),
    "users.conversations": ("users:read",),
    "team.info": ("team:read",),
}


def conversation_kind(ws: Workspace, ref: str) -> str:
    """The kind of conversation ``ref`` names, without side effects (no DM is opened)."""
    channel = ws.channels.get(ref)
    if channel is not None:
        if channel.is_im:
            return IM
        return PRIVATE if channel.is_private else PUBLIC
    if ref.startswith("D"):
        return IM
    if ref.startswith("G"):
        return PRIVATE
    return PUBLIC


def needed_scopes(ws: Workspace, method: str, args: Args) -> list[tuple[str, ...]]:
    """Every scope requirement of the call (each satisfied by any one scope of its tuple)."""
    if method in FLAT_SCOPES:
        return [FLAT_SCOPES[method]]
    if method == "users.lookupByEmail":
        # Slack grants users:read.email only together with users:read.
        return [("users:read.email",), ("users:read",)]
    if method == "conversations.open":
        return [_open_scope(args)]
    if method == "conversations.create":
        return [("groups:write",) if flag_arg(args, "is_private") else ("channels:manage",)]
    if method == "conversations.list":
        kinds = list_arg(text_arg(args, "types") or PUBLIC)
        return [_per_kind("read")[k] for k in kinds if k in (PUBLIC, PRIVATE, IM, MPIM)]
    per_kind = CONVERSATION_SCOPES.get(method)
    if per_kind is None:
        return []  # auth.test, views.*: no scope
    kind = conversation_kind(ws, text_arg(args, "channel"))
    return [per_kind[kind]] if kind in per_kind else []


def _open_scope(args: Args) -> tuple[str, ...]:
    users = list_arg(args.get("users"))
    return ("mpim:write",) if len(users) > 1 else ("im:write",)


def check_scopes(ws: Workspace, method: str, args: Args, granted: Collection[str]) -> None:
    """Raise ``missing_scope`` (naming the first scope needed) unless ``granted`` covers the
    call."""
    for any_of in needed_scopes(ws, method, args):
        if not any(scope in granted for scope in any_of):
            raise SlackError("missing_scope", needed=any_of[0], provided=provided(granted))


def provided(granted: Collection[Any]) -> str:
    return ",".join(sorted(str(s) for s in granted))
