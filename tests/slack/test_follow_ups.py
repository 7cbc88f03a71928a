"""Follow-ups (views.open after a click) start once the answers in flight have gone out."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.runtime.load import RequestLoad
from bot.slack.follow_ups import FollowUps


async def test_a_follow_up_waits_for_the_answer_in_flight() -> None:
    load = RequestLoad(max_wait=5.0)
    follow_ups = FollowUps(load)
    ran: list[str] = []

    async def open_modal() -> None:
        ran.append("views.open")

    with load.answer():
        follow_ups.start(open_modal, name="modal")
        for _ in range(5):
            await asyncio.sleep(0)
        assert ran == []  # the answer has not gone out yet
    await follow_ups.wait(timeout=1.0)
    assert ran == ["views.open"]


async def test_a_failed_follow_up_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    follow_ups = FollowUps()

    async def broken() -> None:
        raise RuntimeError("slack said no")

    follow_ups.start(broken, name="modal")
    await follow_ups.wait(timeout=1.0)
    assert any(
        r.levelno == logging.ERROR and r.getMessage() == "follow-up failed" for r in caplog.records
    )


async def test_shutdown_cancels_a_follow_up_that_outlives_the_grace() -> None:
    follow_ups = FollowUps()
    started = asyncio.Event()
    finished: list[bool] = []

    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)
        finished.append(True)

    follow_ups.start(slow, name="slow")
    await started.wait()
    await follow_ups.wait(timeout=0.05)
    assert finished == []
    assert follow_ups.pending == 0
