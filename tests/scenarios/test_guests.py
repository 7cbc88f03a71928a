"""Issue 20, item 3: guests (restricted accounts, as Slack's users.info says) and people of
another organisation (another team id) read only the incident whose channel they ask
from, and may do nothing, unless the policy names them."""

from __future__ import annotations

import asyncio

from bot.slack import messages
from bot.slack.ids import TimelineIds
from tests.scenarios.test_changes import notices
from tests.support import Harness

GUEST = "U0GUEST"
OTHER_TEAM = "T0OTHERORG"


async def declared_channels(harness: Harness, count: int) -> list[str]:
    for _ in range(count):
        await harness.declare()
    await harness.settled()
    channels = [incident.channel_id for incident in await harness.incidents()]
    assert all(channels)
    return [str(channel) for channel in channels]


async def ask(harness: Harness, text: str, channel: str, user: str = GUEST) -> str:
    response = await harness.sender.slash_command(text, channel_id=channel, user_id=user)
    await harness.settled()
    return str(response.json().get("text", ""))


async def test_a_guest_reads_only_their_channel_and_may_not_act(harness: Harness) -> None:
    harness.slack.add_user(GUEST, "guest", "guest@example.com", is_restricted=True)
    here, elsewhere = await declared_channels(harness, 2)
    assert await ask(harness, "timeline", here) == messages.TIMELINE_OF.format(ref="INC-1")
    refused = await ask(harness, "timeline INC-1", elsewhere)
    assert refused.startswith("Only full members of the workspace")
    status = await ask(harness, "status monitoring", here)
    assert status.startswith("Only ")
    [first, _second] = await harness.incidents()
    assert first.status != "monitoring"
    refusals = [e for e in await harness.timeline() if e.kind == "refused"]
    assert [(e.actor, e.data["action"], e.data["kind"]) for e in refusals] == [
        (GUEST, "read_timeline", "guest"),
        (GUEST, "change_status", "guest"),
    ]
    assert await harness.refusals() == [
        (GUEST, "guest", "read_timeline", 1),
        (GUEST, "guest", "change_status", 1),
    ]
    # A full member reads any timeline from anywhere.
    assert await ask(harness, "timeline INC-1", elsewhere, user="U0BOB") == (
        messages.TIMELINE_OF.format(ref="INC-1")
    )


async def test_a_guest_lists_only_the_incident_of_their_channel(harness: Harness) -> None:
    harness.slack.add_user(GUEST, "guest", "guest@example.com", is_restricted=True)
    here, _elsewhere = await declared_channels(harness, 2)
    response = await harness.sender.slash_command("list", channel_id=here, user_id=GUEST)
    assert response.json()["text"] == messages.OPEN_INCIDENTS.format(count=1)
    shown = str(response.json())
    assert "INC-1" in shown
    assert "INC-2" not in shown
    nowhere = await harness.sender.slash_command("list", channel_id="C0GENERAL", user_id=GUEST)
    assert nowhere.json()["text"] == messages.OPEN_INCIDENTS.format(count=0)
    member = await harness.sender.slash_command("list", channel_id="C0GENERAL", user_id="U0BOB")
    assert member.json()["text"] == messages.OPEN_INCIDENTS.format(count=2)
    digest = await harness.sender.slash_command("digest", channel_id=here, user_id=GUEST)
    assert digest.json()["text"] == messages.DIGEST_MEMBERS_ONLY
    # The listings narrowed what they showed; the digest refused, and that is recorded.
    assert await harness.refusals() == [(GUEST, "guest", "read_timeline", None)]


async def test_another_organisations_user_reads_only_their_channel(harness: Harness) -> None:
    here, elsewhere = await declared_channels(harness, 2)
    home, harness.sender.team_id = harness.sender.team_id, OTHER_TEAM
    try:
        mine = await ask(harness, "timeline", here, user="U0DAVE")
        other = await ask(harness, "timeline INC-1", elsewhere, user="U0DAVE")
        listing = await harness.sender.slash_command("list", channel_id=here, user_id="U0DAVE")
    finally:
        harness.sender.team_id = home
    assert mine == messages.TIMELINE_OF.format(ref="INC-1")
    assert other.startswith("Only full members of the workspace")
    assert listing.json()["text"] == messages.OPEN_INCIDENTS.format(count=1)


async def test_a_guest_may_not_declare(harness: Harness) -> None:
    harness.slack.add_user(GUEST, "guest", "guest@example.com", is_restricted=True)
    view = await harness.open_declare_modal(user_id=GUEST)
    # The form's opening looked the guest up (after the answer); the submission reads
    # only the cache.
    for _ in range(500):
        if harness.app.users.known(GUEST) is not None:
            break
        await asyncio.sleep(0.01)
    response = await harness.submit(view, user_id=GUEST)
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert any(text.startswith("Only") for text in answer["errors"].values())
    assert await harness.incidents() == []
    # No incident to put it on: recorded in the refusals, where `firewatch refusals` reads.
    assert await harness.refusals() == [(GUEST, "guest", "declare", None)]


async def test_a_guest_may_not_add_to_the_timeline(harness: Harness) -> None:
    harness.slack.add_user(GUEST, "guest", "guest@example.com", is_restricted=True)
    [here] = await declared_channels(harness, 1)
    message = {"type": "message", "user": "U0BOB", "text": "p99 is fine", "ts": "1795000000.0001"}
    for user in (GUEST, "U0BOB"):
        response = await harness.sender.message_shortcut(
            TimelineIds.ADD_TO_TIMELINE, message=message, channel_id=here, user_id=user
        )
        assert response.status == 200
    await harness.settled()
    captured = [e for e in await harness.timeline() if e.kind == "captured"]
    assert [e.actor for e in captured] == ["U0BOB"]
    told = notices(harness, GUEST)  # privately: an ephemeral, or a DM outside the channel
    assert any(text.startswith("Only full members") for text in told)
