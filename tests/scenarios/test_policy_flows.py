"""The policy in Slack: the checklist in the declare flow, list, raci, severity changes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.domain.incident import Incident
from bot.slack.ids import Action, Block, Callback, Decision
from tests.support import NOT_URGENT, REPORT, Harness, start_harness

NOTHING_TICKED: dict[str, list[str]] = {
    "checklist__incident": [],
    "checklist__severe": [],
    "checklist__urgent": [],
}


async def push_not_an_incident(harness: Harness) -> dict[str, Any]:
    view = await harness.open_declare_modal()
    response = await harness.submit(view, checklist=NOT_URGENT)
    body = response.json()
    assert body["response_action"] == "push"
    pushed: dict[str, Any] = body["view"]
    # Slack gives a pushed view an id and records it; do the same for the next request.
    pushed.update(id="V_PUSHED", hash="h1", state={"values": {}})
    return pushed


async def test_the_declare_form_shows_the_checklist_grouped_as_in_the_policy(
    harness: Harness,
) -> None:
    view = await harness.open_declare_modal()
    groups = {
        b["block_id"]: b for b in view["blocks"] if b.get("block_id", "").startswith("checklist__")
    }
    assert list(groups) == ["checklist__incident", "checklist__severe", "checklist__urgent"]
    assert groups["checklist__severe"]["label"]["text"] == "3. Severe or high-risk (any of)"
    assert groups["checklist__urgent"]["label"]["text"] == "4. Urgent (all of)"
    severe = [o["value"] for o in groups["checklist__severe"]["element"]["options"]]
    assert severe == [
        "cannot_view_assets",
        "cannot_access_assets",
        "system_downtime",
        "feature_downtime",
    ]
    for block in groups.values():
        for option in block["element"]["options"]:
            assert len(option["text"]["text"]) <= 75  # Slack's limit for option text


async def test_answers_that_do_not_qualify_say_which_items_failed(harness: Harness) -> None:
    pushed = await push_not_an_incident(harness)
    text = json.dumps(pushed["blocks"], ensure_ascii=False)
    assert "4. Urgent" in text
    assert "No straightforward workaround is possible" in text
    assert "3. Severe" not in text  # that item holds
    choices = [
        o["value"]
        for b in pushed["blocks"]
        if b.get("block_id") == Block.DECISION
        for o in b["element"]["options"]
    ]
    assert choices == [Decision.RECORD, Decision.DECLARE_ANYWAY]
    assert pushed["close"]["text"] == "Back"  # back to the form, answers kept
    assert await harness.incidents() == []


async def test_recording_a_non_incident_stores_it_and_announces_nothing(harness: Harness) -> None:
    pushed = await push_not_an_incident(harness)
    response = await harness.sender.view_submission(
        pushed,
        {
            Block.DECISION: {
                "value": {"type": "radio_buttons", "selected_option": {"value": Decision.RECORD}}
            }
        },
    )
    assert response.json() == {"response_action": "clear"}
    [row] = await harness.incidents()
    assert (row.kind, row.status) == ("non_incident", "closed")
    assert row.checklist["qualifies"] is False
    assert row.checklist["answers"] == sorted(
        ["production", "user_access", "system_downtime", "ongoing"]
    )
    await harness.settled()
    assert harness.slack.calls_to("conversations.create") == []
    assert harness.slack.calls_to("chat.postMessage") == []


async def test_declaring_anyway_needs_a_reason_that_goes_on_the_timeline(harness: Harness) -> None:
    pushed = await push_not_an_incident(harness)
    anyway = {"type": "radio_buttons", "selected_option": {"value": Decision.DECLARE_ANYWAY}}
    no_reason = await harness.sender.view_submission(
        pushed,
        {
            Block.DECISION: {"value": anyway},
            Block.REASON: {"value": {"type": "plain_text_input", "value": " "}},
        },
    )
    assert no_reason.json()["response_action"] == "errors"
    assert Block.REASON in no_reason.json()["errors"]
    assert await harness.incidents() == []

    reason = "A partner is escalating; we want the IRT on it now"
    ok = await harness.sender.view_submission(
        pushed,
        {
            Block.DECISION: {"value": anyway},
            Block.REASON: {"value": {"type": "plain_text_input", "value": reason}},
        },
    )
    assert ok.json() == {"response_action": "clear"}
    [row] = await harness.incidents()
    assert row.kind == "incident"
    assert row.checklist["override_reason"] == reason
    entries = await harness.timeline()
    assert [e.kind for e in entries][:2] == ["declared", "checklist_override"]
    assert reason in entries[1].text
    await harness.settled()
    channel = harness.slack.channel_by_name("inc-1-checkout-errors")
    assert channel is not None
    [report] = harness.slack.messages(channel.id)
    rendered = json.dumps(report.blocks, ensure_ascii=False)
    assert "Declared anyway" in rendered
    assert reason in rendered
    assert "☐ 4.2. No straightforward workaround is possible" in rendered


async def test_a_policy_can_forbid_declaring_anyway(database_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("declare:\n  allow_declare_anyway: false\n")
    async with start_harness(database_url, FIREWATCH_POLICY_FILE=str(policy)) as harness:
        pushed = await push_not_an_incident(harness)
        choices = [
            o["value"]
            for b in pushed["blocks"]
            if b.get("block_id") == Block.DECISION
            for o in b["element"]["options"]
        ]
        assert choices == [Decision.RECORD]
        assert Block.REASON not in [b.get("block_id") for b in pushed["blocks"]]


async def test_qualifying_answers_are_stored_and_shown_in_the_report(harness: Harness) -> None:
    await harness.declare()
    [row] = await harness.incidents()
    assert row.checklist["qualifies"] is True
    await harness.settled()
    channel = harness.slack.channel_by_name("inc-1-checkout-errors")
    assert channel is not None
    rendered = json.dumps(harness.slack.messages(channel.id)[0].blocks, ensure_ascii=False)
    assert "qualifies as an incident" in rendered
    assert "☑ 1. The situation impacts the live production environment" in rendered


async def test_checklist_command_gives_a_verdict_and_records_nothing(harness: Harness) -> None:
    await harness.sender.slash_command("checklist")
    [view] = await harness.slack.wait_for(
        lambda: harness.slack.opened_views(Callback.CHECKLIST_MODAL)
    )
    from bot.emulator import input_values

    failing = await harness.sender.view_submission(view, input_values(view, NOTHING_TICKED))
    body = failing.json()
    assert body["response_action"] == "update"
    text = json.dumps(body["view"]["blocks"], ensure_ascii=False)
    assert "not an incident" in text
    assert "1. The situation impacts" in text
    assert await harness.incidents() == []


async def test_list_shows_open_incidents_with_time_left(harness: Harness) -> None:
    await harness.declare()
    await harness.declare({**REPORT, Block.TITLE: "Login slow", Block.SEVERITY: "sev2"})
    response = await harness.sender.slash_command("list")
    body = response.json()
    assert body["response_type"] == "ephemeral"
    text = json.dumps(body["blocks"], ensure_ascii=False)
    assert "INC-1* Checkout errors · SEV1 · investigating" in text
    assert "INC-2* Login slow · SEV2" in text
    assert "59m left" in text or "1h 00m left" in text
    assert "3h 59m left" in text or "4h 00m left" in text


async def test_raci_lists_accountable_roles(harness: Harness) -> None:
    body = (await harness.sender.slash_command("raci")).json()
    text = json.dumps(body["blocks"], ensure_ascii=False)
    assert "Approve a post-mortem" in text or "post-mortem" in text.lower()
    assert "A: Product Manager (pm)" in text


async def test_severity_outside_an_incident_channel_asks_which_incident(harness: Harness) -> None:
    response = await harness.sender.slash_command("severity", channel_id="C0INCIDENTS")
    assert response.text in ("", "{}")  # the incident picker opens instead (issue 23)
    [view] = await harness.slack.wait_for(lambda: harness.slack.opened_views())
    assert view["callback_id"] == "firewatch_incident_picker"


async def test_changing_severity_recomputes_the_deadline_and_updates_slack(
    harness: Harness,
) -> None:
    raised: list[tuple[str, str]] = []

    async def hook(incident: Incident, old: str) -> None:
        raised.append((old, incident.severity))

    harness.app.incidents.severity_raised.append(hook)
    await harness.declare({**REPORT, Block.SEVERITY: "sev2"})
    await harness.settled()
    [row] = await harness.incidents()
    channel = row.channel_id
    assert channel is not None
    assert row.response_deadline - row.declared_at == timedelta(hours=4)  # type: ignore[operator]

    await harness.sender.slash_command("severity", channel_id=channel, channel_name="inc-1")
    [view] = await harness.slack.wait_for(
        lambda: harness.slack.opened_views(Callback.SEVERITY_MODAL)
    )
    from bot.emulator import input_values

    values = input_values(view, {Block.NEW_SEVERITY: "sev1", Block.REASON: "Error rate doubled"})
    assert (await harness.sender.view_submission(view, values)).text in ("", "{}")
    await harness.settled()

    [row] = await harness.incidents()
    assert row.severity == "sev1"
    assert row.response_deadline - row.declared_at == timedelta(hours=1)  # type: ignore[operator]
    entry = (await harness.timeline())[-1]
    assert entry.kind == "severity"
    assert entry.text == "Severity changed from SEV2 to SEV1 — Error rate doubled"
    updates = [
        c for c in harness.slack.calls_to("chat.update") if c.args["ts"] == row.announcement_ts
    ]
    assert updates
    assert "SEV1" in updates[-1].args["text"]
    echoes = [m.text for m in harness.slack.messages(channel)]
    assert "Severity changed from SEV2 to SEV1 — Error rate doubled" in echoes
    assert raised == [("sev2", "sev1")]


async def test_the_report_button_opens_the_severity_modal(harness: Harness) -> None:
    await harness.declare()
    await harness.settled()
    response = await harness.sender.block_action(Action.CHANGE_SEVERITY, value="1")
    assert response.status == 200
    [view] = await harness.slack.wait_for(
        lambda: harness.slack.opened_views(Callback.SEVERITY_MODAL)
    )
    assert json.loads(view["private_metadata"]) == {"incident_id": 1}
