"""The `/incident <subcommand>` registry: each feature's listener module adds its own.

A subcommand has an `answer`, run before the acknowledgement (database only, a few ms;
it calls `ack`), and optionally a `follow_up`, run after it (bot/slack/follow_ups.py),
where Slack may be called, e.g. views.open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.incident import Incident
from bot.services.incidents import IncidentService
from bot.slack import messages

Answer = Callable[[AsyncAck, dict[str, Any], str], Awaitable[None]]
FollowUp = Callable[[dict[str, Any], AsyncWebClient, str], Awaitable[None]]


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str  # e.g. "note <text>"
    help: str
    answer: Answer
    follow_up: FollowUp | None = None
    aliases: tuple[str, ...] = ()


async def ack_only(ack: AsyncAck, _command: dict[str, Any], _rest: str) -> None:
    await ack()


async def ephemeral(ack: AsyncAck, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
    await ack(text=text, blocks=blocks, response_type="ephemeral")


async def incident_here(
    incidents: IncidentService, ack: AsyncAck, command: dict[str, Any], name: str
) -> Incident | None:
    """The incident whose channel `/incident <name>` was run in. Elsewhere the answer
    says the subcommand works only there, and the result is None."""
    incident = await incidents.by_channel(str(command.get("channel_id", "")))
    if incident is None:
        await ephemeral(ack, messages.NOT_AN_INCIDENT_CHANNEL.format(command=name))
    return incident


def help_text(subcommands: list[Subcommand]) -> str:
    lines = [messages.HELP_INTRO]
    lines += [messages.HELP_LINE.format(usage=s.usage, help=s.help) for s in subcommands]
    return "\n".join(lines)
