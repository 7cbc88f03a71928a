"""Paging from alerts (issue 22): a page rule (label matchers → role) pages the role's
person by DM with the alert as the reason, escalates through the role's ladder past each
deadline (the clock advanced, the tick driven by hand), and Acknowledge on the card or
the DM acknowledges the group: who and when recorded (its MTTA), pages closed, the DM
and the card updated. Signed HTTP → Firewatch → the Slack emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.alerts import FIRING, RESOLVED, AlertBatch, IncomingAlert
from bot.domain.clock import FrozenClock
from bot.emulator import SlackEmulator
from bot.emulator.state import Message
from bot.services.alert_paging import AlertPaging
from bot.slack.ids import Action
from storage.alert_models import AlertGroupRow
from storage.alert_page_models import AlertPageRow
from storage.engine import Database
from storage.lifecycle_repository import LifecycleRepository
from tests.scenarios.test_pagerduty_resolve import PagerDuty, pagerduty  # noqa: F401
from tests.support import TOKEN, Harness, start_harness

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
ERIN, FRANK, ALICE, ZED = "U0ERIN", "U0FRANK", "U0ALICE", "U0ZED"
POLICY = f"""
roles:
  pm: {{title: Product Manager, primary: {ALICE}}}
  om: {{title: Operations Lead, primary: {ERIN}, backups: [{FRANK}]}}
alerts:
  page:
    - {{matchers: ["severity=critical"], role: om}}
  severity:
    values: {{critical: sev1, warning: sev3}}
