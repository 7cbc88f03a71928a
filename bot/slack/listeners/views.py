"""Modal submissions."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.domain.incident import IncidentReport
from bot.services.incidents import InvalidReport
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import VALUE, Block, Callback

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


def report_from_view(view: dict[str, Any]) -> IncidentReport:
    values = (view.get("state") or {}).get("values") or {}
    return IncidentReport(
        title=read_value(values, Block.TITLE),
        severity=read_value(values, Block.SEVERITY),
        nature=read_value(values, Block.NATURE),
        discovery=read_value(values, Block.DISCOVERY),
        impact=read_value(values, Block.IMPACT),
        evidence=read_value(values, Block.EVIDENCE),
        service=read_value(values, Block.SERVICE) or None,
    )


def register(app: AsyncApp, deps: ListenerDeps) -> None:
    @app.view(Callback.DECLARE_MODAL.value)
    @answer_errors
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        report = report_from_view(view)
        errors = deps.incidents.check_report(report)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        try:
            # Stored (with its outbox rows) before Slack hears back; the view id makes a
            # retried or double-clicked submission find the same incident.
            await deps.incidents.declare(
                report, reporter_id=body["user"]["id"], declare_key=f"view:{view['id']}"
            )
        except InvalidReport as exc:
            await ack(response_action="errors", errors=exc.errors)
            return
        await ack()
