"""Issue 22 with the real peer: Debian's Prometheus Alertmanager posts to Firewatch's
`/alerts/alertmanager` with its bearer token; Firewatch stores each firing once, shows one
card per group in Slack (the strict emulator), keeps it in place through Alertmanager's
resends, turns it green when the alerts resolve, and declares at once when the policy's
auto-declare rule matches."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.emulator import SlackEmulator
from storage.alert_models import AlertGroupRow, AlertRow
from tests.alerts.alertmanager import Alertmanager
from tests.support import TOKEN, Harness, start_harness

AM_TOKEN = "alertmanager-bearer-token-0123"
CH = "C0INCIDENTS"  # the broadcast channel: where a group no route matches goes
OM = "U0OLIVIA"
POLICY = f"""
roles:
  om: {{primary: {OM}}}
alerts:
  routes:
    - {{matchers: ["team=payments"], channel: "#payments-alerts"}}
  auto_declare:
    - {{matchers: ["severity=critical", "env=production"]}}
  severity:
    values: {{critical: sev1, warning: sev3}}
"""


@dataclass
class Setup:
    h: Harness
    am: Alertmanager


@pytest.fixture
async def setup(database_url: str, tmp_path: Path) -> AsyncIterator[Setup]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    async with SlackEmulator(bot_token=TOKEN) as slack:
        slack.add_channel("payments-alerts", channel_id="C0PAYALERTS")
        async with start_harness(
            database_url,
            emulator=slack,
            FIREWATCH_POLICY_FILE=str(policy),
            FIREWATCH_ALERTMANAGER_TOKEN=AM_TOKEN,
        ) as h:
            url = f"http://127.0.0.1:{h.app.port}/alerts/alertmanager"
            async with Alertmanager(url, AM_TOKEN, workdir=tmp_path / "am") as am:
                yield Setup(h, am)


def firing(instance: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": "HighErrorRate", "instance": instance, **labels},
        "annotations": {"summary": f"5xx above 5% on {instance}", "runbook_url": "https://rb/x"},
        "generatorURL": f"http://prometheus.test/graph?g0.expr={instance}",
    }


async def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:  # noqa: ASYNC109
    """Alertmanager is a real process on its own clock: wait (bounded) for what it sends."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = check()
        if found:
            return found
        if loop.time() > deadline:
            raise TimeoutError("Firewatch never showed what Alertmanager sent")
        await asyncio.sleep(0.05)


def cards(h: Harness, channel: str) -> list[Any]:
    return [m for m in h.slack.messages(channel) if "firewatch_alert" in json.dumps(m.blocks)]


async def stored(h: Harness) -> tuple[int, int]:
    """(alert rows, how many times Alertmanager's notifications named them)."""
    async with h.app.db.session(write=False) as session:
        rows = (await session.execute(select(func.count(), func.sum(AlertRow.received)))).one()
    return int(rows[0]), int(rows[1] or 0)


async def test_a_group_is_one_card_kept_in_place_through_resends_and_resolved(
    setup: Setup,
) -> None:
    h, am = setup.h, setup.am
    await am.push([firing("api-1", severity="warning"), firing("api-2", severity="warning")])
    [card] = await eventually(lambda: cards(h, "C0INCIDENTS"))
    body = json.dumps(card.blocks)
    assert card.text.startswith("FIRING SEV3: 5xx above 5% on api-")
    assert "2 of 2 alerts firing" in body
    assert "http://prometheus.test/graph?g0.expr=api-1" in body

    # Alertmanager resends the group every tick (repeat_interval 1 ms): the same two
    # firings, stored once each; the card only says when they were last seen.
    await eventually(lambda: "still firing, last seen" in json.dumps(cards(h, CH)[0].blocks))
    count, received = await stored(h)
    assert count == 2
    assert received > 2
    assert len(cards(h, "C0INCIDENTS")) == 1

    await am.resolve(*[a["labels"] for a in await am.alerts()])
    resolved = await eventually(
        lambda: [c for c in cards(h, "C0INCIDENTS") if c.text.startswith("RESOLVED")]
    )
    assert "0 of 2 alerts firing" in json.dumps(resolved[0].blocks)
    assert len(h.slack.calls_to("chat.postMessage")) == 1  # one card, updated in place
    assert (await stored(h))[0] == 2


