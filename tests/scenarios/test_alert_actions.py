"""An alert card's Declare, Link and Silence buttons (issue 22): each opens its form after
the answer, the forms are checked and stored before they are answered, and what they
did shows on the card, the incident's timeline (echoed) and its report. All over signed
HTTP against the emulator, with a frozen clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.alerts import FIRING, RESOLVED, AlertBatch, IncomingAlert
from bot.domain.clock import FrozenClock
from bot.domain.status_page import ComponentState
from bot.emulator import SlackEmulator, input_values
from bot.emulator.state import Message
from bot.emulator.suggestions import suggest
from bot.slack.ids import Action, AlertFormIds, Block, Decision, PickerIds, StatusPageIds
from storage.alert_models import AlertGroupRow, AlertSilenceRow
from storage.models import IncidentRow
from tests.support import NOT_URGENT, QUALIFYING, REPORT, TOKEN, Harness, start_harness

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
OM = "U0OLIVIA"  # the Operations Lead: on the IRT
ALICE = "U0ALICE"  # a member: declares
MALLORY = "U0MALLORY"  # a member with no part in any incident
CHANNEL = "C0INCIDENTS"  # no route: the broadcast channel
POLICY = f"""
roles:
  om: {{primary: {OM}}}
components:
  - {{key: checkout, name: Checkout}}
  - {{key: login, name: Login}}
alerts:
  components:
    - {{matchers: ["service=checkout"], components: [checkout], state: degraded_performance}}
  severity:
    values: {{critical: sev1, warning: sev3}}
  max_silence_hours: 24
"""


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    async with SlackEmulator(bot_token=TOKEN) as slack:
        slack.add_user(OM, "olivia", "olivia@example.com")
        slack.add_user(MALLORY, "mallory", "mallory@example.com")
        async with start_harness(
            database_url, emulator=slack, clock=FrozenClock(NOW), FIREWATCH_POLICY_FILE=str(policy)
        ) as harness:
            where = slack.channel(CHANNEL)
            assert where is not None
            where.members += [OM, MALLORY]  # people click where they read the card
            yield harness


def alert(
    fingerprint: str = "f1", *, starts: datetime = NOW - timedelta(minutes=3)
) -> IncomingAlert:
    return IncomingAlert(
        source="alertmanager",
        fingerprint=fingerprint,
        status=FIRING,
        starts_at=starts,
        ends_at=None,
        labels={"alertname": "CheckoutErrors", "severity": "critical", "service": "checkout"},
        annotations={
            "summary": "Checkout <errors> & timeouts",
            "description": "5% of POST /checkout answer 5xx",
            "runbook_url": "https://runbooks.example/checkout",
        },
        links={"generator": "http://prometheus.example:9090/graph?g0.expr=up"},
    )


def batch(*alerts: IncomingAlert) -> AlertBatch:
    return AlertBatch(
        source="alertmanager",
        group_key='{}:{alertname="CheckoutErrors"}',
        status=FIRING,
        alerts=alerts or (alert(), alert("f2")),
        common_labels=dict(alert().labels),
    )


async def fired(h: Harness) -> int:
    receipt = await h.app.alerts.receive(batch())
    await h.settled()
    assert receipt.group is not None
    return receipt.group


def card(h: Harness) -> Message:
    [found] = [m for m in h.slack.messages(CHANNEL) if "alert_actions_" in json.dumps(m.blocks)]
    return found


def card_text(h: Harness) -> str:
    return json.dumps(card(h).blocks)


async def click(h: Harness, action: Action, group_id: int, user: str = ALICE) -> None:
    message = card(h)
    response = await h.sender.block_action(
        action,
        value=str(group_id),
        user_id=user,
        channel_id=CHANNEL,
        message={"type": "message", "ts": message.ts, "blocks": message.blocks},
    )
    assert response.status == 200, response.text
    assert response.text in ("", "{}"), response.text  # answered at once, nothing said


async def opened(h: Harness, callback: str, before: int) -> dict[str, Any]:
    views = await h.slack.wait_for(lambda: h.slack.opened_views(callback)[before:])
    return views[-1]


async def open_form(h: Harness, action: Action, callback: str, group_id: int, user: str) -> Any:
    before = len(h.slack.opened_views(callback))
    await click(h, action, group_id, user)
    return await opened(h, callback, before)


async def told_to(h: Harness, user: str) -> list[Any]:
    """The ephemerals `user` was sent (queued after the answer, by the follow-up)."""
    found = await h.slack.wait_for(lambda: h.slack.ephemerals(user))
    await h.settled()
    return list(found)


def answer(response: Any) -> dict[str, Any]:
    assert response.status == 200, response.text
    return json.loads(response.text) if response.text not in ("", None) else {}


async def submit(h: Harness, view: Any, values: dict[str, Any], user: str) -> dict[str, Any]:
    response = await h.sender.view_submission(view, input_values(view, values), user_id=user)
    body = answer(response)
    await h.settled()
    return body


def initial(view: dict[str, Any], block_id: str) -> Any:
    [block] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    element = block["element"]
    return element.get("initial_value") or (element.get("initial_option") or {}).get("value")


async def groups(h: Harness) -> list[AlertGroupRow]:
    async with h.app.db.session(write=False) as session:
        return list((await session.execute(select(AlertGroupRow))).scalars())


async def silences(h: Harness) -> list[AlertSilenceRow]:
    async with h.app.db.session(write=False) as session:
        stmt = select(AlertSilenceRow).order_by(AlertSilenceRow.fingerprint)
        return list((await session.execute(stmt)).scalars())


def report_of(h: Harness, incident: IncidentRow) -> str:
    """The report's "Alerts" section ("" when it has none)."""
    assert incident.channel_id is not None
    [report] = [
        m for m in h.slack.messages(incident.channel_id) if m.text.startswith("Incident report")
    ]
    texts = [str((b.get("text") or {}).get("text", "")) for b in report.blocks or []]
    return "\n".join(t for t in texts if t.startswith("*Alerts*"))


