"""DMs whose answer was lost, on the emulator as strict as Slack (the manifest's scopes only).

A DM is posted with `channel=<user id>`; looking for it afterwards needs the DM's own id
(conversations.open, im:write) and im:history: a user id is `channel_not_found` for
conversations.history. Each DM must still reach its person exactly once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.emulator import SlackEmulator, input_values
from bot.emulator.manifest import manifest_bot_scopes
from bot.emulator.state import Message
from bot.slack.ids import Action, PmIds, TimelineIds
from tests.scenarios import test_changes
from tests.support import TOKEN, Harness, start_harness

ROSTER = """\
roles:
  pm: {title: Product Manager, primary: U0BOB}
  dl: {title: Development Lead, primary: U0CAROL}
"""


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(ROSTER)
    async with (
        SlackEmulator(bot_token=TOKEN) as slack,
        start_harness(database_url, emulator=slack, FIREWATCH_POLICY_FILE=str(policy)) as harness,
    ):
        assert slack.scopes == set(manifest_bot_scopes())
        yield harness


async def declared(h: Harness) -> str:
    await h.declare()
    await h.settled()
    [incident] = await h.incidents()
    assert incident.channel_id is not None
    return incident.channel_id


def dms(h: Harness, user: str, action: str) -> list[Message]:
    return [m for m in h.slack.messages(user) if action in json.dumps(m.blocks)]


def looked_up_in_the_dm(h: Harness, user: str) -> None:
    """The retry read the DM by its D… id, and Slack let it."""
    dm = h.slack.dm_channel_for(user)
    assert dm is not None
    reads = [c for c in h.slack.calls_to("conversations.history") if c.args["channel"] == dm.id]
    assert reads
    assert all(c.ok for c in reads), [c.response for c in reads]
    assert all(c.ok for c in h.slack.calls_to("conversations.open"))
    refused = [c.response for c in h.slack.calls if c.response.get("error") == "missing_scope"]
    assert refused == []


async def test_a_page_dm_whose_answer_was_lost_is_sent_exactly_once(h: Harness) -> None:
    channel = await declared(h)
    assert len(dms(h, "U0DAVE", Action.PAGE_ACKNOWLEDGE)) == 0
    # Slack posts the page DM, but its answer never reaches Firewatch.
    h.slack.fail("chat.postMessage", drop_connection=True, apply=True)
    # Typed as a person would: Slack escapes @dave (should_escape) to <@U0DAVE|dave>.
    answer = await h.sender.slash_command("page @dave please look", channel_id=channel)
    assert answer.json()["text"] == "Paging <@U0DAVE>."
    await h.settled(timeout=15)
    [lost] = [c for c in h.slack.calls_to("chat.postMessage") if c.http_status == 0]
    assert lost.args["channel"] == "U0DAVE", "the dropped answer was the page DM's"
    [dm] = dms(h, "U0DAVE", Action.PAGE_ACKNOWLEDGE)
    assert "please look" in json.dumps(dm.blocks)
    looked_up_in_the_dm(h, "U0DAVE")


async def test_a_postmortem_request_dm_whose_answer_was_lost_is_sent_exactly_once(
    h: Harness,
) -> None:
    channel = await declared(h)
    await h.sender.slash_command("resolve", channel_id=channel)
    [view] = await h.slack.wait_for(lambda: h.slack.opened_views(PmIds.RESOLVE_MODAL))
    values = input_values(view, {PmIds.SUMMARY: "Rolled back to v41"})
    # Every message of the resolution is posted by Slack with its answer lost.
    h.slack.fail("chat.postMessage", drop_connection=True, apply=True, times=20)
    assert (await h.sender.view_submission(view, values)).text in ("", "{}")
    await h.settled(timeout=20)
    h.slack.clear_faults()
    lost = [c for c in h.slack.calls_to("chat.postMessage") if c.http_status == 0]
    assert "U0BOB" in [c.args["channel"] for c in lost], "the request DM's answer was lost"
    [request] = dms(h, "U0BOB", Action.WRITE_POSTMORTEM)
    assert "Please write the post-mortem of INC-1" in request.text
    looked_up_in_the_dm(h, "U0BOB")


async def test_a_private_notice_sent_by_dm_whose_answer_was_lost_is_sent_exactly_once(
    h: Harness,
) -> None:
    """Someone outside the incident's channel is refused by DM (an ephemeral needs them in
    the channel); that DM, too, is found again rather than posted twice."""
    channel, message = await test_changes.propose(h)
    outsider = "U0DAVE"  # in no role, not in the channel
    channel_row = h.slack.channel(channel)
    assert channel_row is not None
    assert outsider not in channel_row.members
    # Slack posts the refusal DM, but its answer never reaches Firewatch.
    h.slack.fail("chat.postMessage", drop_connection=True, apply=True)
    response = await h.sender.block_action(
        f"{TimelineIds.CHANGE_STEP}_approve",
        value="1:approve",
        channel_id=channel,
        message=message,
        user_id=outsider,
    )
    assert response.status == 200
    await h.settled(timeout=15)
    refused = [c for c in h.slack.calls_to("chat.postEphemeral") if c.args["user"] == outsider]
    assert refused  # tried first, then the DM; again on the retry
    assert {c.response["error"] for c in refused} == {"user_not_in_channel"}
    [lost] = [c for c in h.slack.calls_to("chat.postMessage") if c.http_status == 0]
    assert lost.args["channel"] == outsider, "the dropped answer was the refusal DM's"
    [told] = h.slack.messages(outsider)
    assert "can approve a change" in told.text
    looked_up_in_the_dm(h, outsider)
