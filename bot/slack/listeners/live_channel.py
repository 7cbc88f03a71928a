"""`/incident title <new title>`: retitling an incident from its channel (issue 23); the
channel's name, topic, report and announcement follow through the outbox."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.domain.permissions import Action as Can
from bot.services.incidents import InvalidChange
from bot.slack import messages
from bot.slack.blocks.common import escape
from bot.slack.deps import ListenerDeps
from bot.slack.permission import actor_of, refused_answer
from bot.slack.subcommands import Subcommand, ephemeral, incident_here


class RetitleListener:
    def __init__(self, deps: ListenerDeps) -> None:
        self.deps = deps

    async def answer_title(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        incident = await incident_here(self.deps.incidents, ack, command, "title")
        if incident is None or self.deps.retitling is None:
            return
        if await refused_answer(
            ack, self.deps.authority, actor_of(command), Can.RETITLE, incident.id
        ):
            return
        try:
            await self.deps.retitling.retitle(incident.id, rest, actor=command["user_id"])
        except InvalidChange as exc:
            await ephemeral(ack, str(exc))
            return
        await ephemeral(
            ack, messages.TITLE_NOW.format(ref=incident.ref, title=escape(rest.strip()))
        )


def register(_app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    if deps.retitling is None:
        return []
    listener = RetitleListener(deps)
    return [Subcommand("title", "title <new title>", messages.HELP_TITLE, listener.answer_title)]
