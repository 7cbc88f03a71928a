"""The weekly meeting in Slack (a feature module for bolt_app.FEATURES): `/incident digest`
previews the digest, and the agenda's checkboxes in a posted digest store their answers.

Both answer from the database in the acknowledgement; the digest and the reminders are
posted by the outbox (bot/slack/digest_delivery.py). The Approve / Request changes buttons
belong to the post-mortem feature.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.slack.blocks import digest as digest_blocks
from bot.slack.deps import ListenerDeps
from bot.slack.ids import Action
from bot.slack.subcommands import Subcommand, ephemeral


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    digest = deps.digest
    if digest is None:
        return []

    async def answer_digest(ack: AsyncAck, _command: dict[str, Any], _rest: str) -> None:
        period = digest.current_period()
        built = await digest.build(period.start, period.end)
        text, blocks = digest_blocks.digest_message(
            built, deps.policy(), zone=digest.zone, preview=True
        )
        await ephemeral(ack, text, blocks)

    async def agenda_ticked(ack: AsyncAck, body: dict[str, Any]) -> None:
        action = (body.get("actions") or [{}])[0]
        where = digest_blocks.parse_meeting_block_id(str(action.get("block_id", "")))
        if where is not None:
            meeting, postmortem_id = where
            ticked = {
                str(o.get("value"))
                for o in action.get("selected_options") or []
                if isinstance(o, dict)
            }
            user = str((body.get("user") or {}).get("id", ""))
            await digest.answer_agenda(meeting, postmortem_id, ticked, by=user)
        await ack()

    app.action(Action.MEETING_AGENDA)(agenda_ticked)

    return [
        Subcommand(
            "digest",
            "digest",
            "preview the weekly review digest (only you see it)",
            answer_digest,
        )
    ]
