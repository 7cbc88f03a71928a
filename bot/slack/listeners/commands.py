"""`/incident` and its subcommands."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, messages
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import COMMAND

MODAL_SUBCOMMANDS = {"", "declare"}


def split_command(text: str) -> tuple[str, str]:
    """`"declare DB down"` → ``("declare", "DB down")``."""
    head, _, rest = (text or "").strip().partition(" ")
    return head.lower(), rest.strip()


def register(app: AsyncApp, deps: ListenerDeps) -> None:
    @answer_errors
    async def answer(ack: AsyncAck, command: dict[str, Any]) -> None:
        sub, _ = split_command(command.get("text", ""))
        if sub in MODAL_SUBCOMMANDS:
            await ack()
        elif sub == "help":
            await ack(text=messages.HELP, response_type="ephemeral")
        else:
            await ack(
                text=messages.UNKNOWN_SUBCOMMAND.format(sub=sub[:40]), response_type="ephemeral"
            )

    async def open_declare_modal(command: dict[str, Any], client: AsyncWebClient) -> None:
        sub, rest = split_command(command.get("text", ""))
        if sub not in MODAL_SUBCOMMANDS:
            return
        view = blocks.declare_modal(
            deps.policy(), title=rest, origin_channel=command.get("channel_id")
        )
        await client.views_open(trigger_id=command["trigger_id"], view=view)

    # The answer goes back at once; views.open runs after it (a lazy listener).
    app.command(COMMAND)(ack=answer, lazy=[open_declare_modal])