"""
ONLY_OM = POLICY + "permissions:\n  acknowledge_alert: [om]\n"


@asynccontextmanager
async def running(
    database_url: str, tmp_path: Path, policy: str = POLICY, **settings: Any
) -> AsyncIterator[Harness]:
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    async with SlackEmulator(bot_token=TOKEN) as slack:
        for user in (ERIN, FRANK, ALICE, ZED):
            slack.add_user(user, user.lower(), f"{user.lower()}@example.com")
        async with start_harness(
            database_url,
            emulator=slack,
            clock=FrozenClock(NOW),
            FIREWATCH_POLICY_FILE=str(path),
            FIREWATCH_PAGING_TICK_SECONDS=3600,  # the tests drive the tick themselves
            **settings,
        ) as harness:
            yield harness


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(database_url, tmp_path) as harness:
        yield harness


def alert(status: str = FIRING, severity: str = "critical") -> IncomingAlert:
    return IncomingAlert(
        source="alertmanager",
        fingerprint="f1",
        status=status,
        starts_at=NOW - timedelta(minutes=3),
        ends_at=NOW if status == RESOLVED else None,
        labels={"alertname": "PaymentsDown", "severity": severity, "env": "production"},
        annotations={"summary": "Payments <down> & out", "description": "0 payments/s"},
    )


def batch(status: str = FIRING, severity: str = "critical") -> AlertBatch:
    one = alert(status, severity)
    return AlertBatch(source="alertmanager", group_key="payments", status=status, alerts=(one,))


def page_dms(h: Harness, user: str) -> list[Message]:
    return [m for m in h.slack.messages(user) if m.text.startswith("You are paged")]


def told(h: Harness, user: str) -> list[str]:
    """What Firewatch said to `user` privately: ephemerals, or DMs that are not pages."""
    dms = [m.text for m in h.slack.messages(user) if not m.text.startswith("You are paged")]
    return [e.text for e in h.slack.ephemerals(user=user)] + dms


def dm_channel(h: Harness, user: str) -> str:
    found = h.slack.state.dm_channel_for(user)
    assert found is not None, f"no DM with {user}"
    return found.id


def card(h: Harness) -> Message:
    [found] = [m for m in h.slack.messages("C0INCIDENTS") if "alert" in json.dumps(m.blocks)]
    return found


async def stored_pages(h: Harness) -> list[AlertPageRow]:
    async with h.app.db.session(write=False) as session:
        stmt = select(AlertPageRow).order_by(AlertPageRow.id)
        return list((await session.execute(stmt)).scalars())


async def group(h: Harness) -> AlertGroupRow:
    async with h.app.db.session(write=False) as session:
        return (await session.execute(select(AlertGroupRow))).scalar_one()


async def fired(h: Harness) -> None:
    await h.app.alerts.receive(batch())
    await h.settled()


async def tick_after(h: Harness, minutes: int) -> None:
    h.app.clock.advance(timedelta(minutes=minutes))  # type: ignore[attr-defined]
    await h.app.alert_paging.tick()
    await h.settled()


async def click(h: Harness, user: str, message: Message, channel: str) -> None:
    group_id = (await group(h)).id
    response = await h.sender.block_action(
        Action.ALERT_ACKNOWLEDGE,
        value=str(group_id),
        user_id=user,
        channel_id=channel,
        message={"type": "message", "ts": message.ts, "blocks": message.blocks},
    )
    assert response.status == 200
    await h.settled()


async def test_a_page_rule_pages_the_roles_primary_by_dm_once(h: Harness) -> None:
    await fired(h)
    [page] = await stored_pages(h)
    assert (page.chain, page.step, page.person, page.via, page.status) == (
        "om",
        0,
        ERIN,
        "primary",
        "waiting",
    )
    assert page.ack_deadline == NOW + timedelta(minutes=30)  # sev1's ack_timeout
    [dm] = page_dms(h, ERIN)
    assert dm.text.startswith("You are paged as Operations Lead for an alert: SEV1")
    body = json.dumps(dm.blocks)
    assert "Payments &lt;down&gt; &amp; out" in body
    assert "<down>" not in body
    assert "<down>" not in dm.text
    assert Action.ALERT_ACKNOWLEDGE.value in body
    assert "<!date^" in body
    assert page.dm_ts == dm.ts
    assert page.dm_channel == dm_channel(h, ERIN)
    assert f"Paging <@{ERIN}> as Operations Lead" in json.dumps(card(h).blocks)
    # A resend, or the same notification again: nobody is paged again.
    h.app.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    await fired(h)
    assert len(await stored_pages(h)) == 1
    assert len(page_dms(h, ERIN)) == 1
    # A warning pages nobody.
    await h.app.alerts.receive(
        AlertBatch(
            source="alertmanager",
            group_key="other",
            status=FIRING,
            alerts=(
                IncomingAlert(
                    source="alertmanager",
                    fingerprint="w1",
                    status=FIRING,
                    starts_at=NOW,
                    ends_at=None,
                    labels={"alertname": "DiskSlow", "severity": "warning"},
                    annotations={},
                ),
            ),
        )
    )
    await h.settled()
    assert len(await stored_pages(h)) == 1


async def test_no_ack_by_the_deadline_escalates_through_the_ladder(h: Harness) -> None:
    await fired(h)
    await tick_after(h, 29)
    assert len(await stored_pages(h)) == 1  # not yet
    await tick_after(h, 1)
    first, second = await stored_pages(h)
    assert (first.status, first.escalated_to) == ("escalated", FRANK)
    assert (second.person, second.step, second.via) == (FRANK, 1, "backup")
    assert len(page_dms(h, FRANK)) == 1
    [erin_dm] = page_dms(h, ERIN)
    assert f"escalated to <@{FRANK}>" in json.dumps(erin_dm.blocks)
    await tick_after(h, 30)  # then the role accountable for handling (pm)
    third = (await stored_pages(h))[2]
    assert (third.person, third.via, third.role) == (ALICE, "accountable", "om")
    await tick_after(h, 30)  # nobody left
    pages = await stored_pages(h)
    assert len(pages) == 3
    assert pages[2].status == "unanswered"
    assert "Page unanswered: nobody acknowledged for Operations Lead" in json.dumps(card(h).blocks)
    await tick_after(h, 30)
    assert len(await stored_pages(h)) == 3


async def test_acknowledge_on_the_card_records_who_and_when_and_closes_pages(h: Harness) -> None:
    await fired(h)
    await tick_after(h, 30)  # Frank paged too
    h.app.clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
    acked_at = h.app.clock.now()
    await click(h, FRANK, card(h), "C0INCIDENTS")
    stored = await group(h)
    assert (stored.acknowledged_by, stored.acknowledged_at) == (FRANK, acked_at)
    pages = await stored_pages(h)
    assert {(p.status, p.acknowledged_by) for p in pages} == {("acknowledged", FRANK)}
    for user in (ERIN, FRANK):
        [dm] = page_dms(h, user)
        assert f"Acknowledged by <@{FRANK}>" in json.dumps(dm.blocks)
        assert Action.ALERT_ACKNOWLEDGE.value not in json.dumps(dm.blocks)
    body = json.dumps(card(h).blocks)
    assert f"Acknowledged by <@{FRANK}>" in body
    assert Action.ALERT_ACKNOWLEDGE.value not in body
    # Past the deadline nothing escalates any more.
    await tick_after(h, 60)
    assert len(await stored_pages(h)) == 2
    # A double click (from the DM) changes nothing and says who did it first.
    updates = len(h.slack.calls_to("chat.update"))
    [erin_dm] = page_dms(h, ERIN)
    await click(h, ERIN, erin_dm, dm_channel(h, ERIN))
    assert (await group(h)).acknowledged_by == FRANK
    [answer] = told(h, ERIN)
    assert answer.startswith(f"This alert was already acknowledged by <@{FRANK}> <!date^")
    assert len(h.slack.calls_to("chat.update")) == updates


async def test_acknowledge_on_the_dm_acknowledges_the_group(h: Harness) -> None:
    await fired(h)
    [dm] = page_dms(h, ERIN)
    await click(h, ERIN, dm, dm_channel(h, ERIN))
    assert (await group(h)).acknowledged_by == ERIN
    [page] = await stored_pages(h)
    assert page.status == "acknowledged"
    assert f"Acknowledged by <@{ERIN}>" in json.dumps(card(h).blocks)


async def test_a_member_the_policy_does_not_allow_is_told_who_may(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, ONLY_OM) as h:
        await fired(h)
        await click(h, ZED, card(h), "C0INCIDENTS")
        stored = await group(h)
        assert stored.acknowledged_at is None
        # In a channel they are not in, the private answer comes by DM.
        [answer] = told(h, ZED)
        assert answer == (
            "Only the Operations Lead can acknowledge this alert; "
            f"acting Operations Lead now: <@{ERIN}>."
        )
        assert [p.status for p in await stored_pages(h)] == ["waiting"]
        await click(h, ERIN, card(h), "C0INCIDENTS")
        assert (await group(h)).acknowledged_by == ERIN


async def test_the_alert_resolving_stops_escalation(h: Harness) -> None:
    await fired(h)
    await h.app.alerts.receive(batch(RESOLVED))
    await h.settled()
    await h.app.alert_paging.tick()  # closes the waiting page without its deadline
    await h.settled()
    [page] = await stored_pages(h)
    assert page.status == "resolved"
    [dm] = page_dms(h, ERIN)
    assert "resolved before anyone acknowledged" in json.dumps(dm.blocks)
    assert Action.ALERT_ACKNOWLEDGE.value not in json.dumps(dm.blocks)
    await tick_after(h, 90)
    assert len(await stored_pages(h)) == 1
    assert page_dms(h, FRANK) == []


async def test_ticks_at_once_page_each_step_once(h: Harness) -> None:
    await fired(h)
    h.app.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
    other_db = Database(h.database_url)
    other = AlertPaging(other_db, lambda: h.app.paging.policy, h.app.clock)
    try:
        moved = await asyncio.gather(
            *(p.tick() for p in (h.app.alert_paging, other, h.app.alert_paging, other))
        )
    finally:
        await other_db.dispose()
    await h.settled()
    assert sum(moved) == 1
    pages = await stored_pages(h)
    assert [(p.person, p.step) for p in pages] == [(ERIN, 0), (FRANK, 1)]
    assert len(page_dms(h, FRANK)) == 1


def pagerduty_settings(local: PagerDuty) -> dict[str, str]:
    """Firewatch's settings for the local PagerDuty."""
    return {
        "FIREWATCH_PAGERDUTY_ROUTING_KEY": "R0UTINGKEY",
        "FIREWATCH_PAGERDUTY_URL": f"http://127.0.0.1:{local.port}/v2/enqueue",
    }


