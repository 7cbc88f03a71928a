"""Issue 21 items 1-2 and issue 19 (the capture form): a capture is stored before Slack's
answer, an event is handled once and never dropped, a capture that cannot be completed
is said on the timeline and to the person, and the capture form opens for any message.

Over HTTP with signed requests, against the emulator; the database's refusal is injected
at the database driver (a statement that fails), not in Firewatch's code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, func, select, update

from bot.domain.clock import FrozenClock
from bot.emulator import input_values
from bot.slack import messages
from bot.slack.ids import TimelineIds
from storage.models import (
    CaptureRequestRow,
    IncidentRow,
    OutboxRow,
    SlackEventRow,
    TimelineEntryRow,
)
from tests.scenarios.test_timeline import declared
from tests.support import Harness, start_harness


def pushpin(channel: str, ts: str, user: str = "U0BOB") -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": "U0CAROL",
        "event_ts": "1795000001.000100",
    }


def told(harness: Harness, user: str) -> list[str]:
    """What `user` was told privately: ephemerally, or by DM where that failed."""
    return [e.text for e in harness.slack.ephemerals(user=user)] + [
        m.text for m in harness.slack.messages(user)
    ]


async def captured(harness: Harness) -> list[Any]:
    return [e for e in await harness.timeline() if e.kind == "captured"]


async def count(harness: Harness, table: type[Any]) -> int:
    async with harness.app.db.session(write=False) as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


@contextmanager
def database_refuses(harness: Harness, table: str, *, times: int = 1) -> Iterator[list[str]]:
    """The next `times` statements that insert into `table` fail (as a database that went
    away would); yields the statements refused."""
    refused: list[str] = []

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        inserting = statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()}")
        if inserting and len(refused) < times:
            refused.append(statement)
            raise ConnectionResetError("the database went away")

    engine = harness.app.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield refused
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


async def test_a_reaction_whose_handling_failed_is_captured_on_slacks_retry(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    posted = harness.slack.add_message(channel, "rolled back to v41", user="U0CAROL")
    with database_refuses(harness, "capture_requests") as refused:
        failed = await harness.sender.event(pushpin(channel, posted.ts), event_id="EvFAIL")
    assert refused, "the database was not asked"
    assert failed.status >= 400  # so Slack retries it
    assert await count(harness, SlackEventRow) == 0  # the failed delivery left no mark

    retry = await harness.sender.event(pushpin(channel, posted.ts), event_id="EvFAIL", retry_num=1)
    assert retry.status == 200
    await harness.settled()
    [entry] = await captured(harness)
    assert (entry.text, entry.actor, entry.data["author"]) == (
        "rolled back to v41",
        "U0BOB",
        "U0CAROL",
    )

    again = await harness.sender.event(pushpin(channel, posted.ts), event_id="EvFAIL", retry_num=2)
    assert again.status == 200
    await harness.settled()
    assert len(await captured(harness)) == 1  # a duplicate after success is dropped
    assert await count(harness, CaptureRequestRow) == 0


async def test_a_duplicate_delivery_after_success_stores_nothing(harness: Harness) -> None:
    channel = await declared(harness)
    posted = harness.slack.add_message(channel, "p99 is back", user="U0CAROL")
    await harness.sender.event(pushpin(channel, posted.ts), event_id="EvONCE")
    await harness.sender.event(pushpin(channel, posted.ts), event_id="EvONCE", retry_num=1)
    assert await count(harness, CaptureRequestRow) <= 1
    await harness.settled()
    assert len(await captured(harness)) == 1
    assert await count(harness, SlackEventRow) == 1
    assert len(harness.slack.calls_to("conversations.history")) == 1  # fetched once


async def test_slack_failing_to_give_the_message_is_retried(harness: Harness) -> None:
    channel = await declared(harness)
    harness.app.capturer.backoff_base = 0.01  # keep the back-off short; Retry-After is honoured
    posted = harness.slack.add_message(channel, "deploy paused", user="U0CAROL")
    harness.slack.fail("conversations.history", status=500, times=2)
    response = await harness.sender.event(pushpin(channel, posted.ts), event_id="EvRETRY")
    assert response.status == 200  # stored: the answer does not wait for Slack
    await harness.settled()
    [entry] = await captured(harness)
    assert entry.text == "deploy paused"
    assert len(harness.slack.calls_to("conversations.history")) == 3


async def test_a_deleted_message_is_said_on_the_timeline_and_to_the_person(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    response = await harness.sender.event(pushpin(channel, "1795000000.999999"), event_id="EvGONE")
    assert response.status == 200
    await harness.settled()
    assert await captured(harness) == []
    said = (await harness.timeline())[-1]
    assert said.kind == "system"
    assert "could not be added: the message was deleted" in said.text
    assert said.data["failed"] == "deleted"
    assert told(harness, "U0BOB") == [messages.CAPTURE_DELETED.format(ref="INC-1")]
    assert any("the message was deleted" in m.text for m in harness.slack.messages(channel))


async def test_a_conversation_firewatch_cannot_read_is_said(harness: Harness) -> None:
    channel = await declared(harness)
    posted = harness.slack.add_message(channel, "secret", user="U0CAROL")
    harness.slack.fail("conversations.history", error="not_in_channel")
    await harness.sender.event(pushpin(channel, posted.ts), event_id="EvDENIED")
    await harness.settled()
    assert await captured(harness) == []
    said = (await harness.timeline())[-1]
    assert said.data["failed"] == "no_access"
    assert told(harness, "U0BOB") == [messages.CAPTURE_NO_ACCESS.format(ref="INC-1")]


async def test_slack_failing_every_attempt_is_said_at_last(harness: Harness) -> None:
    channel = await declared(harness)
    harness.app.capturer.backoff_base = 0.001
    harness.app.capturer.max_attempts = 3
    posted = harness.slack.add_message(channel, "flapping", user="U0CAROL")
    harness.slack.fail("conversations.history", status=503, times=10)
    await harness.sender.event(pushpin(channel, posted.ts), event_id="EvDOWN")
    await harness.settled()
    assert await captured(harness) == []
    assert (await harness.timeline())[-1].data["failed"] == "gave_up"
    assert told(harness, "U0BOB") == [messages.CAPTURE_GAVE_UP.format(ref="INC-1")]


async def test_a_reaction_removed_before_its_capture_was_recorded_cancels_it(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    harness.app.capturer.backoff_base = 60.0  # the capture waits, as after a failed fetch
    posted = harness.slack.add_message(channel, "never mind", user="U0CAROL")
    harness.slack.fail("conversations.history", status=500)
    await harness.sender.event(pushpin(channel, posted.ts), event_id="EvADD")
    await harness.slack.wait_for(lambda: harness.slack.calls_to("conversations.history"))
    removed = {**pushpin(channel, posted.ts), "type": "reaction_removed"}
    await harness.sender.event(removed, event_id="EvREMOVE")
    await harness.captured()  # the waiting capture is not waited for: it is cancelled
    assert await count(harness, CaptureRequestRow) == 0
    assert await captured(harness) == []
    assert [e.kind for e in await harness.timeline()] == ["declared", "channel"]


async def test_a_long_cjk_message_is_captured_through_the_form(harness: Harness) -> None:
    """Issue 19: 600 CJK characters escape to 3,600 in JSON (\\uXXXX), over the 3,000
    characters Slack allows in private_metadata; the form carries only a key."""
    await declared(harness)
    text = ("障害が発生しました。決済サービスの応答が遅延しています。" * 24)[:600]
    message = {"type": "message", "user": "U0BOB", "text": text, "ts": "1795000000.000300"}
    response = await harness.sender.message_shortcut(
        TimelineIds.ADD_TO_TIMELINE, message=message, channel_id="C0INCIDENTS"
    )
    assert response.status == 200
    [view] = await harness.slack.wait_for(
        lambda: harness.slack.opened_views(TimelineIds.CAPTURE_MODAL)
    )
    [opened] = [
        c.args["view"]
        for c in harness.slack.calls_to("views.open")
        if c.args["view"]["callback_id"] == TimelineIds.CAPTURE_MODAL
    ]
    metadata = opened["private_metadata"]
    assert len(metadata) <= 3000
    assert text[:20] not in metadata
    assert "\\u" not in metadata
    assert len(json.dumps(text)) > 3000  # what the form carried before
    submitted = await harness.sender.view_submission(
        view, input_values(view, {TimelineIds.INCIDENT: "1"})
    )
    assert submitted.status == 200
    assert submitted.text in ("", "{}")  # the form closes
    await harness.settled()
    [entry] = await captured(harness)
    assert (entry.text, entry.actor, entry.data["channel"]) == (text, "U0ALICE", "C0INCIDENTS")
    assert [e.text for e in harness.slack.ephemerals(user="U0ALICE")] == [
        messages.CAPTURED.format(ref="INC-1")
    ]


async def test_a_form_whose_request_is_gone_says_so(harness: Harness) -> None:
    await declared(harness)
    message = {"type": "message", "user": "U0BOB", "text": "hello", "ts": "1795000000.000400"}
    await harness.sender.message_shortcut(
        TimelineIds.ADD_TO_TIMELINE, message=message, channel_id="C0INCIDENTS"
    )
    [view] = await harness.slack.wait_for(
        lambda: harness.slack.opened_views(TimelineIds.CAPTURE_MODAL)
    )
    view = {**view, "private_metadata": json.dumps({"capture": "shortcut:unknown"})}
    answer = await harness.sender.view_submission(
        view, input_values(view, {TimelineIds.INCIDENT: "1"})
    )
    assert answer.json()["response_action"] == "errors"
    assert answer.json()["errors"] == {TimelineIds.INCIDENT: messages.CAPTURE_FORM_EXPIRED}
    await harness.settled()
    assert await captured(harness) == []


async def test_an_incident_gone_before_the_capture_was_recorded_is_said(
    harness: Harness,
) -> None:
    channel = await declared(harness)
    posted = harness.slack.add_message(channel, "late", user="U0CAROL")
    answer = asyncio.Event()
    harness.slack.fail("conversations.history", release=answer)  # answers once purged
    await harness.sender.event(pushpin(channel, posted.ts), event_id="EvLATE")
    for _ in range(200):  # until the worker has claimed it (it then asks Slack)
        async with harness.app.db.session(write=False) as session:
            claimed = (await session.execute(select(CaptureRequestRow.claimed_until))).scalar()
        if claimed is not None:
            break
        await asyncio.sleep(0.01)
    async with harness.app.db.session() as session:  # purged meanwhile
        await session.execute(delete(TimelineEntryRow))
        await session.execute(update(OutboxRow).values(incident_id=None, status="cancelled"))
        await session.execute(delete(IncidentRow))
    answer.set()
    await harness.settled()
    assert await harness.timeline() == []
    assert told(harness, "U0BOB") == [messages.CAPTURE_INCIDENT_GONE.format(ref="INC-1")]


async def test_a_reply_in_a_thread_is_captured_as_itself(harness: Harness) -> None:
    channel = await declared(harness)
    parent = harness.slack.add_message(channel, "is checkout down?", user="U0CAROL")
    reply = harness.slack.add_message(
        channel, "yes, since 10:02", user="U0DAVE", thread_ts=parent.ts
    )
    await harness.sender.event(pushpin(channel, reply.ts), event_id="EvREPLY")
    await harness.settled()
    [entry] = await captured(harness)
    assert (entry.text, entry.data["author"], entry.data["ts"]) == (
        "yes, since 10:02",
        "U0DAVE",
        reply.ts,
    )


async def test_a_capture_stuck_for_minutes_makes_health_degraded(database_url: str) -> None:
    clock = FrozenClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    async with start_harness(database_url, clock=clock) as harness:
        channel = await declared(harness)
        harness.app.capturer.backoff_base = 60.0  # Slack keeps failing: it waits a minute
        posted = harness.slack.add_message(channel, "flapping", user="U0CAROL")
        harness.slack.fail("conversations.history", status=503, times=100)
        await harness.sender.event(pushpin(channel, posted.ts), event_id="EvSTUCK")
        await harness.slack.wait_for(lambda: harness.slack.calls_to("conversations.history"))
        _, report = await harness.app.checks.report()
        assert report["components"]["captures"] == {
            "status": "ok",
            "pending": 1,
            "oldest_pending_age_seconds": 0.0,
        }
        clock.advance(timedelta(minutes=6))
        _, report = await harness.app.checks.report()
        assert report["status"] == "degraded"
        assert report["components"]["captures"]["status"] == "degraded"
        assert report["components"]["captures"]["oldest_pending_age_seconds"] == 360.0
