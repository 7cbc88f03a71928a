"""A declaration is answered once its submission is stored; the incident follows.

Slack drops a submission that is not answered within 3 seconds, and a storm of
declarations must not make the answers queue behind each other's incident writes, so the
answer waits only for one intake row (docs/performance.md, figure 1). These tests hold
the promises that makes: nothing acknowledged is lost, nothing is declared twice, and the
incident's clock starts when the reporter submitted it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select

from bot.domain.clock import FrozenClock
from bot.services.intake import DeclarationIntake
from bot.slack.ids import Block
from storage import intake, migrate
from storage.engine import Database
from storage.models import DeclarationIntakeRow
from tests.support import QUALIFYING, REPORT, Harness


def submission(title: str, severity: str = "sev1") -> dict[str, object]:
    report = {
        "title": title,
        "severity": severity,
        "nature": REPORT[Block.NATURE],
        "discovery": REPORT[Block.DISCOVERY],
        "impact": REPORT[Block.IMPACT],
        "evidence": REPORT[Block.EVIDENCE],
        "service": REPORT[Block.SERVICE],
    }
    return {"report": report, "reporter_id": "U0ALICE", "checklist": {"qualifies": True}}


async def stored_submissions(h: Harness) -> list[DeclarationIntakeRow]:
    async with h.app.db.session(write=False) as session:
        return list((await session.execute(select(DeclarationIntakeRow))).scalars())


async def test_an_answered_declaration_becomes_an_incident_and_leaves_the_intake(
    harness: Harness,
) -> None:
    view = await harness.open_declare_modal()
    response = await harness.submit(view)  # waits for the intake to empty

    assert response.status == 200
    assert response.text in ("", "{}")
    [incident] = await harness.incidents()
    assert incident.declare_key == f"view:{view['id']}"
    assert incident.title == "Checkout errors"
    assert incident.checklist["qualifies"] is True
    assert incident.checklist["answers"] == sorted(
        {v for values in QUALIFYING.values() for v in values}
    )
    assert await stored_submissions(harness) == []
    await harness.settled()
    assert len(harness.slack.calls_to("conversations.create")) == 1


async def test_a_double_submitted_declaration_declares_one_incident(harness: Harness) -> None:
    view = await harness.open_declare_modal()
    first, second = await asyncio.gather(harness.submit(view), harness.submit(view))

    assert first.status == second.status == 200
    assert len(await harness.incidents()) == 1
    await harness.settled()
    assert len(harness.slack.calls_to("conversations.create")) == 1


async def store(db: Database, rows: list[tuple[str, dict[str, Any]]], *, now: datetime) -> None:
    """Submissions stored as the answer to a submission stores them."""
    await db.write_batch(lambda conn: intake.add_many(conn, rows, now=now))


async def test_a_submission_left_by_a_crash_is_declared_from_when_it_was_received(
    harness: Harness,
) -> None:
    """The worker reads the database, not only its wake-ups: a row stored by a replica
    that died before declaring is declared, with the time the reporter submitted it."""
    received = harness.app.clock.now() - timedelta(minutes=7)
    await store(harness.app.db, [("view:VCRASHED", submission("Left behind"))], now=received)

    await harness.declared()

    [incident] = await harness.incidents()
    assert incident.title == "Left behind"
    assert incident.declared_at == received
    assert incident.response_deadline is not None
    assert incident.response_deadline > received
    await harness.settled()
    [create] = harness.slack.calls_to("conversations.create")
    assert "left-behind" in create.args["name"]


async def test_two_workers_take_a_submission_once(harness: Harness) -> None:
    """Replicas share the intake: whichever deletes the row declares it."""
    rows = [(f"view:VRACE{i}", submission(f"Race {i}")) for i in range(5)]
    await store(harness.app.db, rows, now=harness.app.clock.now())
    other = DeclarationIntake(harness.app.db, harness.app.incidents, harness.app.clock)

    await asyncio.gather(other.run_once(), harness.app.intake.run_once(), other.run_once())
    await harness.declared()

    incidents = await harness.incidents()
    assert sorted(i.title for i in incidents) == [f"Race {i}" for i in range(5)]
    assert len({i.declare_key for i in incidents}) == 5


async def test_the_backlog_reports_how_long_the_oldest_submission_has_waited(
    database_url: str,
) -> None:
    """What /health shows as `declaration_intake` (degraded after a minute)."""
    clock = FrozenClock(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))
    db = Database(database_url)
    try:
        await migrate.upgrade(db.engine)
        waiting = DeclarationIntake(db, cast(Any, None), clock)  # not running: nothing declared
        assert await waiting.backlog() == (0, 0.0)
        await store(db, [("view:V1", submission("One"))], now=clock.now())
        clock.advance(timedelta(seconds=30))
        await store(db, [("view:V2", submission("Two"))], now=clock.now())
        clock.advance(timedelta(seconds=45))
        assert await waiting.backlog() == (2, 75.0)
    finally:
        await db.dispose()


async def test_a_submission_that_cannot_be_declared_does_not_hold_back_the_next(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    incidents = harness.app.incidents
    real = incidents.declare_in

    async def failing_on_poison(session: Any, report: Any, **kwargs: Any) -> Any:
        if report.title == "Poison":
            raise RuntimeError("a bug in declaring")
        return await real(session, report, **kwargs)

    monkeypatch.setattr(incidents, "declare_in", failing_on_poison)
    rows = [("view:VPOISON", submission("Poison")), ("view:VFINE", submission("Fine"))]
    await store(harness.app.db, rows, now=harness.app.clock.now())

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not await harness.incidents() and loop.time() < deadline:
        harness.app.intake.wake()
        await asyncio.sleep(0.02)

    assert [i.title for i in await harness.incidents()] == ["Fine"]
    assert [s.declare_key for s in await stored_submissions(harness)] == ["view:VPOISON"]
