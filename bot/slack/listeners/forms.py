"""Reading what Slack sends back (a modal's inputs and metadata, a click's action and
channel) and answering a modal submission: what every feature's listeners share."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.services.authority import Refused
from bot.services.incidents import IncidentNotFound
from bot.slack import messages
from bot.slack.ids import VALUE

Failures = tuple[type[Exception], ...]

# A submission whose incident id is unreadable or whose incident was purged.
INCIDENT_GONE: Failures = (ValueError, IncidentNotFound)


def state_values(view: dict[str, Any]) -> dict[str, Any]:
    """The modal's inputs by block id."""
    values = (view.get("state") or {}).get("values") or {}
    return values if isinstance(values, dict) else {}


def read_value(values: dict[str, Any], block: str) -> str:
    """The value of a modal input, whatever kind of element it is ("" when empty)."""
    element = (values.get(block) or {}).get(VALUE) or {}
    if not isinstance(element, dict):
        return ""
    if element.get("selected_option"):
        return str(element["selected_option"].get("value") or "")
    value = element.get("value")
    return str(value) if value is not None else ""


def selected(values: dict[str, Any], block: str, key: str) -> Any:
    """One field of an input's element (`selected_user`, `selected_date`, ...), or None."""
    element = (values.get(block) or {}).get(VALUE) or {}
    return element.get(key) if isinstance(element, dict) else None


def option_values(options: Any) -> set[str]:
    """The values of ticked checkboxes (`selected_options`)."""
    return {str(option.get("value")) for option in options or [] if isinstance(option, dict)}


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    """The modal's private metadata (JSON written by its builder); {} when unreadable."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def view_key(view: dict[str, Any]) -> str:
    """The idempotency key of what a submission creates: a retried or double-clicked
    submission carries the same view id."""
    return f"view:{view['id']}"


def first_action(body: dict[str, Any]) -> dict[str, Any]:
    """The clicked element of a block action."""
    action = (body.get("actions") or [{}])[0]
    return action if isinstance(action, dict) else {}


def channel_of(body: dict[str, Any]) -> str:
    """The channel a button was clicked in ("" in a modal or an unknown place)."""
    return str((body.get("channel") or {}).get("id") or "")


async def acknowledge(ack: AsyncAck) -> None:
    """The answer of a listener whose work runs after it (in a lazy listener)."""
    await ack()


@asynccontextmanager
async def answering(
    ack: AsyncAck, block: str, *, gone: Failures = INCIDENT_GONE, refused: Failures = ()
) -> AsyncIterator[None]:
    """Answer a modal submission when the block ends: the form closes. When the block
    raises one of `gone`, the field `block` says the incident no longer exists; one of
    `refused` (or a permission refusal), it shows the exception's text; either way the
    form stays open. Any other exception goes on to `answer_errors`."""
    shown: Failures = (*refused, Refused)
    try:
        yield
    except gone:
        await errors(ack, block, messages.INCIDENT_GONE)
        return
    except shown as exc:
        await errors(ack, block, str(exc))
        return
    await ack()


async def errors(ack: AsyncAck, block: str, text: str) -> None:
    """Keep the form open with `text` under the input `block`."""
    await ack(response_action="errors", errors={block: text})
