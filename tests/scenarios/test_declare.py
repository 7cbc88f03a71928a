"""Declaring an incident end to end: signed HTTP in, Web API calls out, rows stored."""

from __future__ import annotations

import json

from bot.domain.incident import ChannelStatus
from bot.slack.ids import Block, Callback
from tests.support import REPORT, Harness


async def test_slash_command_opens_the_declare_modal_with_the_policy_severities(
    harness: Harness,
) -> None:
    view = await harness.open_declare_modal("declare Checkout errors")

    call = harness.slack.calls_to("views.open")[-1]
    assert call.args["trigger_id"], "views.open needs the command's trigger_id"
    assert view["callback_id"] == Callback.DECLARE_MODAL
    blocks = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert blocks[Block.TITLE]["element"]["initial_value"] == "Checkout errors"
    severities = [o["value"] for o in blocks[Block.SEVERITY]["element"]["options"]]
    assert severities == ["sev1", "sev2", "sev3"]
    discovery = [o["value"] for o in blocks[Block.DISCOVERY]["element"]["options"]]
    assert len(discovery) == 5  # seed 003's five ways an incident is discovered
    assert json.loads(view["private_metadata"]) == {"origin_channel": "C0INCIDENTS"}


async def test_declaring_stores_the_incident_and_builds_its_channel(harness: Harness) -> None:
    response = await harness.declare()
    assert response.status == 200
    assert response.text in ("", "{}")  # the modal closes

    [incident] = await harness.incidents()
    assert incident.title == "Checkout errors"
    assert incident.severity == "sev1"
    assert incident.nature == REPORT[Block.NATURE]
    assert incident.discovery == "monitoring_alert"
    assert incident.impact == "Customers cannot pay"
    assert incident.evidence == REPORT[Block.EVIDENCE]
    assert incident.service == "checkout-api"
    assert incident.reporter_id == "U0ALICE"
    assert incident.status == "investigating"
    assert incident.response_deadline is not None
    assert (incident.response_deadline - incident.declared_at).total_seconds() == 3600

    slack = harness.slack
    await harness.settled()
    channel = slack.channel_by_name("inc-1-checkout-errors")
    assert channel is not None
    assert "U0ALICE" in channel.members
    [report] = slack.messages(channel.id)
    assert "INC-1" in report.text
    assert [p.ts for p in slack.pins(channel.id)] == [report.ts]
    [announcement] = slack.messages("#incidents")
    rendered = json.dumps(announcement.blocks)
    assert "INC-1" in announcement.text
    assert "SEV1" in announcement.text
    assert f"<#{channel.id}>" in rendered
    assert "<@U0ALICE>" in rendered

    [stored] = await harness.incidents()
    assert stored.channel_id == channel.id
    assert stored.channel_status == ChannelStatus.CREATED
    assert stored.report_ts == report.ts
    assert stored.announcement_ts == announcement.ts
    kinds = [e.kind for e in await harness.timeline()]
    assert kinds == ["declared", "channel"]


async def test_a_resubmitted_modal_declares_one_incident(harness: Harness) -> None:
    view = await harness.open_declare_modal()
    first = await harness.submit(view)
    second = await harness.submit(view)  # Slack retry or a double click: same view id
    assert (first.status, second.status) == (200, 200)
    await harness.settled()
    assert len(await harness.incidents()) == 1
    assert len(harness.slack.calls_to("conversations.create")) == 1
    assert len(harness.slack.messages("#incidents")) == 1


async def test_field_problems_come_back_on_the_fields(harness: Harness) -> None:
    view = await harness.open_declare_modal()
    bad = {**REPORT, Block.TITLE: "   ", Block.IMPACT: ""}
    response = await harness.submit(view, bad)
    assert response.status == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {Block.TITLE, Block.IMPACT}
    assert await harness.incidents() == []
    assert harness.slack.calls_to("conversations.create") == []


async def test_title_of_symbols_only_is_refused(harness: Harness) -> None:
    view = await harness.open_declare_modal()
    response = await harness.submit(view, {**REPORT, Block.TITLE: "!!! ???"})
    assert response.json()["errors"] == {Block.TITLE: "Use at least one letter or digit."}


