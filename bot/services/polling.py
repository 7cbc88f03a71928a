"""The loop of a background worker that is woken by commits and otherwise polls (the
outbox worker, the declaration and note intakes, the capture worker), and how far
behind a queue is."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.runtime.load import wait_any
from storage.engine import Database, background_writes
from storage.session import Session

# A queue's statistics: how many rows wait, and when the oldest was stored.
QueueStats = Callable[[Session], Awaitable[tuple[int, datetime | None]]]


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


async def work_in_background(
    run_once: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    stop: asyncio.Event,
    *,
    idle: Callable[[], float],
    log: logging.Logger,
    failed: str,
) -> None:
    """`poll_until_stopped` with every write transaction counted as background work (it
    steps aside for an answer's write: `storage.engine.background_writes`)."""
    with background_writes():
        await poll_until_stopped(run_once, wake, stop, idle=idle, log=log, failed=failed)


async def backlog(db: Database, now: datetime, stats: QueueStats) -> tuple[int, float]:
    """How many rows of a queue wait, and the oldest one's age in seconds at `now`."""
    async with db.session(write=False) as session:
        count, oldest = await stats(session)
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return count, max(age, 0.0)
