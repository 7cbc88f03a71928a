"""Two Firewatch processes sharing PostgreSQL page each person once and escalate once."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.domain.clock import FrozenClock
from bot.domain.policy import Policy
from bot.policy.loader import load_default_policy, merge_policy_data
from bot.services import paging_effects as fx
from bot.services.incidents import IncidentService
from bot.services.paging import PagingService
from storage import migrate
from storage.engine import Database
from storage.models import OutboxRow, TimelineEntryRow
from storage.paging_models import BreachRow, PageRow
from tests.support import PG_ENV, checkout_report

pytestmark = pytest.mark.skipif(
    not os.environ.get(PG_ENV), reason=f"needs PostgreSQL: set {PG_ENV}"
)

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def roster_policy() -> Policy:
    base = load_default_policy().model_dump(mode="json", exclude_none=True)
    roles = {
        "pm": {"primary": "U0ALICE", "backups": ["U0BOB"]},
        "dl": {"primary": "U0CAROL", "backups": ["U0DAVE"]},
        "om": {"primary": "U0ERIN", "backups": ["U0FRANK"]},
    }
    return Policy.model_validate(merge_policy_data(base, {"roles": roles}))


async def count(db: Database, stmt: object) -> int:
    async with db.session(write=False) as session:
        return int((await session.execute(stmt)).scalar_one())  # type: ignore[call-overload]


async def test_two_processes_ticking_together_page_and_escalate_once(database_url: str) -> None:
    policy = roster_policy()
    clock = FrozenClock(START)
    first, second = Database(database_url), Database(database_url)
    try:
        await migrate.upgrade(first.engine)
        incidents = IncidentService(first, lambda: policy, clock, broadcast_channel="#incidents")
        report = checkout_report()
        await incidents.declare(report, reporter_id="U0ALICE", declare_key="k1")
        services = [
            PagingService(db, lambda: policy, clock, "#incidents") for db in (first, second)
        ]

        async def tick_together(rounds: int = 4) -> None:
            for _ in range(rounds):
                await asyncio.gather(*(s.tick() for s in services), *(s.tick() for s in services))

        dms = select(func.count()).select_from(OutboxRow).where(OutboxRow.kind == fx.PAGE_DM)
        all_pages = select(func.count()).select_from(PageRow)
        await tick_together()
        assert await count(first, all_pages) == 3
        assert await count(first, dms) == 3

        clock.advance(timedelta(minutes=30))
        await tick_together()
        assert await count(first, all_pages) == 6
        assert await count(first, dms) == 6
        escalations = select(func.count()).where(TimelineEntryRow.kind == "escalation")
        assert await count(first, escalations) == 3

        clock.advance(timedelta(minutes=31))  # past the 1h response deadline too
        await tick_together()
        assert await count(first, select(func.count()).select_from(BreachRow)) == 1
        broadcasts = select(func.count()).where(OutboxRow.kind == fx.PAGE_BROADCAST)
        # one breach, and one "unanswered" per role whose ladder left the role
        assert await count(first, broadcasts) == 1 + 3
        people = select(PageRow.person, func.count()).group_by(PageRow.person)
        async with first.session(write=False) as session:
            per_person = dict((await session.execute(people)).all())
        assert per_person == {
            "U0ALICE": 3,  # pm, then accountable for dl and om
            "U0BOB": 1,
            "U0CAROL": 1,
            "U0DAVE": 1,
            "U0ERIN": 1,
            "U0FRANK": 1,
        }
    finally:
        await first.dispose()
        await second.dispose()
