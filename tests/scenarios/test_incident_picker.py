"""Issue 23 item 3: the incident picker. A command that needs an incident, typed outside
an incident channel, opens a modal whose external select loads open incidents as the
person types (`block_suggestion`); submitting it runs the command for the chosen
incident as if typed in its channel. All over signed HTTP, against the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.emulator import input_values
from bot.emulator.suggestions import suggest
from bot.slack.ids import PickerIds, TimelineIds
from storage.engine import Database
from storage.models import IncidentRow
from tests.scenarios.test_changes import PM, SOMEONE, pm_harness
from tests.support import Harness

__all__ = ["pm_harness"]  # the fixture, shared with the change scenarios

ELSEWHERE = "C0INCIDENTS"  # the broadcast channel: no incident's own
DECLARED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def declared(harness: Harness) -> IncidentRow:
    await harness.declare()  # "Checkout errors"
    await harness.settled()
    [incident] = await harness.incidents()
    assert incident.channel_id is not None
    return incident


async def open_picker(harness: Harness, text: str, user_id: str = "U0ALICE") -> dict[str, Any]:
    before = len(harness.slack.opened_views(PickerIds.MODAL))
    response = await harness.sender.slash_command(text, channel_id=ELSEWHERE, user_id=user_id)
    assert response.status == 200, response.text
    assert response.text in ("", "{}"), response.text  # nothing recorded yet, nothing said
    views = await harness.slack.wait_for(
        lambda: harness.slack.opened_views(PickerIds.MODAL)[before:]
    )
    return views[-1]


async def pick(
    harness: Harness, view: dict[str, Any], option: dict[str, Any], user_id: str = "U0ALICE"
) -> dict[str, Any]:
    values = input_values(view, {PickerIds.SELECT: option})
    response = await harness.sender.view_submission(view, values, user_id=user_id)
    assert response.status == 200, response.text
    await harness.settled()
    return json.loads(response.text or "{}") if response.text else {}


def shown(answer: dict[str, Any]) -> str:
    """The text of the view the picker was replaced with."""
    assert answer.get("response_action") == "update", answer
    return "\n".join(str((b.get("text") or {}).get("text", "")) for b in answer["view"]["blocks"])


async def seed(db: Database, count: int) -> None:
    """`count` open incidents with channels: INC-n; every seventh about checkout."""
    async with db.session() as session:
        for n in range(1, count + 1):
            title = f"Checkout latency in region {n}" if n % 7 == 0 else f"Search outage {n}"
            if n == 100:
                title = "Payments " + "x" * 190  # longer than an option's 75 characters
            at = DECLARED + timedelta(minutes=n)
            session.add(
                IncidentRow(
                    id=n,
                    declare_key=f"seed:{n}",
                    kind="incident",
                    title=title,
                    nature="n",
                    discovery="monitoring_alert",
                    impact="i",
                    evidence="",
                    severity="sev2",
                    status="resolved" if n == 140 else "investigating",
                    reporter_id="U0DAVE",
                    checklist={},
                    channel_status="created",
                    channel_id=f"C0SEED{n}",
                    channel_name=f"inc-{n}",
                    declared_at=at,
                    updated_at=at,
                )
            )


def numbers(options: list[dict[str, Any]]) -> list[int]:
    return [int(o["value"]) for o in options]


async def test_a_note_outside_an_incident_channel_is_recorded_on_the_picked_incident(
    harness: Harness,
) -> None:
    incident = await declared(harness)
    entries_before = len(await harness.timeline())
    view = await open_picker(harness, "note rolled back checkout to v41")
    assert "note rolled back checkout to v41" in json.dumps(view)  # what was typed, shown
    assert len(await harness.timeline()) == entries_before  # nothing recorded yet
    [option] = await suggest(harness.sender, view, PickerIds.SELECT, "")
    assert option["value"] == str(incident.id)
    # The severity as the policy labels it, not its key.
    assert option["text"]["text"] == f"INC-{incident.id} · SEV1 · Checkout errors"

    answer = await pick(harness, view, option)

    assert f"Noted on INC-{incident.id}" in shown(answer)
    notes = [e for e in await harness.timeline() if e.kind == "note"]
    assert [(n.incident_id, n.actor, n.text) for n in notes] == [
        (incident.id, "U0ALICE", "rolled back checkout to v41")
    ]
    # A retried submission (same view) records nothing twice.
    await pick(harness, view, option)
    assert len([e for e in await harness.timeline() if e.kind == "note"]) == 1


async def test_the_options_follow_the_filter_and_stay_within_slacks_limits(
    harness: Harness,
) -> None:
    await seed(harness.app.db, 150)
    view = await open_picker(harness, "note checking")
    element = view["blocks"][1]["element"]
    assert element["type"] == "external_select"
    assert element["min_query_length"] == 0
    assert "options" not in element

    everything = await suggest(harness.sender, view, PickerIds.SELECT, "")
    assert len(everything) == 100  # Slack's most, of 149 open (INC-140 is resolved)
    assert numbers(everything) == list(range(150, 140, -1)) + list(range(139, 49, -1))
    assert all(len(o["text"]["text"]) <= 75 for o in everything)

    checkout = await suggest(harness.sender, view, PickerIds.SELECT, "checkout")
    assert numbers(checkout) == [n for n in range(147, 0, -7) if n != 140]

    twelve = await suggest(harness.sender, view, PickerIds.SELECT, "12")
    assert numbers(twelve)[0] == 12  # the very number first, then the newest
    # INC-12, the numbers starting 12, and "…region 112" (the words of a title count too)
    assert set(numbers(twelve)) == {12, 112, *range(120, 130)}

    words = await suggest(harness.sender, view, PickerIds.SELECT, "CHECKOUT region 4")
    assert numbers(words) == [147, 84, 49, 42, 14]  # every word in the title (or number)
    assert await suggest(harness.sender, view, PickerIds.SELECT, "100%_") == []


async def test_a_person_not_allowed_is_refused_as_in_the_channel(pm_harness: Harness) -> None:
    incident = await declared(pm_harness)
    view = await open_picker(pm_harness, f"assign pm <@{SOMEONE}>", user_id=SOMEONE)
    [option] = await suggest(pm_harness.sender, view, PickerIds.SELECT, "", user_id=SOMEONE)

    answer = await pick(pm_harness, view, option, user_id=SOMEONE)

    assert incident.channel_id is not None
    in_channel = await pm_harness.sender.slash_command(
        f"assign pm <@{SOMEONE}>", channel_id=incident.channel_id, user_id=SOMEONE
    )
    refusal = str(in_channel.json()["text"])
    assert refusal.startswith("Only the Product Manager can assign incident roles")
    assert shown(answer) == refusal
    refusals = [e for e in await pm_harness.timeline() if e.kind == "refused"]
    assert [(e.actor, e.data["action"]) for e in refusals] == [(SOMEONE, "assign_role")] * 2
    # The Product Manager may: the same picker path assigns.
    view = await open_picker(pm_harness, f"assign pm <@{SOMEONE}>", user_id=PM)
    answer = await pick(pm_harness, view, option, user_id=PM)
    assert "Only" not in shown(answer)


async def test_inside_an_incident_channel_no_picker_opens(harness: Harness) -> None:
    incident = await declared(harness)
    harness.slack.reset_calls()
    assert incident.channel_id is not None
    response = await harness.sender.slash_command("note all quiet", channel_id=incident.channel_id)
    assert f"Noted on INC-{incident.id}" in response.json()["text"]
    named = await harness.sender.slash_command(f"timeline INC-{incident.id}", channel_id=ELSEWHERE)
    assert f"INC-{incident.id}" in named.json()["text"]  # it names its incident: no picker
    await harness.settled()
    assert harness.slack.opened_views(PickerIds.MODAL) == []


async def test_a_command_with_a_form_opens_it_once_the_incident_is_picked(
    harness: Harness,
) -> None:
    incident = await declared(harness)
    view = await open_picker(harness, "status")
    [option] = await suggest(harness.sender, view, PickerIds.SELECT, "checkout")

    assert await pick(harness, view, option) == {}  # the picker closes

    [status] = await harness.slack.wait_for(
        lambda: harness.slack.opened_views(TimelineIds.STATUS_MODAL)
    )
    assert json.loads(status["private_metadata"])["incident_id"] == incident.id