async def declared_from_alert(h: Harness) -> tuple[int, IncidentRow]:
    group_id = await fired(h)
    view = await open_form(h, Action.ALERT_DECLARE, AlertFormIds.DECLARE_MODAL, group_id, ALICE)
    assert answer_ok(await submit(h, view, {**prefilled(view), **QUALIFYING}, ALICE))
    [incident] = await h.incidents()
    return group_id, incident


def prefilled(view: dict[str, Any]) -> dict[str, Any]:
    """What Slack sends back for the inputs nobody changed: their initial values."""
    out: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block.get("element") or {}
        value = (
            element.get("initial_value")
            or element.get("initial_option")
            or element.get("initial_options")
        )
        if block.get("type") == "input" and value:
            out[block["block_id"]] = value
    return out


def answer_ok(body: dict[str, Any]) -> bool:
    assert body.get("response_action") in (None, "clear"), body
    return True


# --- Declare --------------------------------------------------------------------------


async def test_declare_opens_the_prefilled_form_and_declares_a_linked_incident(h: Harness) -> None:
    group_id = await fired(h)
    view = await open_form(h, Action.ALERT_DECLARE, AlertFormIds.DECLARE_MODAL, group_id, ALICE)
    assert initial(view, Block.TITLE) == "Checkout <errors> & timeouts"  # plain text: as sent
    assert initial(view, Block.SEVERITY) == "sev1"  # severity=critical maps to sev1
    assert initial(view, Block.NATURE) == "5% of POST /checkout answer 5xx"
    assert initial(view, Block.DISCOVERY) == "monitoring_alert"
    evidence = initial(view, Block.EVIDENCE)
    assert "generator: http://prometheus.example:9090/graph?g0.expr=up" in evidence
    assert "runbook_url: https://runbooks.example/checkout" in evidence
    assert initial(view, Block.SERVICE) == "checkout"
    assert any(b.get("block_id", "").startswith("checklist__") for b in view["blocks"])
    assert json.loads(view["private_metadata"]) == {"alert_group": group_id}
    # The status page: the alert's component rule, pre-selected for the person to confirm.
    assert prefilled(view)[StatusPageIds.COMPONENTS] == [
        {"text": {"type": "plain_text", "text": "Checkout", "emoji": True}, "value": "checkout"}
    ]
    assert initial(view, StatusPageIds.COMPONENT_STATE) == "degraded_performance"

    body = await submit(h, view, {**prefilled(view), **QUALIFYING}, ALICE)
    assert answer_ok(body)
    [incident] = await h.incidents()
    assert (incident.title, incident.severity, incident.reporter_id) == (
        "Checkout <errors> & timeouts",
        "sev1",
        ALICE,
    )
    [group] = await groups(h)
    assert group.incident_id == incident.id
    assert await h.app.status_page.effects_of(incident.id) == {
        "checkout": ComponentState.DEGRADED_PERFORMANCE
    }
    linked = [e for e in await h.timeline() if e.text.startswith("Alert linked:")]
    assert len(linked) == 1
    assert linked[0].actor == ALICE
    assert f"Linked to INC-{incident.id}" in card_text(h)
    assert Action.ALERT_DECLARE.value not in card_text(h)  # a linked card has no Declare
    report = report_of(h, incident)
    assert "Checkout &lt;errors&gt; &amp; timeouts" in report
    assert "<errors>" not in report
    assert "2/2 firing · firing" in report

    # The report follows the group: resolved, its line says so.
    gone = [replace(alert(fp), status=RESOLVED, ends_at=NOW) for fp in ("f1", "f2")]
    await h.app.alerts.receive(batch(*gone))
    await h.settled()
    assert "0/2 firing · resolved" in report_of(h, incident)

    # The same form submitted again (Slack's retry, a double click) declares nothing more.
    values = input_values(view, {**prefilled(view), **QUALIFYING})
    again = await h.sender.view_submission(view, values, user_id=ALICE)
    assert answer_ok(answer(again))
    await h.settled()
    assert len(await h.incidents()) == 1
    assert len([e for e in await h.timeline() if e.text.startswith("Alert linked:")]) == 1


