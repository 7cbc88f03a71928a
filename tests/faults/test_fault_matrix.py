"""The fault matrix, small: two replicas on PostgreSQL; each step of an incident meets a
few faults (a kill -9 at a Slack call, Slack failing, the database cut off), and after
recovery the record and Slack agree. `python -m tests.faults.matrix --full` runs every case.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import _create_pg_database, _drop_pg_database, postgres_admin_url
from tests.faults.flows import STEPS
from tests.faults.matrix import markdown, run_matrix

# Cases per step in the small run: rotated so the steps together meet every fault kind.
PER_STEP = 2
# Clusters playing the cases side by side, each with its own database and two replicas.
SIDE_BY_SIDE = 3


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[list[str]]:
    """The test's database (the plan) and one more per cluster, dropped afterwards."""
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip(
            "two replicas share a database only on PostgreSQL (FIREWATCH_TEST_DATABASE_URL)"
        )
    made = [await _create_pg_database(admin) for _ in range(SIDE_BY_SIDE)]
    try:
        yield [database_url, *(url for _, url in made)]
    finally:
        for name, _ in made:
            await _drop_pg_database(admin, name)


async def test_every_step_survives_kills_slack_failures_and_a_database_restart(
    databases: list[str],
) -> None:
    results = await run_matrix(databases, list(STEPS), size=PER_STEP, log=False)
    assert len(results) == PER_STEP * len(STEPS)
    failed = [r for r in results if not r.ok]
    assert not failed, markdown(failed)
    kinds = {
        r.case.fault.rsplit(":", 1)[-1] if "kill" in r.case.fault else r.case.fault for r in results
    }
    assert kinds == {
        "before",
        "effect",
        "answer",
        "slack:429",
        "slack:500",
        "slack:timeout",
        "db:restart",
    }
