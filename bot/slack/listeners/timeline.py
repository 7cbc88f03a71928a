"""Timeline, status and emergency changes in Slack (a feature module for bolt_app.FEATURES).

Facts are written in the acknowledgement phase (database only); anything that calls
Slack runs after the answer: views.open and response_url replies in lazy listeners,
messages through the outbox.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.changes import ChangeStep, InvalidStep
from bot.domain.incident import Incident, Status, parse_reference, reference
from bot.domain.permissions import Action as Can
from bot.domain.policy import Policy
from bot.domain.status import InvalidTransition
from bot.domain.status_page import ComponentState
from bot.services.authority import Refused
from bot.services.changes import ChangeNotFound, ChangeProposal
from bot.services.incidents import IncidentNotFound, InvalidChange
from bot.services.raci import NotAccountable
from bot.services.status_page import known_effects
from bot.services.timeline import timeline_page
from bot.slack import messages
from bot.slack.blocks.common import escape, policy_zone
from bot.slack.blocks.timeline import (
    PAGE_SIZE,
    change_modal,
    status_modal,
)
from bot.slack.blocks.timeline import timeline_entry as render_entry
from bot.slack.blocks.timeline import timeline_page as render_page
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import StatusPageIds, TimelineIds
from bot.slack.listeners import capture
from bot.slack.listeners.declare import chosen_components
from bot.slack.listeners.forms import (
    acknowledge,
    answering,
    channel_of,
    option_values,
    read_value,
    selected,
    state_values,
    view_key,
)
from bot.slack.permission import CHANGE_ACTIONS, actor_of, refused_answer, require, require_in_form
from bot.slack.subcommands import Subcommand, ephemeral, incident_here

Blocks = list[dict[str, Any]]
_ENTRY = re.compile(r"#(\d{1,9})\s*$")  # `/incident timeline [INC-n] #7`: entry 7


def change_proposal(values: dict[str, Any], policy: Policy) -> ChangeProposal:
    """The emergency change form's inputs."""
    ticked = option_values(selected(values, TimelineIds.HANDLING, "selected_options"))
    return ChangeProposal(
        summary=read_value(values, TimelineIds.SUMMARY),
        plan=read_value(values, TimelineIds.PLAN),
        rollback_plan=read_value(values, TimelineIds.ROLLBACK),
        risk=read_value(values, TimelineIds.RISK),
        checklist={q.key: q.key in ticked for q in policy.change.handling_checklist},
    )


