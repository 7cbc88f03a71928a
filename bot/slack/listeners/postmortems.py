"""Resolving, post-mortems and action items in Slack (a feature module)."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.permissions import Action as Can
from bot.domain.policy import Policy
from bot.domain.postmortem import ActionItem, InvalidPostmortemStep
from bot.domain.status import InvalidTransition
from bot.services.authority import Refused
from bot.services.incidents import IncidentNotFound, InvalidChange
from bot.services.postmortems import PostmortemNotFound
from bot.services.raci import NotAccountable
from bot.slack import messages
from bot.slack.blocks.common import policy_zone
from bot.slack.blocks.postmortems import (
    ITEM_ROWS,
    followups_list,
    postmortem_modal,
    resolve_modal,
)
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import Action, PmIds, StatusPageIds
from bot.slack.listeners.forms import (
    acknowledge,
    answering,
    channel_of,
    metadata,
    read_value,
    selected,
    state_values,
    view_key,
)
from bot.slack.permission import actor_of, refused_answer, require, require_in_form
from bot.slack.subcommands import Subcommand, ephemeral, incident_here


def assessments_from(values: dict[str, Any], policy: Policy) -> dict[str, dict[str, Any]]:
    """The post-mortem form's answers to the policy's assessment prompts."""
    assessments = {}
    for prompt in policy.postmortem.assessments:
        answer = read_value(values, PmIds.answer(prompt.key))
        note = read_value(values, PmIds.note(prompt.key)).strip()
        if answer or note:
            assessments[prompt.key] = {"answer": answer or None, "note": note}
    return assessments


def action_items_from(values: dict[str, Any]) -> tuple[list[ActionItem], dict[str, str]]:
    """The form's action items, and the errors of rows with text but no owner or due date."""
    items, errors = [], {}
    for n in range(1, ITEM_ROWS + 1):
        text = read_value(values, PmIds.item(n, "text")).strip()
        if not text:
            continue
        owner = selected(values, PmIds.item(n, "owner"), "selected_user")
        due = selected(values, PmIds.item(n, "due"), "selected_date")
        if not owner:
            errors[PmIds.item(n, "owner")] = messages.ITEM_OWNER_MISSING
        if not due:
            errors[PmIds.item(n, "due")] = messages.ITEM_DUE_MISSING
        if owner and due:
            items.append(
                ActionItem(text=text, owner=str(owner), due_on=date.fromisoformat(str(due)))
            )
    return items, errors


def clicked_by(body: dict[str, Any]) -> tuple[str, str]:
    """Who clicked, and where to answer them: the channel of the button, or their DM."""
    user = str(body["user"]["id"])
    return user, channel_of(body) or user


