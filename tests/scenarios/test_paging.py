"""Paging the IRT over signed HTTP → Firewatch → the Slack emulator, with a frozen clock.

Deadlines are reached by advancing the clock and calling `tick()`; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import Firewatch
from bot.config import ConfigError
from bot.domain.clock import FrozenClock
from bot.emulator import SlackEmulator
from bot.emulator.state import Message
from bot.slack.ids import Action, PickerIds
from storage.paging_models import BreachRow, PageRow, RoleAssignmentRow
from storage.paging_repository import PagingRepository
from tests.support import TOKEN, Harness, checkout_report, make_settings, start_harness

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ROSTER = """\
roles:
  pm:  {title: Product Manager,  primary: U0ALICE, backups: [U0BOB]}
  dl:  {title: Development Lead, primary: carol@example.com, backups: [U0DAVE]}
  om:  {title: Operations Lead,  primary: U0ERIN, backups: [U0FRANK]}
  sme: {title: Subject Matter Expert}
"""


@dataclass
class Setup:
    slack: SlackEmulator
    clock: FrozenClock
    policy: Path
    database_url: str

    @asynccontextmanager
    async def harness(self, **settings: Any) -> AsyncIterator[Harness]:
        async with start_harness(
            self.database_url,
            clock=self.clock,
            emulator=self.slack,
            FIREWATCH_POLICY_FILE=str(self.policy),
            FIREWATCH_PAGING_TICK_SECONDS=3600,  # tests drive the tick themselves
            **settings,
        ) as harness:
            # The clock is frozen: a row waiting for the channel must be due again at once.
            harness.app.worker.not_ready_delay = 0.0
            yield harness


@pytest.fixture
async def setup(database_url: str, tmp_path: Path) -> AsyncIterator[Setup]:
    slack = SlackEmulator(bot_token=TOKEN)
    await slack.start()
    slack.add_user("U0ERIN", "erin", "erin@example.com")
    slack.add_user("U0FRANK", "frank", "frank@example.com")
    policy = tmp_path / "policy.yaml"
    policy.write_text(ROSTER)
    try:
        yield Setup(slack, FrozenClock(START), policy, database_url)
    finally:
        await slack.stop()


@pytest.fixture
async def harness(setup: Setup) -> AsyncIterator[Harness]:
    async with setup.harness() as h:
        yield h


def page_dms(harness: Harness, user: str) -> list[Message]:
    return [m for m in harness.slack.messages(user) if m.text.startswith("You are paged")]


def has_button(message: Message) -> bool:
    return Action.PAGE_ACKNOWLEDGE in json.dumps(message.blocks)


async def pages(harness: Harness) -> list[PageRow]:
    async with harness.app.db.session(write=False) as session:
        return list((await session.execute(select(PageRow).order_by(PageRow.id))).scalars())


async def declared(harness: Harness) -> str:
    await harness.declare()
    await harness.settled()
    [incident] = await harness.incidents()
    assert incident.channel_id is not None
    return incident.channel_id


async def tick(harness: Harness) -> None:
    """One paging tick, then until nothing it drives is due. The harness's own tick runs
    once at start-up; an incident it holds locked is skipped by this one (FOR UPDATE SKIP
    LOCKED on PostgreSQL), so returning does not mean the work is done: the holder does
    it, and we wait for its commit, then for its messages (queued in that commit)."""
    await harness.app.paging.tick()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await still_due(harness):
        assert loop.time() < deadline, "paging work still due after 10 s"
        await asyncio.sleep(0.02)
    await harness.settled()


async def still_due(harness: Harness) -> bool:
    now = harness.app.clock.now()
    async with harness.app.db.session(write=False) as session:
        repo = PagingRepository(session)
        return bool(
            await repo.incidents_to_page()
            or await repo.due_pages(now)
            or await repo.breach_candidates(now)
        )


async def click_ack(harness: Harness, page: PageRow, user: str, channel: str) -> None:
    message = harness.slack.messages(channel)
    posted = next(m for m in message if m.ts == page.channel_ts)
    response = await harness.sender.block_action(
        Action.PAGE_ACKNOWLEDGE,
        value=str(page.id),
        user_id=user,
        channel_id=channel,
        message={"type": "message", "ts": posted.ts, "blocks": posted.blocks},
    )
    assert response.status == 200
    await harness.settled()


async def test_declaring_pages_each_role_by_dm_in_the_channel_and_invites_them(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    for user in ("U0ALICE", "U0CAROL", "U0ERIN"):  # carol@example.com resolved at start
        [dm] = page_dms(harness, user)
        assert has_button(dm)
        text = json.dumps(dm.blocks)
        assert "SEV1" in text
        assert "INC-1" in text
        assert f"<#{channel}>" in text
    assert page_dms(harness, "U0BOB") == []
    posted = [m for m in harness.slack.messages(channel) if "paged" in m.text]
    assert len(posted) == 3
    assert all(has_button(m) for m in posted)
    members = harness.slack.channel(channel).members  # type: ignore[union-attr]
    assert {"U0ALICE", "U0CAROL", "U0ERIN"} <= set(members)
    kinds = [e.kind for e in await harness.timeline()]
    assert kinds.count("page") == 3


async def test_acknowledgement_by_the_roles_backup_is_recorded_and_shown(
    harness: Harness, setup: Setup
) -> None:
    channel = await declared(harness)
    alice = next(p for p in await pages(harness) if p.person == "U0ALICE")
    setup.clock.advance(timedelta(minutes=5))
    # Issue 20: someone neither paged nor a backup of the role may not stop its escalation.
    await click_ack(harness, alice, "U0DAVE", channel)
    [row] = [p for p in await pages(harness) if p.id == alice.id]
    assert row.acknowledged_by is None
    refusals = [e for e in await harness.timeline() if e.kind == "refused"]
    assert [(e.actor, e.data["action"]) for e in refusals] == [("U0DAVE", "acknowledge")]
    await click_ack(harness, alice, "U0BOB", channel)  # the pm role's backup
    [row] = [p for p in await pages(harness) if p.id == alice.id]
    assert (row.status, row.acknowledged_by) == ("acknowledged", "U0BOB")
    [incident] = await harness.incidents()
    assert incident.acknowledged_at == START + timedelta(minutes=5)
    updates = {c.args["ts"]: c.args for c in harness.slack.calls_to("chat.update")}
    assert row.dm_ts in updates
    assert row.channel_ts in updates
    [dm] = page_dms(harness, "U0ALICE")
    assert "Acknowledged by <@U0BOB>" in json.dumps(dm.blocks)
    assert not has_button(dm)
    entries = [e for e in await harness.timeline() if e.kind == "acknowledged"]
    assert [e.actor for e in entries] == ["U0BOB"]
    assert "(paged: <@U0ALICE>)" in entries[0].text
    # A second click changes nothing.
    await click_ack(harness, alice, "U0ALICE", channel)
    assert [e.kind for e in await harness.timeline()].count("acknowledged") == 1


async def test_acknowledged_before_the_timeout_nothing_escalates(
    harness: Harness, setup: Setup
) -> None:
    channel = await declared(harness)
    for page in await pages(harness):
        await click_ack(harness, page, page.person, channel)
    setup.clock.advance(timedelta(hours=2))
    await tick(harness)
    assert len(await pages(harness)) == 3
    assert page_dms(harness, "U0BOB") == page_dms(harness, "U0DAVE") == []
    async with harness.app.db.session(write=False) as session:
        assert (await session.execute(select(BreachRow))).first() is None


async def test_no_acknowledgement_escalates_at_the_deadline_across_a_restart_exactly_once(
    setup: Setup,
) -> None:
    async with setup.harness() as first:
        await declared(first)
        setup.clock.advance(timedelta(minutes=29))
        await tick(first)
        assert len(await pages(first)) == 3  # not yet
    setup.clock.advance(timedelta(minutes=1))
    async with setup.harness() as second:  # a restart: deadlines come from the database
        await tick(second)
        await tick(second)
        for backup in ("U0BOB", "U0DAVE", "U0FRANK"):
            assert len(page_dms(second, backup)) == 1, backup
        for primary in ("U0ALICE", "U0CAROL", "U0ERIN"):
            [dm] = page_dms(second, primary)
            assert "was paged next" in json.dumps(dm.blocks)
        entries = [e for e in await second.timeline() if e.kind == "escalation"]
        assert len(entries) == 3
        assert "paging <@U0BOB> (backup)" in " ".join(e.text for e in entries)
    setup.clock.advance(timedelta(minutes=30))
    async with setup.harness() as third:
        await tick(third)
        await tick(third)
        # Backups silent too: the ladder reaches the accountable role (pm's holder) and
        # the broadcast channel hears each role's page is unanswered, once.
        assert len(page_dms(third, "U0ALICE")) == 3  # own page + accountable for dl, om
        unanswered = [m for m in third.slack.messages("C0INCIDENTS") if "is unanswered" in m.text]
        assert len(unanswered) == 3
        breaches = [m for m in third.slack.messages("C0INCIDENTS") if "breached" in m.text]
        assert len(breaches) == 1
        await tick(third)
        assert len([e for e in await third.timeline() if e.kind == "breach"]) == 1


async def test_page_and_assign_by_hand(harness: Harness) -> None:
    channel = await declared(harness)
    answer = await harness.sender.slash_command("page <@U0BOB|bob> please look", channel_id=channel)
    assert answer.json()["text"] == "Paging <@U0BOB>."
    await harness.settled()
    [dm] = page_dms(harness, "U0BOB")
    assert "please look" in json.dumps(dm.blocks)
    await harness.sender.slash_command("page dl", channel_id=channel)
    await harness.settled()
    assert len(page_dms(harness, "U0CAROL")) == 2
    outside = await harness.sender.slash_command("page dl", channel_id="C0INCIDENTS")
    assert outside.text in ("", "{}")  # elsewhere the picker asks which incident (issue 23)
    await harness.slack.wait_for(lambda: harness.slack.opened_views(PickerIds.MODAL))

    answer = await harness.sender.slash_command("assign sme <@U0DAVE>", channel_id=channel)
    assert "<@U0DAVE> now holds the role" in answer.json()["text"]
    await harness.settled()
    [dm] = page_dms(harness, "U0DAVE")
    assert "Subject Matter Expert" in dm.text
    async with harness.app.db.session(write=False) as session:
        [assignment] = (await session.execute(select(RoleAssignmentRow))).scalars()
    assert (assignment.role, assignment.person, assignment.assigned_by) == (
        "sme",
        "U0DAVE",
        "U0ALICE",
    )
    bad = await harness.sender.slash_command("assign cto <@U0DAVE>", channel_id=channel)
    assert "There is no role `cto`" in bad.json()["text"]


async def test_an_unavailable_primary_is_skipped_for_the_backup(harness: Harness) -> None:
    away = await harness.sender.slash_command("away until 14:00", user_id="U0ERIN")
    assert "You are away until" in away.json()["text"]
    await declared(harness)
    assert page_dms(harness, "U0ERIN") == []
    assert len(page_dms(harness, "U0FRANK")) == 1
    roster = json.dumps((await harness.sender.slash_command("roster")).json()["blocks"])
    assert "Operations Lead" in roster
    assert "acting now: <@U0FRANK> (backup)" in roster
    assert "*Away*" in roster


async def test_with_the_pm_absent_the_dl_acts_as_pm_and_the_dl_backup_is_paged(
    harness: Harness,
) -> None:
    for user in ("U0ALICE", "U0BOB"):
        await harness.sender.slash_command("away until tomorrow", user_id=user)
    await declared(harness)
    by_role = {p.role: p.person for p in await pages(harness)}
    assert by_role == {"pm": "U0CAROL", "dl": "U0DAVE", "om": "U0ERIN"}
    roster = json.dumps((await harness.sender.slash_command("roster")).json()["blocks"])
    assert "acting now: <@U0CAROL> (stand-in)" in roster
    back = await harness.sender.slash_command("away off", user_id="U0ALICE")
    assert "Welcome back" in back.json()["text"]


async def test_roster_reload_keeps_the_old_roster_when_the_new_file_is_invalid(
    harness: Harness, setup: Setup
) -> None:
    setup.policy.write_text(ROSTER.replace("U0ERIN", "not a person"))
    refused = await harness.sender.slash_command("roster reload", user_id="U0DAVE")
    # Issue 20: the refusal names who may.
    assert "Only the Product Manager can reload the roster" in refused.json()["text"]
    answer = (await harness.sender.slash_command("roster reload", user_id="U0ALICE")).json()
    assert "the roster in use is unchanged" in answer["text"]
    assert "roles.om.primary" in answer["text"]
    assert harness.app.policy().roles["om"].primary == "U0ERIN"
    # A valid change is picked up by the tick (the file's mtime moved), no restart.
    setup.policy.write_text(ROSTER.replace("primary: U0ERIN", "primary: U0BOB"))
    os.utime(setup.policy, (1_900_000_000, 1_900_000_000))
    report = await harness.app.paging.tick()
    assert report.reloaded
    assert harness.app.policy().roles["om"].primary == "U0BOB"


async def test_an_unknown_email_in_the_roster_is_a_configuration_error(
    setup: Setup,
) -> None:
    setup.policy.write_text(ROSTER.replace("carol@example.com", "nobody@example.com"))
    app = Firewatch(
        make_settings(
            setup.database_url,
            setup.slack.api_url,
            FIREWATCH_POLICY_FILE=str(setup.policy),
        )
    )
    try:
        with pytest.raises(ConfigError) as error:
            await app.start(serve=False, deliver=False)
        assert str(error.value) == (
            "FIREWATCH_POLICY_FILE: roles.dl.primary: no Slack user with email nobody@example.com"
        )
    finally:
        await app.stop()


async def test_pagerduty_and_webhook_get_each_page_once(setup: Setup) -> None:
    received: list[tuple[str, dict[str, Any]]] = []

    async def capture(request: web.Request) -> web.Response:
        received.append((request.path, await request.json()))
        return web.json_response({"status": "success"}, status=202)

    fake = web.Application()
    fake.router.add_post("/v2/enqueue", capture)
    fake.router.add_post("/hook", capture)
    runner = web.AppRunner(fake)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with setup.harness(
            FIREWATCH_PAGERDUTY_ROUTING_KEY="R0UTINGKEY",
            FIREWATCH_PAGERDUTY_URL=f"http://127.0.0.1:{port}/v2/enqueue",
            FIREWATCH_PAGE_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
        ) as harness:
            channel = await declared(harness)
            triggers = [b for p, b in received if p == "/v2/enqueue"]
            assert sorted(b["dedup_key"] for b in triggers) == [
                "firewatch-page-1",
                "firewatch-page-2",
                "firewatch-page-3",
            ]
            assert {b["routing_key"] for b in triggers} == {"R0UTINGKEY"}
            assert len([b for p, b in received if p == "/hook"]) == 3
            first = (await pages(harness))[0]
            await click_ack(harness, first, "U0ALICE", channel)
            acks = [b for p, b in received if b.get("event_action") == "acknowledge"]
            assert [a["dedup_key"] for a in acks] == [f"firewatch-page-{first.id}"]
    finally:
        await runner.cleanup()


async def test_the_paging_nudge_waits_until_no_request_is_being_answered(
    harness: Harness,
) -> None:
    """Paging after a declaration is background work: under a storm of declarations it
    ran alongside the answers. It starts once the answers in flight have gone out."""
    load = harness.app.load
    load.max_wait = 60.0  # so only the answer ending can let it through
    calls: list[int] = []
    called = asyncio.Event()
    page_incident = harness.app.paging.page_incident

    async def recording(incident_id: int) -> Any:
        calls.append(load.answering)
        called.set()
        return await page_incident(incident_id)

    harness.app.paging.page_incident = recording  # type: ignore[method-assign]
    report = checkout_report()
    with load.answer():  # a request being answered
        await harness.app.incidents.declare(report, reporter_id="U0ALICE", declare_key="n1")
        for _ in range(50):
            await asyncio.sleep(0)
        assert calls == []
    await asyncio.wait_for(called.wait(), 10)
    assert calls == [0]
    await harness.settled()
    assert len(await pages(harness)) == 3
