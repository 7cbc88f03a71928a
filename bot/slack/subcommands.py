"""The `/incident <subcommand>` registry: each feature's listener module adds its own.

A subcommand has an `answer`, run before the acknowledgement (database only, a few ms;
it calls `ack`), and optionally a `follow_up`, run after it in a lazy listener (where
Slack may be called, e.g. views.open).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

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


def help_text(subcommands: list[Subcommand]) -> str:
    lines = ["*Firewatch* — incident response, by your team's policy."]
    lines += [f"• `/incident {s.usage}` — {s.help}" for s in subcommands]
    return "\n".join(lines)