async def test_routes_and_auto_declare_from_alertmanager(setup: Setup) -> None:
    h, am = setup.h, setup.am
    await am.push([firing("pay-1", team="payments", severity="warning")])
    await eventually(lambda: cards(h, "C0PAYALERTS"))
    await am.push(
        [
            {
                "labels": {
                    "alertname": "CheckoutDown",
                    "severity": "critical",
                    "env": "production",
                },
                "annotations": {"summary": "checkout is down", "description": "0 rps"},
            }
        ]
    )

    async def declared() -> list[Any]:
        await h.declared()
        return await h.incidents()

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while not (incidents := await declared()):
        assert loop.time() < deadline, "the auto-declare rule declared nothing"
        await asyncio.sleep(0.05)
    [incident] = incidents
    assert incident.title == "checkout is down"
    assert incident.severity == "sev1"
    rule = incident.checklist["declared_by_alert"]["rule"]
    assert rule == ["severity=critical", "env=production"]
    # Alertmanager resends the firing every tick: once a resend is stored, still one
    # incident, linked to the alert's group.
    before = await resends(h, "CheckoutDown")
    while await resends(h, "CheckoutDown") <= before:
        assert loop.time() < deadline + 15, "Alertmanager never resent"
        await asyncio.sleep(0.05)
    await h.settled()
    assert len(await h.incidents()) == 1
    texts = [e.text for e in await h.timeline()]
    assert any(t.startswith("Alert linked: checkout is down") for t in texts)


async def resends(h: Harness, alertname: str) -> int:
    async with h.app.db.session(write=False) as session:
        rows = (await session.execute(select(AlertRow.labels, AlertRow.received))).all()
    return sum(received for labels, received in rows if labels.get("alertname") == alertname)


async def test_a_wrong_token_stores_nothing(database_url: str, tmp_path: Path) -> None:
    async with (
        SlackEmulator(bot_token=TOKEN) as slack,
        start_harness(database_url, emulator=slack, FIREWATCH_ALERTMANAGER_TOKEN=AM_TOKEN) as h,
    ):
        url = f"http://127.0.0.1:{h.app.port}/alerts/alertmanager"
        async with Alertmanager(url, "not-the-token-at-all", workdir=tmp_path / "am") as am:
            await am.push([firing("api-1")])
            # Alertmanager logs the 401 and retries; Firewatch counts the refusals.
            await eventually(lambda: _unauthorized(h) > 0)
        assert (await stored(h))[0] == 0
        assert cards(h, "C0INCIDENTS") == []


def _unauthorized(h: Harness) -> float:
    return _requests(h, "unauthorized")


