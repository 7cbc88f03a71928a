"""The status page's rules (issue 24): component states, the `/status.json` document,
its JSON Schema, and the per-component answer for banners (seed 002)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import pytest

from bot.domain.incident import ChannelStatus, Incident, Kind, Status
from bot.domain.status_page import (
    Component,
    ComponentState,
    Maintenance,
    PublicUpdate,
    StatusIncident,
    UnknownComponent,
    component_answer,
    component_states,
    overall,
    status_document,
    worst,
)

S = ComponentState
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SCHEMA_PATH = Path(__file__).parents[2] / "docs" / "status.schema.json"

# Seed 002's login methods.
COMPONENTS = (
    Component(key="ssoe", name="SSOe", group="Login", description="Signing in with SSOe"),
    Component(key="sis", name="SiS", group="Login", description="Signing in with SiS"),
    Component(key="va_profile", name="Profile"),
)


def states(
    effects: Iterable[Mapping[str, ComponentState]] = (),
    maintenances: Iterable[Maintenance] = (),
    overrides: Mapping[str, ComponentState] | None = None,
    components: Sequence[Component] = COMPONENTS,
) -> dict[str, ComponentState]:
    return component_states(components, effects, maintenances, overrides or {}, NOW)


def maintenance(
    components: list[str], starts_in: timedelta, lasts: timedelta = timedelta(hours=2)
) -> Maintenance:
    return Maintenance(
        id="mnt-1",
        title="Identity provider upgrade",
        components=components,
        starts_at=NOW + starts_in,
        ends_at=NOW + starts_in + lasts,
    )


def incident(
    number: int, status: Status = Status.IDENTIFIED, internal: Mapping[str, str] | None = None
) -> Incident:
    fields: dict[str, Any] = {
        "title": "Login down",
        "nature": "Something broke",
        "discovery": "monitoring_alert",
        "impact": "Users cannot log in",
        "evidence": "",
        "service": None,
        "reporter_id": "U0REPORTER",
        "channel_name": None,
    }
    fields.update(internal or {})
    return Incident(
        id=number,
        severity="sev1",
        status=status,
        kind=Kind.INCIDENT,
        declared_at=NOW - timedelta(minutes=40),
        channel_status=ChannelStatus.CREATED,
        **fields,
    )


def validate(document: dict[str, Any], part: str | None = None) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    if part is not None:
        schema = {**schema, "$ref": f"#/$defs/{part}"}
        for key in ("type", "required", "properties", "additionalProperties"):
            schema.pop(key, None)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    validator.validate(json.loads(json.dumps(document)))


# --- states ---------------------------------------------------------------------------


def test_badness_runs_from_operational_to_major_outage():
    order = sorted(ComponentState, key=lambda state: state.badness)
    assert order == [
        S.OPERATIONAL,
        S.UNDER_MAINTENANCE,
        S.DEGRADED_PERFORMANCE,
        S.PARTIAL_OUTAGE,
        S.MAJOR_OUTAGE,
    ]
    assert worst([]) is S.OPERATIONAL
    assert S.DEGRADED_PERFORMANCE.label == "Degraded performance"


def test_the_worst_state_of_the_open_incidents_wins():
    result = states(
        effects=[
            {"ssoe": S.DEGRADED_PERFORMANCE},
            {"ssoe": S.MAJOR_OUTAGE, "sis": S.PARTIAL_OUTAGE},
            {"ssoe": S.PARTIAL_OUTAGE},
        ]
    )
    assert result == {"ssoe": S.MAJOR_OUTAGE, "sis": S.PARTIAL_OUTAGE, "va_profile": S.OPERATIONAL}
    assert list(result) == ["ssoe", "sis", "va_profile"]  # the policy's order


def test_maintenance_in_progress_counts_and_scheduled_later_does_not():
    in_progress = maintenance(["ssoe"], starts_in=timedelta(minutes=-30))
    later = maintenance(["sis"], starts_in=timedelta(hours=3))
    over = maintenance(["va_profile"], starts_in=timedelta(hours=-3))
    result = states(maintenances=[in_progress, later, over])
    assert result == {
        "ssoe": S.UNDER_MAINTENANCE,
        "sis": S.OPERATIONAL,
        "va_profile": S.OPERATIONAL,
    }


def test_maintenance_starts_at_its_start_and_is_over_at_its_end():
    starting = maintenance(["ssoe"], starts_in=timedelta(0))
    ending = maintenance(["sis"], starts_in=timedelta(hours=-2), lasts=timedelta(hours=2))
    assert starting.in_progress(NOW)
    assert not ending.in_progress(NOW)


def test_an_outage_during_maintenance_is_worse_than_the_maintenance():
    in_progress = maintenance(["ssoe"], starts_in=timedelta(minutes=-30))
    result = states(effects=[{"ssoe": S.PARTIAL_OUTAGE}], maintenances=[in_progress])
    assert result["ssoe"] is S.PARTIAL_OUTAGE


def test_a_state_set_by_hand_wins_over_incidents_and_maintenance():
    in_progress = maintenance(["sis"], starts_in=timedelta(minutes=-30))
    result = states(
        effects=[{"ssoe": S.MAJOR_OUTAGE}],
        maintenances=[in_progress],
        overrides={"ssoe": S.DEGRADED_PERFORMANCE, "va_profile": S.PARTIAL_OUTAGE},
    )
    assert result == {
        "ssoe": S.DEGRADED_PERFORMANCE,  # better than its incident says: the hand wins
        "sis": S.UNDER_MAINTENANCE,
        "va_profile": S.PARTIAL_OUTAGE,
    }


def test_an_incident_on_sis_leaves_ssoe_operational():
    # Seed 002: today's banner shows SSOe down even for SiS users.
    result = states(effects=[{"sis": S.MAJOR_OUTAGE}])
    assert result["ssoe"] is S.OPERATIONAL
    assert result["sis"] is S.MAJOR_OUTAGE


def test_components_the_policy_does_not_list_are_ignored():
    result = states(
        effects=[{"gone": S.MAJOR_OUTAGE}],
        maintenances=[maintenance(["gone"], starts_in=timedelta(minutes=-1))],
        overrides={"gone": S.MAJOR_OUTAGE},
    )
    assert set(result) == {"ssoe", "sis", "va_profile"}
    assert overall(result) is S.OPERATIONAL


def test_overall_is_the_worst_component():
    assert overall({"ssoe": S.OPERATIONAL, "sis": S.PARTIAL_OUTAGE}) is S.PARTIAL_OUTAGE
    assert overall([S.UNDER_MAINTENANCE, S.OPERATIONAL]) is S.UNDER_MAINTENANCE
    assert overall({}) is S.OPERATIONAL


# --- the document ---------------------------------------------------------------------

INTERNAL = {
    "title": "Alice Martin's deploy broke SiS tokens",
    "nature": "Bob Stone says the signing key rotated on sis-prod-db-3",
    "impact": "Carol Diaz: oauth=true logins fail",
    "evidence": "https://grafana.internal.example/d/abc see #inc-7-sis-tokens",
    "service": "identity-internal-svc",
    "reporter_id": "U0ALICE42",
    "channel_name": "inc-7-sis-tokens",
}
# What the team wrote in the incident's timeline about the same events.
TIMELINE = [
    "Alice Martin rolled back the deploy",
    "Dave Okafor paged from #identity-oncall",
]


def outage_document() -> dict[str, Any]:
    sis_down = StatusIncident.of(
        incident=incident(7, internal=INTERNAL),
        effects={"sis": S.MAJOR_OUTAGE},
        public_updates=[
            PublicUpdate(
                at=NOW - timedelta(minutes=35),
                status=Status.INVESTIGATING,
                text="Signing in with SiS fails. We are investigating.",
            ),
            PublicUpdate(
                at=NOW - timedelta(minutes=10),
                status=Status.IDENTIFIED,
                text="We found the cause and are rolling out a fix.",
            ),
        ],
    )
    resolved = StatusIncident.of(
        incident=incident(5, Status.RESOLVED), effects={"ssoe": S.MAJOR_OUTAGE}
    )
    upgrade = maintenance(["ssoe"], starts_in=timedelta(hours=20))
    return status_document(COMPONENTS, [sis_down, resolved], [upgrade], {}, NOW)


def test_the_document_shows_each_component_and_the_current_incidents():
    document = outage_document()
    assert document["version"] == 1
    assert document["generated_at"] == "2026-12-06T09:00:00Z"
    assert document["overall"] == {"state": "major_outage", "label": "Major outage"}
    assert {key: c["state"] for key, c in document["components"].items()} == {
        "ssoe": "operational",  # the resolved incident no longer counts
        "sis": "major_outage",
        "va_profile": "operational",
    }
    assert document["components"]["ssoe"] == {
        "name": "SSOe",
        "group": "Login",
        "description": "Signing in with SSOe",
        "state": "operational",
        "set_by_hand": False,
    }
    [current] = document["incidents"]
    assert current["id"] == "INC-7"
    assert current["name"] == "Major outage: SiS"
    assert current["status"] == "identified"
    assert current["started_at"] == "2026-12-06T08:20:00Z"
    assert current["components"] == {"sis": "major_outage"}
    assert [update["text"] for update in current["updates"]] == [
        "We found the cause and are rolling out a fix.",  # newest first
        "Signing in with SiS fails. We are investigating.",
    ]
    [upcoming] = document["maintenances"]
    assert upcoming["in_progress"] is False
    assert upcoming["starts_at"] == "2026-12-07T05:00:00Z"


def test_the_document_has_no_internal_text():
    text = json.dumps(outage_document())
    internal = [*INTERNAL.values(), *TIMELINE]
    words = ["Alice", "Bob", "Carol", "Dave", "U0ALICE42", "inc-7-sis", "#identity", "grafana"]
    leaked = [piece for piece in [*internal, *words] if piece in text]
    assert leaked == []


def test_the_document_and_the_answers_match_the_schema():
    document = outage_document()
    validate(document)
    validate(status_document((), [], [], {}, NOW))
    validate(component_answer(document, "sis"), part="component_answer")


def test_the_schema_rejects_a_document_of_another_shape():
    document = outage_document()
    document["components"]["sis"]["state"] = "down"
    with pytest.raises(jsonschema.ValidationError):
        validate(document)
    with pytest.raises(jsonschema.ValidationError):
        validate({**outage_document(), "version": 2})


def test_a_component_set_by_hand_says_so():
    document = status_document(COMPONENTS, [], [], {"ssoe": S.UNDER_MAINTENANCE}, NOW)
    assert document["components"]["ssoe"]["state"] == "under_maintenance"
    assert document["components"]["ssoe"]["set_by_hand"] is True
    assert document["overall"]["state"] == "under_maintenance"


# --- "is component X affected right now" ------------------------------------------------


def test_the_answer_for_an_affected_and_an_unaffected_component():
    document = outage_document()
    assert component_answer(document, "sis") == {
        "version": 1,
        "generated_at": "2026-12-06T09:00:00Z",
        "component": "sis",
        "name": "SiS",
        "state": "major_outage",
        "affected": True,
        "incidents": ["INC-7"],
        "maintenances": [],
    }
    ssoe = component_answer(document, "ssoe")
    assert ssoe["affected"] is False
    assert ssoe["incidents"] == []
    assert ssoe["maintenances"] == []  # the upgrade is scheduled, not in progress


def test_maintenance_in_progress_affects_the_component():
    ongoing = maintenance(["ssoe"], starts_in=timedelta(minutes=-5))
    document = status_document(COMPONENTS, [], [ongoing], {}, NOW)
    answer = component_answer(document, "ssoe")
    assert answer["state"] == "under_maintenance"
    assert answer["affected"] is True
    assert answer["maintenances"] == ["mnt-1"]


def test_the_answer_for_an_unknown_component_names_the_known_ones():
    with pytest.raises(UnknownComponent) as caught:
        component_answer(outage_document(), "okta")
    assert str(caught.value) == "no component 'okta'; known: ssoe, sis, va_profile"
