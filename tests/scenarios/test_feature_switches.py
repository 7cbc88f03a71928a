"""Feature switches in the policy, and the policy file re-read while running."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support import REPORT, start_harness


async def test_channel_creation_and_reaction_capture_can_be_switched_off(
    database_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("features:\n  create_channels: false\n  capture_reactions: false\n")
    async with start_harness(database_url, FIREWATCH_POLICY_FILE=str(policy)) as h:
        await h.declare()
        await h.settled()
        assert h.slack.calls_to("conversations.create") == []
        announcement, report = h.slack.messages("#incidents")
        assert report.thread_ts == announcement.ts  # the report went to the thread
        posted = h.slack.add_message("C0INCIDENTS", "look at this", user="U0BOB")
        event = {
            "type": "reaction_added",
            "user": "U0BOB",
            "reaction": "pushpin",
            "item": {"type": "message", "channel": "C0INCIDENTS", "ts": posted.ts},
        }
        assert (await h.sender.event(event, event_id="EvOff")).status == 200
        assert [e.kind for e in await h.timeline()] == ["declared"]


async def test_a_changed_policy_file_takes_effect_without_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("features:\n  create_channels: false\n")
    async with start_harness(database_url, FIREWATCH_POLICY_FILE=str(policy)) as h:
        await h.declare()
        await h.settled()
        assert h.slack.calls_to("conversations.create") == []

        policy.write_text("features:\n  create_channels: true\n")
        stat = policy.stat()
        os.utime(policy, (stat.st_atime, stat.st_mtime + 5))  # a visibly newer file
        await h.app.paging.tick()  # the periodic tick notices the change
        await h.declare({**REPORT, "title": "Second incident"})
        await h.settled()
        assert [c.args["name"] for c in h.slack.calls_to("conversations.create")] == [
            "inc-2-second-incident"
        ]
