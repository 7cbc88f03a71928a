"""The timeline in Slack: notes, shortcut and reaction capture, status, pagination."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import update

from bot.emulator import input_values
from bot.slack.ids import PickerIds, TimelineIds
from storage.models import TimelineEntryRow
from tests.support import Harness


async def declared(harness: Harness) -> str:
    """Declare INC-1 and return its channel id once Slack has it."""
    await harness.declare()
    await harness.settled()
    [row] = await harness.incidents()
    assert row.channel_id is not None
    return row.channel_id


def texts(harness: Harness, channel: str) -> list[str]:
    return [m.text for m in harness.slack.messages(channel)]


async def test_a_note_is_stored_before_the_answer_and_echoed_in_the_channel(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    answer = await harness.sender.slash_command("note DB failover started", channel_id=channel)
    assert answer.json() == {"text": "Noted on INC-1's timeline.", "response_type": "ephemeral"}
    await harness.noted()  # the note worker appends it right after the answer
    note = (await harness.timeline())[-1]
    assert (note.kind, note.actor, note.text) == ("note", "U0ALICE", "DB failover started")
    await harness.settled()
    assert texts(harness, channel)[-1] == "DB failover started"


async def test_notes_outside_an_incident_channel_or_empty_are_refused(harness: Harness) -> None:
    channel = await declared(harness)
    outside = await harness.sender.slash_command("note hello", channel_id="C0INCIDENTS")
    assert outside.text in ("", "{}")  # elsewhere the picker asks which incident (issue 23)
    await harness.slack.wait_for(lambda: harness.slack.opened_views(PickerIds.MODAL))
    empty = await harness.sender.slash_command("note   ", channel_id=channel)
    assert "Write the note after the command" in empty.json()["text"]
    assert [e.kind for e in await harness.timeline()] == ["declared", "channel"]


async def test_the_message_shortcut_captures_author_text_time_and_permalink(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    message = {
        "type": "message",
        "user": "U0BOB",
        "text": "p99 back to 120 ms",
        "ts": "1795000000.000100",
    }
    for _ in range(2):  # a double click records it once
        response = await harness.sender.message_shortcut(
            TimelineIds.ADD_TO_TIMELINE, message=message, channel_id=channel
        )
        assert response.status == 200
    await harness.settled()  # the capture worker records what the answer stored
    captured = [e for e in await harness.timeline() if e.kind == "captured"]
    assert len(captured) == 1
    entry = captured[0]
    assert entry.text == "p99 back to 120 ms"
    assert entry.actor == "U0ALICE"
    assert entry.data["author"] == "U0BOB"
    assert entry.data["ts"] == "1795000000.000100"
    assert entry.data["permalink"] == (
        f"https://firewatch-demo.slack.com/archives/{channel}/p1795000000000100"
    )
    notices = [e.text for e in harness.slack.ephemerals(user="U0ALICE")]
    assert notices == ["Added to INC-1's timeline.", "Already on INC-1's timeline."]


async def test_the_shortcut_elsewhere_asks_which_incident(harness: Harness) -> None:
    await declared(harness)
    message = {
        "type": "message",
        "user": "U0BOB",
        "text": "customers report 500s",
        "ts": "1795000000.000200",
    }
    await harness.sender.message_shortcut(
        TimelineIds.ADD_TO_TIMELINE, message=message, channel_id="C0INCIDENTS"
    )
    [view] = await harness.slack.wait_for(
        lambda: harness.slack.opened_views(TimelineIds.CAPTURE_MODAL)
    )
    response = await harness.sender.view_submission(
        view, input_values(view, {TimelineIds.INCIDENT: "1"})
    )
    assert response.status == 200
    await harness.settled()
    entry = (await harness.timeline())[-1]
    assert (entry.kind, entry.text, entry.data["channel"]) == (
        "captured",
        "customers report 500s",
        "C0INCIDENTS",
    )


async def test_a_pushpin_reaction_captures_and_removing_it_withdraws(harness: Harness) -> None:
    channel = await declared(harness)
    posted = harness.slack.add_message(channel, "rolled back to v41", user="U0CAROL")
    event: dict[str, Any] = {
        "type": "reaction_added",
        "user": "U0BOB",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel, "ts": posted.ts},
        "item_user": "U0CAROL",
        "event_ts": "1795000001.000100",
    }
    await harness.sender.event(event, event_id="Ev1")
    await harness.sender.event(event, event_id="Ev1", retry_num=1)  # Slack's retry
    await harness.sender.event(
        {**event, "reaction": "thumbsup"}, event_id="Ev2"
    )  # not the policy's

    async def captured() -> list[Any]:
        return [e for e in await harness.timeline() if e.kind == "captured"]

    await harness.settled()  # the capture worker fetches the message after the answer
    [entry] = await captured()
    assert (entry.text, entry.actor, entry.data["author"]) == (
        "rolled back to v41",
        "U0BOB",
        "U0CAROL",
    )

    removed = {**event, "type": "reaction_removed"}
    await harness.sender.event(removed, event_id="Ev3")
    await harness.settled()
    withdrawn = (await harness.timeline())[-1]
    assert withdrawn.kind == "withdrawn"
    assert withdrawn.data == {"withdraws": entry.seq}
    assert len(await captured()) == 1  # history is kept


async def test_status_updates_set_mttr_times_and_reach_the_broadcast_thread(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    answer = await harness.sender.slash_command(
        "status monitoring Rolled back to v41", channel_id=channel
    )
    assert answer.json()["text"] == "INC-1 is now monitoring."
    [row] = await harness.incidents()
    assert row.status == "monitoring"
    assert row.mitigated_at is not None
    assert row.resolved_at is None

    await harness.sender.slash_command("status", channel_id=channel)
    [view] = await harness.slack.wait_for(
        lambda: harness.slack.opened_views(TimelineIds.STATUS_MODAL)
    )
    values = input_values(
        view, {TimelineIds.STATUS: "resolved", TimelineIds.UPDATE: "Error rate normal for 30 min"}
    )
    assert (await harness.sender.view_submission(view, values)).text in ("", "{}")
    await harness.settled()
    [row] = await harness.incidents()
    assert row.status == "resolved"
    assert row.resolved_at is not None
    announcement, *thread = harness.slack.messages("#incidents")
    assert [m.thread_ts for m in thread] == [announcement.ts, announcement.ts]
    assert "Monitoring → Resolved — Error rate normal for 30 min" in thread[-1].text
    updates = [c for c in harness.slack.calls_to("chat.update") if c.args["ts"] == announcement.ts]
    assert "Resolved" in json.dumps(updates[-1].args["blocks"])

    invalid = await harness.sender.slash_command("status closed", channel_id=channel)
    assert invalid.json()["text"] == "An incident closes when its post-mortem is approved."
    reopen = await harness.sender.slash_command(
        "status investigating It came back", channel_id=channel
    )
    assert reopen.json()["text"] == "INC-1 is now investigating."
    [row] = await harness.incidents()
    assert row.resolved_at is None


async def test_the_timeline_command_pages_through_entries(harness: Harness) -> None:
    channel = await declared(harness)
    for n in range(20):
        await harness.sender.slash_command(f"note step {n}", channel_id=channel)
    first = (await harness.sender.slash_command("timeline", channel_id=channel)).json()
    text = json.dumps(first["blocks"])
    assert "entries 1\\u201315 of 22" in text or "entries 1–15 of 22" in text
    assert "step 12" in text
    assert "step 13" not in text
    later = next(e for b in first["blocks"] if b["type"] == "actions" for e in b["elements"])
    ephemeral_message = {"type": "message", "ts": "1795000000.000900", "blocks": first["blocks"]}
    response = await harness.sender.block_action(
        later["action_id"], value=later["value"], channel_id=channel, message=ephemeral_message
    )
    assert response.status == 200
    posts = await harness.slack.wait_for(lambda: harness.slack.response_url_posts)
    page2 = posts[-1].body
    assert page2["replace_original"] is True
    assert "step 19" in json.dumps(page2["blocks"])


async def test_the_timeline_by_reference_works_anywhere(harness: Harness) -> None:
    await declared(harness)
    answer = (await harness.sender.slash_command("timeline INC-1", channel_id="C0INCIDENTS")).json()
    assert "Timeline of INC-1" in json.dumps(answer["blocks"])
    missing = (await harness.sender.slash_command("timeline INC-99")).json()
    assert missing["text"] == "There is no INC-99."


async def test_tampering_with_an_entry_breaks_the_chain_at_that_entry(harness: Harness) -> None:
    channel = await declared(harness)
    for n in range(3):
        await harness.sender.slash_command(f"note step {n}", channel_id=channel)
    await harness.noted()
    assert await harness.app.timeline.verify() == []
    async with harness.app.db.session() as session:
        await session.execute(
            update(TimelineEntryRow)
            .where(TimelineEntryRow.seq == 4)
            .values(text="nothing happened")
        )
    [problem] = await harness.app.timeline.verify()
    assert (problem.incident_ref, problem.seq) == ("INC-1", 4)


async def test_a_note_sent_twice_with_one_trigger_is_recorded_once(harness: Harness) -> None:
    """A proxy or a client that re-sends the same slash command (same trigger_id) gets
    the same answer; the note is stored and echoed once, alone or within a batch."""
    from urllib.parse import urlencode

    await harness.declare()
    await harness.settled()
    [incident] = await harness.incidents()
    assert incident.channel_id is not None
    fields = harness.sender.slash_command_fields("note once only", channel_id=incident.channel_id)
    body = urlencode(fields)
    first = await harness.sender.post_raw(body, content_type="application/x-www-form-urlencoded")
    again = await asyncio.gather(
        *(
            harness.sender.post_raw(body, content_type="application/x-www-form-urlencoded")
            for _ in range(3)
        )
    )
    assert first.status == 200
    assert all(r.status == 200 for r in again)
    await harness.settled()
    notes = [e for e in await harness.timeline() if e.kind == "note"]
    assert [n.text for n in notes] == ["once only"]