async def test_pagerduty_hears_the_trigger_and_the_acknowledgement(
    database_url: str,
    tmp_path: Path,
    pagerduty: PagerDuty,  # noqa: F811  (the fixture of test_pagerduty_resolve)
) -> None:
    received = pagerduty.events  # a local Events API v2, answering 202
    async with running(database_url, tmp_path, **pagerduty_settings(pagerduty)) as h:
        await fired(h)
        [page] = await stored_pages(h)
        [trigger] = received
        assert trigger["event_action"] == "trigger"
        assert trigger["dedup_key"] == f"firewatch-alert-page-{page.id}"
        assert trigger["routing_key"] == "R0UTINGKEY"
        assert "Payments <down> & out" in trigger["payload"]["summary"]
        await click(h, ERIN, card(h), "C0INCIDENTS")
        assert [(e["event_action"], e["dedup_key"]) for e in received[1:]] == [
            ("acknowledge", f"firewatch-alert-page-{page.id}")
        ]
        # The alert resolves: PagerDuty's alert is resolved too, acknowledged or not,
        # once (a resend of the resolution changes nothing).
        await h.app.alerts.receive(batch(RESOLVED))
        await h.app.alerts.receive(batch(RESOLVED))
        await h.settled()
        assert [(e["event_action"], e["dedup_key"]) for e in received[2:]] == [
            ("resolve", f"firewatch-alert-page-{page.id}")
        ]
        assert set(received[2]) == {"routing_key", "event_action", "dedup_key"}


