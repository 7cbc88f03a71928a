"""The status page's facts, stored with the incident's own: what a declaration, a status
change, a resolution, maintenance and a state set by hand make the public page say."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.clock import FrozenClock
from bot.domain.incident import Status
from bot.domain.policy import Policy
from bot.domain.status_page import ComponentState
from bot.policy.loader import load_default_policy, merge_policy_data
from bot.services.incidents import IncidentService
from bot.services.notes import NoteIntake
from bot.services.status_page import StatusPageService, UnknownComponents
from bot.services.timeline import TimelineService
from storage.engine import Database
from tests.support import checkout_report

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SECRET_NOTE = "db-primary-7 password rotated by Alice in #inc-42-checkout"

COMPONENTS = [
    {"key": "ssoe", "name": "SSOe login", "group": "Login"},
    {"key": "sis", "name": "SiS login", "group": "Login"},
    {"key": "api", "name": "Public API"},
]


def policy() -> Policy:
    base = load_default_policy().model_dump(mode="json", exclude_none=True)
    return Policy.model_validate(merge_policy_data(base, {"components": COMPONENTS}))


class World:
    def __init__(self, db: Database) -> None:
        self.clock = FrozenClock(START)
        self.policy = policy()
        self.incidents = IncidentService(
            db, lambda: self.policy, self.clock, broadcast_channel=None
        )
        self.timeline = TimelineService(db, lambda: self.policy, self.clock, broadcast_channel=None)
        self.notes = NoteIntake(db, self.clock)
        self.page = StatusPageService(db, lambda: self.policy, self.clock, zone=ZoneInfo("UTC"))

    async def declare(self, key: str, components: tuple[str, ...], state: str = "") -> int:
        report = replace(checkout_report(), components=components, component_state=state)
        outcome = await self.incidents.declare(report, reporter_id="U0ALICE", declare_key=key)
        return outcome.incident.id


@pytest.fixture
def world(db: Database) -> World:
    return World(db)


async def test_a_declaration_marks_its_components_and_nothing_internal_is_public(
    world: World,
) -> None:
    incident = await world.declare("k1", ("sis",), "partial_outage")
    await world.notes.accept(incident, actor="U0ALICE", text=SECRET_NOTE, source_key="n1")
    await world.notes.run_once()
    page = await world.page.public_page()
    document = page.document
    assert document["components"]["sis"]["state"] == "partial_outage"
    assert document["components"]["ssoe"]["state"] == "operational"
    assert document["overall"]["state"] == "partial_outage"
    [shown] = document["incidents"]
    assert shown["id"] == f"INC-{incident}"
    assert shown["name"] == "Partial outage: SiS login"
    everything = json.dumps(document) + json.dumps(list(page.past_incidents))
    for internal in ("Checkout", SECRET_NOTE, "U0ALICE", "#inc"):
        assert internal not in everything


async def test_an_incident_without_components_stays_off_the_page(world: World) -> None:
    await world.declare("k1", ())
    page = await world.page.public_page()
    assert page.document["incidents"] == []
    assert page.document["overall"]["state"] == "operational"


async def test_status_changes_publish_public_updates_and_move_components(world: World) -> None:
    incident = await world.declare("k1", ("ssoe",))
    world.clock.advance(timedelta(minutes=5))
    await world.timeline.change_status(
        incident,
        Status.IDENTIFIED,
        actor="U0BOB",
        update="internal: the LB pool ran dry",
        public_update="We found the cause of the login failures.",
        components={"ssoe": ComponentState.DEGRADED_PERFORMANCE},
    )
    document = (await world.page.public_page()).document
    [shown] = document["incidents"]
    assert shown["status"] == "identified"
    assert [u["text"] for u in shown["updates"]] == ["We found the cause of the login failures."]
    assert "LB pool" not in json.dumps(document)
    assert document["components"]["ssoe"]["state"] == "degraded_performance"
    entries = [e.text for e in await world.timeline.entries(incident)]
    assert "Status page: SSOe login: major outage" in entries
    assert "Status page: SSOe login: degraded performance" in entries
    assert any(t.startswith("Public update on the status page: We found") for t in entries)


async def test_resolving_publishes_a_resolution_and_lists_it_as_past(world: World) -> None:
    incident = await world.declare("k1", ("ssoe", "sis"))
    world.clock.advance(timedelta(hours=1))
    await world.timeline.change_status(incident, Status.RESOLVED, actor="U0BOB", update="fixed")
    page = await world.page.public_page()
    assert page.document["incidents"] == []
    assert page.document["overall"]["state"] == "operational"
    [past] = page.past_incidents
    assert past["id"] == f"INC-{incident}"
    assert past["status"] == "resolved"
    assert past["resolved_at"] == "2026-11-02T10:00:00Z"
    assert [u["text"] for u in past["updates"]] == ["This incident has been resolved."]
    # The history shows today's outage on both, not on the API.
    assert page.histories["ssoe"].days[-1].state is ComponentState.MAJOR_OUTAGE
    assert page.histories["api"].days[-1].state is ComponentState.OPERATIONAL
    world.clock.advance(timedelta(days=8))
    assert (await world.page.public_page()).past_incidents == []


async def test_maintenance_and_states_set_by_hand(world: World) -> None:
    starts = START + timedelta(hours=1)
    maintenance = await world.page.schedule_maintenance(
        "Database upgrade", ["api"], starts, starts + timedelta(hours=2), actor="U0ERIN"
    )
    document = (await world.page.public_page()).document
    assert document["components"]["api"]["state"] == "operational"
    assert document["maintenances"][0]["in_progress"] is False
    world.clock.advance(timedelta(hours=1, minutes=30))
    document = (await world.page.public_page()).document
    assert document["components"]["api"]["state"] == "under_maintenance"
    await world.page.set_state("api", ComponentState.MAJOR_OUTAGE, actor="U0ERIN")
    document = (await world.page.public_page()).document
    assert document["components"]["api"] == {
        **document["components"]["api"],
        "state": "major_outage",
        "set_by_hand": True,
    }
    await world.page.set_state("api", None, actor="U0ERIN")
    assert await world.page.cancel_maintenance(maintenance)
    document = (await world.page.public_page()).document
    assert document["components"]["api"]["state"] == "operational"
    assert document["maintenances"] == []


async def test_unknown_components_and_bad_maintenance_are_refused(world: World) -> None:
    with pytest.raises(UnknownComponents, match="no component nope; known: ssoe, sis, api"):
        await world.page.set_state("nope", ComponentState.MAJOR_OUTAGE, actor="U0ERIN")
    with pytest.raises(ValueError, match="end must be after"):
        await world.page.schedule_maintenance("x", ["api"], START, START, actor="U0ERIN")
    # A reload that dropped a component the form offered: the declaration keeps the rest.
    incident = await world.declare("k1", ("gone", "api"))
    assert await world.page.effects_of(incident) == {"api": ComponentState.MAJOR_OUTAGE}


async def test_the_settled_history_follows_changes_to_ended_incidents(world: World) -> None:
    """Incidents that ended before today are read once a day, unless one changes: the
    history must still follow a change of one of them, and a reopening."""
    first = await world.declare("k1", ("api",))
    world.clock.advance(timedelta(hours=2))
    await world.timeline.change_status(first, Status.RESOLVED, actor="U0BOB", update="ok")
    world.clock.advance(timedelta(days=2))  # the outage is two days back: settled
    page = await world.page.public_page()
    assert page.histories["api"].days[-3].state is ComponentState.MAJOR_OUTAGE
    assert page.histories["sis"].days[-3].state is ComponentState.OPERATIONAL
    # Its declared effects corrected after the fact: the history follows.
    await world.page.set_effects(first, {"sis": ComponentState.PARTIAL_OUTAGE}, actor="U0BOB")
    page = await world.page.public_page()
    assert page.histories["api"].days[-3].state is ComponentState.OPERATIONAL
    assert page.histories["sis"].days[-3].state is ComponentState.PARTIAL_OUTAGE
    # Reopened, it lasts until now: today is down too.
    await world.timeline.change_status(first, Status.INVESTIGATING, actor="U0BOB")
    page = await world.page.public_page()
    assert page.histories["sis"].days[-1].state is ComponentState.PARTIAL_OUTAGE
    # Resolved today, it is still there tomorrow (settled at midnight).
    await world.timeline.change_status(first, Status.RESOLVED, actor="U0BOB", update="ok")
    world.clock.advance(timedelta(days=1))
    page = await world.page.public_page()
    assert page.histories["sis"].days[-2].state is ComponentState.PARTIAL_OUTAGE
    assert page.histories["sis"].days[-1].state is ComponentState.OPERATIONAL
