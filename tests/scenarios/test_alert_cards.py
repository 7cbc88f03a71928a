"""Alert cards (issue 22): a monitor's notification stored, then one card per alert group
in the routed channel, updated in place (a resend only moves "last seen"; resolved turns
it green), storms bounded, and auto-declaration linking the group to its incident."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.alerts import FIRING, RESOLVED, AlertBatch, IncomingAlert
from bot.domain.clock import FrozenClock
from bot.domain.status_page import ComponentState
from bot.emulator import SlackEmulator
from bot.services.alerts import BUSY_RETRY_AFTER, INTAKE_CONCURRENCY
from bot.slack.ids import Action
from storage.alert_repository import AlertRepository
from tests.scenarios.test_pagerduty_resolve import PagerDuty, Setup, pagerduty  # noqa: F401
from tests.support import TOKEN, Harness, start_harness

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
OM = "U0OLIVIA"
POLICY = f"""
roles:
  om: {{primary: {OM}}}
components:
  - {{key: payments, name: Payments}}
  - {{key: login, name: Login}}
alerts:
  routes:
    - {{matchers: ["team=payments"], channel: "#payments-alerts"}}
  auto_declare:
    - {{matchers: ["severity=critical", "env=production"]}}
  severity:
    values: {{critical: sev1, warning: sev3}}
  components:
    - {{matchers: ["alertname=PaymentsDown"], components: [payments], state: partial_outage}}
  storm:
    cards_per_minute: 5