async def test_a_persons_data_includes_their_alert_pages(h: Harness) -> None:
    """`firewatch export-user` / `forget-user` find a person wherever their id is stored:
    the alert tables are registered with the rest, whichever command runs."""
    await fired(h)
    async with h.app.db.session(write=False) as session:
        found = await LifecycleRepository(session).rows_naming(ERIN)
    assert [row["person"] for row in found["alert_pages"]] == [ERIN]


async def test_resolving_the_linked_incident_resolves_the_alert_pages_in_pagerduty(
    database_url: str,
    tmp_path: Path,
    pagerduty: PagerDuty,  # noqa: F811  (the fixture of test_pagerduty_resolve)
) -> None:
    """ "Every PagerDuty incident Firewatch triggered for it": the alert's own pages too,
    when the incident its group is linked to resolves while the alert still fires."""
    received = pagerduty.events  # a local Events API v2, answering 202
    declaring = POLICY + '  auto_declare:\n    - {matchers: ["severity=critical"]}\n'
    async with running(database_url, tmp_path, declaring, **pagerduty_settings(pagerduty)) as h:
        await fired(h)
        [alert_page] = await stored_pages(h)
        [incident] = await h.incidents()
        assert incident.channel_id is not None
        answer = await h.sender.slash_command(
            "status resolved Rolled back", channel_id=incident.channel_id, user_id=ERIN
        )
        assert answer.json()["text"] == f"INC-{incident.id} is now resolved."
        await h.settled()
        resolved = [e["dedup_key"] for e in received if e["event_action"] == "resolve"]
        assert f"firewatch-alert-page-{alert_page.id}" in resolved
        assert resolved.count(f"firewatch-alert-page-{alert_page.id}") == 1
