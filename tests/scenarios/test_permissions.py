"""Issue 20: who may do what is checked on the server from stored state; a refusal says
who may, ephemerally, and is recorded on the incident's timeline."""

from __future__ import annotations

from tests.scenarios.test_changes import (
    PM,
    SOMEONE,
    change_row,
    click,
    notices,
    pm_harness,
    propose,
)
from tests.support import Harness

__all__ = ["pm_harness"]  # the fixture, shared with the change scenarios

CAROL = SOMEONE  # not rostered as the Product Manager


async def assign(harness: Harness, channel: str, role: str, person: str, by: str) -> str:
    response = await harness.sender.slash_command(
        f"assign {role} <@{person}>", channel_id=channel, user_id=by
    )
    await harness.settled()
    return str(response.json().get("text", ""))


async def test_assigning_herself_pm_is_refused_and_recorded(pm_harness: Harness) -> None:
    channel, message = await propose(pm_harness)
    answer = await assign(pm_harness, channel, "pm", CAROL, by=CAROL)
    assert answer == (
        f"Only the Product Manager can assign incident roles; acting Product Manager now: <@{PM}>."
    )
    refusals = [e for e in await pm_harness.timeline() if e.kind == "refused"]
    assert [(e.actor, e.data["action"]) for e in refusals] == [(CAROL, "assign_role")]
    assert f"<@{CAROL}> tried to assign role" in refusals[0].text


async def test_an_assigned_pm_still_may_not_approve(pm_harness: Harness) -> None:
    channel, message = await propose(pm_harness)
    # The rostered PM assigns Carol as pm for this incident: she may respond, not approve.
    assert "Only" not in await assign(pm_harness, channel, "pm", CAROL, by=PM)
    await click(pm_harness, channel, message, "approve", CAROL)
    assert (await change_row(pm_harness)).status == "proposed"
    assert (
        f"Only the Product Manager can approve a change; acting Product Manager now: <@{PM}>."
    ) in notices(pm_harness, CAROL)
    refusals = [e for e in await pm_harness.timeline() if e.kind == "refused"]
    assert [(e.actor, e.data["action"]) for e in refusals] == [(CAROL, "approve_change")]
    metrics = pm_harness.app.metrics.exposition().decode()
    assert 'firewatch_permission_refusals_total{action="approve_change"} 1.0' in metrics
    await click(pm_harness, channel, message, "approve", PM)
    assert (await change_row(pm_harness)).status == "approved"


async def test_a_user_of_another_organisation_may_not_act(pm_harness: Harness) -> None:
    channel, _message = await propose(pm_harness)  # declared by U0ALICE
    home_team, pm_harness.sender.team_id = pm_harness.sender.team_id, "T0OTHERORG"
    other = await pm_harness.sender.slash_command(
        "status monitoring", channel_id=channel, user_id="U0ALICE"
    )
    pm_harness.sender.team_id = home_team
    assert other.json()["text"].startswith("Only the Incident Response Team")
    [incident] = await pm_harness.incidents()
    assert incident.status != "monitoring"
    refusals = [e for e in await pm_harness.timeline() if e.kind == "refused"]
    assert [(e.actor, e.data["kind"]) for e in refusals] == [("U0ALICE", "external")]
    home = await pm_harness.sender.slash_command(
        "status monitoring", channel_id=channel, user_id="U0ALICE"
    )
    assert "Only" not in home.json().get("text", "")
