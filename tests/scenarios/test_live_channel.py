"""The live incident channel (issue 23, item 2), on the emulator as strict as Slack (the
manifest's scopes only): the topic kept current and set only when it changes, bookmarks
added once, and the archive notice posted once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.clock import FrozenClock
from bot.emulator import SlackEmulator
from bot.emulator.manifest import manifest_bot_scopes
from bot.emulator.state import Channel
from bot.slack.ids import Action
from tests.scenarios import test_paging, test_postmortems
from tests.support import TOKEN, Harness, start_harness

PM, DL = "U0BOB", "U0CAROL"
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday
ROSTER = f"roles:\n  pm: {{primary: {PM}}}\n  dl: {{primary: {DL}}}\n"


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with strict(database_url, tmp_path, ROSTER) as harness:
        yield harness


@pytest.fixture
async def h0(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """A policy that archives a closed incident's channel at once."""
    at_once = ROSTER + "postmortem:\n  archive_channel_after_days: 0\n"
    async with strict(database_url, tmp_path, at_once) as harness:
        yield harness


@asynccontextmanager
async def strict(database_url: str, tmp_path: Path, text: str) -> AsyncIterator[Harness]:
    """The bot on the emulator as strict as Slack: the manifest's scopes only."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    async with (
        SlackEmulator(bot_token=TOKEN) as slack,
        start_harness(
            database_url, emulator=slack, clock=FrozenClock(NOW), FIREWATCH_POLICY_FILE=str(policy)
        ) as harness,
    ):
        assert slack.scopes == set(manifest_bot_scopes())
        yield harness


async def declared(h: Harness) -> Channel:
    await h.declare()
    await h.settled()
    [incident] = await h.incidents()
    assert incident.channel_id is not None
    channel = h.slack.channel(incident.channel_id)
    assert channel is not None
    return channel


async def command(h: Harness, text: str, channel: Channel, user: str = "U0ALICE") -> str:
    answer = await h.sender.slash_command(text, channel_id=channel.id, user_id=user)
    await h.settled()
    return str(answer.json()["text"])


def topic_sets(h: Harness) -> list[str]:
    return [c.args["topic"] for c in h.slack.calls_to("conversations.setTopic") if c.ok]


def bookmarks(h: Harness, channel: Channel) -> dict[str, str]:
    return {b.title: b.link or "" for b in h.slack.bookmarks(channel.id)}


async def test_topic_and_bookmarks_after_declaring_and_a_status_change(h: Harness) -> None:
    channel = await declared(h)
    topic = f"SEV1 · Investigating · lead <@{PM}> · respond by Wed 16:00 UTC"
    assert channel.topic["value"] == topic
    assert topic_sets(h) == [topic]
    report = h.slack.pins(channel.id)[0]
    marks = bookmarks(h, channel)
    assert set(marks) == {"Incident report", "Source alert"}
    assert marks["Source alert"] == "https://grafana.example.com/d/checkout"
    assert report.ts.replace(".", "") in marks["Incident report"]

    assert await command(h, "status identified Bad config push", channel) == (
        "INC-1 is now identified."
    )
    identified = f"SEV1 · Identified · lead <@{PM}> · respond by Wed 16:00 UTC"
    assert channel.topic["value"] == identified
    assert topic_sets(h) == [topic, identified]
    assert len(h.slack.bookmarks(channel.id)) == 2  # nothing added twice

    # A change that leaves the topic as it is costs no setTopic: assigning the DL.
    await command(h, f"assign dl <@{DL}>", channel, user=PM)
    assert topic_sets(h) == [topic, identified]
    # The lead changes: a per-incident assignment of the PM role.
    await command(h, f"assign pm <@{DL}>", channel, user=PM)
    assert channel.topic["value"] == f"SEV1 · Identified · lead <@{DL}> · respond by Wed 16:00 UTC"
    assert len(topic_sets(h)) == 3
    assert len(h.slack.bookmarks(channel.id)) == 2


async def approved(h: Harness) -> Channel:
    """INC-1 resolved, its post-mortem written and approved (the button clicked twice)."""
    channel_id = await test_postmortems.resolve(h)
    channel = h.slack.channel(channel_id)
    assert channel is not None
    assert channel.topic["value"] == f"SEV1 · Resolved · lead <@{PM}>"
    view = await test_postmortems.open_form(h)
    await h.sender.view_submission(view, test_postmortems.written(view, submit=True), user_id=PM)
    await h.settled()
    review = next(m for m in h.slack.messages(channel.id) if "submitted for approval" in m.text)
    for _ in range(2):  # a second click finds it approved already
        await h.sender.block_action(
            Action.POSTMORTEM_APPROVE, value="1", user_id=PM, channel_id=channel.id,
            message=review.as_dict(),
        )  # fmt: skip
        await h.settled()
    return channel


async def test_a_channel_archived_at_once_gets_no_notice_and_no_failed_row(h0: Harness) -> None:
    channel = await approved(h0)
    await h0.settled()
    assert channel.is_archived
    assert not [m for m in h0.slack.messages(channel.id) if m.text.startswith("Archiving")]
    assert [(r.kind, r.last_error) for r in await h0.outbox() if r.status != "done"] == []


async def test_the_approved_postmortem_is_bookmarked_and_the_archive_announced_once(
    h: Harness,
) -> None:
    channel = await approved(h)
    texts = [m.text for m in h.slack.messages(channel.id)]
    assert texts.count("Archiving this channel in 7 days.") == 1
    assert channel.topic["value"] == f"SEV1 · Closed · lead <@{PM}>"
    final = next(m for m in h.slack.messages(channel.id) if m.text.startswith("Final report"))
    marks = bookmarks(h, channel)
    assert set(marks) == {"Incident report", "Source alert", "Post-mortem"}
    assert final.ts.replace(".", "") in marks["Post-mortem"]


async def test_a_retitle_renames_the_channel_and_keeps_the_old_name_on_the_timeline(
    h: Harness,
) -> None:
    channel = await declared(h)
    assert channel.name == "inc-1-checkout-errors"
    h.slack.add_channel("inc-1-payment-provider-down")  # taken: the rename takes -2
    answer = await command(h, "title Payment provider down", channel)
    assert answer == "INC-1 is now titled “Payment provider down”; the channel follows."
    assert channel.name == "inc-1-payment-provider-down-2"
    assert channel.previous_names == ["inc-1-checkout-errors"]
    [incident] = await h.incidents()
    assert (incident.title, incident.channel_name) == (
        "Payment provider down",
        "inc-1-payment-provider-down-2",
    )
    texts = [e.text for e in await h.timeline()]
    assert "Title changed from “Checkout errors” to “Payment provider down”" in texts
    assert "Channel renamed from #inc-1-checkout-errors to #inc-1-payment-provider-down-2" in texts
    # The topic does not show the title: retitling sets no topic; bookmarks stay as they were.
    assert len(topic_sets(h)) == 1
    assert set(bookmarks(h, channel)) == {"Incident report", "Source alert"}
    [report] = h.slack.pins(channel.id)
    assert "Payment provider down" in json.dumps(report.blocks)
    renames = h.slack.calls_to("conversations.rename")
    assert [(c.args["name"], c.ok) for c in renames] == [
        ("inc-1-payment-provider-down", False),  # name_taken
        ("inc-1-payment-provider-down-2", True),
    ]

    # The same name again changes nothing; bad titles are answered, not stored.
    assert await command(h, "title Payment provider down", channel) == answer
    assert len(h.slack.calls_to("conversations.rename")) == 2
    assert "letter or digit" in await command(h, "title !!!", channel)
    assert "Give the new title" in await command(h, "title", channel)
    assert (await h.incidents())[0].title == "Payment provider down"


async def test_only_responders_may_retitle(h: Harness) -> None:
    channel = await declared(h)
    refused = await command(h, "title Something else", channel, user="U0STRANGER")
    assert refused.endswith("may retitle the incident.")
    assert refused.startswith(f"Only the Incident Response Team (<@{PM}>, <@{DL}>)")
    assert (await h.incidents())[0].title == "Checkout errors"


async def test_the_first_acknowledgement_takes_the_deadline_off_the_topic(h: Harness) -> None:
    channel = await declared(h)
    await test_paging.tick(h)
    [page] = [p for p in await test_paging.pages(h) if p.role == "pm"]
    await test_paging.click_ack(h, page, PM, channel.id)
    assert channel.topic["value"] == f"SEV1 · Investigating · lead <@{PM}>"
    assert len(topic_sets(h)) == 2


async def test_the_pm_away_puts_the_stand_in_in_the_topic(h: Harness) -> None:
    channel = await declared(h)
    away = await h.sender.slash_command("away until tomorrow", user_id=PM)
    assert "You are away until" in away.json()["text"]
    await h.settled()
    # The DL stands in for the PM (stand_in: dl in the default policy).
    assert channel.topic["value"].startswith(f"SEV1 · Investigating · lead <@{DL}> · ")
    await h.sender.slash_command("away off", user_id=PM)
    await h.settled()
    assert channel.topic["value"].startswith(f"SEV1 · Investigating · lead <@{PM}> · ")
