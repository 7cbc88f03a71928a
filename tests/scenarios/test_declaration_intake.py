"""A declaration is answered once its submission is stored; the incident follows.

Slack drops a submission that is not answered within 3 seconds, and a storm of
declarations must not make the answers queue behind each other's incident writes, so the
answer waits only for one intake row (docs/performance.md, figure 1). These tests hold
the promises that makes: nothing acknowledged is lost, nothing is declared twice, and the
incident's clock starts when the reporter submitted it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.services.intake import DeclarationIntake
from bot.slack.ids import Block
from storage import intake
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


async def test_a_submission_left_by_a_crash_is_declared_from_when_it_was_received(
    harness: Harness,
) -> None:
    """The worker reads the database, not only its wake-ups: a row stored by a replica
    that died before declaring is declared, with the time the reporter submitted it."""
    received = harness.app.clock.now() - timedelta(minutes=7)
    async with harness.app.db.session() as session:
        await intake.add_many(session, [("view:VCRASHED", submission("Left behind"))], now=received)

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
    async with harness.app.db.session() as session:
        rows = [(f"view:VRACE{i}", submission(f"Race {i}")) for i in range(5)]
        await intake.add_many(session, rows, now=harness.app.clock.now())
    other = DeclarationIntake(harness.app.db, harness.app.incidents, harness.app.clock)

    await asyncio.gather(other.run_once(), harness.app.intake.run_once(), other.run_once())
    await harness.declared()

    incidents = await harness.incidents()
    assert sorted(i.title for i in incidents) == [f"Race {i}" for i in range(5)]
    assert len({i.declare_key for i in incidents}) == 5


async def test_a_submission_the_policy_no_longer_accepts_is_dropped_and_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.services.intake")
    async with harness.app.db.session() as session:
        rows = [("view:VGONE", submission("Unknown severity", severity="sev9"))]
        await intake.add_many(session, rows, now=harness.app.clock.now())

    await harness.declared()

    assert await harness.incidents() == []
    assert any("no longer valid" in r.getMessage() for r in caplog.records)
