"""`/incident`: the router, and the core subcommands (declaring and the policy).

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
from bot.slack.blocks.common import escape
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.follow_ups import FollowUps
from bot.slack.ids import COMMAND
from bot.slack.listeners.declare import open_severity_modal
from bot.slack.listeners.picker import IncidentPicker
from bot.slack.permission import actor_of, look_up, readable_here
from bot.slack.subcommands import Subcommand, ack_only, ephemeral, help_text, incident_here


def split_command(text: str) -> tuple[str, str]:
    """`"declare DB down"` → ``("declare", "DB down")``."""
    head, _, rest = (text or "").strip().partition(" ")
    return head.lower(), rest.strip()


class CoreCommands:
    """declare, checklist, list, severity, raci: an `answer` and a `follow_up` each."""

    def __init__(self, deps: ListenerDeps) -> None:
        self.deps = deps

    async def open_declare(
        self, command: dict[str, Any], client: AsyncWebClient, rest: str
    ) -> None:
        view = modals.declare_modal(
            self.deps.policy(), title=rest, origin_channel=command.get("channel_id")
        )
        await client.views_open(trigger_id=command["trigger_id"], view=view)
        await look_up(self.deps.authority, command)  # the submission reads only the cache

    async def open_checklist(self, command: dict[str, Any], client: AsyncWebClient, _: str) -> None:
        view = modals.checklist_modal(self.deps.policy())
        await client.views_open(trigger_id=command["trigger_id"], view=view)

    async def answer_list(self, ack: AsyncAck, command: dict[str, Any], _rest: str) -> None:
        incidents = self.deps.incidents
        found = await readable_here(
            self.deps.authority, actor_of(command), await incidents.list_open()
        )
        body = blocks.incident_list(found, self.deps.policy(), incidents.clock.now())
        await ephemeral(ack, messages.OPEN_INCIDENTS.format(count=len(found)), body)

    async def answer_raci(self, ack: AsyncAck, _command: dict[str, Any], _rest: str) -> None:
        await ephemeral(ack, messages.RACI_CHART, blocks.raci_chart(self.deps.policy()))

    async def answer_severity(self, ack: AsyncAck, command: dict[str, Any], _rest: str) -> None:
        if await incident_here(self.deps.incidents, ack, command, "severity") is not None:
            await ack()

    async def open_severity(self, command: dict[str, Any], client: AsyncWebClient, _: str) -> None:
        incident = await self.deps.incidents.by_channel(command.get("channel_id", ""))
        if incident is not None:
            await open_severity_modal(self.deps, incident, command["trigger_id"], client)


def core_subcommands(deps: ListenerDeps) -> list[Subcommand]:
    """Declaring and the policy, first in the help."""
    core = CoreCommands(deps)
    return [
        Subcommand(
            "declare",
            "declare [title]",
            messages.HELP_DECLARE,
            ack_only,
            core.open_declare,
            aliases=("",),
        ),
        Subcommand(
            "checklist",
            "checklist",
            messages.HELP_CHECKLIST,
            ack_only,
            core.open_checklist,
        ),
        Subcommand(
            "list",
            "list",
            messages.HELP_LIST,
            core.answer_list,
        ),
        Subcommand(
            "severity",
            "severity",
            messages.HELP_SEVERITY,
            core.answer_severity,
            core.open_severity,
        ),
        Subcommand("raci", "raci", messages.HELP_RACI, core.answer_raci),
    ]


class IncidentCommand:
    """The `/incident` listener: finds the subcommand, answers, then starts its follow-up.

    `subcommands` may still grow until the first request (the table is built then): Bolt
    tries listeners in the order they were registered, so `/incident` is registered
    before the features that contribute its subcommands (matching a note took a tenth of
    its CPU)."""

    def __init__(
        self,
        subcommands: list[Subcommand],
        follow_ups: FollowUps,
        picker: IncidentPicker | None = None,
    ) -> None:
        self.subcommands = subcommands
        self.follow_ups = follow_ups
        self.picker = picker  # outside an incident channel: which incident?
        self._table: dict[str, Subcommand] = {}

    def lookup(self, name: str) -> Subcommand | None:
        if not self._table:
            for sub in self.subcommands:
                for alias in (sub.name, *sub.aliases):
                    self._table[alias] = sub
        return self._table.get(name)

    @answer_errors
    async def answer(self, ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        name, rest = split_command(command.get("text", ""))
        sub = self.lookup(name)
        if sub is None:
            await self.answer_help(ack, name)
            return
        if self.picker is not None and await self.picker.intercepts(
            ack, command, client, sub, rest
        ):
            return
        await sub.answer(ack, command, rest)
        # Whatever calls Slack (views.open) runs after the answer has gone out.
        if sub.follow_up is not None:
            self.follow_ups.start(
                functools.partial(sub.follow_up, command, client, rest), name=f"/incident {name}"
            )

    async def answer_help(self, ack: AsyncAck, name: str) -> None:
        """`/incident help`, or an unknown subcommand: the list of subcommands."""
        help_message = help_text(self.subcommands) + "\n" + messages.HELP_SELF
        if name == "help":
            await ephemeral(ack, help_message)
        else:
            await ephemeral(
                ack, messages.UNKNOWN_SUBCOMMAND.format(sub=escape(name[:40]), help=help_message)
            )


def register(
    app: AsyncApp,
    subcommands: list[Subcommand],
    follow_ups: FollowUps,
    picker: IncidentPicker | None = None,
) -> None:
    """`/incident` first of all listeners; see `IncidentCommand`."""
    app.command(COMMAND)(IncidentCommand(subcommands, follow_ups, picker).answer)
