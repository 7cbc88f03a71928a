"""The App Home over signed HTTP → Firewatch → the Slack emulator, with a frozen clock.

The emulator enforces Slack's limits on a published view (100 blocks); what a person sees
is read back from the Home the emulator stores for them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.clock import FrozenClock
from bot.emulator import SlackEmulator, input_values
from bot.services.home import HomeService
from bot.slack.ids import Action, Block, PmIds
from storage.models import IncidentRow
from storage.paging_models import PageRow
from tests.support import REPORT, TOKEN, Harness, start_harness

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ROSTER = """\
roles:
  pm:  {title: Product Manager,  primary: U0ALICE, backups: [U0BOB]}
  dl:  {title: Development Lead, primary: U0CAROL, backups: [U0DAVE]}
  om:  {title: Operations Lead,  primary: U0ERIN, backups: [U0FRANK]}
"""
DEBOUNCE = timedelta(seconds=HomeService.__init__.__kwdefaults__["debounce"] + 1)  # type: ignore[index]


@pytest.fixture
async def harness(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    slack = SlackEmulator(bot_token=TOKEN)
    await slack.start()
    slack.add_user("U0ERIN", "erin", "erin@example.com")
    slack.add_user("U0FRANK", "frank", "frank@example.com")
    policy = tmp_path / "policy.yaml"
    policy.write_text(ROSTER)
    clock = FrozenClock(START)
    try:
        async with start_harness(
            database_url,
            clock=clock,
            emulator=slack,
            FIREWATCH_POLICY_FILE=str(policy),
            FIREWATCH_PAGING_TICK_SECONDS=3600,
        ) as h:
            h.app.worker.not_ready_delay = 0.0
            yield h
    finally:
        await slack.stop()


async def open_home(harness: Harness, user: str) -> None:
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
    response = await harness.sender.event({**event, "event_ts": "1.000001"})
    assert response.status == 200


async def home_of(harness: Harness, user: str) -> dict[str, Any]:
    """Open the Home, let the debounce pass and the outbox settle: what `user` sees."""
    await open_home(harness, user)
    harness.app.clock.advance(DEBOUNCE)  # type: ignore[attr-defined]
    await harness.settled()
    view = harness.slack.home_view(user)
    assert view is not None
    return view


def published_home(harness: Harness, user: str) -> dict[str, Any]:
    """The Home last published for `user`, as it stands (no opening, no waiting)."""
    view = harness.slack.home_view(user)
    assert view is not None
    return view


def buttons(view: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    found = []
    for block in view["blocks"]:
        elements = block.get("elements", []) + (
            [block["accessory"]] if "accessory" in block else []
        )
        found += [e for e in elements if e.get("action_id") == action_id]
    return found


async def pages_of(harness: Harness, user: str) -> list[PageRow]:
    async with harness.app.db.session(write=False) as session:
        stmt = select(PageRow).where(PageRow.person == user)
        return list((await session.execute(stmt)).scalars())


async def click(harness: Harness, user: str, view: dict[str, Any], action: str, value: str) -> None:
    response = await harness.sender.block_action(action, value=value, user_id=user, view=view)
    assert response.status == 200
    await harness.settled()


async def test_a_paged_pm_acknowledges_from_home_and_marks_themselves_away(
    harness: Harness,
) -> None:
    await harness.declare()
    await harness.settled()
    [page] = await pages_of(harness, "U0ALICE")
    view = await home_of(harness, "U0ALICE")
    [ack] = buttons(view, Action.PAGE_ACKNOWLEDGE)
    assert ack["value"] == str(page.id)
    text = json.dumps(view)
    assert "Product Manager" in text
    assert "INC-1" in text
    assert "<!date^" in text
    assert "{date_short_pretty} {time}" in text
    [declare] = buttons(view, Action.HOME_DECLARE)
    assert declare["style"] == "primary"

    await click(harness, "U0ALICE", view, Action.PAGE_ACKNOWLEDGE, ack["value"])
    [page] = await pages_of(harness, "U0ALICE")
    assert page.status == "acknowledged"
    # Acknowledging queued the refresh itself: the button is gone without reopening.
    view = published_home(harness, "U0ALICE")
    assert buttons(view, Action.PAGE_ACKNOWLEDGE) == []

    [away] = buttons(view, Action.HOME_AWAY)
    assert away["value"] == "away"
    await click(harness, "U0ALICE", view, Action.HOME_AWAY, "away")
    view = published_home(harness, "U0ALICE")
    [back] = buttons(view, Action.HOME_AWAY)
    assert back["value"] == "back"
    assert "back" in back["text"]["text"].lower()
    assert "<@U0BOB> acting now" in json.dumps(view)  # the backup acts while Alice is away

    await click(harness, "U0ALICE", view, Action.HOME_AWAY, "back")
    view = published_home(harness, "U0ALICE")
    assert [b["value"] for b in buttons(view, Action.HOME_AWAY)] == ["away"]


async def test_the_homes_acknowledge_button_keeps_its_permission_check(harness: Harness) -> None:
    await harness.declare()
    await harness.settled()
    view = await home_of(harness, "U0ALICE")
    [ack] = buttons(view, Action.PAGE_ACKNOWLEDGE)
    harness.slack.add_user("U0MALLORY", "mallory", "mallory@example.com")
    await click(harness, "U0MALLORY", view, Action.PAGE_ACKNOWLEDGE, ack["value"])
    [page] = await pages_of(harness, "U0ALICE")
    assert page.status == "waiting"
    assert buttons(harness.slack.home_view("U0ALICE") or {}, Action.PAGE_ACKNOWLEDGE)


async def test_opening_the_home_twice_quickly_publishes_it_once(harness: Harness) -> None:
    await open_home(harness, "U0BOB")
    await open_home(harness, "U0BOB")
    await open_home(harness, "U0DAVE")
    harness.app.clock.advance(DEBOUNCE)  # type: ignore[attr-defined]
    await harness.settled()
    published = [str(c.args.get("user_id")) for c in harness.slack.calls_to("views.publish")]
    assert sorted(published) == ["U0BOB", "U0DAVE"]


async def test_the_home_fits_slacks_100_blocks_at_500_open_incidents(harness: Harness) -> None:
    async with harness.app.db.session() as session:
        for n in range(500):
            session.add(incident_row(n))
    view = await home_of(harness, "U0BOB")
    assert len(view["blocks"]) <= 100
    texts = [
        e.get("text", "") for b in view["blocks"] if b["type"] == "context" for e in b["elements"]
    ]
    shown = sum(1 for b in view["blocks"] if b["type"] == "section" and "declared" in json.dumps(b))
    assert shown > 50
    assert f"…and {500 - shown} more: `/incident list`" in texts
    # The most severe first: every SEV1 is shown before any SEV2.
    severities = [
        "SEV1" if "SEV1" in json.dumps(b) else "SEV2"
        for b in view["blocks"]
        if b["type"] == "section" and "declared" in json.dumps(b)
    ]
    assert severities == sorted(severities)


async def test_resolving_puts_the_postmortem_owed_on_the_owners_home(harness: Harness) -> None:
    await harness.declare()
    await harness.settled()
    [incident] = await harness.incidents()
    channel = incident.channel_id
    assert channel is not None
    await harness.sender.slash_command("resolve", channel_id=channel)
    [form] = await harness.slack.wait_for(lambda: harness.slack.opened_views(PmIds.RESOLVE_MODAL))
    values = input_values(form, {PmIds.SUMMARY: "Rolled back"})
    await harness.sender.view_submission(form, values)
    await harness.settled()
    # The request refreshed the owner's Home (the PM): no reopening needed.
    view = published_home(harness, "U0ALICE")
    [write] = buttons(view, Action.WRITE_POSTMORTEM)
    assert write["value"] == str(incident.id)
    assert "No open incidents." in json.dumps(view)
    await click(harness, "U0ALICE", view, Action.WRITE_POSTMORTEM, write["value"])
    await harness.slack.wait_for(lambda: harness.slack.opened_views(PmIds.POSTMORTEM_MODAL))


async def test_titles_on_the_home_stay_text(harness: Harness) -> None:
    await harness.declare({**REPORT, Block.TITLE: "<!channel> & <@U0BOB> *bold*"})
    await harness.settled()
    text = json.dumps(await home_of(harness, "U0ALICE"))
    assert "&lt;!channel&gt; &amp; &lt;@U0BOB&gt;" in text
    assert "<!channel>" not in text


def incident_row(n: int) -> IncidentRow:
    at = START - timedelta(minutes=n)
    return IncidentRow(
        declare_key=f"bulk-{n}",
        kind="incident",
        title=f"Bulk incident {n}",
        nature="n",
        discovery="monitoring",
        impact="i",
        severity="sev1" if n % 5 == 0 else "sev2",
        status="investigating",
        reporter_id="U0ERIN",
        checklist={},
        channel_status="created",
        channel_id=f"C{n:08d}",
        declared_at=at,
        response_deadline=at + timedelta(minutes=30),
        updated_at=at,
    )
