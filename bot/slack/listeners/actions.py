"""Buttons on Firewatch's messages."""

from __future__ import annotations

import functools
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.incidents import IncidentNotFound
from bot.slack.blocks import declare as modals
from bot.slack.deps import ListenerDeps
from bot.slack.ids import Action


def register(app: AsyncApp, deps: ListenerDeps) -> None:
    async def answer(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        deps.follow_ups.start(
            functools.partial(open_severity_modal, body, client), name="severity-modal"
        )

    async def open_severity_modal(body: dict[str, Any], client: AsyncWebClient) -> None:
        action = (body.get("actions") or [{}])[0]
        try:
            incident = await deps.incidents.get(int(action.get("value", "")))
        except (ValueError, IncidentNotFound):
            return
        view = modals.severity_modal(incident, deps.policy())
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    app.action(Action.CHANGE_SEVERITY.value)(answer)
