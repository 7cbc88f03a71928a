"""Declaring and the severity: the declare shortcut, the severity button, and the forms
(declare, "not an incident", checklist, severity).

Each form is validated, stored, and only then acknowledged. The shortcut and the button
open their modal after the acknowledgement (bot/slack/follow_ups.py).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Set
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.checklist import leaves
from bot.domain.incident import Incident, IncidentReport, Kind
from bot.domain.permissions import Action as Can
from bot.domain.status_page import ComponentState
from bot.services.incidents import (
    DeclareAnywayNotAllowed,
    IncidentNotFound,
    InvalidChange,
    InvalidReport,
    NotAnIncident,
)
from bot.slack import messages
from bot.slack.blocks import declare as modals
from bot.slack.blocks.status_page import IMPACTS
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import (
    CHECKLIST_BLOCK_PREFIX,
    VALUE,
    Action,
    Block,
    Callback,
    Decision,
    StatusPageIds,
)
from bot.slack.listeners.forms import (
    answering,
    errors,
    first_action,
    metadata,
    option_values,
    read_value,
    selected,
    state_values,
    view_key,
)
from bot.slack.permission import actor_of, look_up, refusal_now, require_in_form

# A follow-up that opens a modal for a shortcut or a button.
OpenModal = Callable[[dict[str, Any], AsyncWebClient], Awaitable[None]]


def report_from_view(view: dict[str, Any]) -> IncidentReport:
    values = state_values(view)
    return IncidentReport(
        title=read_value(values, Block.TITLE),
        severity=read_value(values, Block.SEVERITY),
        nature=read_value(values, Block.NATURE),
        discovery=read_value(values, Block.DISCOVERY),
        impact=read_value(values, Block.IMPACT),
        evidence=read_value(values, Block.EVIDENCE),
        service=read_value(values, Block.SERVICE) or None,
        **chosen_components(values),
    )


def chosen_components(values: dict[str, Any]) -> dict[str, Any]:
    """The status page inputs (when the form has them): the components chosen, and how
    they are affected (major outage when not said, or when the value is garbled)."""
    picked = selected(values, StatusPageIds.COMPONENTS, "selected_options") or []
    keys = tuple(dict.fromkeys(str(o.get("value")) for o in picked if isinstance(o, dict)))
    if not keys:
        return {"components": (), "component_state": ""}
    state = read_value(values, StatusPageIds.COMPONENT_STATE)
    known = {s.value for s in IMPACTS}
    return {
        "components": keys,
        "component_state": state if state in known else ComponentState.MAJOR_OUTAGE.value,
    }


def checklist_answers(view: dict[str, Any], known: Set[str]) -> set[str]:
    """Ticked checklist leaves; values not in the policy (a stale form) are ignored."""
    ticked: set[str] = set()
    for block_id, elements in state_values(view).items():
        if not str(block_id).startswith(CHECKLIST_BLOCK_PREFIX) or not isinstance(elements, dict):
            continue
        ticked |= option_values((elements.get(VALUE) or {}).get("selected_options")) & known
    return ticked


async def open_severity_modal(
    deps: ListenerDeps, incident: Incident, trigger_id: str, client: AsyncWebClient
) -> None:
    """The severity form, from `/incident severity` or the button."""
    view = modals.severity_modal(incident, deps.policy())
    await client.views_open(trigger_id=trigger_id, view=view)


class DeclareListeners:
    def __init__(self, deps: ListenerDeps) -> None:
        self.deps = deps
        self.incidents = deps.incidents
        self._leaf_keys: tuple[object, frozenset[str]] | None = None

    def leaf_keys(self) -> frozenset[str]:
        """The checklist's leaf keys, computed once per policy (a reload replaces it)."""
        checklist = self.deps.policy().checklist
        cached = self._leaf_keys
        if cached is None or cached[0] is not checklist:
            keys = frozenset(e.leaf.key for e in leaves(checklist))
            cached = self._leaf_keys = (checklist, keys)
        return cached[1]

    # --- the shortcut and the button: the modal opens after the answer --------------------

    async def declare_shortcut(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await self.open_after_answer(ack, self.open_declare_modal, body, client, "declare-modal")

    async def open_declare_modal(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        view = modals.declare_modal(self.deps.policy())
        await client.views_open(trigger_id=body["trigger_id"], view=view)
        await look_up(self.deps.authority, body)  # the submission reads only the cache

    async def severity_clicked(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await self.open_after_answer(
            ack, self.open_clicked_severity, body, client, "severity-modal"
        )

    async def open_after_answer(
        self,
        ack: AsyncAck,
        open_modal: OpenModal,
        body: dict[str, Any],
        client: AsyncWebClient,
        name: str,
    ) -> None:
        """Answer at once; `open_modal` calls views.open in a follow-up."""
        await ack()
        self.deps.follow_ups.start(functools.partial(open_modal, body, client), name=name)

    async def open_clicked_severity(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        try:
            incident = await self.incidents.get(int(first_action(body).get("value", "")))
        except (ValueError, IncidentNotFound):
            return
        await open_severity_modal(self.deps, incident, body["trigger_id"], client)

    # --- the forms ------------------------------------------------------------------------

    @answer_errors
    async def declare_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        refused = await refusal_now(self.deps.authority, actor_of(body), Can.DECLARE)
        if refused is not None:  # in memory: the submission's path reads nothing more
            await errors(ack, Block.TITLE, refused)
            return
        report = report_from_view(view)
        answers = checklist_answers(view, self.leaf_keys())
        key = view_key(view)
        try:
            # Stored before Slack hears back; the view id makes a retried or
            # double-clicked submission find the same submission and incident.
            await self.deps.intake.submit(
                report, reporter_id=body["user"]["id"], declare_key=key, checklist_answers=answers
            )
        except InvalidReport as exc:
            await ack(response_action="errors", errors=exc.errors)
            return
        except NotAnIncident as exc:
            origin = metadata(view).get("origin_channel")
            await self.incidents.save_draft(key, report, answers, origin)
            allow = self.deps.policy().declare.allow_declare_anyway
            await ack(
                response_action="push",
                view=modals.not_an_incident_modal(exc.verdict, allow_anyway=allow, draft=key),
            )
            return
        await ack()

    @answer_errors
    async def not_an_incident_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = state_values(view)
        decision = read_value(values, Block.DECISION)
        reason = read_value(values, Block.REASON).strip()
        key = str(metadata(view).get("draft") or "")
        draft = await self.incidents.load_draft(key) if key else None
        if draft is None:
            await errors(ack, Block.DECISION, messages.DRAFT_EXPIRED)
            return
        report, answers = draft
        if decision == Decision.DECLARE_ANYWAY and not reason:
            await errors(ack, Block.REASON, messages.REASON_REQUIRED)
            return
        kind = Kind.INCIDENT if decision == Decision.DECLARE_ANYWAY else Kind.NON_INCIDENT
        try:
            await self.incidents.declare(
                report,
                reporter_id=body["user"]["id"],
                declare_key=key,
                checklist_answers=answers,
                override_reason=reason if kind is Kind.INCIDENT else None,
                kind=kind,
            )
        except DeclareAnywayNotAllowed:
            await errors(ack, Block.DECISION, messages.ANYWAY_NOT_ALLOWED)
            return
        await ack(response_action="clear")

    @answer_errors
    async def checklist_submitted(self, ack: AsyncAck, view: dict[str, Any]) -> None:
        verdict = self.incidents.evaluate_checklist(checklist_answers(view, self.leaf_keys()))
        await ack(response_action="update", view=modals.checklist_verdict_modal(verdict))

    @answer_errors
    async def severity_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = state_values(view)
        async with answering(ack, Block.NEW_SEVERITY, refused=(InvalidChange,)):
            await self.incidents.change_severity(
                await require_in_form(self.deps.authority, body, view, Can.CHANGE_SEVERITY),
                read_value(values, Block.NEW_SEVERITY),
                actor=body["user"]["id"],
                reason=read_value(values, Block.REASON),
            )


def register(app: AsyncApp, deps: ListenerDeps) -> None:
    """Right after `/incident`, in this order: the shortcut, the button, the forms."""
    listeners = DeclareListeners(deps)
    app.shortcut(Callback.DECLARE_SHORTCUT.value)(listeners.declare_shortcut)
    app.action(Action.CHANGE_SEVERITY.value)(listeners.severity_clicked)
    app.view(Callback.DECLARE_MODAL.value)(listeners.declare_submitted)
    app.view(Callback.NOT_AN_INCIDENT_MODAL.value)(listeners.not_an_incident_submitted)
    app.view(Callback.CHECKLIST_MODAL.value)(listeners.checklist_submitted)
    app.view(Callback.SEVERITY_MODAL.value)(listeners.severity_submitted)
