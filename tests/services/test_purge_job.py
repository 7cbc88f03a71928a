"""The daily retention purge is a scheduled job: once per scheduled time."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.clock import FrozenClock
from bot.policy.loader import load_policy
from bot.services.jobs import PURGE_JOB, JobRunner
from storage.engine import Database


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
