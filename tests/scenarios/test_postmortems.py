"""Resolve → post-mortem → approval by the accountable role → closed, end to end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.clock import FrozenClock
from bot.emulator import input_values
from bot.slack.ids import Action, PmIds
from storage.models import OutboxRow
from storage.postmortem_models import ActionItemRow, PostmortemRow
from tests.support import Harness, start_harness

# In the default RACI the IRT writes the post-mortem and the PM approves it; the owner
# asked is the first IRT role with a person: here the PM. CAROL is the DL.
PM = OWNER = "U0BOB"
OTHER = "U0CAROL"
# A Wednesday: the next weekly meeting (Mondays 10:00 UTC) is 2026-11-30.
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"roles:\n  pm:\n    primary: {PM}\n  dl:\n    primary: {OTHER}\n")
    async with start_harness(
        database_url, clock=FrozenClock(NOW), FIREWATCH_POLICY_FILE=str(policy)
    ) as harness:
        yield harness


def notices(h: Harness, user: str) -> list[str]:
    return [e.text for e in h.slack.ephemerals(user=user)] + [
        m.text for m in h.slack.messages(user)
    ]


async def resolve(h: Harness) -> str:
    await h.declare()
    await h.settled()
    [incident] = await h.incidents()
    channel = incident.channel_id
    assert channel is not None
    await h.sender.slash_command("resolve", channel_id=channel)
    [view] = await h.slack.wait_for(lambda: h.slack.opened_views(PmIds.RESOLVE_MODAL))
    values = input_values(view, {PmIds.SUMMARY: "Rolled back to v41; error rate normal"})
    assert (await h.sender.view_submission(view, values)).text in ("", "{}")
    await h.settled()
    return channel


async def open_form(h: Harness, user: str = OWNER) -> dict[str, Any]:
    before = len(h.slack.opened_views(PmIds.POSTMORTEM_MODAL))
    dm = h.slack.messages(OWNER)[-1]
    response = await h.sender.block_action(
        Action.WRITE_POSTMORTEM,
        value="1",
        user_id=user,
        channel_id=dm.channel,
        message=dm.as_dict(),
    )
    assert response.status == 200
    views = await h.slack.wait_for(lambda: h.slack.opened_views(PmIds.POSTMORTEM_MODAL)[before:])
    return views[-1]


def written(view: dict[str, Any], *, submit: bool) -> dict[str, Any]:
    return input_values(
        view,
        {
            PmIds.ROOT_CAUSE: "A config push disabled the payment provider's retries",
            PmIds.IMPACT: "12% of checkouts failed for 40 minutes",
            PmIds.answer("followup_change"): "yes",
            PmIds.note("followup_change"): "Re-enable retries with a canary",
            PmIds.item(1, "text"): "Add a canary for config pushes",
            PmIds.item(1, "owner"): OWNER,
            PmIds.item(1, "due"): "2026-12-01",
            PmIds.SUBMIT: ["submit"] if submit else [],
        },
    )


async def postmortem(h: Harness) -> PostmortemRow:
    async with h.app.db.session(write=False) as session:
        return (await session.execute(select(PostmortemRow))).scalar_one()


async def test_resolving_asks_the_responsible_role_for_a_postmortem_due_before_the_meeting(
    h: Harness,
) -> None:
    await resolve(h)
    [incident] = await h.incidents()
    assert incident.status == "resolved"
    assert incident.resolved_at == NOW
    row = await postmortem(h)
    assert (row.status, row.owner_id) == ("requested", OWNER)
    assert row.due_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    [dm] = h.slack.messages(OWNER)[-1:]
    assert "Please write the post-mortem of INC-1" in dm.text
    assert Action.WRITE_POSTMORTEM in json.dumps(dm.blocks)
    thread = [m.text for m in h.slack.messages("#incidents")[1:]]
    assert any("Rolled back to v41" in t for t in thread)


async def test_the_form_is_prefilled_with_the_facts_and_saves_drafts(h: Harness) -> None:
    await resolve(h)
    view = await open_form(h)
    facts = json.dumps(view["blocks"][1])
    assert "MTTR* 0m" in facts or "*MTTR* 0m" in facts
    assert "Pages" in facts
    assert "Changes" in facts
    response = await h.sender.view_submission(view, written(view, submit=False), user_id=OWNER)
    assert response.text in ("", "{}")
    row = await postmortem(h)
    assert row.status == "draft"
    assert row.assessments["followup_change"] == {
        "answer": "yes",
        "note": "Re-enable retries with a canary",
    }
    again = await open_form(h)
    blocks = {b.get("block_id"): b for b in again["blocks"]}
    assert blocks[PmIds.ROOT_CAUSE]["element"]["initial_value"].startswith("A config push")


async def test_submitting_needs_root_cause_and_impact(h: Harness) -> None:
    await resolve(h)
    view = await open_form(h)
    values = input_values(view, {PmIds.SUBMIT: ["submit"]})
    body = (await h.sender.view_submission(view, values, user_id=OWNER)).json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {PmIds.ROOT_CAUSE, PmIds.IMPACT}


async def test_approval_by_the_accountable_role_closes_the_incident(h: Harness) -> None:
    channel = await resolve(h)
    view = await open_form(h)
    await h.sender.view_submission(view, written(view, submit=True), user_id=OWNER)
    await h.settled()
    review = next(m for m in h.slack.messages(channel) if "submitted for approval" in m.text)
    assert Action.POSTMORTEM_APPROVE in json.dumps(review.blocks)

    async def click(action: str, user: str) -> None:
        await h.sender.block_action(
            action, value="1", user_id=user, channel_id=channel, message=review.as_dict()
        )
        await h.settled()

    await click(Action.POSTMORTEM_APPROVE, OTHER)
    assert (await postmortem(h)).status == "submitted"
    assert (
        f"Only the Product Manager can review a post-mortem; acting Product Manager now: <@{PM}>."
        in notices(h, OTHER)
    )
    await click(Action.POSTMORTEM_APPROVE, PM)
    row = await postmortem(h)
    assert (row.status, row.decided_by) == ("approved", PM)
    [incident] = await h.incidents()
    assert (incident.status, incident.closed_at) == ("closed", NOW)
    final, notice = h.slack.messages(channel)[-2:]  # the archive notice follows it
    assert final.text == "Final report · INC-1: Checkout errors (closed)"
    assert notice.text == "Archiving this channel in 7 days."
    assert "A config push disabled" in json.dumps(final.blocks)
    kinds = [e.text for e in await h.timeline() if e.kind == "postmortem"]
    assert kinds[-1] == "Post-mortem approved; the incident is closed"
    async with h.app.db.session(write=False) as session:
        archive = (
            await session.execute(
                select(OutboxRow).where(OutboxRow.kind == "incident.archive_channel")
            )
        ).scalar_one()
    assert archive.next_attempt_at == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 7 days later


async def test_requesting_changes_sends_it_back_to_the_owner(h: Harness) -> None:
    channel = await resolve(h)
    view = await open_form(h)
    await h.sender.view_submission(view, written(view, submit=True), user_id=OWNER)
    await h.settled()
    await h.sender.block_action(
        Action.POSTMORTEM_CHANGES, value="1", user_id=PM, channel_id=channel
    )
    await h.settled()
    assert (await postmortem(h)).status == "changes_requested"
    assert any("asked for changes to the post-mortem of INC-1" in t for t in notices(h, OWNER))
    again = await open_form(h)
    await h.sender.view_submission(again, written(again, submit=True), user_id=OWNER)
    assert (await postmortem(h)).status == "submitted"


async def test_action_items_are_listed_and_can_be_marked_done(h: Harness) -> None:
    await resolve(h)
    view = await open_form(h)
    await h.sender.view_submission(view, written(view, submit=False), user_id=OWNER)
    mine = (await h.sender.slash_command("followups", user_id=OWNER)).json()
    text = json.dumps(mine["blocks"])
    assert "Add a canary for config pushes" in text
    assert "2026-12-01" in text
    button = next(b["accessory"] for b in mine["blocks"] if b.get("accessory"))
    await h.sender.block_action(
        Action.FOLLOWUP_DONE, value=button["value"], user_id=OWNER, channel_id="C0INCIDENTS"
    )
    async with h.app.db.session(write=False) as session:
        item = (await session.execute(select(ActionItemRow))).scalar_one()
    assert (item.status, item.done_by) == ("done", OWNER)
    empty = (await h.sender.slash_command("followups", user_id=OWNER)).json()
    assert "No open action items" in json.dumps(empty["blocks"])


async def test_the_export_includes_the_approved_postmortem(h: Harness) -> None:
    from bot.services.export import incident_record, to_markdown

    channel = await resolve(h)
    view = await open_form(h)
    await h.sender.view_submission(view, written(view, submit=True), user_id=OWNER)
    await h.sender.block_action(
        Action.POSTMORTEM_APPROVE, value="1", user_id=PM, channel_id=channel
    )
    incident = await h.app.incidents.get(1)
    record = incident_record(
        incident,
        await h.app.timeline.entries(1),
        await h.app.changes.for_incident(1),
        await h.app.postmortems.get_for_incident(1),
    )
    md = to_markdown(record)
    assert "## Post-mortem" in md
    assert "A config push disabled the payment provider's retries" in md
    assert "- [ ] Add a canary for config pushes (U0BOB, due 2026-12-01)" in md
    assert f"Approved by {PM}." in md