async def test_declaring_anyway_after_a_failed_checklist_links_the_group(h: Harness) -> None:
    group_id = await fired(h)
    view = await open_form(h, Action.ALERT_DECLARE, AlertFormIds.DECLARE_MODAL, group_id, ALICE)
    body = await submit(h, view, {**prefilled(view), **NOT_URGENT}, ALICE)
    assert body["response_action"] == "push"
    pushed: dict[str, Any] = body["view"]
    assert pushed["callback_id"] == AlertFormIds.NOT_AN_INCIDENT_MODAL
    pushed.update(id="V_PUSHED", hash="h1", state={"values": {}})  # as Slack records it
    anyway = {"type": "radio_buttons", "selected_option": {"value": Decision.DECLARE_ANYWAY}}
    reason = {"type": "plain_text_input", "value": "The payments team asks for the IRT"}
    values: dict[str, dict[str, Any]] = {
        Block.DECISION: {"value": anyway},
        Block.REASON: {"value": reason},
    }
    for _ in range(2):  # a double click declares and links once
        response = await h.sender.view_submission(pushed, values, user_id=ALICE)
        assert answer(response) == {"response_action": "clear"}
    await h.settled()
    [incident] = await h.incidents()
    [group] = await groups(h)
    assert group.incident_id == incident.id
    assert len([e for e in await h.timeline() if e.text.startswith("Alert linked:")]) == 1
    assert f"Linked to INC-{incident.id}" in card_text(h)


async def test_declare_on_a_linked_group_names_the_incident_instead(h: Harness) -> None:
    group_id, incident = await declared_from_alert(h)
    before = len(h.slack.opened_views())
    await click(h, Action.ALERT_DECLARE, group_id, MALLORY)
    [told] = await told_to(h, MALLORY)
    assert f"linked to INC-{incident.id} already" in told.text
    assert len(h.slack.opened_views()) == before  # no form opened
    assert len(await h.incidents()) == 1


