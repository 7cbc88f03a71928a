"""Block Kit helpers for building interaction payloads: ``view.state.values`` and element lookup."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

_VALUE_KEYS = {
    "plain_text_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "number_input": "value",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "static_select": "selected_option",
    "external_select": "selected_option",
    "radio_buttons": "selected_option",
    "multi_static_select": "selected_options",
    "multi_external_select": "selected_options",
    "checkboxes": "selected_options",
    "rich_text_input": "rich_text_value",
}
_LISTS = {"selected_users", "selected_conversations", "selected_channels", "selected_options"}


def _options(element: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from element.get("options") or []
    for group in element.get("option_groups") or []:
        yield from group.get("options") or []


def _option(element: Mapping[str, Any], value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    for option in _options(element):
        if option.get("value") == value:
            return option
    if element.get("type") in ("external_select", "multi_external_select"):
        return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
    raise ValueError(f"{element.get('action_id')!r} has no option with value {value!r}")


def _state_value(element: Mapping[str, Any], value: Any) -> dict[str, Any]:
    kind = str(element.get("type"))
    key = _VALUE_KEYS.get(kind, "value")
    out: dict[str, Any] = {"type": kind}
    if value is None:
        out[key] = [] if key in _LISTS else None
    elif key == "selected_option":
        out[key] = _option(element, value)
    elif key == "selected_options":
        out[key] = [_option(element, v) for v in value]
    elif key in _LISTS:
        out[key] = list(value)
    elif key == "selected_date_time" and isinstance(value, dt.datetime):
        out[key] = int(value.timestamp())
    elif isinstance(value, dt.date | dt.time):
        out[key] = value.isoformat()[:5] if isinstance(value, dt.time) else value.isoformat()
    elif key == "value":
        out[key] = str(value)
    else:
        out[key] = value
    return out


def input_values(view: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``view.state.values`` for a submission of ``view`` with the given Python ``values``.

    ``values`` is keyed by action_id or block_id. Every input block of the view is present, as in
    Slack (unset ones as ``None``/``[]``). Select values are matched against the element's
    options by ``value``. A key matching no input element raises ``ValueError`` (typo guard).
    """
    state: dict[str, Any] = {}
    used: set[str] = set()
    for block in view.get("blocks") or []:
        if block.get("type") != "input" or "element" not in block:
            continue
        element, block_id = block["element"], str(block.get("block_id"))
        action_id = str(element.get("action_id"))
        key = action_id if action_id in values else block_id if block_id in values else None
        if key is not None:
            used.add(key)
        value = values[key] if key is not None else None
        state[block_id] = {action_id: _state_value(element, value)}
    unknown = set(values) - used
    if unknown:
        raise ValueError(f"no input element with action_id/block_id {sorted(unknown)}")
    return state


def element_candidates(block: Mapping[str, Any]) -> list[Any]:
    return [block.get("accessory"), block.get("element"), *(block.get("elements") or [])]


def find_element(blocks: Any, action_id: str) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """The (block, element) whose element has ``action_id``, if any."""
    for block in blocks or []:
        for element in element_candidates(block):
            if isinstance(element, Mapping) and element.get("action_id") == action_id:
                return block, element
    return None
