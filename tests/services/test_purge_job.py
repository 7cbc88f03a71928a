"""The daily retention purge is a scheduled job: once per scheduled time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.domain.clock import FrozenClock
from bot.policy.loader import load_policy
from bot.services.jobs import PURGE_JOB, JobRunner
from storage import migrate
from storage.engine import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await migrate.upgrade(database.engine)
    yield database
    await database.dispose()


async def test_the_purge_runs_once_per_scheduled_time(db: Database) -> None:
    policy = load_policy(None).policy
    clock = FrozenClock(datetime(2026, 11, 24, 3, 30, 5, tzinfo=UTC))
    purges: list[datetime] = []

    async def purge() -> None:
        purges.append(clock.now())

    runners = [JobRunner(db, lambda: policy, clock, "UTC", worker_id=w) for w in ("a", "b")]
    for runner in runners:
        runner.purge = purge
    results = [await runner.run(PURGE_JOB, now=clock.now()) for runner in runners]
    assert purges == [clock.now()]
    assert [r is not None for r in results] == [True, False]  # the second found it claimed