class PostmortemListeners:
    """The feature's listeners and subcommands, sharing the services they call."""

    def __init__(self, deps: ListenerDeps) -> None:
        self.deps = deps
        self.postmortems = deps.postmortems
        self.notices = deps.notices
        self.incidents = deps.incidents

    async def open_postmortem(
        self, incident_id: int, trigger_id: str, client: AsyncWebClient
    ) -> str | None:
        """Open the post-mortem form; a reason string when it cannot be opened."""
        postmortems = self.postmortems
        pm = await postmortems.get_for_incident(incident_id)
        if pm is None:
            return messages.NO_POSTMORTEM_YET
        incident = await self.incidents.get(incident_id)
        facts = await postmortems.facts(
            incident_id, await self.deps.changes.for_incident(incident_id)
        )
        today = postmortems.clock.now().date()
        view = postmortem_modal(incident, pm, facts, self.deps.policy(), today)
        await client.views_open(trigger_id=trigger_id, view=view)
        return None

    # --- /incident resolve ----------------------------------------------------------------

    async def answer_resolve(self, ack: AsyncAck, command: dict[str, Any], _rest: str) -> None:
        incident = await incident_here(self.incidents, ack, command, "resolve")
        if incident is None:
            return
        if incident.status.ended:
            status = incident.status.value
            await ephemeral(ack, messages.ALREADY_STATUS.format(ref=incident.ref, status=status))
            return
        authority = self.deps.authority
        if await refused_answer(ack, authority, actor_of(command), Can.RESOLVE, incident.id):
            return
        await ack()

    async def follow_resolve(self, command: dict[str, Any], client: AsyncWebClient, _: str) -> None:
        incident = await self.incidents.by_channel(command.get("channel_id", ""))
        if incident is not None and not incident.status.ended:
            await client.views_open(trigger_id=command["trigger_id"], view=resolve_modal(incident))

    @answer_errors
    async def resolve_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        async with answering(ack, PmIds.SUMMARY, refused=(InvalidTransition, InvalidChange)):
            await self.postmortems.resolve(
                await require_in_form(self.deps.authority, body, view, Can.RESOLVE),
                actor=body["user"]["id"],
                summary=read_value(state_values(view), PmIds.SUMMARY),
                source_key=view_key(view),
                public_update=read_value(state_values(view), StatusPageIds.PUBLIC_UPDATE),
            )

    # --- /incident postmortem and the DM's button -----------------------------------------

    async def answer_postmortem(self, ack: AsyncAck, command: dict[str, Any], _rest: str) -> None:
        incident = await incident_here(self.incidents, ack, command, "postmortem")
        if incident is None:
            return
        if await self.postmortems.get_for_incident(incident.id) is None:
            await ephemeral(ack, messages.NO_POSTMORTEM_YET)
            return
        await ack()

    async def follow_postmortem(
        self, command: dict[str, Any], client: AsyncWebClient, _rest: str
    ) -> None:
        incident = await self.incidents.by_channel(command.get("channel_id", ""))
        if incident is not None:
            await self.open_postmortem(incident.id, command["trigger_id"], client)

    async def write_clicked(
        self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """The "Write the post-mortem" button (after the answer: it opens the form)."""
        try:
            incident_id = int(action.get("value", ""))
            reason = await self.open_postmortem(incident_id, body["trigger_id"], client)
        except (ValueError, IncidentNotFound):
            reason = messages.INCIDENT_GONE
        if reason:
            user, channel = clicked_by(body)
            await self.notices.tell(user, channel, reason)

    @answer_errors
    async def postmortem_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = state_values(view)
        assessments = assessments_from(values, self.deps.policy())
        items, errors = action_items_from(values)
        submit = bool(selected(values, PmIds.SUBMIT, "selected_options"))
        root_cause, impact = read_value(values, PmIds.ROOT_CAUSE), read_value(values, PmIds.IMPACT)
        errors |= self.postmortems.check(root_cause, impact, items, submit=submit)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        gone, refused = (ValueError, PostmortemNotFound), (InvalidPostmortemStep,)
        async with answering(ack, PmIds.ROOT_CAUSE, gone=gone, refused=refused):
            postmortem_id = int(metadata(view).get("postmortem_id", 0))
            can = Can.SUBMIT_POSTMORTEM if submit else Can.WRITE_POSTMORTEM
            await require(self.deps.authority, actor_of(body), can, postmortem_id=postmortem_id)
            await self.postmortems.save(
                postmortem_id,
                actor=body["user"]["id"],
                root_cause=root_cause,
                impact=impact,
                assessments=assessments,
                items=items,
                submit=submit,
            )

    # --- review buttons (in the incident channel and the weekly digest) -------------------

    async def decide(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user, channel = clicked_by(body)
        approve = action.get("action_id") == Action.POSTMORTEM_APPROVE
        try:
            postmortem_id = int(action.get("value", ""))
            can = Can.APPROVE_POSTMORTEM
            await require(self.deps.authority, actor_of(body), can, postmortem_id=postmortem_id)
            pm = await self.postmortems.decide(postmortem_id, approve=approve, actor=user)
        except (ValueError, PostmortemNotFound):
            await self.notices.tell(user, channel, messages.POSTMORTEM_GONE)
            return
        except (Refused, NotAccountable, InvalidPostmortemStep) as exc:
            await self.notices.tell(user, channel, str(exc))
            return
        incident = await self.incidents.get(pm.incident_id)
        told = messages.POSTMORTEM_APPROVED if approve else messages.POSTMORTEM_SENT_BACK
        await self.notices.tell(user, channel, told.format(ref=incident.ref))

    # --- /incident followups --------------------------------------------------------------

    async def answer_followups(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        mine = rest.strip().lower() != "all"
        items = await self.postmortems.followups(owner=command["user_id"] if mine else None)
        text = messages.OPEN_ACTION_ITEMS.format(count=len(items))
        await ephemeral(ack, text, followups_list(items, policy_zone(self.deps.policy())))

    async def item_done(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user, channel = clicked_by(body)
        try:
            item_id = int(action.get("value", ""))
            can = Can.COMPLETE_ACTION_ITEM
            await require(self.deps.authority, actor_of(body), can, item_id=item_id)
            done = await self.postmortems.complete_item(item_id, actor=user)
        except ValueError:
            done = False
        except Refused as exc:
            await self.notices.tell(user, channel, str(exc))
            return
        told = messages.ITEM_DONE if done else messages.ITEM_ALREADY_DONE
        await self.notices.tell(user, channel, told)

    def subcommands(self) -> list[Subcommand]:
        return [
            Subcommand(
                "resolve",
                "resolve",
                messages.HELP_RESOLVE,
                self.answer_resolve,
                self.follow_resolve,
            ),
            Subcommand(
                "postmortem",
                "postmortem",
                messages.HELP_POSTMORTEM,
                self.answer_postmortem,
                self.follow_postmortem,
            ),
            Subcommand(
                "followups",
                "followups [all]",
                messages.HELP_FOLLOWUPS,
                self.answer_followups,
            ),
        ]


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    listeners = PostmortemListeners(deps)
    app.view(PmIds.RESOLVE_MODAL)(listeners.resolve_submitted)
    app.action(Action.WRITE_POSTMORTEM.value)(ack=acknowledge, lazy=[listeners.write_clicked])
    app.view(PmIds.POSTMORTEM_MODAL)(listeners.postmortem_submitted)
    app.action(Action.POSTMORTEM_APPROVE.value)(listeners.decide)
    app.action(Action.POSTMORTEM_CHANGES.value)(listeners.decide)
    app.action(Action.FOLLOWUP_DONE.value)(listeners.item_done)
    return listeners.subcommands()
