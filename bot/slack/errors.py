"""Turns failures inside listeners into a clear answer instead of a stack trace or a 500."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from bot.slack import messages

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def new_error_ref() -> str:
    return uuid.uuid4().hex[:10]


def answer_errors(
    fn: Callable[P, Awaitable[None]],
) -> Callable[P, Awaitable[None]]:
    """Wrap an ack-phase listener: unknown errors are logged with a reference and the user
    gets that reference ephemerally (slash commands) or on the form (modals)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await fn(*args, **kwargs)
        except Exception:
            ref = new_error_ref()
            log.exception("listener %s failed", fn.__name__, extra={"error_ref": ref})
            ack: Any = kwargs.get("ack")
            body: Any = kwargs.get("body") or {}
            if ack is None:
                return
            text = messages.INTERNAL_ERROR.format(ref=ref)
            if isinstance(body, dict) and body.get("type") == "view_submission":
                await ack(response_action="errors", errors=_first_block_error(body, text))
            else:
                await ack(text=text, response_type="ephemeral")

    return wrapper


def _first_block_error(body: dict[str, Any], text: str) -> dict[str, str]:
    for block in (body.get("view") or {}).get("blocks", []):
        if block.get("type") == "input" and block.get("block_id"):
            return {str(block["block_id"]): text[:150]}
    return {}
