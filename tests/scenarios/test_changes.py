"""Emergency changes (CHG) in Slack: propose, RACI-guarded approval, verify vs validate."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.emulator import input_values
from bot.slack.ids import TimelineIds
from storage.models import ChangeRow
from tests.support import Harness, start_harness

PM, SOMEONE, REPORTER = "U0BOB", "U0CAROL", "U0ALICE"


@pytest.fixture
async def pm_harness(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"roles:\n  pm:\n    primary: {PM}\n")
    async with start_harness(database_url, FIREWATCH_POLICY_FILE=str(policy)) as harness:
        yield harness


async def propose(harness: Harness) -> tuple[str, dict[str, object]]:
    await harness.declare()
    await harness.settled()
    [incident] = await harness.incidents()
    channel = incident.channel_id
    assert channel is not None
    await harness.sender.slash_command("change", channel_id=channel)
    [view] = await harness.slack.wait_for(
        lambda: harness.slack.opened_views(TimelineIds.CHANGE_MODAL)
    )
    handling = [
        o["value"]
        for b in view["blocks"]
        if b.get("block_id") == TimelineIds.HANDLING
        for o in b["element"]["options"]
    ]
    assert len(handling) == 6  # seed 003's handling checklist
    values = input_values(
        view,
        {
            TimelineIds.SUMMARY: "Roll back checkout to v41",
            TimelineIds.PLAN: "helm rollback checkout 41",
            TimelineIds.ROLLBACK: "helm rollback checkout 42",
            TimelineIds.RISK: "Low: v41 ran for a week",
            TimelineIds.HANDLING: handling[:4],
        },
    )
    assert (await harness.sender.view_submission(view, values)).text in ("", "{}")
    await harness.settled()
    message = next(m for m in harness.slack.messages(channel) if m.text.startswith("CHG-1 for"))
    return channel, {"ts": message.ts, "blocks": message.blocks, "type": "message"}


async def click(
    harness: Harness, channel: str, message: dict[str, object], step: str, user: str
) -> None:
    response = await harness.sender.block_action(
        f"{TimelineIds.CHANGE_STEP}_{step}",
        value=f"1:{step}",
        channel_id=channel,
        message=message,
        user_id=user,
    )
    assert response.status == 200
    await harness.settled()


def notices(harness: Harness, user: str) -> list[str]:
    """What Firewatch told `user` privately: ephemerals, or a DM when not in the channel."""
    return [e.text for e in harness.slack.ephemerals(user=user)] + [
        m.text for m in harness.slack.messages(user)
    ]


async def change_row(harness: Harness) -> ChangeRow:
    async with harness.app.db.session(write=False) as session:
        row = await session.get(ChangeRow, 1)
        assert row is not None
        return row


async def test_a_change_is_posted_with_its_plan_and_handling_checklist(pm_harness: Harness) -> None:
    channel, message = await propose(pm_harness)
    rendered = json.dumps(message["blocks"], ensure_ascii=False)
    assert "Roll back checkout to v41" in rendered
    assert "helm rollback checkout 41" in rendered
    assert rendered.count("☑") == 4
    assert rendered.count("☐") == 2
    assert "Only the Product Manager" in rendered
    row = await change_row(pm_harness)
    assert (row.status, row.proposed_by) == ("proposed", "U0ALICE")
    assert [e.kind for e in await pm_harness.timeline()][-1] == "change"


async def test_only_the_accountable_role_may_approve(pm_harness: Harness) -> None:
    channel, message = await propose(pm_harness)
    await click(pm_harness, channel, message, "approve", SOMEONE)
    assert (await change_row(pm_harness)).status == "proposed"
    [refusal] = notices(pm_harness, SOMEONE)
    assert refusal == (
        f"Only the Product Manager can approve a change; acting Product Manager now: <@{PM}>."
    )
    await click(pm_harness, channel, message, "approve", PM)
    row = await change_row(pm_harness)
    assert row.status == "approved"
    assert row.steps["approved"]["by"] == PM
    updated = [c for c in pm_harness.slack.calls_to("chat.update") if c.args["ts"] == message["ts"]]
    assert "approved" in updated[-1].args["text"]


async def test_verification_and_validation_are_separate_recorded_steps(pm_harness: Harness) -> None:
    channel, message = await propose(pm_harness)
    await click(pm_harness, channel, message, "approve", PM)
    # Issue 20: the steps are the responders' (here the reporter and the PM), not anyone's.
    await click(pm_harness, channel, message, "apply", SOMEONE)
    assert (await change_row(pm_harness)).status == "approved"
    assert notices(pm_harness, SOMEONE)[-1].endswith("may apply a change.")
    await click(pm_harness, channel, message, "apply", REPORTER)
    await click(pm_harness, channel, message, "validate", REPORTER)  # not yet verified
    assert (await change_row(pm_harness)).status == "applied"
    assert "can only be verified" in notices(pm_harness, REPORTER)[-1].lower()
    await click(pm_harness, channel, message, "verify", REPORTER)
    await click(pm_harness, channel, message, "validate", PM)
    row = await change_row(pm_harness)
    assert row.status == "validated"
    assert row.steps["verified"]["by"] == REPORTER
    assert row.steps["validated"]["by"] == PM
    kinds = [e.text for e in await pm_harness.timeline() if e.kind == "change"]
    assert kinds == [
        "CHG-1 proposed: Roll back checkout to v41",
        "CHG-1 approved: Roll back checkout to v41",
        "CHG-1 applied: Roll back checkout to v41",
        "CHG-1 verified: Roll back checkout to v41",
        "CHG-1 validated: Roll back checkout to v41",
    ]


async def test_a_vacant_accountable_role_is_named_in_the_refusal(harness: Harness) -> None:
    channel, message = await propose(harness)
    await click(harness, channel, message, "reject", "U0ALICE")
    assert (
        "acting Product Manager now: nobody (the role is vacant)"
        in (notices(harness, "U0ALICE")[-1])
    )
    assert (await change_row(harness)).status == "proposed"


async def test_when_the_pm_is_away_the_acting_pm_approves(
    database_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"roles:\n  pm:\n    primary: {PM}\n  dl:\n    primary: {SOMEONE}\n")
    async with start_harness(database_url, FIREWATCH_POLICY_FILE=str(policy)) as harness:
        away = await harness.sender.slash_command("away until 3d", user_id=PM)
        assert away.status == 200
        channel, message = await propose(harness)
        await click(harness, channel, message, "approve", PM)  # away: not acting now
        assert (await change_row(harness)).status == "proposed"
        await click(harness, channel, message, "approve", SOMEONE)  # the DL acts as PM
        assert (await change_row(harness)).status == "approved"
