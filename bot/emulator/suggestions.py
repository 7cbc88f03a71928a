"""``block_suggestion``: Slack asking an app for an external select's options as someone
types, and reading the answer as Slack does.

Shaped as ``shared/slack-reference/payloads/block_suggestion.bolt.json``: the typed text
is ``value``, the element's ``action_id`` and ``block_id`` say which menu asks, and a
menu in a modal sends the view (``container.type`` "view"). Slack posts it to the
manifest's ``interactivity.message_menu_options_url`` and waits 3 seconds for
``{"options": [...]}`` (at most 100, each text 75 characters, value 150).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.emulator.block_limits import check_options_answer
from bot.emulator.signer import SlackPayloads, SlackRequestSender

JSON = dict[str, Any]


def element_block(view: Mapping[str, Any], action_id: str) -> str:
    """The block id of the input in ``view`` whose element is ``action_id``."""
    for block in view.get("blocks") or []:
        element = block.get("element") or block.get("accessory") or {}
        if element.get("action_id") == action_id:
            return str(block.get("block_id", ""))
    raise LookupError(f"no element {action_id!r} in the view")


def block_suggestion_payload(
    payloads: SlackPayloads,
    view: Mapping[str, Any],
    action_id: str,
    value: str,
    *,
    user_id: str = "U0ALICE",
) -> JSON:
    """What Slack sends when ``user_id`` has typed ``value`` into the external select
    ``action_id`` of the open modal ``view`` (as the emulator recorded it)."""
    name = user_id[2:].lower() if user_id[1:2] == "0" else user_id.lower()
    recorded = dict(view)
    full_view: JSON = {"team_id": payloads.team_id, "app_id": payloads.api_app_id}
    full_view |= {"private_metadata": "", "callback_id": "", "external_id": "", "hash": ""}
    full_view |= {"previous_view_id": None, **recorded}
    full_view.setdefault("root_view_id", recorded.get("id"))
    full_view["state"] = {"values": {}}
    return {
        "type": "block_suggestion",
        "user": {"id": user_id, "username": name, "name": name, "team_id": payloads.team_id},
        "container": {"type": "view", "view_id": recorded.get("id")},
        "api_app_id": payloads.api_app_id,
        "token": payloads.verification_token,
        "action_id": action_id,
        "block_id": element_block(view, action_id),
        "value": value,
        "team": {"id": payloads.team_id, "domain": payloads.team_domain},
        "view": full_view,
    }


async def suggest(
    sender: SlackRequestSender,
    view: Mapping[str, Any],
    action_id: str,
    value: str,
    *,
    user_id: str = "U0ALICE",
) -> list[JSON]:
    """Type ``value`` into the select and return the options the app answered, checked
    against Slack's limits (``SlackError`` if it broke one, AssertionError if it did not
    answer 200 with JSON)."""
    payload = block_suggestion_payload(sender, view, action_id, value, user_id=user_id)
    response = await sender.interactive(payload)
    assert response.status == 200, (response.status, response.text)
    return check_options_answer(json.loads(response.text or "{}"))
