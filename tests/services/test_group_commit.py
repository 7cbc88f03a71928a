"""Group commit: concurrent writes share a transaction; one bad item fails alone."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence

import pytest

from bot.runtime.load import RequestLoad
from bot.services.group_commit import GroupCommit


class Store:
    """A fake transaction: records each batch; 'bad' items make the whole batch fail."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.rows: list[str] = []

    async def write(self, items: Sequence[str]) -> list[str | Exception]:
        await asyncio.sleep(0)  # a round trip to the database
        if "bad" in items:
            raise RuntimeError("constraint violated")
        self.batches.append(list(items))
        self.rows.extend(items)
        return [f"stored {i}" for i in items]


async def test_writes_that_arrive_together_share_one_transaction() -> None:
    store = Store()
    commits: GroupCommit[str, str] = GroupCommit(store.write)
    results = await asyncio.gather(*(commits.submit(f"n{i}") for i in range(10)))
    assert results == [f"stored n{i}" for i in range(10)]  # each caller gets its own result
    assert store.rows == [f"n{i}" for i in range(10)]  # in the order they were submitted
    assert len(store.batches) < 10


async def test_a_quiet_system_writes_at_once() -> None:
    store = Store()
    commits: GroupCommit[str, str] = GroupCommit(store.write)
    assert await commits.submit("alone") == "stored alone"
    assert store.batches == [["alone"]]


async def test_a_bad_item_fails_alone_and_its_neighbours_are_stored() -> None:
    store = Store()
    commits: GroupCommit[str, str] = GroupCommit(store.write)
    outcomes = await asyncio.gather(
        commits.submit("a"), commits.submit("bad"), commits.submit("b"), return_exceptions=True
    )
    assert outcomes[0] == "stored a"
    assert outcomes[2] == "stored b"
    assert isinstance(outcomes[1], RuntimeError)
    assert sorted(store.rows) == ["a", "b"]


async def test_per_item_errors_reach_only_their_caller() -> None:
    async def write(items: Sequence[int]) -> list[int | Exception]:
        return [ValueError(f"no {i}") if i % 2 else i for i in items]

    commits: GroupCommit[int, int] = GroupCommit(write)
    outcomes = await asyncio.gather(*(commits.submit(i) for i in range(4)), return_exceptions=True)
    assert outcomes[0] == 0
    assert outcomes[2] == 2
    assert isinstance(outcomes[1], ValueError)
    assert isinstance(outcomes[3], ValueError)


async def test_batches_are_capped() -> None:
    store = Store()
    commits: GroupCommit[str, str] = GroupCommit(store.write, max_batch=3)
    await asyncio.gather(*(commits.submit(str(i)) for i in range(7)))
    assert all(len(b) <= 3 for b in store.batches)
    assert store.rows == [str(i) for i in range(7)]


async def test_background_work_waits_for_a_gap_between_requests() -> None:
    load = RequestLoad(max_wait=5)
    await asyncio.wait_for(load.gap(), 0.1)  # nothing being answered: no wait
    order: list[str] = []

    async def background() -> None:
        await load.gap()
        order.append("delivery")

    with load.answer():
        task = asyncio.create_task(background())
        await asyncio.sleep(0.01)
        order.append("answered")
    await task
    assert order == ["answered", "delivery"]


async def test_background_work_never_waits_longer_than_max_wait() -> None:
    load = RequestLoad(max_wait=0.01)
    with load.answer():
        await asyncio.wait_for(load.gap(), 1.0)  # returns though a request is still open
        assert load.answering == 1


async def test_under_sustained_load_starved_steps_go_one_per_max_wait() -> None:
    """Eight deliveries waiting through a long answer do not all go at the first
    timeout: one goes per `max_wait`, the rest keep waiting for a gap."""
    load = RequestLoad(max_wait=0.05)
    passed: list[float] = []
    loop = asyncio.get_running_loop()

    async def step() -> None:
        await load.gap()
        passed.append(loop.time())

    with load.answer():
        start = loop.time()
        steps = [asyncio.create_task(step()) for _ in range(8)]
        await asyncio.sleep(0.12)  # room for two timeouts, not eight
        during = len(passed)
    await asyncio.gather(*steps)  # the answer is out: the rest go at once
    assert 1 <= during <= 3
    assert len(passed) == 8
    assert all(t - start >= 0.045 for t in passed[:during])


async def test_a_moment_between_steady_requests_is_not_a_gap_until_it_lasts() -> None:
    """A step started in the few idle milliseconds between requests of a steady load
    ran into the next one: a gap is `quiet` without any request being answered."""
    load = RequestLoad(max_wait=5, quiet=0.05)
    loop = asyncio.get_running_loop()
    with load.answer():
        pass  # a request was just answered
    answered = loop.time()
    await load.gap()
    assert loop.time() - answered >= 0.045
    await asyncio.wait_for(load.gap(), 0.01)  # quiet for long enough already


async def test_follow_ups_need_only_the_answer_out_not_a_quiet_moment() -> None:
    load = RequestLoad(max_wait=5, quiet=10)
    with load.answer():
        pass
    await asyncio.wait_for(load.between_answers(), 0.1)


async def test_a_slice_of_a_long_read_waits_for_answers_in_flight_only_briefly() -> None:
    """Between slices the worker waits for the answer in flight, but not for the load's
    whole max_wait: answers that overlap without pause would hold an echo for seconds."""
    load = RequestLoad(max_wait=5)
    loop = asyncio.get_running_loop()
    with load.answer():
        start = loop.time()
        await asyncio.wait_for(load.between_answers(0.02), 1)
        assert loop.time() - start >= 0.015
        waiting = asyncio.create_task(load.between_answers())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the default waits for the answer to go out
    await asyncio.wait_for(waiting, 1)


@pytest.mark.parametrize("n", [1, 50])
async def test_a_caller_that_goes_away_does_not_stop_the_write(n: int) -> None:
    store = Store()
    commits: GroupCommit[str, str] = GroupCommit(store.write)
    tasks = [asyncio.create_task(commits.submit(f"x{i}")) for i in range(n)]
    await asyncio.sleep(0)
    tasks[0].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.01)
    assert store.rows == [f"x{i}" for i in range(n)]


async def test_the_writer_runs_in_a_context_of_its_own_not_the_first_submitters() -> None:
    """The drainer writes for everyone who comes next: it must not carry the first
    submitter's context (a background worker's writer priority, a request's log ids)."""
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="none")
    seen: list[str] = []

    async def write(items: Sequence[int]) -> list[int]:
        seen.append(marker.get())
        return list(items)

    commit: GroupCommit[int, int] = GroupCommit(write)
    marker.set("first submitter")
    assert await commit.submit(1) == 1
    assert seen == ["none"]
