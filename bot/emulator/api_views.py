"""views.*, pins.*, reactions.* and bookmarks.* handlers."""

from __future__ import annotations

from bot.emulator.api_base import (
    Args,
    SlackError,
    get_channel,
    get_message,
    text_arg,
    writable_channel,
)
from bot.emulator.block_limits import check_view
from bot.emulator.state import JSON, Bookmark, Pin, Workspace

#: How long a trigger_id stays usable once exchanged (Slack: 3 seconds); reuse after it expired
#: answers ``expired_trigger_id``, reuse within it ``exchanged_trigger_id``.
TRIGGER_TTL = 3.0


# -- views --------------------------------------------------------------------------------------


def _exchange_trigger(ws: Workspace, args: Args) -> None:
    trigger_id = text_arg(args, "trigger_id") or text_arg(args, "interactivity_pointer")
    if not trigger_id.strip():
        raise SlackError("invalid_trigger_id")
    first_used = ws.used_triggers.get(trigger_id)
    if first_used is not None:
        expired = ws.clock() - first_used > TRIGGER_TTL
        raise SlackError("expired_trigger_id" if expired else "exchanged_trigger_id")
    ws.used_triggers[trigger_id] = ws.clock()


def _view_arg(args: Args) -> JSON:
    view = args.get("view")
    if not isinstance(view, dict) or "type" not in view:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["invalid `view`"]})
    check_view(view)
    return view


def _store_view(
    ws: Workspace, view: JSON, *, view_id: str, root: str, previous: str | None
) -> JSON:
    external_id = text_arg(view, "external_id")
    if external_id:
        for other in ws.views.values():
            if other["external_id"] == external_id and other["id"] != view_id:
                raise SlackError("duplicate_external_id")
    stored: JSON = {
        "id": view_id,
        "team_id": ws.team_id,
        "type": view["type"],
        "title": view.get("title"),
        "submit": view.get("submit"),
        "close": view.get("close"),
        "blocks": list(view.get("blocks") or []),
        "private_metadata": text_arg(view, "private_metadata"),
        "callback_id": text_arg(view, "callback_id"),
        "external_id": external_id,
        "state": {"values": {}},
        "hash": ws.new_hash(),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "root_view_id": root,
        "previous_view_id": previous,
        "app_id": ws.app_id,
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }
    ws.views[view_id] = stored
    return stored


def views_open(ws: Workspace, args: Args) -> JSON:
    view = _view_arg(args)
    _exchange_trigger(ws, args)
    view_id = ws.new_id("V")
    stored = _store_view(ws, view, view_id=view_id, root=view_id, previous=None)
    ws.view_log.append(dict(stored))
    return {"view": stored}


def views_push(ws: Workspace, args: Args) -> JSON:
    # The emulator does not track which modal stack a trigger belongs to: a pushed view is
    # recorded like an opened one (root_view_id = its own id).
    return views_open(ws, args)


def views_update(ws: Workspace, args: Args) -> JSON:
    view = _view_arg(args)
    view_id, external_id = text_arg(args, "view_id"), text_arg(args, "external_id")
    if not view_id and not external_id:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["missing view_id"]})
    current = ws.views.get(view_id) if view_id else None
    if current is None and external_id:
        current = next((v for v in ws.views.values() if v["external_id"] == external_id), None)
    if current is None:
        raise SlackError("not_found")
    given_hash = text_arg(args, "hash")
    if given_hash and given_hash != current["hash"]:
        raise SlackError("hash_conflict")
    if "external_id" not in view and current["external_id"]:
        view = {**view, "external_id": current["external_id"]}
    stored = _store_view(
        ws,
        view,
        view_id=current["id"],
        root=current["root_view_id"],
        previous=current["previous_view_id"],
    )
    ws.view_log.append(dict(stored))
    return {"view": stored}


def views_publish(ws: Workspace, args: Args) -> JSON:
    view = _view_arg(args)
    user_id = text_arg(args, "user_id")
    if user_id not in ws.users:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["invalid user_id"]})
    existing_id = ws.home_views.get(user_id)
    given_hash = text_arg(args, "hash")
    if existing_id and given_hash and given_hash != ws.views[existing_id]["hash"]:
        raise SlackError("hash_conflict")
    view_id = existing_id or ws.new_id("V")
    stored = _store_view(ws, view, view_id=view_id, root=view_id, previous=None)
    ws.home_views[user_id] = view_id
    return {"view": stored}


# -- pins, reactions, bookmarks -----------------------------------------------------------------


def pins_add(ws: Workspace, args: Args) -> JSON:
    channel = get_channel(ws, args)
    ts = text_arg(args, "timestamp")
    if not ts:
        raise SlackError("no_item_specified")
    get_message(ws, channel, ts)
    pins = ws.pins.setdefault(channel.id, [])
    if any(p.ts == ts for p in pins):
        raise SlackError("already_pinned")
    pins.append(Pin(channel.id, ts, ws.now(), ws.bot_user_id))
    return {}


def pins_list(ws: Workspace, args: Args) -> JSON:
    channel = get_channel(ws, args)
    items: list[JSON] = []
    for pin in reversed(ws.pins.get(channel.id, [])):
        message = ws.find_message(channel.id, pin.ts)
        if message is None:
            continue
        body = message.as_dict()
        body |= {"permalink": ws.permalink(channel.id, message), "pinned_to": [channel.id]}
        item = {"type": "message", "channel": channel.id, "created": pin.created}
        items.append(item | {"created_by": pin.created_by, "message": body})
    return {"items": items}


def reactions_add(ws: Workspace, args: Args) -> JSON:
    channel = writable_channel(ws, args)
    name = text_arg(args, "name").strip(":")
    if not name:
        raise SlackError("invalid_name")
    ts = text_arg(args, "timestamp")
    if not ts:
        raise SlackError("no_item_specified")
    message = get_message(ws, channel, ts)
    reaction = next((r for r in message.reactions if r["name"] == name), None)
    if reaction is None:
        reaction = {"name": name, "users": [], "count": 0}
        message.reactions.append(reaction)
    if ws.bot_user_id in reaction["users"]:
        raise SlackError("already_reacted")
    reaction["users"].append(ws.bot_user_id)
    reaction["count"] += 1
    return {}


def bookmarks_add(ws: Workspace, args: Args) -> JSON:
    channel = writable_channel(ws, args, "channel_id")
    kind = text_arg(args, "type")
    if kind != "link":
        raise SlackError("invalid_bookmark_type")
    link = text_arg(args, "link")
    if not link.startswith(("http://", "https://")):
        raise SlackError("invalid_link")
    bookmark = Bookmark(
        id=ws.new_id("Bk"),
        channel_id=channel.id,
        title=text_arg(args, "title"),
        type=kind,
        link=link,
        emoji=text_arg(args, "emoji") or None,
        date_created=ws.now(),
        created_by=ws.bot_user_id,
    )
    ws.bookmarks.setdefault(channel.id, []).append(bookmark)
    return {"bookmark": bookmark.as_dict(ws.team_id)}


#: method name -> (handler, required arguments checked generically -> ``missing_argument``)


def bookmarks_list(ws: Workspace, args: Args) -> JSON:
    channel = get_channel(ws, args, "channel_id")
    return {"bookmarks": [b.as_dict(ws.team_id) for b in ws.bookmarks.get(channel.id, [])]}
