"""bot.runtime.background: periodic loops run at once and then every so many seconds, a
failing step does not end its loop, and stop() gives work in flight its grace period
before cancelling it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.runtime.background import Background, Every, Nudges, watch
from bot.runtime.load import RequestLoad


class Jobs:
    """Stands in for the APScheduler wrapper."""

    def __init__(self) -> None:
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


class Idle:
    """A worker that runs until stop, and a follow-up pool with nothing in flight."""

    def __init__(self) -> None:
        self.ran = asyncio.Event()

    async def run_forever(self, stop: asyncio.Event) -> None:
        self.ran.set()
        await stop.wait()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        pass


class Pager:
    async def page_incident(self, incident_id: int) -> int:
        return incident_id


def background(
    loops: list[Every], worker: Idle | None = None, jobs: Jobs | None = None
) -> Background:
    idle = worker or Idle()
    return Background(
        jobs=jobs or Jobs(),
        loops=loops,
        intake=idle,
        outbox=idle,
        nudges=Nudges(Pager(), RequestLoad(max_wait=0.0)),
        follow_ups=idle,
    )


async def test_a_loop_steps_at_once_then_every_interval_and_survives_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    steps: list[int] = []
    four = asyncio.Event()

    async def step() -> bool:
        steps.append(len(steps))
        if len(steps) == 2:
            raise RuntimeError("boom")
        if len(steps) == 4:
            four.set()
        return True

    jobs = Jobs()
    runtime = background([Every("test-loop", 0.01, step, "test loop failed")], jobs=jobs)
    await runtime.start()
    assert jobs.started
    await asyncio.wait_for(four.wait(), 5)
    await runtime.stop(grace=1.0)
    assert jobs.stopped
    assert "test loop failed" in caplog.text
    count = len(steps)
    await asyncio.sleep(0.05)
    assert len(steps) == count  # stopped


async def test_a_step_that_returns_false_ends_its_loop() -> None:
    calls: list[None] = []

    async def once() -> bool:
        calls.append(None)
        return False

    runtime = background([Every("once", 0.0, once, "failed")])
    await runtime.start()
    await asyncio.sleep(0.05)
    assert calls == [None]
    await runtime.stop(grace=1.0)


async def test_a_watch_checks_at_start() -> None:
    checked = asyncio.Event()

    async def check() -> Any:
        checked.set()
        return "whatever the check returns"

    runtime = background([watch("check", 300.0, check)])
    await runtime.start()
    await asyncio.wait_for(checked.wait(), 1)
    await runtime.stop(grace=1.0)  # does not wait out the 300 s


async def test_stop_cancels_what_outlives_the_grace_period() -> None:
    cancelled = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    worker = Idle()
    runtime = background([], worker)
    await runtime.start(deliver=False)
    runtime.spawn(stubborn(), name="stubborn")
    await asyncio.wait_for(worker.ran.wait(), 1)
    await asyncio.wait_for(runtime.stop(grace=0.05), 2)
    assert cancelled.is_set()


async def test_request_stop_ends_the_wait() -> None:
    runtime = background([])
    waiting = asyncio.create_task(runtime.stopping.wait())
    runtime.request_stop()
    await asyncio.wait_for(waiting, 1)
