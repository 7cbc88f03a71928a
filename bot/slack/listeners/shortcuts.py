"""Global shortcut: declare an incident from anywhere."""

from __future__ import annotations

import functools
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import declare as modals
from bot.slack.deps import ListenerDeps
from bot.slack.ids import Callback


def register(app: AsyncApp, deps: ListenerDeps) -> None:
    async def answer(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        deps.follow_ups.start(
            functools.partial(open_declare_modal, body, client), name="declare-modal"
        )

    async def open_declare_modal(body: dict[str, Any], client: AsyncWebClient) -> None:
        await client.views_open(
            trigger_id=body["trigger_id"], view=modals.declare_modal(deps.policy())
        )

    app.shortcut(Callback.DECLARE_SHORTCUT.value)(answer)
