"""Modal submissions. Each one is validated, stored, and only then acknowledged."""

from __future__ import annotations

import json
import logging
from collections.abc import Set
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.domain.checklist import leaves
from bot.domain.incident import IncidentReport, Kind
from bot.services.incidents import (
    DeclareAnywayNotAllowed,
    IncidentNotFound,
    InvalidChange,
    InvalidReport,
    NotAnIncident,
)
from bot.slack import messages
from bot.slack.blocks import declare as modals
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import CHECKLIST_BLOCK_PREFIX, VALUE, Block, Callback, Decision

log = logging.getLogger(__name__)


def read_value(values: dict[str, Any], block: str) -> str:
    """The value of a modal input, whatever kind of element it is ("" when empty)."""
    element = (values.get(block) or {}).get(VALUE) or {}
    if not isinstance(element, dict):
        return ""
    if element.get("selected_option"):
        return str(element["selected_option"].get("value") or "")
    value = element.get("value")
    return str(value) if value is not None else ""


def state_values(view: dict[str, Any]) -> dict[str, Any]:
    values = (view.get("state") or {}).get("values") or {}
    return values if isinstance(values, dict) else {}


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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
    )


def checklist_answers(view: dict[str, Any], known: Set[str]) -> set[str]:
    """Ticked checklist leaves; values not in the policy (a stale form) are ignored."""
    ticked: set[str] = set()
    for block_id, elements in state_values(view).items():
        if not str(block_id).startswith(CHECKLIST_BLOCK_PREFIX) or not isinstance(elements, dict):
            continue
        element = elements.get(VALUE) or {}
        for option in element.get("selected_options") or []:
            value = option.get("value") if isinstance(option, dict) else None
            if value in known:
                ticked.add(str(value))
    return ticked


def register(app: AsyncApp, deps: ListenerDeps) -> None:
    incidents = deps.incidents

    known: dict[int, tuple[object, frozenset[str]]] = {}

    def leaf_keys() -> frozenset[str]:
        """The checklist's leaf keys, computed once per policy (a reload replaces it)."""
        checklist = deps.policy().checklist
        cached = known.get(id(checklist))
        if cached is None or cached[0] is not checklist:
            known.clear()
            cached = known[id(checklist)] = (
                checklist,
                frozenset(e.leaf.key for e in leaves(checklist)),
            )
        return cached[1]

    @app.view(Callback.DECLARE_MODAL.value)
    @answer_errors
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        report = report_from_view(view)
        answers = checklist_answers(view, leaf_keys())
        key = f"view:{view['id']}"
        try:
            # Stored before Slack hears back; the view id makes a retried or
            # double-clicked submission find the same submission and incident.
            await deps.intake.submit(
                report, reporter_id=body["user"]["id"], declare_key=key, checklist_answers=answers
            )
        except InvalidReport as exc:
            await ack(response_action="errors", errors=exc.errors)
            return
        except NotAnIncident as exc:
            origin = metadata(view).get("origin_channel")
            await incidents.save_draft(key, report, answers, origin)
            allow = deps.policy().declare.allow_declare_anyway
            await ack(
                response_action="push",
                view=modals.not_an_incident_modal(exc.verdict, allow_anyway=allow, draft=key),
            )
            return
        await ack()

    @app.view(Callback.NOT_AN_INCIDENT_MODAL.value)
    @answer_errors
    async def not_an_incident_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = state_values(view)
        decision = read_value(values, Block.DECISION)
        reason = read_value(values, Block.REASON).strip()
        key = str(metadata(view).get("draft") or "")
        draft = await incidents.load_draft(key) if key else None
        if draft is None:
            await ack(response_action="errors", errors={Block.DECISION: messages.DRAFT_EXPIRED})
            return
        report, answers = draft
        if decision == Decision.DECLARE_ANYWAY and not reason:
            await ack(response_action="errors", errors={Block.REASON: messages.REASON_REQUIRED})
            return
        kind = Kind.INCIDENT if decision == Decision.DECLARE_ANYWAY else Kind.NON_INCIDENT
        try:
            await incidents.declare(
                report,
                reporter_id=body["user"]["id"],
                declare_key=key,
                checklist_answers=answers,
                override_reason=reason if kind is Kind.INCIDENT else None,
                kind=kind,
            )
        except DeclareAnywayNotAllowed:
            await ack(
                response_action="errors", errors={Block.DECISION: messages.ANYWAY_NOT_ALLOWED}
            )
            return
        await ack(response_action="clear")

    @app.view(Callback.CHECKLIST_MODAL.value)
    @answer_errors
    async def checklist_submitted(ack: AsyncAck, view: dict[str, Any]) -> None:
        verdict = incidents.evaluate_checklist(checklist_answers(view, leaf_keys()))
        await ack(response_action="update", view=modals.checklist_verdict_modal(verdict))

    @app.view(Callback.SEVERITY_MODAL.value)
    @answer_errors
    async def severity_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = state_values(view)
        try:
            incident_id = int(metadata(view).get("incident_id", ""))
            await incidents.change_severity(
                incident_id,
                read_value(values, Block.NEW_SEVERITY),
                actor=body["user"]["id"],
                reason=read_value(values, Block.REASON),
            )
        except (ValueError, IncidentNotFound):
            await ack(response_action="errors", errors={Block.NEW_SEVERITY: messages.INCIDENT_GONE})
            return
        except InvalidChange as exc:
            await ack(response_action="errors", errors={Block.NEW_SEVERITY: str(exc)})
            return
        await ack()
