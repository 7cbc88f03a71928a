"""Group commit: concurrent writes of the same kind share one transaction.

Under load, requests queue for the database (SQLite has one writer; on PostgreSQL the
incident row is locked). Instead of one transaction per request, whoever arrives while a
transaction is in flight waits for the next one, which takes everything queued by then.
A quiet system still writes each request at once (a batch of one); a storm writes
batches of tens, and the cost per request falls as the load rises.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# One write per item: its result, or the exception to raise to its caller.
BatchWriter = Callable[[Sequence[T]], Awaitable[Sequence[R | Exception]]]


class GroupCommit(Generic[T, R]):
    def __init__(self, write: BatchWriter[T, R], *, max_batch: int = 200) -> None:
        self._write = write
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Write `item` with whatever else is queued; returns once it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        drainer = self._drainer
        if drainer is None or drainer.done() or drainer.get_loop() is not loop:
            # In a context of its own: the drainer writes for whoever comes next, so it
            # must not keep the first submitter's (a background worker's writer priority,
            # a request's log ids).
            self._drainer = loop.create_task(
                self._drain(), name="group-commit", context=contextvars.Context()
            )
        # A caller that goes away cancels only its own wait: the write goes on.
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                await self._commit(batch)
            except BaseException as exc:  # cancelled at shutdown: nobody is left waiting
                for _, future in batch + self._queue:
                    if not future.done():
                        future.set_exception(exc)
                self._queue.clear()
                raise

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            # One bad item must not fail its neighbours: write each alone.
            log.warning("group commit failed; retrying its items one by one", exc_info=True)
            for pair in batch:
                await self._commit([pair])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[R], result: R | Exception) -> None:
    if future.done():
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
