"""Resolving, post-mortems and action items in Slack (a feature module)."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.incident import Status
from bot.domain.postmortem import ActionItem, InvalidPostmortemStep
from bot.domain.status import InvalidTransition
from bot.services.incidents import IncidentNotFound, InvalidChange
from bot.services.postmortems import PostmortemNotFound
from bot.services.raci import NotAccountable
from bot.slack import messages
from bot.slack.blocks.postmortems import (
    ITEM_ROWS,
    PmIds,
    followups_list,
    postmortem_modal,
    resolve_modal,
)
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import VALUE, Action
from bot.slack.listeners.declare import metadata, read_value, state_values
from bot.slack.subcommands import Subcommand, ephemeral

NO_POSTMORTEM_YET = "There is no post-mortem yet: it is asked for when the incident is resolved."


def _selected(values: dict[str, Any], block: str, key: str) -> Any:
    element = (values.get(block) or {}).get(VALUE) or {}
    return element.get(key) if isinstance(element, dict) else None


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    postmortems, notices, incidents = deps.postmortems, deps.notices, deps.incidents

    async def incident_here(ack: AsyncAck, command: dict[str, Any], name: str) -> Any:
        incident = await incidents.by_channel(command.get("channel_id", ""))
        if incident is None:
            await ephemeral(ack, messages.NOT_AN_INCIDENT_CHANNEL.format(command=name))
        return incident

    async def open_postmortem(
        incident_id: int, trigger_id: str, client: AsyncWebClient
    ) -> str | None:
        """Open the post-mortem form; a reason string when it cannot be opened."""
        pm = await postmortems.get_for_incident(incident_id)
        if pm is None:
            return NO_POSTMORTEM_YET
        incident = await incidents.get(incident_id)
        facts = await postmortems.facts(incident_id, await deps.changes.for_incident(incident_id))
        view = postmortem_modal(incident, pm, facts, deps.policy(), postmortems.clock.now().date())
        await client.views_open(trigger_id=trigger_id, view=view)
        return None

    # --- /incident resolve ----------------------------------------------------------------

    async def answer_resolve(ack: AsyncAck, command: dict[str, Any], _rest: str) -> None:
        incident = await incident_here(ack, command, "resolve")
        if incident is None:
            return
        if incident.status in (Status.RESOLVED, Status.CLOSED):
            await ephemeral(ack, f"{incident.ref} is already {incident.status.value}.")
            return
        await ack()

    async def follow_resolve(command: dict[str, Any], client: AsyncWebClient, _rest: str) -> None:
        incident = await incidents.by_channel(command.get("channel_id", ""))
        if incident is not None and incident.status not in (Status.RESOLVED, Status.CLOSED):
            await client.views_open(trigger_id=command["trigger_id"], view=resolve_modal(incident))

    @app.view(PmIds.RESOLVE_MODAL)
    @answer_errors
    async def resolve_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            await postmortems.resolve(
                int(metadata(view).get("incident_id", 0)),
                actor=body["user"]["id"],
                summary=read_value(state_values(view), PmIds.SUMMARY),
                source_key=f"view:{view['id']}",
            )
        except (ValueError, IncidentNotFound):
            await ack(response_action="errors", errors={PmIds.SUMMARY: messages.INCIDENT_GONE})
            return
        except (InvalidTransition, InvalidChange) as exc:
            await ack(response_action="errors", errors={PmIds.SUMMARY: str(exc)})
            return
        await ack()

    # --- /incident postmortem and the DM's button -----------------------------------------

    async def answer_postmortem(ack: AsyncAck, command: dict[str, Any], _rest: str) -> None:
        incident = await incident_here(ack, command, "postmortem")
        if incident is None:
            return
        if await postmortems.get_for_incident(incident.id) is None:
            await ephemeral(
                ack, "There is no post-mortem yet: it is asked for when the incident is resolved."
            )
            return
        await ack()

    async def follow_postmortem(
        command: dict[str, Any], client: AsyncWebClient, _rest: str
    ) -> None:
        incident = await incidents.by_channel(command.get("channel_id", ""))
        if incident is not None:
            await open_postmortem(incident.id, command["trigger_id"], client)

    async def ack_only(ack: AsyncAck) -> None:
        await ack()

    async def write_clicked(
        body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        try:
            reason = await open_postmortem(int(action.get("value", "")), body["trigger_id"], client)
        except (ValueError, IncidentNotFound):
            reason = messages.INCIDENT_GONE
        if reason:
            channel = (body.get("channel") or {}).get("id") or body["user"]["id"]
            await notices.tell(body["user"]["id"], channel, reason)

    app.action(Action.WRITE_POSTMORTEM.value)(ack=ack_only, lazy=[write_clicked])

    @app.view(PmIds.POSTMORTEM_MODAL)
    @answer_errors
    async def postmortem_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = state_values(view)
        policy = deps.policy()
        assessments = {}
        for prompt in policy.postmortem.assessments:
            answer = read_value(values, PmIds.answer(prompt.key))
            note = read_value(values, PmIds.note(prompt.key)).strip()
            if answer or note:
                assessments[prompt.key] = {"answer": answer or None, "note": note}
        items, errors = [], {}
        for n in range(1, ITEM_ROWS + 1):
            text = read_value(values, PmIds.item(n, "text")).strip()
            if not text:
                continue
            owner = _selected(values, PmIds.item(n, "owner"), "selected_user")
            due = _selected(values, PmIds.item(n, "due"), "selected_date")
            if not owner:
                errors[PmIds.item(n, "owner")] = "Who owns this action?"
            if not due:
                errors[PmIds.item(n, "due")] = "When is it due?"
            if owner and due:
                items.append(
                    ActionItem(text=text, owner=str(owner), due_on=date.fromisoformat(str(due)))
                )
        submit = bool(_selected(values, PmIds.SUBMIT, "selected_options"))
        root_cause, impact = read_value(values, PmIds.ROOT_CAUSE), read_value(values, PmIds.IMPACT)
        errors |= postmortems.check(root_cause, impact, items, submit=submit)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        try:
            await postmortems.save(
                int(metadata(view).get("postmortem_id", 0)),
                actor=body["user"]["id"],
                root_cause=root_cause,
                impact=impact,
                assessments=assessments,
                items=items,
                submit=submit,
            )
        except (ValueError, PostmortemNotFound):
            await ack(response_action="errors", errors={PmIds.ROOT_CAUSE: messages.INCIDENT_GONE})
            return
        except InvalidPostmortemStep as exc:
            await ack(response_action="errors", errors={PmIds.ROOT_CAUSE: str(exc)})
            return
        await ack()

    # --- review buttons (in the incident channel and the weekly digest) -------------------

    async def decide(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or user
        approve = action.get("action_id") == Action.POSTMORTEM_APPROVE
        try:
            pm = await postmortems.decide(int(action.get("value", "")), approve=approve, actor=user)
        except (ValueError, PostmortemNotFound):
            await notices.tell(user, channel, "That post-mortem no longer exists.")
            return
        except (NotAccountable, InvalidPostmortemStep) as exc:
            await notices.tell(user, channel, str(exc))
            return
        verb = "approved" if approve else "sent back for changes"
        incident = await incidents.get(pm.incident_id)
        await notices.tell(user, channel, f"The post-mortem of {incident.ref} is {verb}.")

    app.action(Action.POSTMORTEM_APPROVE.value)(decide)
    app.action(Action.POSTMORTEM_CHANGES.value)(decide)

    # --- /incident followups --------------------------------------------------------------

    async def answer_followups(ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        mine = rest.strip().lower() != "all"
        items = await postmortems.followups(owner=command["user_id"] if mine else None)
        await ephemeral(ack, f"{len(items)} open action items", followups_list(items))

    async def item_done(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or user
        try:
            done = await postmortems.complete_item(int(action.get("value", "")), actor=user)
        except ValueError:
            done = False
        await notices.tell(
            user, channel, "Marked done." if done else "That action item is already done."
        )

    app.action(Action.FOLLOWUP_DONE.value)(item_done)

    return [
        Subcommand(
            "resolve",
            "resolve",
            "resolve this incident and ask for its post-mortem",
            answer_resolve,
            follow_resolve,
        ),
        Subcommand(
            "postmortem",
            "postmortem",
            "write or edit this incident's post-mortem",
            answer_postmortem,
            follow_postmortem,
        ),
        Subcommand(
            "followups", "followups [all]", "open action items (yours, or all)", answer_followups
        ),
    ]
