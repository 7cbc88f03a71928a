"""The App Home kept current (issue 23): its Done button, and refreshes after an absence
runs out or a roster reload, over signed HTTP → Firewatch → the Slack emulator, with a
frozen clock.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.clock import FrozenClock
from bot.emulator import SlackEmulator
from bot.slack.ids import Action
from storage.postmortem_models import ActionItemRow, PostmortemRow
from tests.scenarios.test_home import ROSTER, buttons, click, home_of, published_home
from tests.support import TOKEN, Harness, start_harness

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
async def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(ROSTER)
    return path


@pytest.fixture
async def harness(database_url: str, policy_file: Path) -> AsyncIterator[Harness]:
    slack = SlackEmulator(bot_token=TOKEN)
    await slack.start()
    slack.add_user("U0ERIN", "erin", "erin@example.com")
    slack.add_user("U0FRANK", "frank", "frank@example.com")
    slack.add_user("U0GRACE", "grace", "grace@example.com")
    try:
        async with start_harness(
            database_url,
            clock=FrozenClock(START),
            emulator=slack,
            FIREWATCH_POLICY_FILE=str(policy_file),
            FIREWATCH_PAGING_TICK_SECONDS=3600,
        ) as h:
            h.app.worker.not_ready_delay = 0.0
            yield h
    finally:
        await slack.stop()


def clock(harness: Harness) -> FrozenClock:
    assert isinstance(harness.app.clock, FrozenClock)
    return harness.app.clock


async def overdue_item(harness: Harness, owner: str, text: str) -> int:
    """An open action item of `owner`, due yesterday, on the harness's first incident."""
    [incident] = await harness.incidents()
    now = clock(harness).now()
    async with harness.app.db.session() as session:
        pm = PostmortemRow(
            incident_id=incident.id,
            status="approved",
            owner_id=owner,
            requested_at=now,
            due_at=now,
            updated_at=now,
        )
        session.add(pm)
        await session.flush()
        item = ActionItemRow(
            postmortem_id=pm.id,
            incident_id=incident.id,
            text=text,
            owner_id=owner,
            due_on=now.date() - timedelta(days=1),
            status="open",
            created_at=now,
        )
        session.add(item)
        await session.flush()
        return int(item.id)


async def item_row(harness: Harness, item_id: int) -> ActionItemRow:
    async with harness.app.db.session(write=False) as session:
        return (
            await session.execute(select(ActionItemRow).where(ActionItemRow.id == item_id))
        ).scalar_one()


def told(harness: Harness, user: str) -> list[str]:
    """What `user` was told privately. A click on the Home has no channel to answer in,
    so the notice comes by DM (Slack refuses an ephemeral message there)."""
    return [m.text for m in harness.slack.messages(user)]


async def test_done_on_the_home_marks_the_item_done_and_takes_it_off(harness: Harness) -> None:
    await harness.declare()
    await harness.settled()
    item_id = await overdue_item(harness, "U0ERIN", "Add a canary for config pushes")
    view = await home_of(harness, "U0ERIN")
    [done] = buttons(view, Action.FOLLOWUP_DONE)
    assert done["value"] == str(item_id)
    assert "Add a canary for config pushes" in json.dumps(view)

    # Someone else clicks it: refused, told who may, the item stays open and on the Home.
    harness.slack.add_user("U0MALLORY", "mallory", "mallory@example.com")
    await click(harness, "U0MALLORY", view, Action.FOLLOWUP_DONE, done["value"])
    row = await item_row(harness, item_id)
    assert (row.status, row.done_by, row.done_at) == ("open", None, None)
    [refusal] = told(harness, "U0MALLORY")
    assert "Only its owner (<@U0ERIN>)" in refusal
    assert "may mark this action item done" in refusal
    assert buttons(published_home(harness, "U0ERIN"), Action.FOLLOWUP_DONE)

    # The owner clicks it: done, by whom and when; the Home is published without it.
    clock(harness).advance(timedelta(minutes=5))
    clicked_at = clock(harness).now()
    before = len(harness.slack.calls_to("views.publish"))
    await click(harness, "U0ERIN", view, Action.FOLLOWUP_DONE, done["value"])
    row = await item_row(harness, item_id)
    assert (row.status, row.done_by) == ("done", "U0ERIN")
    assert row.done_at is not None
    assert row.done_at.replace(tzinfo=UTC) == clicked_at
    published = [c.args.get("user_id") for c in harness.slack.calls_to("views.publish")[before:]]
    assert published == ["U0ERIN"]  # refreshed by the click itself, without reopening
    after = published_home(harness, "U0ERIN")
    assert buttons(after, Action.FOLLOWUP_DONE) == []
    assert "Add a canary for config pushes" not in json.dumps(after)
    assert any("done" in t.lower() for t in told(harness, "U0ERIN"))


