"""Requests being answered right now, so background work can step out of their way.

Slack gives a request 3 seconds and Firewatch promises far less (docs/performance.md).
The outbox shares the event loop with the answers; before each step it waits for a gap
between requests, so an answer does not queue behind a delivery's CPU work. It never
waits longer than `max_wait`: under sustained load deliveries still go on, in larger
groups (grouped echoes), instead of starving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class RequestLoad:
    """`quiet`: how long no request must have been answered for a moment to count as a
    gap. Between two requests of a steady 200 a second there are a few milliseconds
    idle; a delivery step started there ran into the next request (and held SQLite's
    writer while it waited), so such moments are not gaps."""

    def __init__(self, max_wait: float = 0.25, quiet: float = 0.0) -> None:
        self.max_wait = max_wait
        self.quiet = quiet
        self._answering = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_answered = float("-inf")  # loop time the last answer went out
        self._turn = asyncio.Lock()

    @property
    def answering(self) -> int:
        return self._answering

    @contextmanager
    def answer(self) -> Iterator[None]:
        """Around the handling of one request."""
        self._answering += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._answering -= 1
            if not self._answering:
                self._last_answered = asyncio.get_running_loop().time()
                self._idle.set()

    def _quiet_for(self, now: float) -> float:
        """How much longer until the current idle stretch counts as a gap (0: it does)."""
        if self._answering:
            return self.quiet if self.quiet > 0 else 0.0
        return max(0.0, self._last_answered + self.quiet - now)

    async def between_answers(self, max_wait: float | None = None) -> None:
        """Return once no request is being answered (after `max_wait`, by default the
        load's, at most), quiet or not: for follow-ups that must not wait long (a
        trigger id expires in 3 s) and between the slices of a long read."""
        if not self._answering:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(
                self._idle.wait(), self.max_wait if max_wait is None else max_wait
            )

    async def gap(self) -> None:
        """Return in a gap between requests, or after `max_wait` at most.

        Background steps pass one at a time: under sustained load a step goes ahead
        without a gap only once per `max_wait`, whatever the number of waiting workers
        (eight deliveries, the intake), so the answers keep most of the CPU."""
        loop = asyncio.get_running_loop()
        if not self._answering and not self._quiet_for(loop.time()):
            return
        async with self._turn:
            deadline = loop.time() + self.max_wait
            while True:
                now = loop.time()
                if now >= deadline:
                    return
                if self._answering:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._idle.wait(), deadline - now)
                    continue
                rest = self._quiet_for(now)
                if not rest:
                    return
                await asyncio.sleep(min(rest, deadline - now))


async def wait_any(*events: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
    """Return when one of `events` is set, or after `timeout` seconds (a worker's sleep
    between passes: woken by new work or by stop, else it polls)."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
