"""The public status page from Slack (issue 24), over real signed HTTP against the
emulator: the components a declaration and a status change affect, public updates
(status and resolve forms), `/incident component` and `/incident maintenance`, who may
use them, and people's text stored as written and escaped wherever Slack shows it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.clock import FrozenClock
from bot.emulator import input_values
from bot.policy.loader import load_default_policy
from bot.slack.blocks import declare, timeline
from bot.slack.ids import Block, Decision, PmIds, StatusPageIds, TimelineIds
from tests.slack.test_escaping_property import an_incident
from tests.support import NOT_URGENT, QUALIFYING, REPORT, Harness, start_harness

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
IRT, CAROL = "U0BOB", "U0CAROL"  # the rostered PM (an IRT role), and someone else
POLICY = f"""
roles:
  pm:
    primary: {IRT}
components:
  - {{key: ssoe, name: SSOe login, group: Login}}
  - {{key: sis, name: "SiS <login> & co", group: Login}}
  - {{key: api, name: Public API}}
"""
TRICKY = "<script>alert(1)</script> ask <@U123> & <!channel>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; ask &lt;@U123&gt; &amp; &lt;!channel&gt;"


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    clock = FrozenClock(NOW)
    async with start_harness(
        database_url, clock=clock, FIREWATCH_POLICY_FILE=str(policy)
    ) as harness:
        yield harness


async def document(h: Harness) -> dict[str, Any]:
    h.app.status_page.forget()
    return (await h.app.status_page.public_page()).document


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


async def declare_with(h: Harness, answers: dict[str, Any]) -> str:
    view = await h.open_declare_modal()
    values = input_values(view, {**REPORT, **QUALIFYING, **answers})
    response = await h.sender.view_submission(view, values)
    assert response.status == 200, response.text
    await h.settled()
    [row] = await h.incidents()
    assert row.channel_id is not None
    return row.channel_id


async def opened(h: Harness, callback: str, before: int) -> dict[str, Any]:
    views = await h.slack.wait_for(lambda: h.slack.opened_views(callback)[before:])
    return views[-1]


async def command(h: Harness, text: str, user: str = IRT, channel: str = "C0GENERAL") -> str:
    response = await h.sender.slash_command(text, channel_id=channel, user_id=user)
    assert response.status == 200, response.text
    await h.settled()
    return str(response.json().get("text", "")) if response.text not in ("", "{}") else ""


# --- declaring ----------------------------------------------------------------------------


async def test_the_declare_form_offers_the_components_grouped_and_the_page_shows_them(
    h: Harness,
) -> None:
    view = await h.open_declare_modal()
    components = block(view, StatusPageIds.COMPONENTS)
    assert components["optional"] is True
    assert components["label"]["text"] == "Affected components (public status page)"
    groups = components["element"]["option_groups"]
    assert [(g["label"]["text"], [o["value"] for o in g["options"]]) for g in groups] == [
        ("Login", ["ssoe", "sis"]),
        ("Other", ["api"]),
    ]
    assert groups[0]["options"][1]["text"]["text"] == "SiS <login> & co"  # plain_text: as is
    impact = block(view, StatusPageIds.COMPONENT_STATE)["element"]
    assert [o["value"] for o in impact["options"]] == [
        "degraded_performance",
        "partial_outage",
        "major_outage",
    ]
    values = input_values(
        view,
        {
            **REPORT,
            **QUALIFYING,
            StatusPageIds.COMPONENTS: ["sis"],
            StatusPageIds.COMPONENT_STATE: "partial_outage",
        },
    )
    assert (await h.sender.view_submission(view, values)).status == 200
    await h.settled()
    shown = await document(h)
    assert shown["components"]["sis"]["state"] == "partial_outage"
    assert shown["components"]["ssoe"]["state"] == "operational"
    [incident] = shown["incidents"]
    assert (incident["id"], incident["components"]) == ("INC-1", {"sis": "partial_outage"})


async def test_components_without_an_impact_are_a_major_outage(h: Harness) -> None:
    await declare_with(h, {StatusPageIds.COMPONENTS: ["ssoe", "api"]})
    shown = await document(h)
    assert shown["components"]["ssoe"]["state"] == "major_outage"
    assert shown["components"]["api"]["state"] == "major_outage"


async def test_a_declaration_through_the_not_an_incident_form_keeps_its_components(
    h: Harness,
) -> None:
    view = await h.open_declare_modal()
    values = input_values(
        view,
        {
            **REPORT,
            **NOT_URGENT,
            StatusPageIds.COMPONENTS: ["api"],
            StatusPageIds.COMPONENT_STATE: "degraded_performance",
        },
    )
    pushed = (await h.sender.view_submission(view, values)).json()
    assert pushed["response_action"] == "push"
    choice = {**pushed["view"], "id": "V0PUSHED"}
    answers = input_values(
        choice, {Block.DECISION: Decision.DECLARE_ANYWAY, Block.REASON: "customers call"}
    )
    assert (await h.sender.view_submission(choice, answers)).status == 200
    await h.settled()
    [row] = await h.incidents()
    assert row.kind == "incident"
    assert (await document(h))["components"]["api"]["state"] == "degraded_performance"


# --- the status and resolve forms ---------------------------------------------------------


async def test_the_status_form_publishes_an_update_and_moves_the_components(h: Harness) -> None:
    channel = await declare_with(
        h,
        {StatusPageIds.COMPONENTS: ["sis"], StatusPageIds.COMPONENT_STATE: "partial_outage"},
    )
    before = len(h.slack.opened_views(TimelineIds.STATUS_MODAL))
    await command(h, "status", user=IRT, channel=channel)
    view = await opened(h, TimelineIds.STATUS_MODAL, before)
    public = block(view, StatusPageIds.PUBLIC_UPDATE)
    assert public["optional"] is True
    assert public["element"]["max_length"] == 3000
    assert "stays internal" in public["hint"]["text"]
    chosen = block(view, StatusPageIds.COMPONENTS)["element"]["initial_options"]
    assert [o["value"] for o in chosen] == ["sis"]
    impact = block(view, StatusPageIds.COMPONENT_STATE)["element"]["initial_option"]
    assert impact["value"] == "partial_outage"
    values = input_values(
        view,
        {
            TimelineIds.STATUS: "identified",
            TimelineIds.UPDATE: "internal: the LB pool ran dry",
            StatusPageIds.PUBLIC_UPDATE: TRICKY,
            StatusPageIds.COMPONENTS: ["ssoe", "sis"],
            StatusPageIds.COMPONENT_STATE: "degraded_performance",
        },
    )
    assert (await h.sender.view_submission(view, values, user_id=IRT)).text in ("", "{}")
    await h.settled()
    shown = await document(h)
    [incident] = shown["incidents"]
    assert incident["status"] == "identified"
    assert [u["text"] for u in incident["updates"]] == [TRICKY]  # stored as written
    assert incident["components"] == {
        "ssoe": "degraded_performance",
        "sis": "degraded_performance",
    }
    assert "LB pool" not in json.dumps(shown)
    # Slack shows it escaped (the timeline): no live mention, no markup, all the words.
    timeline = await h.sender.slash_command("timeline", channel_id=channel, user_id=IRT)
    shown_in_slack = json.dumps(timeline.json())
    assert f"Public update on the status page: {ESCAPED}" in shown_in_slack
    # ...and the incident's channel, where the status change is echoed, says it too.
    echoed = [m.text for m in h.slack.messages(channel) if "Public update on the status" in m.text]
    assert len(echoed) == 1
    assert ESCAPED in echoed[0]
    assert any("SSOe login: degraded performance" in m.text for m in h.slack.messages(channel))
    everything = shown_in_slack + json.dumps(
        [(m.text, m.blocks) for m in h.slack.messages(channel)]
    )
    for raw in ("<@U123>", "<script>", "<!channel>"):
        assert raw not in everything


async def test_the_status_form_opens_for_components_of_several_groups(h: Harness) -> None:
    """Slack refuses a multi-select's initial options from two option groups: the form
    then lists the components without groups, each naming its own."""
    channel = await declare_with(h, {StatusPageIds.COMPONENTS: ["sis", "api"]})
    before = len(h.slack.opened_views(TimelineIds.STATUS_MODAL))
    await command(h, "status", user=IRT, channel=channel)
    view = await opened(h, TimelineIds.STATUS_MODAL, before)  # the emulator accepted it
    element = block(view, StatusPageIds.COMPONENTS)["element"]
    assert "option_groups" not in element
    assert [o["text"]["text"] for o in element["options"]] == [
        "Login · SSOe login",
        "Login · SiS <login> & co",
        "Public API",
    ]
    assert [o["value"] for o in element["initial_options"]] == ["sis", "api"]
    impact = block(view, StatusPageIds.COMPONENT_STATE)["element"]["initial_option"]
    assert impact["value"] == "major_outage"


async def test_choosing_no_component_takes_the_incident_off_them(h: Harness) -> None:
    channel = await declare_with(h, {StatusPageIds.COMPONENTS: ["api"]})
    before = len(h.slack.opened_views(TimelineIds.STATUS_MODAL))
    await command(h, "status", user=IRT, channel=channel)
    view = await opened(h, TimelineIds.STATUS_MODAL, before)
    values = input_values(
        view, {TimelineIds.STATUS: "monitoring", TimelineIds.UPDATE: "a fix is out"}
    )
    assert (await h.sender.view_submission(view, values, user_id=IRT)).text in ("", "{}")
    await h.settled()
    shown = await document(h)
    assert shown["components"]["api"]["state"] == "operational"
    assert all(not incident["components"] for incident in shown["incidents"])


async def test_resolving_publishes_the_public_update_written(h: Harness) -> None:
    channel = await declare_with(h, {StatusPageIds.COMPONENTS: ["ssoe"]})
    before = len(h.slack.opened_views(PmIds.RESOLVE_MODAL))
    await command(h, "resolve", user=IRT, channel=channel)
    view = await opened(h, PmIds.RESOLVE_MODAL, before)
    assert "internal" in block(view, StatusPageIds.PUBLIC_UPDATE)["hint"]["text"]
    values = input_values(
        view,
        {
            PmIds.SUMMARY: "rolled back the LB config",
            StatusPageIds.PUBLIC_UPDATE: "Logins work again.",
        },
    )
    assert (await h.sender.view_submission(view, values, user_id=IRT)).text in ("", "{}")
    await h.settled()
    h.app.status_page.forget()
    page = await h.app.status_page.public_page()
    assert page.document["incidents"] == []
    [past] = page.past_incidents
    assert [u["text"] for u in past["updates"]] == ["Logins work again."]
    assert "LB config" not in json.dumps(page.document)


# --- /incident component ------------------------------------------------------------------


async def test_a_component_state_set_by_hand_and_handed_back(h: Harness) -> None:
    answer = await command(h, "component sis major", user=IRT)
    assert answer == (
        "SiS &lt;login&gt; &amp; co now shows *Major outage* on the status page, "
        "set by hand until `/incident component sis auto`."
    )
    shown = (await document(h))["components"]["sis"]
    assert (shown["state"], shown["set_by_hand"]) == ("major_outage", True)
    listing = await h.sender.slash_command("component", user_id=CAROL)  # reading: anyone
    text = json.dumps(listing.json())
    assert "SiS &lt;login&gt; &amp; co: *Major outage* (set by hand)" in text
    assert "SSOe login: *Operational*" in text
    assert "/incident component &lt;key&gt;" not in text  # Firewatch's own words, not escaped
    assert await command(h, "component sis auto", user=IRT) == (
        "SiS &lt;login&gt; &amp; co is back to what incidents and maintenance say "
        "(now: *Operational*)."
    )
    assert (await document(h))["components"]["sis"]["set_by_hand"] is False


async def test_setting_a_component_is_refused_to_someone_outside_the_irt(h: Harness) -> None:
    answer = await command(h, "component sis major", user=CAROL)
    assert answer.startswith("Only the Incident Response Team")
    assert f"<@{IRT}>" in answer
    assert "set a component's state on the status page" in answer
    assert (await document(h))["components"]["sis"]["state"] == "operational"
    metrics = h.app.metrics.exposition().decode()
    assert 'firewatch_permission_refusals_total{action="set_component_state"} 1.0' in metrics
    assert await h.refusals() == [(CAROL, "member", "set_component_state", None)]


async def test_unknown_components_and_states_are_answered_with_what_is_known(h: Harness) -> None:
    answer = await command(h, "component <@U0X> major", user=IRT)
    assert answer == (
        "There is no component `&lt;@U0X&gt;`. Known components: `ssoe`, `sis`, `api`."
    )
    answer = await command(h, "component sis broken", user=IRT)
    assert answer.startswith("`broken` is not a state. Say one of: `operational`, `degraded`")
    assert (await document(h))["components"]["sis"]["set_by_hand"] is False


# --- /incident maintenance ----------------------------------------------------------------


async def open_maintenance(h: Harness, user: str = IRT) -> dict[str, Any]:
    before = len(h.slack.opened_views(StatusPageIds.MAINTENANCE_MODAL))
    assert await command(h, "maintenance", user=user) == ""
    return await opened(h, StatusPageIds.MAINTENANCE_MODAL, before)


def maintenance_values(
    view: dict[str, Any], starts: datetime, ends: datetime, components: list[str] | None = None
) -> dict[str, Any]:
    return input_values(
        view,
        {
            StatusPageIds.MAINTENANCE_TITLE: "Database <upgrade>",
            StatusPageIds.COMPONENTS: ["api"] if components is None else components,
            StatusPageIds.STARTS: starts,
            StatusPageIds.ENDS: ends,
        },
    )


async def test_maintenance_is_scheduled_from_its_form_once(h: Harness) -> None:
    view = await open_maintenance(h)
    starts = block(view, StatusPageIds.STARTS)["element"]
    assert starts["type"] == "datetimepicker"
    assert starts["initial_date_time"] == int((NOW + timedelta(hours=1)).timestamp())
    assert block(view, StatusPageIds.COMPONENTS)["optional"] is False
    values = maintenance_values(view, NOW + timedelta(hours=1), NOW + timedelta(hours=3))
    first = (await h.sender.view_submission(view, values, user_id=IRT)).json()
    again = (await h.sender.view_submission(view, values, user_id=IRT)).json()  # a retry
    assert first["response_action"] == again["response_action"] == "update"
    said = first["view"]["blocks"][0]["text"]["text"]
    assert "*Database &lt;upgrade&gt;* is scheduled on Public API" in said
    [shown] = (await document(h))["maintenances"]
    assert (shown["name"], shown["components"], shown["in_progress"]) == (
        "Database <upgrade>",
        ["api"],
        False,
    )
    listing = await command(h, "maintenance list", user=CAROL)
    assert listing == "*Maintenance scheduled* (1):"
    blocks = json.dumps((await h.sender.slash_command("maintenance list")).json()["blocks"])
    assert "Database &lt;upgrade&gt;" in blocks
    assert await command(h, "maintenance cancel 99", user=IRT) == (
        "There is no maintenance `#99` to cancel (see `/incident maintenance list`)."
    )
    cancelled = await command(h, f"maintenance cancel {shown['id']}", user=IRT)
    assert cancelled.startswith(f"Maintenance `#{shown['id']}` is cancelled")
    assert (await document(h))["maintenances"] == []
    assert await command(h, "maintenance list", user=CAROL) == "No maintenance is scheduled."


async def test_the_maintenance_form_says_what_is_wrong_under_each_field(h: Harness) -> None:
    view = await open_maintenance(h)
    backwards = maintenance_values(view, NOW + timedelta(hours=3), NOW + timedelta(hours=1), [])
    answer = (await h.sender.view_submission(view, backwards, user_id=IRT)).json()
    assert answer == {
        "response_action": "errors",
        "errors": {
            StatusPageIds.COMPONENTS: "Choose at least one component.",
            StatusPageIds.ENDS: "The end must be after the start.",
        },
    }
    past = maintenance_values(view, NOW - timedelta(hours=3), NOW - timedelta(hours=1))
    answer = (await h.sender.view_submission(view, past, user_id=IRT)).json()
    assert answer["errors"] == {
        StatusPageIds.ENDS: "The end is in the past: choose a time to come."
    }
    assert (await document(h))["maintenances"] == []


async def test_maintenance_is_refused_to_someone_outside_the_irt(h: Harness) -> None:
    answer = await command(h, "maintenance", user=CAROL)
    assert answer.startswith("Only the Incident Response Team")
    assert "schedule or cancel maintenance" in answer
    assert h.slack.opened_views(StatusPageIds.MAINTENANCE_MODAL) == []
    # A form opened by someone allowed, submitted by someone who is not: refused too.
    view = await open_maintenance(h)
    values = maintenance_values(view, NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    refused = (await h.sender.view_submission(view, values, user_id=CAROL)).json()
    assert refused["response_action"] == "errors"
    assert refused["errors"][StatusPageIds.MAINTENANCE_TITLE].startswith("Only the Incident")
    assert (await document(h))["maintenances"] == []
    assert await h.refusals() == [(CAROL, "member", "schedule_maintenance", None)] * 2


async def test_help_lists_the_status_page_subcommands(h: Harness) -> None:
    text = await command(h, "help", user=CAROL)
    assert "`/incident component [key] [state|auto]`" in text
    assert "`/incident maintenance [list|cancel <id>]`" in text


def test_without_components_the_forms_are_as_before() -> None:
    policy = load_default_policy()
    assert policy.components == ()
    ids = {b.get("block_id") for b in declare.declare_modal(policy)["blocks"]}
    assert not ids & {StatusPageIds.COMPONENTS, StatusPageIds.COMPONENT_STATE}
    status = timeline.status_modal(an_incident("x"), policy=policy, effects={})
    ids = {b.get("block_id") for b in status["blocks"]}
    assert StatusPageIds.PUBLIC_UPDATE in ids
    assert not ids & {StatusPageIds.COMPONENTS, StatusPageIds.COMPONENT_STATE}
