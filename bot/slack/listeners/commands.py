"""`/incident` and its subcommands.

Answers that need only the database (help, list, raci, refusals) go back in the
acknowledgement itself; anything that calls Slack (views.open) runs in a lazy listener
after the acknowledgement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, messages, modals
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import COMMAND

DECLARE = {"", "declare"}
MODALS = DECLARE | {"checklist", "severity"}


def split_command(text: str) -> tuple[str, str]:
    """`"declare DB down"` → ``("declare", "DB down")``."""
    head, _, rest = (text or "").strip().partition(" ")
    return head.lower(), rest.strip()


def register(app: AsyncApp, deps: ListenerDeps) -> None:
    async def ephemeral(ack: AsyncAck, text: str, body: list[dict[str, Any]] | None = None) -> None:
        await ack(text=text, blocks=body, response_type="ephemeral")

    async def answer_list(ack: AsyncAck, _: dict[str, Any]) -> None:
        incidents = await deps.incidents.list_open()
        body = blocks.incident_list(incidents, deps.policy(), deps.incidents.clock.now())
        await ephemeral(ack, f"{len(incidents)} open incidents", body)

    async def answer_raci(ack: AsyncAck, _: dict[str, Any]) -> None:
        await ephemeral(ack, "RACI chart", blocks.raci_chart(deps.policy()))

    async def answer_severity(ack: AsyncAck, command: dict[str, Any]) -> None:
        incident = await deps.incidents.by_channel(command.get("channel_id", ""))
        if incident is None:
            await ephemeral(ack, messages.NOT_AN_INCIDENT_CHANNEL.format(command="severity"))
        else:
            await ack()

    answers: dict[str, Callable[[AsyncAck, dict[str, Any]], Awaitable[None]]] = {
        "list": answer_list,
        "raci": answer_raci,
        "severity": answer_severity,
    }

    @answer_errors
    async def answer(ack: AsyncAck, command: dict[str, Any]) -> None:
        sub, _ = split_command(command.get("text", ""))
        if sub in answers:
            await answers[sub](ack, command)
        elif sub in MODALS:
            await ack()
        elif sub == "help":
            await ephemeral(ack, messages.HELP)
        else:
            await ephemeral(ack, messages.UNKNOWN_SUBCOMMAND.format(sub=sub[:40]))

    async def open_modal(command: dict[str, Any], client: AsyncWebClient) -> None:
        sub, rest = split_command(command.get("text", ""))
        policy = deps.policy()
        if sub in DECLARE:
            view = modals.declare_modal(
                policy, title=rest, origin_channel=command.get("channel_id")
            )
        elif sub == "checklist":
            view = modals.checklist_modal(policy)
        elif sub == "severity":
            incident = await deps.incidents.by_channel(command.get("channel_id", ""))
            if incident is None:
                return
            view = modals.severity_modal(incident, policy)
        else:
            return
        await client.views_open(trigger_id=command["trigger_id"], view=view)

    # The answer goes back at once; views.open runs after it (a lazy listener).
    app.command(COMMAND)(ack=answer, lazy=[open_modal])