def topic(harness: Harness, channel_id: str) -> str:
    channel = harness.slack.channel(channel_id)
    assert channel is not None
    return str(channel.topic["value"])


def away_button(view: dict[str, Any]) -> str:
    [button] = buttons(view, Action.HOME_AWAY)
    return str(button["value"])


async def away(harness: Harness, user: str, until: str) -> str:
    response = await harness.sender.slash_command(f"away until {until}", user_id=user)
    assert response.status == 200
    await harness.settled()
    return str(response.json().get("text", ""))


async def test_an_absence_running_out_brings_topics_and_homes_up_to_date(
    harness: Harness,
) -> None:
    await harness.declare()
    await harness.settled()
    [incident] = await harness.incidents()
    assert incident.channel_id is not None
    assert "lead <@U0ALICE>" in topic(harness, incident.channel_id)
    await home_of(harness, "U0BOB")

    await away(harness, "U0ALICE", "10m")
    # Setting it: the backup leads, and both Homes say so without anyone reopening them.
    assert "lead <@U0BOB>" in topic(harness, incident.channel_id)
    assert away_button(published_home(harness, "U0ALICE")) == "back"
    assert "*Product Manager*: <@U0BOB> acting now" in roles(published_home(harness, "U0BOB"))

    # Nothing happens before `until`.
    clock(harness).advance(timedelta(minutes=10) - timedelta(seconds=1))
    report = await harness.app.paging.tick()
    assert report.back == 0
    clock(harness).advance(timedelta(seconds=1))
    publishes = len(harness.slack.calls_to("views.publish"))
    sets = len(harness.slack.calls_to("conversations.setTopic"))

    # Past it, one tick (two replicas ticking at once end it once).
    reports = await asyncio.gather(harness.app.paging.tick(), harness.app.paging.tick())
    assert sum(r.back for r in reports) == 1
    await harness.settled()
    assert "lead <@U0ALICE>" in topic(harness, incident.channel_id)
    assert len(harness.slack.calls_to("conversations.setTopic")) == sets + 1
    assert away_button(published_home(harness, "U0ALICE")) == "away"
    assert "*Product Manager*: <@U0ALICE> acting now" in roles(published_home(harness, "U0BOB"))
    refreshed = [c.args["user_id"] for c in harness.slack.calls_to("views.publish")[publishes:]]
    assert sorted(refreshed) == ["U0ALICE", "U0BOB"]  # each once

    # Ended once: a later tick queues nothing more.
    rows = len(await harness.outbox())
    assert (await harness.app.paging.tick()).back == 0
    assert len(await harness.outbox()) == rows


async def test_a_reloaded_roster_brings_topics_and_homes_up_to_date(
    harness: Harness, policy_file: Path
) -> None:
    await harness.declare()
    await harness.settled()
    [incident] = await harness.incidents()
    assert incident.channel_id is not None
    assert "lead <@U0ALICE>" in topic(harness, incident.channel_id)
    assert "*Product Manager*: <@U0ALICE> acting now" in roles(await home_of(harness, "U0ALICE"))
    assert "Product Manager" not in roles(await home_of(harness, "U0GRACE"))
    publishes = len(harness.slack.calls_to("views.publish"))

    # The pm's primary changes in the policy file; the next tick reloads it.
    await asyncio.to_thread(rewrite, policy_file, ROSTER.replace("U0ALICE,", "U0GRACE,"))
    report = await harness.app.paging.tick()
    assert report.reloaded
    await harness.settled()

    assert "lead <@U0GRACE>" in topic(harness, incident.channel_id)
    alice = roles(published_home(harness, "U0ALICE"))
    grace = roles(published_home(harness, "U0GRACE"))
    assert "Product Manager" not in alice  # lost the role
    assert "*Product Manager*: <@U0GRACE> acting now" in grace  # gained it
    # The backup's Home (who acts in their role changed) too; nobody else's.
    refreshed = [c.args["user_id"] for c in harness.slack.calls_to("views.publish")[publishes:]]
    assert sorted(refreshed) == ["U0ALICE", "U0BOB", "U0GRACE"]
    assert "*Product Manager*: <@U0GRACE> acting now" in roles(published_home(harness, "U0BOB"))


def rewrite(path: Path, text: str) -> None:
    """The policy file changed, its modification time a second later (what the tick
    watches), however coarse the file system's clock."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def roles(view: dict[str, Any]) -> str:
    """The Home's "Your roles" section."""
    blocks = view["blocks"]
    [at] = [n for n, b in enumerate(blocks) if b["type"] == "header" and "roles" in json.dumps(b)]
    return str(blocks[at + 1]["text"]["text"])
