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
    def __init__(self, max_wait: float = 0.25) -> None:
        self.max_wait = max_wait
        self._answering = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._turn = asyncio.Lock()

    @property
    def answering(self) -> int:
        return self._answering

    @contextmanager
    def answer(self) -> Iterator[None]:
        """Around the handling of one request."""
        self._answering += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._answering -= 1
            if not self._answering:
                self._quiet.set()

    async def gap(self) -> None:
        """Return when no request is being answered, or after `max_wait` at most.

        Background steps pass one at a time: under sustained load a step goes ahead
        without a gap only once per `max_wait`, whatever the number of waiting workers
        (eight deliveries, the intake), so the answers keep most of the CPU."""
        if not self._answering:
            return
        async with self._turn:
            if not self._answering:
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self.max_wait)
