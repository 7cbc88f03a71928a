"""The loop of a background worker that is woken by commits and otherwise polls: the
outbox worker and the declaration intake."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.runtime.load import wait_any


async def poll_until_stopped(
    run_once: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    stop: asyncio.Event,
    *,
    idle: Callable[[], float],
    log: logging.Logger,
    failed: str,
) -> None:
    """Pass after pass until `stop`: the next at once after a pass that did something,
    else when `wake` is set or after `idle()` seconds. `wake` is cleared before each
    pass, so a commit during the pass wakes the next wait at once. A pass that raises is
    logged on `log` (`failed`) and counts as idle: the worker goes on."""
    while not stop.is_set():
        wake.clear()
        try:
            done = await run_once()
        except Exception:
            log.exception(failed)
            done = 0
        if done:
            continue
        await wait_any(wake, stop, timeout=idle())