def _requests(h: Harness, outcome: str) -> float:
    """firewatch_alert_requests_total{source="alertmanager", outcome=...}."""
    for line in h.app.metrics.exposition().decode().splitlines():
        if line.startswith("firewatch_alert_requests_total{") and f'outcome="{outcome}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_storm_of_500_alerts_is_a_bounded_number_of_messages(setup: Setup) -> None:
    """500 alerts in 100 groups (Alertmanager groups by alertname): ten cards of their
    own (the policy's default bound a minute), the other ninety groups counted on one
    storm card, every alert stored once; never a message per alert."""
    h, am = setup.h, setup.am
    await am.push(
        [
            firing(f"node-{i}", alertname=f"Disk{i % 100:03d}", severity="warning")
            for i in range(500)
        ]
    )

    async def groups() -> int:
        async with h.app.db.session(write=False) as session:
            count = (await session.execute(select(func.count(AlertGroupRow.id)))).scalar_one()
        return int(count)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (await stored(h))[0] < 500 or await groups() < 100:
        assert loop.time() < deadline, f"stored {await stored(h)}, groups {await groups()}"
        await asyncio.sleep(0.1)
    # Alertmanager goes on resending all 100 groups every second: the cards take them
    # as updates ("last seen"), never as new messages.
    storm = await eventually(
        lambda: [
            m
            for m in h.slack.messages(CH)
            if m.text.startswith("Alert storm: 90 more alert groups (450 alerts firing)")
        ]
    )
    assert len(storm) == 1
    await eventually(lambda: len(cards(h, CH)) == 10)
    updates_before = len(h.slack.calls_to("chat.update"))
    received_before = _requests(h, "stored")
    # Three more ticks of resends (about three seconds; a loaded machine stretches
    # Alertmanager's ticks, so the test waits for the notifications, not the clock).
    await eventually(lambda: _requests(h, "stored") - received_before >= 300, timeout=30)
    posts = [c for c in h.slack.calls_to("chat.postMessage") if c.ok]
    assert len(posts) == 11
    updates = len(h.slack.calls_to("chat.update")) - updates_before
    # Each card at most once per resend tick (and coalesced): a tick is Alertmanager's
    # 100 notifications, one per group, counted as they arrived, plus the ticks in
    # flight at either end.
    ticks = math.ceil((_requests(h, "stored") - received_before) / 100) + 2
    assert updates <= 11 * ticks


async def test_a_page_rule_pages_from_alertmanager_and_the_card_acknowledges(
    database_url: str, tmp_path: Path
) -> None:
    """The policy's page rule pages the on-call role's primary by DM for a critical
    alert Alertmanager sends; Acknowledge on the card records who and when (the alert's
    time to acknowledge) and shows on the card and the DM; Alertmanager's resends page
    nobody again."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"roles:\n  om: {{primary: {OM}}}\n"
        'alerts:\n  page:\n    - {matchers: ["severity=critical"], role: om}\n'
        "  severity:\n    values: {critical: sev1}\n"
    )
    async with SlackEmulator(bot_token=TOKEN) as slack:
        slack.add_user(OM, "olivia", "olivia@example.com")
        async with start_harness(
            database_url,
            emulator=slack,
            FIREWATCH_POLICY_FILE=str(policy),
            FIREWATCH_ALERTMANAGER_TOKEN=AM_TOKEN,
        ) as h:
            url = f"http://127.0.0.1:{h.app.port}/alerts/alertmanager"
            async with Alertmanager(url, AM_TOKEN, workdir=tmp_path / "am") as am:
                await am.push([firing("pay-1", severity="critical")])
                [dm] = await eventually(
                    lambda: [m for m in slack.messages(OM) if m.text.startswith("You are paged")]
                )
                assert "5xx above 5% on pay-1" in json.dumps(dm.blocks)
                [card] = await eventually(lambda: cards(h, CH))
                async with h.app.db.session(write=False) as session:
                    group_id = (await session.execute(select(AlertGroupRow.id))).scalar_one()
                answer = await h.sender.block_action(
                    "firewatch_alert_ack",
                    value=str(group_id),
                    user_id=OM,
                    channel_id=CH,
                    message={"type": "message", "ts": card.ts, "blocks": card.blocks},
                )
                assert answer.status == 200
                await eventually(
                    lambda: f"Acknowledged by <@{OM}>" in json.dumps(cards(h, CH)[0].blocks)
                )
                # Alertmanager keeps resending the firing: a page stays one page.
                before = await resends(h, "HighErrorRate")
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 15
                while await resends(h, "HighErrorRate") <= before:
                    assert loop.time() < deadline, "Alertmanager never resent"
                    await asyncio.sleep(0.05)
            async with h.app.db.session(write=False) as session:
                row = (await session.execute(select(AlertGroupRow))).scalar_one()
            assert row.acknowledged_by == OM
            assert row.acknowledged_at is not None
            assert row.acknowledged_at >= row.first_seen_at
            pages = [m for m in slack.messages(OM) if m.text.startswith("You are paged")]
            assert len(pages) == 1
            assert "Acknowledged" in json.dumps(pages[0].blocks)