# --- Link -----------------------------------------------------------------------------


async def test_link_picks_an_open_incident_and_says_so_on_its_timeline(h: Harness) -> None:
    await h.declare()  # INC-1 "Checkout errors", reported by Alice
    await h.settled()
    [incident] = await h.incidents()
    group_id = await fired(h)
    view = await open_form(h, Action.ALERT_LINK, AlertFormIds.LINK_MODAL, group_id, ALICE)
    options = await suggest(h.sender, view, PickerIds.SELECT, "checkout", user_id=ALICE)
    assert [o["value"] for o in options] == [str(incident.id)]

    body = await submit(h, view, {PickerIds.SELECT: options[0]}, ALICE)
    assert answer_ok(body)
    [group] = await groups(h)
    assert group.incident_id == incident.id
    [entry] = [e for e in await h.timeline() if e.text.startswith("Alert linked:")]
    assert entry.actor == ALICE
    assert "(2 of 2 firing)" in entry.text
    assert incident.channel_id is not None
    echoed = json.dumps([m.blocks for m in h.slack.messages(incident.channel_id)])
    assert "Alert linked: Checkout &lt;errors&gt;" in echoed
    assert f"Linked to INC-{incident.id}" in card_text(h)
    assert "2/2 firing" in report_of(h, incident)

    # Submitted twice: nothing more on the timeline, no second card update.
    updates = len(h.slack.calls_to("chat.update"))
    again = await h.sender.view_submission(
        view, input_values(view, {PickerIds.SELECT: options[0]}), user_id=ALICE
    )
    assert answer_ok(answer(again))
    await h.settled()
    assert len([e for e in await h.timeline() if e.text.startswith("Alert linked:")]) == 1
    assert len(h.slack.calls_to("chat.update")) == updates


async def test_a_member_without_link_alert_is_refused_and_told_who_may(h: Harness) -> None:
    await h.declare()
    await h.settled()
    [incident] = await h.incidents()
    group_id = await fired(h)
    view = await open_form(h, Action.ALERT_LINK, AlertFormIds.LINK_MODAL, group_id, MALLORY)
    option = {"text": {"type": "plain_text", "text": incident.title}, "value": str(incident.id)}
    body = await submit(h, view, {PickerIds.SELECT: option}, MALLORY)
    assert body["response_action"] == "errors"
    refusal = body["errors"][PickerIds.INCIDENT]
    assert refusal.startswith("Only ")
    assert "reporter" in refusal
    assert refusal.endswith("may link alerts to this incident.")
    [group] = await groups(h)
    assert group.incident_id is None
    assert not [e for e in await h.timeline() if e.text.startswith("Alert linked:")]


async def test_linking_a_linked_group_elsewhere_moves_it_and_both_timelines_say_so(
    h: Harness,
) -> None:
    group_id, first = await declared_from_alert(h)
    await h.declare(report={**REPORT, Block.TITLE: "Payments down"})
    await h.settled()
    second = (await h.incidents())[-1]
    view = await open_form(h, Action.ALERT_LINK, AlertFormIds.LINK_MODAL, group_id, OM)
    assert f"Linked to INC-{first.id} now" in json.dumps(view["blocks"])
    option = {"text": {"type": "plain_text", "text": second.title}, "value": str(second.id)}
    assert answer_ok(await submit(h, view, {PickerIds.SELECT: option}, OM))
    [group] = await groups(h)
    assert group.incident_id == second.id
    texts = {(e.incident_id, e.text.split(":")[0]) for e in await h.timeline()}
    assert (first.id, f"Alert moved to INC-{second.id}") in texts
    moved = [e for e in await h.timeline() if e.incident_id == second.id and "moved from" in e.text]
    assert len(moved) == 1
    assert f"(moved from INC-{first.id})" in moved[0].text
    assert f"Linked to INC-{second.id}" in card_text(h)
    assert report_of(h, first) == ""
    assert "2/2 firing" in report_of(h, second)


# --- Silence --------------------------------------------------------------------------


