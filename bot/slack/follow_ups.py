"""Slack calls a listener makes after its answer (views.open for a button or command).

Bolt's lazy listeners do this too, but first deep-copy the whole request on the
request's own path (15% of a button click's CPU at 200 clicks a second). A follow-up
here is a task on the running loop that starts once the answers in flight have gone
out (`RequestLoad.between_answers`, bounded), so its rendering and its Web API call never delay an
acknowledgement. A failure is logged; the user sees no modal, as when Slack is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.runtime.load import RequestLoad

log = logging.getLogger(__name__)


class FollowUps:
    def __init__(self, load: RequestLoad | None = None) -> None:
        self.load = load or RequestLoad(max_wait=0.0)
        self._tasks: set[asyncio.Task[None]] = set()
        # Follow-ups pass the gap one at a time: woken together, fifty of them would run
        # back to back before the loop looked for new requests again.
        self._turn = asyncio.Lock()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def start(self, work: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run `work()` once the answers in flight have gone out."""
        task = asyncio.get_running_loop().create_task(self._run(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        try:
            async with self._turn:
                await self.load.between_answers()
            await work()
        except Exception:
            log.exception("follow-up failed", extra={"follow_up": name})

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        """At shutdown: let follow-ups in flight finish, cancel the rest."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
