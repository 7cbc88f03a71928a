"""The loop of a background worker that is woken by commits and otherwise polls (the
outbox worker, the declaration and note intakes, the capture worker), and how far
behind a queue is."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import ClassVar

from bot.domain.clock import Clock
from bot.runtime.load import wait_any
from storage.engine import Database, background_writes
from storage.session import Session


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


class QueueWorker(ABC):
    """What the workers of a stored queue share (the declaration and note intakes, the
    capture worker): woken by the commit that queues work, polling otherwise, their
    writes (and those of the tasks they start, such as the paging nudge after a
    declaration) background work; how far behind their queue is, for `/health`."""

    db: Database
    clock: Clock
    poll_seconds: float
    _wake: asyncio.Event
    _log: ClassVar[logging.Logger]
    _failure_log: ClassVar[str]  # what the log says when a pass fails

    def wake(self) -> None:
        self._wake.set()

    @abstractmethod
    async def run_once(self) -> int:
        """One pass; how much it did (0: wait for a wake-up or the poll)."""

    @abstractmethod
    async def _stats(self, session: Session) -> tuple[int, datetime | None]:
        """How many rows wait, and when the oldest was stored."""

    async def backlog(self) -> tuple[int, float]:
        """How many rows wait, and the oldest one's age in seconds."""
        async with self.db.session(write=False) as session:
            count, oldest = await self._stats(session)
        age = (self.clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        return count, max(age, 0.0)

    async def run_forever(self, stop: asyncio.Event) -> None:
        with background_writes():  # a write steps aside for an answer's
            await poll_until_stopped(
                self.run_once,
                self._wake,
                stop,
                idle=lambda: self.poll_seconds,
                log=self._log,
                failed=self._failure_log,
            )
