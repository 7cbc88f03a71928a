"""Everything Firewatch runs besides answering requests, started and stopped in one place.

* Scheduled jobs: APScheduler fires them (bot/runtime/scheduler.py); at start it first
  catches up on runs missed while Firewatch was down.
* Periodic loops (`Every`): the paging tick, SQLite's checkpoints and the Slack auth
  watch. Each runs its step at once and then every so many seconds; a step that fails is
  logged and the loop goes on.
* Continuous workers with wake-ups: the declaration intake, the capture worker and the
  outbox worker.
* Paging nudges (`Nudges`): paging right after a declaration or a severity rise.
* Tasks handed over at start (`spawn`), such as the Socket Mode connection.

`stop()` sets one stop event, then gives what is in flight (a delivery, a transaction)
`grace` seconds to finish before cancelling it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.runtime.load import RequestLoad
from storage.engine import CHECKPOINT_SECONDS, Database, background_writes

log = logging.getLogger(__name__)


class Jobs(Protocol):
    """The scheduled jobs (bot.runtime.scheduler.Scheduler)."""

    async def start(self) -> None: ...

    def stop(self) -> None: ...


class Worker(Protocol):
    async def run_forever(self, stop: asyncio.Event) -> None: ...


class Drainable(Protocol):
    async def wait(self, timeout: float) -> None: ...  # noqa: ASYNC109


class Pager(Protocol):
    async def page_incident(self, incident_id: int) -> object: ...


class Ticker(Protocol):
    async def tick(self) -> object: ...


@dataclass(frozen=True)
class Every:
    """A periodic loop: `step` at once, then every `seconds` until stop. A step that
    returns False ends the loop; one that raises is logged as `failure`."""

    name: str
    seconds: float
    step: Callable[[], Awaitable[bool]]
    failure: str


def paging_tick(paging: Ticker, seconds: float, *also: Ticker) -> Every:
    """The periodic paging driver; deadlines live in the database, so a missed tick only
    delays an escalation until the next one. `also`: tickers run after it (alert pages)."""

    async def tick() -> bool:
        with background_writes():
            await paging.tick()
            for other in also:
                await other.tick()
        return True

    return Every("paging-tick", seconds, tick, "paging tick failed; retrying at the next one")


def sqlite_checkpoints(db: Database) -> Every:
    """SQLite: move the write-ahead log into the database file from a thread of its own
    every CHECKPOINT_SECONDS, so no answer's commit does it (storage/engine.py)."""

    async def checkpoint() -> bool:
        # None: PostgreSQL, or SQLite in memory: nothing to do, the loop ends.
        return await db.checkpoint() is not None

    return Every(
        "sqlite-checkpoint",
        CHECKPOINT_SECONDS,
        checkpoint,
        "SQLite checkpoint failed; retrying at the next one",
    )


def watch(name: str, seconds: float, check: Callable[[], Awaitable[object]]) -> Every:
    """`check` now and every `seconds`, for a check that records its own failures (the
    Slack auth watch)."""

    async def step() -> bool:
        await check()
        return True

    return Every(name, seconds, step, f"{name} failed; checking again at the next one")


class Nudges:
    """Paging right after a declaration or a severity rise, in a task: paging reads the
    roster and the pages and writes its own transaction, which a declaration's
    acknowledgement must not wait for (it was 44% of a declaration's answer). A nudge only:
    the paging tick pages whatever these miss (a crash right after the commit)."""

    def __init__(self, paging: Pager, load: RequestLoad) -> None:
        self.paging = paging
        self.load = load
        self._tasks: set[asyncio.Task[None]] = set()

    async def page_soon(self, incident_id: int) -> None:
        task = asyncio.create_task(self._page_now(incident_id), name=f"page-{incident_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _page_now(self, incident_id: int) -> None:
        try:
            # Background work like any other: in a gap between requests (at most the
            # load's max_wait late), and requests' writes go first. Under a storm of
            # declarations the nudges otherwise ran alongside the answers.
            await self.load.gap()
            with background_writes():
                await self.paging.page_incident(incident_id)
        except Exception:
            log.exception(
                "paging nudge failed; the paging tick pages it", extra={"incident": incident_id}
            )

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        """At stop: a nudge cut short is paged by the tick after the restart."""
        await _finish(self._tasks, timeout)


@dataclass
class Background:
    """The one way to start and stop Firewatch's background work."""

    jobs: Jobs
    loops: Sequence[Every]
    intake: Worker
    outbox: Worker
    nudges: Nudges
    follow_ups: Drainable
    captures: Worker | None = None  # capture requests (bot/services/capture_worker.py)
    notes: Worker | None = None  # notes waiting to be appended (bot/services/notes.py)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def start(self, *, deliver: bool = True) -> None:
        """Catch up on scheduled jobs missed while down, then start the loops and the
        workers; `deliver=False` leaves the outbox to be driven by hand (tests)."""
        await self.jobs.start()
        for every in self.loops:
            self.spawn(self._repeat(every), name=every.name)
        self.spawn(self.intake.run_forever(self.stopping), name="declaration-intake")
        if self.captures is not None:
            self.spawn(self.captures.run_forever(self.stopping), name="captures")
        if self.notes is not None:
            self.spawn(self.notes.run_forever(self.stopping), name="note-intake")
        if deliver:
            self.spawn(self.outbox.run_forever(self.stopping), name="outbox")

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run `work` in a task that `stop` waits for (then cancels)."""
        self._tasks.append(asyncio.create_task(work, name=name))

    async def _repeat(self, every: Every) -> None:
        while not self.stopping.is_set():
            try:
                if not await every.step():
                    return
            except Exception:
                log.exception(every.failure)
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=every.seconds)

    def request_stop(self) -> None:
        self.stopping.set()

    async def stop(self, *, grace: float) -> None:
        """Stop taking work, let what is in flight finish within `grace` seconds (a
        delivery, a database transaction), then cancel what is left."""
        self.stopping.set()
        self.jobs.stop()
        await self.follow_ups.wait(timeout=grace)
        await self.nudges.wait(timeout=grace)
        await _finish(self._tasks, grace)
        self._tasks.clear()


async def _finish(running: Collection[asyncio.Task[Any]], grace: float) -> None:
    """Wait up to `grace` seconds for the tasks, then cancel the late ones and wait for them."""
    tasks = list(running)  # `running` may shrink as tasks end
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=grace)
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
