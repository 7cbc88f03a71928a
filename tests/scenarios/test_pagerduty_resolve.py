"""Resolution both ways (issue 22): resolving an incident resolves every PagerDuty alert
Firewatch triggered for it (same dedup_key, same routing key) and tells the webhook,
once per page, through the outbox; a local PagerDuty and webhook receive them over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.domain.clock import FrozenClock
from bot.emulator import SlackEmulator
from bot.slack.ids import Action, Block
from tests.scenarios.test_paging import click_ack, pages
from tests.scenarios.test_postmortems import open_form, written
from tests.support import REPORT, TOKEN, Harness, start_harness

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PM, DL, OM = "U0BOB", "U0CAROL", "U0ERIN"  # the PM is who writes and approves the post-mortem
# SEV1 pages the PM, the DL and the OM.
ROLES = f"roles:\n  pm: {{primary: {PM}}}\n  dl: {{primary: {DL}}}\n  om: {{primary: {OM}}}\n"
KEY = "R0UTINGKEY"


@dataclass
class PagerDuty:
    """A local PagerDuty Events API v2 (POST /v2/enqueue) and webhook receiver (/hook)."""

    port: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)  # answered 202
    hooks: list[dict[str, Any]] = field(default_factory=list)
    fail_resolves: int = 0  # answer this many resolves 500 first
    failed: list[dict[str, Any]] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)

    async def enqueue(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.set()
        if body["event_action"] == "resolve" and self.fail_resolves:
            self.fail_resolves -= 1
            self.failed.append(body)
            return web.json_response({"status": "error"}, status=500)
        self.events.append(body)
        return web.json_response({"status": "success", "dedup_key": body["dedup_key"]}, status=202)

    async def hook(self, request: web.Request) -> web.Response:
        self.hooks.append(await request.json())
        return web.json_response({}, status=200)

    async def wait_until(self, predicate: Callable[[], object]) -> None:
        """Until `predicate()` holds, re-checked as each request arrives (10 s at most)."""
        async with asyncio.timeout(10):
            while not predicate():
                self.received.clear()
                await self.received.wait()

    def actions(self) -> dict[str, list[str]]:
        """Each dedup_key's event actions, in the order PagerDuty received them."""
        seen: dict[str, list[str]] = {}
        for event in self.events:
            seen.setdefault(event["dedup_key"], []).append(event["event_action"])
        return seen

    def resolves(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_action"] == "resolve"]


@pytest.fixture
async def pagerduty() -> AsyncIterator[PagerDuty]:
    fake = PagerDuty()
    app = web.Application()
    app.router.add_post("/v2/enqueue", fake.enqueue)
    app.router.add_post("/hook", fake.hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield fake
    finally:
        await runner.cleanup()


@dataclass
class Setup:
    database_url: str
    tmp_path: Path
    pagerduty: PagerDuty
    clock: FrozenClock = field(default_factory=lambda: FrozenClock(START))

    @asynccontextmanager
    async def harness(self, policy: str = ROLES) -> AsyncIterator[Harness]:
        path = self.tmp_path / "policy.yaml"
        path.write_text(policy)
        async with SlackEmulator(bot_token=TOKEN) as slack:
            slack.add_user(OM, "erin", "erin@example.com")
            async with start_harness(
                self.database_url,
                clock=self.clock,
                emulator=slack,
                FIREWATCH_POLICY_FILE=str(path),
                FIREWATCH_PAGING_TICK_SECONDS=3600,  # no tick: the clock stands still
                FIREWATCH_PAGERDUTY_ROUTING_KEY=KEY,
                FIREWATCH_PAGERDUTY_URL=f"http://127.0.0.1:{self.pagerduty.port}/v2/enqueue",
                FIREWATCH_PAGE_WEBHOOK_URL=f"http://127.0.0.1:{self.pagerduty.port}/hook",
            ) as harness:
                harness.app.worker.not_ready_delay = 0.0
                yield harness


@pytest.fixture
def setup(database_url: str, tmp_path: Path, pagerduty: PagerDuty) -> Setup:
    return Setup(database_url, tmp_path, pagerduty)


async def declared(h: Harness, severity: str = "sev1") -> tuple[int, str]:
    await h.declare({**REPORT, Block.SEVERITY: severity})
    await h.settled()
    [incident] = await h.incidents()
    assert incident.channel_id is not None
    return incident.id, incident.channel_id


async def command(h: Harness, text: str, channel: str) -> str:
    answer = (await h.sender.slash_command(text, channel_id=channel)).json()["text"]
    await h.settled()
    return str(answer)


async def resolved_entries(h: Harness) -> list[tuple[str, dict[str, Any]]]:
    return [(e.text, e.data) for e in await h.timeline() if e.kind == "external_resolved"]


def dedup(page_id: int) -> str:
    return f"firewatch-page-{page_id}"


async def test_resolving_resolves_each_alert_once_after_its_trigger_and_acknowledgement(
    setup: Setup,
) -> None:
    fake = setup.pagerduty
    async with setup.harness() as h:
        incident_id, channel = await declared(h)
        paged = await pages(h)
        first, rest = paged[0], paged[1:]
        assert len(rest) == 2
        await click_ack(h, first, PM, channel)
        assert await h.app.paging.pagerduty_resolved(incident_id) == 0

        assert await command(h, "status resolved Rolled back to v41", channel) == (
            "INC-1 is now resolved."
        )
        assert fake.actions() == {
            dedup(first.id): ["trigger", "acknowledge", "resolve"],
            **{dedup(p.id): ["trigger", "resolve"] for p in rest},
        }
        # Events API v2: a resolve is the routing key, the action and the dedup_key only.
        assert sorted(fake.resolves(), key=lambda e: str(e["dedup_key"])) == [
            {"routing_key": KEY, "event_action": "resolve", "dedup_key": dedup(p.id)} for p in paged
        ]
        hooks = [(b["event"], b["page"]["id"]) for b in fake.hooks]
        assert sorted(hooks) == sorted(
            [("page.trigger", p.id) for p in paged]
            + [("page.acknowledge", first.id)]
            + [("page.resolve", p.id) for p in paged]
        )
        ids = [p.id for p in paged]
        assert await resolved_entries(h) == [
            ("PagerDuty alerts resolved: 3", {"pagerduty": ids, "webhook": ids})
        ]
        assert await h.app.paging.pagerduty_resolved(incident_id) == 3

        # Resolving again is refused; reopening and resolving sends nothing more.
        assert "already resolved" in await command(h, "status resolved again", channel)
        await command(h, "status investigating It came back", channel)
        await command(h, "status resolved Flag off for good", channel)
        assert len(fake.resolves()) == 3
        assert len([b for b in fake.hooks if b["event"] == "page.resolve"]) == 3
        assert len(await resolved_entries(h)) == 1

        # Reopened and paged again: that page's alert, and only it, is resolved next.
        await command(h, "status investigating Back again", channel)
        await command(h, "page <@U0DAVE|dave> please look", channel)
        again = (await pages(h))[-1]
        await command(h, "status resolved Really fixed", channel)
        assert fake.actions()[dedup(again.id)] == ["trigger", "resolve"]
        assert len(fake.resolves()) == 4
        assert [text for text, _ in await resolved_entries(h)] == [
            "PagerDuty alerts resolved: 3",
            "PagerDuty alerts resolved: 1",
        ]
        assert await h.app.paging.pagerduty_resolved(incident_id) == 4


async def test_a_resolve_goes_with_the_routing_key_its_trigger_had(setup: Setup) -> None:
    """PagerDuty drops a resolve sent with another routing key than the trigger's: a page
    triggered at SEV2 is resolved with SEV2's key after the incident became SEV1."""
    policy = (
        ROLES
        + "severities:\n"
        + "".join(
            f"  {sev}: {{label: {sev.upper()}, description: {sev}, response_time: 1h,"
            f" page_roles: {roles}, pagerduty_routing_key: {sev.upper()}KEY}}\n"
            for sev, roles in (("sev1", "[pm, dl]"), ("sev2", "[dl]"))
        )
    )
    fake = setup.pagerduty
    async with setup.harness(policy) as h:
        incident_id, channel = await declared(h, "sev2")
        await h.app.incidents.change_severity(incident_id, "sev1", actor="U0ALICE")
        await h.settled()
        dl, pm = await pages(h)
        assert (dl.role, pm.role) == ("dl", "pm")
        await command(h, "status resolved Rolled back", channel)
        keys = {(e["dedup_key"], e["event_action"]): e["routing_key"] for e in fake.events}
        assert keys == {
            (dedup(dl.id), "trigger"): "SEV2KEY",
            (dedup(dl.id), "resolve"): "SEV2KEY",
            (dedup(pm.id), "trigger"): "SEV1KEY",
            (dedup(pm.id), "resolve"): "SEV1KEY",
        }


async def test_with_external_paging_off_nothing_is_sent(setup: Setup) -> None:
    policy = ROLES + "features:\n  external_paging: false\n"
    async with setup.harness(policy) as h:
        incident_id, channel = await declared(h)
        await click_ack(h, (await pages(h))[0], PM, channel)
        await command(h, "status resolved Rolled back", channel)
        assert (await h.incidents())[0].status == "resolved"
        assert (setup.pagerduty.events, setup.pagerduty.hooks) == ([], [])
        assert await resolved_entries(h) == []
        assert await h.app.paging.pagerduty_resolved(incident_id) == 0


async def test_a_resolve_answered_500_is_retried_and_arrives_once(setup: Setup) -> None:
    fake = setup.pagerduty
    fake.fail_resolves = 1
    async with setup.harness() as h:
        _, channel = await declared(h)
        await h.sender.slash_command("status resolved Rolled back", channel_id=channel)
        await fake.wait_until(lambda: fake.failed)  # the first resolve, answered 500
        async with asyncio.timeout(10):
            while len(fake.resolves()) < 3:  # the clock moves past the retry's back-off
                setup.clock.advance(timedelta(seconds=1))
                h.app.worker.wake()
                await asyncio.sleep(0.02)
        await h.settled()
        resolved = sorted(str(e["dedup_key"]) for e in fake.resolves())
        assert resolved == sorted(dedup(p.id) for p in await pages(h))
        assert fake.failed[0]["dedup_key"] in resolved


async def test_approving_the_postmortem_of_a_reopened_incident_resolves_its_alerts(
    setup: Setup,
) -> None:
    """Closing straight from an open state (the post-mortem, written after the first
    resolution, approved after a reopen) resolves what was triggered since."""
    fake = setup.pagerduty
    async with setup.harness() as h:
        incident_id, channel = await declared(h)
        await command(h, "status resolved Rolled back", channel)
        view = await open_form(h)
        await h.sender.view_submission(view, written(view, submit=True), user_id=PM)
        await h.settled()
        await command(h, "status investigating It came back", channel)
        await command(h, "page <@U0DAVE|dave> please look", channel)
        again = (await pages(h))[-1]
        review = next(m for m in h.slack.messages(channel) if "submitted for approval" in m.text)
        await h.sender.block_action(
            Action.POSTMORTEM_APPROVE,
            value="1",
            user_id=PM,
            channel_id=channel,
            message=review.as_dict(),
        )
        await h.settled()
        assert (await h.incidents())[0].status == "closed"
        assert fake.actions()[dedup(again.id)] == ["trigger", "resolve"]
        assert len(fake.resolves()) == 4
        assert await h.app.paging.pagerduty_resolved(incident_id) == 4