async def test_silence_stores_each_firing_fingerprint_and_mutes_later_firings(h: Harness) -> None:
    group_id, incident = await declared_from_alert(h)
    view = await open_form(h, Action.ALERT_SILENCE, AlertFormIds.SILENCE_MODAL, group_id, OM)
    select = next(b for b in view["blocks"] if b.get("block_id") == AlertFormIds.DURATION)
    assert [o["value"] for o in select["element"]["options"]] == ["1", "4", "24"]  # max 24 h
    assert "writes no silence into Alertmanager" in json.dumps(view["blocks"])
    reason = "Known <deploy> issue & rollback under way"
    body = await submit(h, view, {AlertFormIds.DURATION: "4", AlertFormIds.REASON: reason}, OM)
    assert answer_ok(body)
    until = NOW + timedelta(hours=4)
    stored = await silences(h)
    assert [(s.fingerprint, s.silenced_by, s.reason) for s in stored] == [
        ("f1", OM, reason),
        ("f2", OM, reason),
    ]
    assert all(s.until.replace(tzinfo=UTC) == until for s in stored)
    shown = card_text(h)
    assert f"Silenced in Firewatch until <!date^{int(until.timestamp())}" in shown
    assert f"by <@{OM}>: Known &lt;deploy&gt; issue &amp; rollback" in shown
    [entry] = [e for e in await h.timeline() if e.text.startswith("Silenced 2 alerts")]
    assert entry.actor == OM
    assert entry.incident_id == incident.id

    # Submitted twice: no second timeline entry, the silences as they were.
    h.app.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    again = await h.sender.view_submission(
        view,
        input_values(view, {AlertFormIds.DURATION: "4", AlertFormIds.REASON: reason}),
        user_id=OM,
    )
    assert answer_ok(answer(again))
    await h.settled()
    assert [s.until for s in await silences(h)] == [s.until for s in stored]
    assert len([e for e in await h.timeline() if e.text.startswith("Silenced")]) == 1

    # A new firing of a silenced fingerprint: stored, but nothing visible changes.
    entries, updates = len(await h.timeline()), len(h.slack.calls_to("chat.update"))
    posts = len(h.slack.calls_to("chat.postMessage"))
    refired = alert("f1", starts=NOW + timedelta(seconds=30))
    receipt = await h.app.alerts.receive(batch(refired))
    await h.settled()
    assert (receipt.new, receipt.silenced) == (0, 1)
    assert len(await h.timeline()) == entries
    assert len(h.slack.calls_to("chat.update")) == updates
    assert len(h.slack.calls_to("chat.postMessage")) == posts


async def test_a_silence_longer_than_the_policy_allows_is_a_field_error(h: Harness) -> None:
    group_id = await fired(h)
    view = await open_form(h, Action.ALERT_SILENCE, AlertFormIds.SILENCE_MODAL, group_id, OM)
    week = {"text": {"type": "plain_text", "text": "1 week"}, "value": "168"}  # a stale form
    body = await submit(h, view, {AlertFormIds.DURATION: week, AlertFormIds.REASON: "noisy"}, OM)
    assert body == {
        "response_action": "errors",
        "errors": {AlertFormIds.DURATION: "The policy allows silencing for at most 1 day."},
    }
    blank = await submit(h, view, {AlertFormIds.DURATION: "1", AlertFormIds.REASON: "  "}, OM)
    assert blank["errors"] == {AlertFormIds.REASON: "Say why these alerts are silenced."}
    assert await silences(h) == []


async def test_only_the_irt_may_silence(h: Harness) -> None:
    group_id = await fired(h)
    before = len(h.slack.opened_views(AlertFormIds.SILENCE_MODAL))
    await click(h, Action.ALERT_SILENCE, group_id, MALLORY)
    [told] = await told_to(h, MALLORY)
    assert told.text.startswith("Only ")
    assert told.text.endswith("may silence alerts.")
    assert f"<@{OM}>" in told.text  # who may, by name
    assert len(h.slack.opened_views(AlertFormIds.SILENCE_MODAL)) == before
    assert await silences(h) == []