class TimelineListeners:
    """The feature's listeners and subcommands, sharing the services they call."""

    def __init__(self, deps: ListenerDeps) -> None:
        self.deps = deps
        self.incidents, self.timeline = deps.incidents, deps.timeline
        self.changes, self.notices, self.authority = deps.changes, deps.notices, deps.authority

    # --- /incident note, status, timeline, change -----------------------------------------

    async def answer_note(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        # The hottest path in a storm: the channel's owner is cached and the note is stored
        # in one statement (the note intake), then the answer goes back; the note worker
        # appends it to the timeline right after.
        channel = command.get("channel_id", "")
        incident_id = await self.incidents.channel_owner(channel)
        if incident_id is None:
            await ephemeral(ack, messages.NOT_AN_INCIDENT_CHANNEL.format(command="note"))
            return
        try:
            await self.deps.notes.accept(
                incident_id,
                actor=command["user_id"],
                text=rest,
                source_key=f"note:{command.get('trigger_id')}",
            )
        except InvalidChange as exc:
            await ephemeral(ack, str(exc))
            return
        except IncidentNotFound:  # purged since its channel was cached
            self.incidents.forget_channel(channel)
            await ephemeral(ack, messages.NOT_AN_INCIDENT_CHANNEL.format(command="note"))
            return
        await ephemeral(ack, messages.NOTED.format(ref=reference(incident_id)))

    async def answer_status(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        incident = await incident_here(self.incidents, ack, command, "status")
        if incident is None:
            return
        if not rest:
            await ack()  # the modal opens after the answer
            return
        word, _, update = rest.partition(" ")
        try:
            target = Status(word.lower())
        except ValueError:
            valid = ", ".join(s.value for s in Status if s is not Status.CLOSED)
            await ephemeral(ack, messages.NOT_A_STATUS.format(word=escape(word), valid=valid))
            return
        if await refused_answer(
            ack, self.authority, actor_of(command), Can.CHANGE_STATUS, incident.id
        ):
            return
        try:
            await self.timeline.change_status(
                incident.id, target, actor=command["user_id"], update=update
            )
        except (InvalidTransition, InvalidChange) as exc:
            await ephemeral(ack, str(exc))
            return
        await ephemeral(ack, messages.STATUS_NOW.format(ref=incident.ref, status=target.value))

    async def open_status(self, command: dict[str, Any], client: AsyncWebClient, rest: str) -> None:
        incident = await self.incidents.by_channel(command.get("channel_id", ""))
        if incident is not None and not rest:
            view = status_modal(incident, **await self.status_page_facts(incident))
            await client.views_open(trigger_id=command["trigger_id"], view=view)

    async def status_page_facts(self, incident: Incident) -> dict[str, Any]:
        """What the status form shows of the status page: the components, pre-filled
        with what the incident declares now (nothing when the policy lists none)."""
        policy, page = self.deps.policy(), self.deps.status_page
        if not policy.components or page is None:
            return {}
        return {"policy": policy, "effects": await page.effects_of(incident.id)}

    async def answer_timeline(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        """`/incident timeline [INC-n] [#seq]`: a page of entries, or one entry whole."""
        wanted = _ENTRY.search(rest)
        rest = rest[: wanted.start()].strip() if wanted else rest
        number = parse_reference(rest) if rest else None
        if number is not None:
            try:
                incident = await self.incidents.get(number)
            except IncidentNotFound:
                await ephemeral(ack, messages.NO_SUCH_INCIDENT.format(ref=escape(rest.upper())))
                return
        else:
            found = await incident_here(self.incidents, ack, command, "timeline")
            if found is None:
                return
            incident = found
        if await refused_answer(
            ack, self.authority, actor_of(command), Can.READ_TIMELINE, incident.id
        ):
            return
        await self.deps.notes.caught_up(incident.id)  # a note just sent is in what they read
        if wanted:
            await self.answer_entry(ack, incident, int(wanted[1]))
            return
        page = await self.timeline_blocks(incident, offset=0)
        await ephemeral(ack, messages.TIMELINE_OF.format(ref=incident.ref), page)

    async def answer_entry(self, ack: AsyncAck, incident: Incident, seq: int) -> None:
        """One entry whole, however long (the echo and the pages show its start)."""
        entries = await self.timeline.entries(incident.id)
        found = next((e for e in entries if e.seq == seq), None)
        if found is None:
            await ephemeral(ack, messages.NO_SUCH_ENTRY.format(ref=incident.ref, seq=seq))
            return
        withdrawn = any(e.kind == "withdrawn" and e.data.get("withdraws") == seq for e in entries)
        zone = policy_zone(self.deps.policy())
        blocks = render_entry(incident, found, withdrawn=withdrawn, zone=zone)
        await ephemeral(ack, messages.TIMELINE_OF.format(ref=incident.ref), blocks)

    async def timeline_blocks(self, incident: Incident, *, offset: int) -> Blocks:
        """One page of the timeline, from `offset`."""
        entries, total = await timeline_page(
            self.incidents.db, incident.id, offset=offset, limit=PAGE_SIZE
        )
        zone = policy_zone(self.deps.policy())
        return render_page(incident, entries, offset=offset, total=total, zone=zone)

    async def answer_change(self, ack: AsyncAck, command: dict[str, Any], _rest: str) -> None:
        if await incident_here(self.incidents, ack, command, "change") is not None:
            await ack()

    async def open_change(self, command: dict[str, Any], client: AsyncWebClient, _: str) -> None:
        incident = await self.incidents.by_channel(command.get("channel_id", ""))
        if incident is not None:
            view = change_modal(incident, self.deps.policy())
            await client.views_open(trigger_id=command["trigger_id"], view=view)

    def subcommands(self) -> list[Subcommand]:
        return [
            Subcommand("note", "note <text>", messages.HELP_NOTE, self.answer_note),
            Subcommand(
                "status",
                "status [state] [update]",
                messages.HELP_STATUS,
                self.answer_status,
                self.open_status,
            ),
            Subcommand(
                "timeline",
                "timeline [INC-n] [#entry]",
                messages.HELP_TIMELINE,
                self.answer_timeline,
            ),
            Subcommand(
                "change",
                "change",
                messages.HELP_CHANGE,
                self.answer_change,
                self.open_change,
            ),
        ]

    # --- the forms ------------------------------------------------------------------------

    @answer_errors
    async def status_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = state_values(view)
        async with answering(ack, TimelineIds.STATUS, refused=(InvalidTransition, InvalidChange)):
            incident_id = await require_in_form(self.deps.authority, body, view, Can.CHANGE_STATUS)
            await self.timeline.change_status(
                incident_id,
                Status(read_value(values, TimelineIds.STATUS)),
                actor=body["user"]["id"],
                update=read_value(values, TimelineIds.UPDATE),
                source_key=view_key(view),
                public_update=read_value(values, StatusPageIds.PUBLIC_UPDATE),
                components=self.chosen_effects(values),
            )

    def chosen_effects(self, values: dict[str, Any]) -> dict[str, ComponentState] | None:
        """The components the status form says the incident affects now (none chosen:
        none any more); None when the form had no such input (the policy lists none)."""
        policy = self.deps.policy()
        if not policy.components or StatusPageIds.COMPONENTS not in values:
            return None
        chosen = chosen_components(values)
        state = ComponentState(chosen["component_state"] or ComponentState.MAJOR_OUTAGE)
        return known_effects(policy, chosen["components"], state)

    @answer_errors
    async def change_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        proposal = change_proposal(state_values(view), self.deps.policy())
        problems = self.changes.check_proposal(proposal)
        if problems:
            await ack(response_action="errors", errors=problems)
            return
        async with answering(ack, TimelineIds.SUMMARY):
            incident_id = await require_in_form(self.deps.authority, body, view, Can.PROPOSE_CHANGE)
            await self.changes.propose(
                incident_id,
                proposal,
                actor=body["user"]["id"],
                propose_key=view_key(view),
            )

    # --- buttons --------------------------------------------------------------------------

    async def change_step(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        await ack()
        user, channel = body["user"]["id"], channel_of(body)
        try:
            raw_id, raw_step = str(action.get("value", "")).split(":", 1)
            step, change_id = ChangeStep(raw_step), int(raw_id)
            await require(self.authority, actor_of(body), CHANGE_ACTIONS[step], change_id=change_id)
            await self.changes.step(change_id, step, actor=user)
        except (ValueError, ChangeNotFound):
            await self.notices.tell(user, channel, messages.CHANGE_GONE)
        except (Refused, NotAccountable, InvalidStep) as exc:
            await self.notices.tell(user, channel, str(exc))

    async def turn_page(self, action: dict[str, Any], respond: AsyncRespond) -> None:
        """A timeline page button (after the answer: it replies through response_url)."""
        try:
            raw_id, raw_offset = str(action.get("value", "")).split(":", 1)
            incident = await self.incidents.get(int(raw_id))
            offset = max(0, int(raw_offset))
        except (ValueError, IncidentNotFound):
            return
        await respond(
            replace_original=True,
            response_type="ephemeral",
            text=messages.TIMELINE_OF.format(ref=incident.ref),
            blocks=await self.timeline_blocks(incident, offset=offset),
        )


def _prefix(action_id: str) -> Any:
    """Matches `action_id` and `action_id_<anything>` (several buttons in one message)."""
    return re.compile(rf"^{re.escape(action_id)}(_.*)?$")


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    listeners = TimelineListeners(deps)
    app.view(TimelineIds.STATUS_MODAL)(listeners.status_submitted)
    app.view(TimelineIds.CHANGE_MODAL)(listeners.change_submitted)
    capture.register(app, deps)  # the message shortcut, its form, the reaction
    app.action({"action_id": _prefix(TimelineIds.CHANGE_STEP)})(listeners.change_step)
    app.action({"action_id": _prefix(TimelineIds.TIMELINE_PAGE)})(
        ack=acknowledge, lazy=[listeners.turn_page]
    )
    return listeners.subcommands()