"""


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    async with SlackEmulator(bot_token=TOKEN) as slack:
        slack.add_channel("payments-alerts", channel_id="C0PAYALERTS")
        async with start_harness(
            database_url, emulator=slack, clock=FrozenClock(NOW), FIREWATCH_POLICY_FILE=str(policy)
        ) as harness:
            yield harness


def alert(
    name: str = "HighErrorRate",
    *,
    fingerprint: str = "f1",
    status: str = FIRING,
    starts: datetime = NOW - timedelta(minutes=3),
    **labels: str,
) -> IncomingAlert:
    return IncomingAlert(
        source="alertmanager",
        fingerprint=fingerprint,
        status=status,
        starts_at=starts,
        ends_at=NOW if status == RESOLVED else None,
        labels={"alertname": name, **labels},
        annotations={"summary": f"{name} on <checkout> & friends", "description": "5% 5xx"},
        links={"generator": "http://prometheus.example:9090/graph?g0.expr=up"},
    )


def batch(*alerts: IncomingAlert, key: str = '{}:{alertname="HighErrorRate"}') -> AlertBatch:
    common = dict(alerts[0].labels)
    for each in alerts[1:]:
        common = {k: v for k, v in common.items() if each.labels.get(k) == v}
    status = FIRING if any(a.status == FIRING for a in alerts) else RESOLVED
    return AlertBatch(
        source="alertmanager", group_key=key, status=status, alerts=alerts, common_labels=common
    )


def cards(h: Harness, channel: str) -> list[Any]:
    return [m for m in h.slack.messages(channel) if "alert" in json.dumps(m.blocks or [])]


def block_text(message: Any) -> str:
    return json.dumps(message.blocks)


async def test_a_firing_group_gets_one_card_and_a_resend_only_moves_last_seen(h: Harness) -> None:
    first = batch(alert(severity="warning", env="staging"), alert(fingerprint="f2", env="staging"))
    receipt = await h.app.alerts.receive(first)
    assert (receipt.new, receipt.resent) == (2, 0)
    await h.settled()
    [card] = cards(h, "C0INCIDENTS")  # no route matched: the broadcast channel
    assert card.text.startswith("FIRING SEV3: HighErrorRate on &lt;checkout&gt; &amp; friends")
    body = block_text(card)
    assert "2 of 2 alerts firing" in body
    assert "&lt;checkout&gt;" in body
    assert "<checkout>" not in body
    for action in (Action.ALERT_ACKNOWLEDGE, Action.ALERT_DECLARE, Action.ALERT_LINK):
        assert action.value in body
    assert "http://prometheus.example:9090/graph?g0.expr=up" in body
    assert "still firing" not in body

    h.app.clock.advance(timedelta(minutes=4))  # type: ignore[attr-defined]
    again = await h.app.alerts.receive(first)
    assert (again.new, again.resent) == (0, 2)
    await h.settled()
    [card] = cards(h, "C0INCIDENTS")  # updated in place, no second message
    assert "still firing, last seen" in block_text(card)
    assert "2 of 2 alerts firing" in block_text(card)

    resolved = batch(
        alert(status=RESOLVED, env="staging"),
        alert(fingerprint="f2", status=RESOLVED, env="staging"),
    )
    done = await h.app.alerts.receive(resolved)
    assert done.resolved == 2
    await h.settled()
    [card] = cards(h, "C0INCIDENTS")
    assert card.text.startswith("RESOLVED")
    assert "0 of 2 alerts firing" in block_text(card)
    assert Action.ALERT_ACKNOWLEDGE.value not in block_text(card)
    assert len(h.slack.calls_to("chat.postMessage")) == 1


async def test_routes_send_a_team_s_alerts_to_its_channel(h: Harness) -> None:
    await h.app.alerts.receive(batch(alert(team="payments"), key="payments"))
    await h.settled()
    assert len(cards(h, "C0PAYALERTS")) == 1
    assert cards(h, "C0INCIDENTS") == []


async def test_a_storm_of_groups_is_bounded_per_channel(h: Harness) -> None:
    for n in range(60):
        fp = f"storm-{n}"
        await h.app.alerts.receive(
            batch(alert(f"Disk{n}", fingerprint=fp, env="staging"), key=f"group-{n}")
        )
    await h.settled()
    posts = [c for c in h.slack.calls_to("chat.postMessage") if c.ok]
    assert len(posts) == 6  # five cards, then one storm card counting the other 55 groups
    storm = [m for m in h.slack.messages("C0INCIDENTS") if "storm" in m.text.lower()]
    assert len(storm) == 1
    assert "55 more alert groups" in storm[0].text


async def test_an_auto_declare_rule_declares_and_links_the_group(h: Harness) -> None:
    fired = alert("PaymentsDown", severity="critical", env="production")
    receipt = await h.app.alerts.receive(batch(fired, key="pd"))
    assert receipt.auto_declared
    await h.settled()
    [incident] = await h.incidents()
    assert incident.severity == "sev1"
    assert incident.reporter_id == OM  # the on-call holder reports what a monitor declared
    assert incident.discovery == "monitoring_alert"
    assert incident.checklist["declared_by_alert"]["rule"] == [
        "severity=critical",
        "env=production",
    ]
    texts = [e.text for e in await h.timeline()]
    assert any(t.startswith("Alert linked: PaymentsDown") for t in texts)
    # The status page: the alert's component rule says what the incident affects.
    assert await h.app.status_page.effects_of(incident.id) == {
        "payments": ComponentState.PARTIAL_OUTAGE
    }
    page = (await h.app.status_page.public_page()).document
    assert page["components"]["payments"]["state"] == "partial_outage"
    assert page["components"]["login"]["state"] == "operational"
    [card] = cards(h, "C0INCIDENTS")
    assert f"Linked to INC-{incident.id}" in block_text(card)
    # A resend declares nothing more; resolving puts "alert resolved" on the timeline.
    await h.app.alerts.receive(batch(fired, key="pd"))
    gone = alert("PaymentsDown", status=RESOLVED, severity="critical", env="production")
    await h.app.alerts.receive(batch(gone, key="pd"))
    await h.settled()
    assert len(await h.incidents()) == 1
    texts = [e.text for e in await h.timeline()]
    assert any(t.startswith("Alert resolved: PaymentsDown") for t in texts)


async def test_resolving_the_incident_says_so_on_its_alert_cards(
    database_url: str,
    tmp_path: Path,
    pagerduty: PagerDuty,  # noqa: F811  (the fixture of test_pagerduty_resolve)
) -> None:
    """Resolution both ways: the incident an alert declared resolves; PagerDuty hears its
    pages resolved, and the alert's card says the incident is resolved and how many
    PagerDuty alerts were."""
    setup = Setup(database_url, tmp_path, pagerduty, FrozenClock(NOW))
    async with setup.harness(POLICY + "  page: []\n") as h:
        fired = alert("PaymentsDown", severity="critical", env="production")
        await h.app.alerts.receive(batch(fired, key="pd"))
        await h.settled()
        [incident] = await h.incidents()
        assert incident.channel_id is not None
        await pagerduty.wait_until(lambda: pagerduty.actions())
        card = cards(h, "C0INCIDENTS")[0]
        assert "resolved" not in block_text(card).split("Linked to", 1)[1]

        answer = await h.sender.slash_command(
            "status resolved Rolled back", channel_id=incident.channel_id, user_id=OM
        )
        assert answer.json()["text"] == f"INC-{incident.id} is now resolved."
        await h.settled()
        await pagerduty.wait_until(lambda: pagerduty.resolves())
        [card] = cards(h, "C0INCIDENTS")
        assert f"INC-{incident.id} resolved" in block_text(card)
        assert "PagerDuty alerts resolved: 1" in block_text(card)


async def test_grafana_s_webhook_makes_a_card_with_its_dashboard_and_panel(
    database_url: str, tmp_path: Path
) -> None:
    """Grafana's documented body, posted over HTTP with its bearer token: stored, then a
    card in the team's routed channel with Grafana's links as buttons; the same body
    again changes nothing but "last seen"."""
    import aiohttp

    body = (Path(__file__).parents[1] / "fixtures/alerts/grafana_firing.json").read_bytes()
    token = "grafana-bearer-token-0123456"
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    async with SlackEmulator(bot_token=TOKEN) as slack:
        slack.add_channel("payments-alerts", channel_id="C0PAYALERTS")
        async with (
            start_harness(
                database_url,
                emulator=slack,
                clock=FrozenClock(NOW),
                FIREWATCH_POLICY_FILE=str(policy),
                FIREWATCH_GRAFANA_TOKEN=token,
            ) as h,
            aiohttp.ClientSession() as http,
        ):
            url = f"http://127.0.0.1:{h.app.port}/alerts/grafana"
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            async with http.post(url, data=body, headers=headers) as answer:
                assert answer.status == 200, await answer.text()
                first = await answer.json()
            async with http.post(url, data=body, headers=headers) as answer:
                again = await answer.json()
            await h.settled()
            [card] = cards(h, "C0PAYALERTS")  # team=payments is routed
    assert (first["new"], again["new"], again["resent"]) == (2, 0, 2)
    shown = block_text(card)
    for link in ("Dashboard", "Panel", "Source"):
        assert f'"text": "{link}"' in shown
    assert "2 of 2 alerts firing" in shown
    assert "still firing, last seen" in shown


async def test_a_flood_beyond_what_is_stored_at_once_is_told_to_send_again(
    database_url: str,
) -> None:
    """Notifications that cannot be stored within a few seconds (every slot taken) are
    answered 503 with Retry-After at once, stored nowhere: the monitor sends them again,
    and a queue of what nobody waits for any more never builds up."""
    import aiohttp

    token = "alertmanager-bearer-token-0123"
    body = (Path(__file__).parents[1] / "fixtures/alerts/alertmanager_firing.json").read_bytes()
    async with (
        start_harness(
            database_url, clock=FrozenClock(NOW), FIREWATCH_ALERTMANAGER_TOKEN=token
        ) as h,
        aiohttp.ClientSession() as http,
    ):
        desk = h.app.alerts
        desk.intake_wait = 0.05
        for _ in range(INTAKE_CONCURRENCY):  # every slot held by notifications being stored
            await desk._storing.acquire()
        url = f"http://127.0.0.1:{h.app.port}/alerts/alertmanager"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        async with http.post(url, data=body, headers=headers) as answer:
            assert answer.status == 503
            assert answer.headers["Retry-After"] == str(BUSY_RETRY_AFTER)
            assert "send again" in (await answer.json())["error"]
        assert (
            'outcome="busy"'
            in [
                line
                for line in h.app.metrics.exposition().decode().splitlines()
                if line.startswith("firewatch_alert_requests_total{") and line.endswith(" 1.0")
            ][0]
        )
        async with h.app.db.session(write=False) as session:
            assert await AlertRepository(session).group(1) is None
        for _ in range(INTAKE_CONCURRENCY):
            desk._storing.release()
        async with http.post(url, data=body, headers=headers) as answer:
            assert answer.status == 200  # sent again once there is room: stored
