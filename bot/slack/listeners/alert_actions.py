"""An alert card's Declare, Link and Silence buttons and their forms (issue 22).

Each button is answered at once; its form opens after the answer (a follow-up), or the
person is told ephemerally why not (the group is gone, already linked, a refusal). Each
form is checked, stored, and only then answered: a field error keeps it open. Idempotent:
a declaration's key is its alert group (one incident per group), and a link or a
silence submitted twice (a double click, Slack's retry) changes nothing the second time.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.checklist import leaves
from bot.domain.incident import Kind
from bot.domain.permissions import Action as Can
from bot.services.alert_actions import (
    REASON_MAX,
    AlertActionError,
    AlertActions,
    AlreadyLinked,
    IncidentClosed,
    NothingFiring,
    SilenceTooLong,
    declare_key,
    silence_choices,
)
from bot.services.authority import Refused
from bot.services.incidents import (
    DeclareAnywayNotAllowed,
    IncidentNotFound,
    InvalidReport,
    NotAnIncident,
)
from bot.slack import messages
from bot.slack.blocks import alert_forms as ui
from bot.slack.blocks.common import fit
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import Action, AlertFormIds, Block, Decision, PickerIds
from bot.slack.listeners.declare import checklist_answers, report_from_view
from bot.slack.listeners.forms import (
    channel_of,
    errors,
    first_action,
    metadata,
    read_value,
    state_values,
    view_key,
)
from bot.slack.listeners.picker import chosen_incident
from bot.slack.permission import actor_of, look_up, refusal, refusal_now, require
from bot.slack.subcommands import Subcommand

Opener = Callable[[dict[str, Any], AsyncWebClient, int], Awaitable[None]]


def sentence(exc: AlertActionError) -> str:
    """What the person is told for a refusal of the service."""
    if isinstance(exc, AlreadyLinked):
        incident = exc.incident
        where = f" in <#{incident.channel_id}>" if incident.channel_id else ""
        title = fit(incident.title, 150)
        return ui.ALREADY_LINKED.format(ref=incident.ref, title=title, where=where)
    if isinstance(exc, IncidentClosed):
        return ui.INCIDENT_CLOSED.format(ref=exc.ref)
    if isinstance(exc, NothingFiring):
        return ui.NOTHING_FIRING
    if isinstance(exc, SilenceTooLong):
        return ui.SILENCE_TOO_LONG.format(most=ui.hours_label(exc.most_hours))
    return ui.GROUP_GONE


class AlertActionListeners:
    def __init__(self, deps: ListenerDeps, actions: AlertActions) -> None:
        self.deps = deps
        self.actions = actions
        self.authority = deps.authority

    # --- the buttons: answered at once, the form after -----------------------------------

    async def declare_clicked(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await self._after_answer(ack, body, client, self.open_declare, "alert-declare")

    async def link_clicked(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await self._after_answer(ack, body, client, self.open_link, "alert-link")

    async def silence_clicked(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await self._after_answer(ack, body, client, self.open_silence, "alert-silence")

    async def _after_answer(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, open_: Opener, name: str
    ) -> None:
        await ack()
        group_id = ui.group_id_of(first_action(body).get("value"))
        if group_id is not None:  # a garbled value: nothing to open
            self.deps.follow_ups.start(functools.partial(open_, body, client, group_id), name=name)

    async def tell(self, body: dict[str, Any], text: str) -> None:
        """An ephemeral to the person who clicked, where they clicked."""
        await self.deps.notices.tell(actor_of(body).user_id, channel_of(body), text)

    async def open_declare(
        self, body: dict[str, Any], client: AsyncWebClient, group_id: int
    ) -> None:
        refused = await refusal(self.authority, actor_of(body), Can.DECLARE)
        if refused is not None:
            await self.tell(body, refused)
            return
        try:
            declaration = await self.actions.declaration(group_id)
        except AlertActionError as exc:
            await self.tell(body, sentence(exc))
            return
        view = ui.declare_from_alert(self.deps.policy(), declaration)
        await client.views_open(trigger_id=body["trigger_id"], view=view)
        await look_up(self.authority, body)  # the submission reads only the cache

    async def open_link(self, body: dict[str, Any], client: AsyncWebClient, group_id: int) -> None:
        try:
            group, linked = await self.actions.group(group_id)
        except AlertActionError as exc:
            await self.tell(body, sentence(exc))
            return
        await client.views_open(trigger_id=body["trigger_id"], view=ui.link_modal(group, linked))
        await look_up(self.authority, body)  # the picker's options read only the cache

    async def open_silence(
        self, body: dict[str, Any], client: AsyncWebClient, group_id: int
    ) -> None:
        refused = await refusal(self.authority, actor_of(body), Can.SILENCE_ALERT)
        if refused is not None:
            await self.tell(body, refused)
            return
        try:
            group, _ = await self.actions.group(group_id)
        except AlertActionError as exc:
            await self.tell(body, sentence(exc))
            return
        choices = silence_choices(self.deps.policy().alerts.max_silence_hours)
        await client.views_open(
            trigger_id=body["trigger_id"], view=ui.silence_modal(group, choices)
        )

    # --- the forms -----------------------------------------------------------------------

    @answer_errors
    async def declare_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        refused = await refusal_now(self.authority, actor_of(body), Can.DECLARE)
        if refused is not None:
            await errors(ack, Block.TITLE, refused)
            return
        user = actor_of(body).user_id
        group_id = ui.group_id_of(metadata(view).get("alert_group"))
        try:
            declaration = await self.actions.declaration(group_id if group_id is not None else -1)
        except AlreadyLinked as exc:
            if exc.incident.reporter_id == user:  # Slack's retry of what was declared
                await ack()
                return
            await errors(ack, Block.TITLE, sentence(exc))
            return
        except AlertActionError as exc:
            await errors(ack, Block.TITLE, sentence(exc))
            return
        report = report_from_view(view)
        checklist = self.deps.policy().checklist
        answers = checklist_answers(view, frozenset(e.leaf.key for e in leaves(checklist)))
        try:
            await self.deps.intake.submit(
                report,
                reporter_id=user,
                declare_key=declaration.key,
                checklist_answers=answers,
                extra={"alert_group_id": declaration.group.id, "alert_declared_by": user},
            )
        except InvalidReport as exc:
            await ack(response_action="errors", errors=exc.errors)
            return
        except NotAnIncident as exc:
            key = view_key(view)
            await self.deps.incidents.save_draft(key, report, answers, channel_of(body) or None)
            allow = self.deps.policy().declare.allow_declare_anyway
            pushed = ui.not_an_incident_from_alert(
                exc.verdict, allow_anyway=allow, draft=key, group_id=declaration.group.id
            )
            await ack(response_action="push", view=pushed)
            return
        await ack()

    @answer_errors
    async def not_an_incident_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        """As `/incident`'s, but declaring anyway declares the group's incident (its key)
        and links the group to it."""
        values = state_values(view)
        decision = read_value(values, Block.DECISION)
        reason = read_value(values, Block.REASON).strip()
        key = str(metadata(view).get("draft") or "")
        group_id = ui.group_id_of(metadata(view).get("alert_group"))
        draft = await self.deps.incidents.load_draft(key) if key else None
        if draft is None or group_id is None:
            await errors(ack, Block.DECISION, messages.DRAFT_EXPIRED)
            return
        if decision == Decision.DECLARE_ANYWAY and not reason:
            await errors(ack, Block.REASON, messages.REASON_REQUIRED)
            return
        anyway = decision == Decision.DECLARE_ANYWAY
        user = actor_of(body).user_id
        try:
            outcome = await self.deps.incidents.declare(
                draft[0],
                reporter_id=user,
                declare_key=declare_key(group_id) if anyway else key,
                checklist_answers=draft[1],
                override_reason=reason if anyway else None,
                kind=Kind.INCIDENT if anyway else Kind.NON_INCIDENT,
            )
            if anyway:  # just after the declaration (not in its transaction)
                await self.actions.link(group_id, outcome.incident.id, by=user, key=key)
        except DeclareAnywayNotAllowed:
            await errors(ack, Block.DECISION, messages.ANYWAY_NOT_ALLOWED)
            return
        except AlertActionError as exc:
            await errors(ack, Block.DECISION, sentence(exc))
            return
        await ack(response_action="clear")

    @answer_errors
    async def link_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        group_id = ui.group_id_of(metadata(view).get("alert_group"))
        number = chosen_incident(view)
        if number is None:
            await errors(ack, PickerIds.INCIDENT, ui.PICK_INCIDENT)
            return
        actor = actor_of(body)
        try:
            group, linked = await self.actions.group(group_id if group_id is not None else -1)
            # The incident the group joins, and the one it leaves, are both changed.
            await require(self.authority, actor, Can.LINK_ALERT, number)
            if linked is not None and linked.id != number:
                await require(self.authority, actor, Can.LINK_ALERT, linked.id)
            await self.actions.link(group.id, number, by=actor.user_id, key=view_key(view))
        except AlertActionError as exc:
            await errors(ack, PickerIds.INCIDENT, sentence(exc))
            return
        except IncidentNotFound:
            await errors(ack, PickerIds.INCIDENT, messages.INCIDENT_GONE)
            return
        except Refused as exc:
            await errors(ack, PickerIds.INCIDENT, str(exc))
            return
        await ack()

    @answer_errors
    async def silence_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = state_values(view)
        chosen = read_value(values, AlertFormIds.DURATION)
        hours = int(chosen) if chosen.isdigit() and len(chosen) < 6 else None
        reason = read_value(values, AlertFormIds.REASON).strip()
        if hours is None:
            await errors(ack, AlertFormIds.DURATION, ui.SILENCE_TOO_LONG.format(most="the list"))
            return
        if not reason:
            await errors(ack, AlertFormIds.REASON, ui.REASON_REQUIRED)
            return
        if len(reason) > REASON_MAX:
            await errors(ack, AlertFormIds.REASON, ui.REASON_TOO_LONG.format(most=REASON_MAX))
            return
        group_id = ui.group_id_of(metadata(view).get("alert_group"))
        actor = actor_of(body)
        try:
            await require(self.authority, actor, Can.SILENCE_ALERT)
            await self.actions.silence(
                group_id if group_id is not None else -1,
                hours,
                reason,
                by=actor.user_id,
                key=view_key(view),
            )
        except (AlertActionError, Refused) as exc:
            text = str(exc) if isinstance(exc, Refused) else sentence(exc)
            await errors(ack, AlertFormIds.DURATION, text)
            return
        await ack()


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    if deps.alert_actions is None:
        return []
    listeners = AlertActionListeners(deps, deps.alert_actions)
    app.action(Action.ALERT_DECLARE.value)(listeners.declare_clicked)
    app.action(Action.ALERT_LINK.value)(listeners.link_clicked)
    app.action(Action.ALERT_SILENCE.value)(listeners.silence_clicked)
    app.view(AlertFormIds.DECLARE_MODAL)(listeners.declare_submitted)
    app.view(AlertFormIds.NOT_AN_INCIDENT_MODAL)(listeners.not_an_incident_submitted)
    app.view(AlertFormIds.LINK_MODAL)(listeners.link_submitted)
    app.view(AlertFormIds.SILENCE_MODAL)(listeners.silence_submitted)
    return []
