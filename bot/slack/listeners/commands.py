"""`/incident` and its subcommands.

Each feature module contributes `Subcommand`s (bot/slack/subcommands.py). Answers that
need only the database go back in the acknowledgement itself; anything that calls Slack
(views.open) runs after the acknowledgement (bot/slack/follow_ups.py).
"""

from __future__ import annotations

import functools
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import messages
from bot.slack.blocks import declare as modals
from bot.slack.blocks import incident as blocks
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.follow_ups import FollowUps
from bot.slack.ids import COMMAND
from bot.slack.subcommands import Subcommand, ack_only, ephemeral, help_text


def split_command(text: str) -> tuple[str, str]:
    """`"declare DB down"` → ``("declare", "DB down")``."""
    head, _, rest = (text or "").strip().partition(" ")
    return head.lower(), rest.strip()


def core_subcommands(deps: ListenerDeps) -> list[Subcommand]:
    """Declaring and the policy: declare, checklist, list, severity, raci."""

    async def open_declare(command: dict[str, Any], client: AsyncWebClient, rest: str) -> None:
        view = modals.declare_modal(
            deps.policy(), title=rest, origin_channel=command.get("channel_id")
        )
        await client.views_open(trigger_id=command["trigger_id"], view=view)

    async def open_checklist(command: dict[str, Any], client: AsyncWebClient, _: str) -> None:
        await client.views_open(
            trigger_id=command["trigger_id"], view=modals.checklist_modal(deps.policy())
        )

    async def answer_list(ack: AsyncAck, _command: dict[str, Any], _rest: str) -> None:
        incidents = await deps.incidents.list_open()
        body = blocks.incident_list(incidents, deps.policy(), deps.incidents.clock.now())
        await ephemeral(ack, f"{len(incidents)} open incidents", body)

    async def answer_raci(ack: AsyncAck, _command: dict[str, Any], _rest: str) -> None:
        await ephemeral(ack, "RACI chart", blocks.raci_chart(deps.policy()))

    async def answer_severity(ack: AsyncAck, command: dict[str, Any], _rest: str) -> None:
        if await deps.incidents.by_channel(command.get("channel_id", "")) is None:
            await ephemeral(ack, messages.NOT_AN_INCIDENT_CHANNEL.format(command="severity"))
        else:
            await ack()

    async def open_severity(command: dict[str, Any], client: AsyncWebClient, _: str) -> None:
        incident = await deps.incidents.by_channel(command.get("channel_id", ""))
        if incident is not None:
            view = modals.severity_modal(incident, deps.policy())
            await client.views_open(trigger_id=command["trigger_id"], view=view)

    return [
        Subcommand(
            "declare",
            "declare [title]",
            "declare an incident (a form with the checklist)",
            ack_only,
            open_declare,
            aliases=("",),
        ),
        Subcommand(
            "checklist",
            "checklist",
            "is it an incident? Runs the checklist alone; records nothing",
            ack_only,
            open_checklist,
        ),
        Subcommand(
            "list",
            "list",
            "open incidents with severity, status, age and time to the deadline",
            answer_list,
        ),
        Subcommand(
            "severity",
            "severity",
            "change the severity (in an incident channel)",
            answer_severity,
            open_severity,
        ),
        Subcommand("raci", "raci", "who is responsible and accountable for what", answer_raci),
    ]


def register(app: AsyncApp, subcommands: list[Subcommand], follow_ups: FollowUps) -> None:
    """`subcommands` may still grow until the first request: Bolt tries listeners in
    the order they were registered, so `/incident` is registered before the features
    that contribute its subcommands (matching a note took a tenth of its CPU)."""
    table: dict[str, Subcommand] = {}

    def lookup(name: str) -> Subcommand | None:
        if not table:
            for sub in subcommands:
                for alias in (sub.name, *sub.aliases):
                    table[alias] = sub
        return table.get(name)

    @answer_errors
    async def answer(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        name, rest = split_command(command.get("text", ""))
        sub = lookup(name)
        if sub is not None:
            await sub.answer(ack, command, rest)
            # Whatever calls Slack (views.open) runs after the answer has gone out.
            if sub.follow_up is not None:
                follow_ups.start(
                    functools.partial(sub.follow_up, command, client, rest),
                    name=f"/incident {name}",
                )
            return
        help_message = help_text(subcommands) + "\n• `/incident help` — this list"
        if name == "help":
            await ephemeral(ack, help_message)
        else:
            await ephemeral(
                ack, messages.UNKNOWN_SUBCOMMAND.format(sub=name[:40], help=help_message)
            )

    app.command(COMMAND)(answer)