async def test_a_taken_channel_name_gets_a_suffix(harness: Harness) -> None:
    harness.slack.add_channel("inc-1-checkout-errors", bot_is_member=False)
    await harness.declare()
    await harness.settled()
    channel = harness.slack.channel_by_name("inc-1-checkout-errors-2")
    assert channel is not None
    [incident] = await harness.incidents()
    assert incident.channel_id == channel.id
    assert len(harness.slack.messages(channel.id)) == 1


async def test_when_the_channel_cannot_be_created_the_report_goes_to_the_broadcast_thread(
    harness: Harness,
) -> None:
    harness.slack.fail("conversations.create", error="restricted_action", times=5)
    await harness.declare()
    await harness.settled()

    [incident] = await harness.incidents()
    assert incident.channel_status == ChannelStatus.FAILED
    assert incident.channel_note == "restricted_action"
    announcement, report = harness.slack.messages("#incidents")
    assert report.thread_ts == announcement.ts
    assert "could not create a channel" in json.dumps(report.blocks)
    assert "restricted_action" in json.dumps(report.blocks)
    assert harness.slack.calls_to("pins.add") == []
    entries = [e.text for e in await harness.timeline()]
    assert any("Could not create the incident channel" in t for t in entries)


async def test_a_severity_without_a_channel_reports_in_the_announcement_thread(
    harness: Harness,
) -> None:
    await harness.declare({**REPORT, Block.SEVERITY: "sev3"})
    await harness.settled()
    assert harness.slack.calls_to("conversations.create") == []
    announcement, report = harness.slack.messages("#incidents")
    assert report.thread_ts == announcement.ts
    [incident] = await harness.incidents()
    assert incident.channel_status == ChannelStatus.NONE


async def test_help_and_unknown_subcommands_answer_ephemerally(harness: Harness) -> None:
    help_answer = await harness.sender.slash_command("help")
    assert help_answer.status == 200
    assert "/incident declare" in help_answer.json()["text"]
    unknown = await harness.sender.slash_command("frobnicate now")
    assert "I don't know `/incident frobnicate`" in unknown.json()["text"]
    assert "/incident declare" in unknown.json()["text"]
    assert harness.slack.calls_to("views.open") == []
    assert unknown.json()["response_type"] == "ephemeral"


async def test_global_shortcut_opens_the_same_modal(harness: Harness) -> None:
    response = await harness.sender.global_shortcut(Callback.DECLARE_SHORTCUT)
    assert response.status == 200
    views = await harness.slack.wait_for(lambda: harness.slack.opened_views(Callback.DECLARE_MODAL))
    assert views[-1]["title"]["text"] == "Declare an incident"


# Titles in five scripts, one with characters Slack would read as markup.
TITLES_IN_SCRIPTS = [
    "Сбой оплаты <карты> & возвраты",
    "決済エラー",
    "خطأ في الدفع",
    "Σφάλμα πληρωμής",
    "भुगतान त्रुटि",
]


async def test_titles_in_any_script_declare_and_name_their_channels_by_number(
    harness: Harness,
) -> None:
    for title in TITLES_IN_SCRIPTS:
        response = await harness.declare({**REPORT, Block.TITLE: title})
        assert response.text in ("", "{}"), response.text  # no field errors: the modal closes
    await harness.settled()

    incidents = await harness.incidents()
    assert [i.title for i in incidents] == TITLES_IN_SCRIPTS
    for incident in incidents:
        name = f"inc-{incident.id}"
        assert incident.channel_name == name
        channel = harness.slack.channel_by_name(name)
        assert channel is not None
        assert incident.channel_id == channel.id
        [report] = harness.slack.messages(channel.id)
        header = next(b for b in report.blocks or [] if b["type"] == "header")
        assert header["text"]["text"] == f"Incident report · INC-{incident.id}: {incident.title}"
    created = harness.slack.calls_to("conversations.create")
    assert [c.http_status for c in created] == [200] * 5  # Slack accepted every name
    # Each incident's channel is created by its own delivery, in any order.
    names = sorted(c.response["channel"]["name"] for c in created)
    assert names == sorted(f"inc-{i.id}" for i in incidents)
    first = harness.slack.messages(incidents[0].channel_id or "")[0]
    assert first.text == "Incident report · INC-1: Сбой оплаты &lt;карты&gt; &amp; возвраты"
    announcements = [m.text for m in harness.slack.messages("#incidents")]
    assert any("Сбой оплаты &lt;карты&gt; &amp; возвраты" in t for t in announcements)
    assert any("भुगतान त्रुटि" in t for t in announcements)
