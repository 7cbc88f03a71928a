"""The weekly meeting in Slack (a feature module for bolt_app.FEATURES): `/incident digest`
previews the digest, and the agenda's checkboxes in a posted digest store their answers.

Both answer from the database in the acknowledgement; the digest and the reminders are
posted by the outbox (bot/slack/delivery/digest.py). The Approve / Request changes
buttons belong to the post-mortem feature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.domain.policy import Policy
from bot.services.authority import Authority
from bot.services.digest import DigestService
from bot.slack import messages
from bot.slack.blocks import digest as digest_blocks
from bot.slack.deps import ListenerDeps
from bot.slack.ids import Action, parse_meeting_block_id
from bot.slack.listeners.forms import first_action, option_values
from bot.slack.permission import actor_of, reads_everywhere
from bot.slack.subcommands import Subcommand, ephemeral


class DigestListeners:
    """The feature's listener and subcommand, sharing the service they call."""

    def __init__(
        self,
        digest: DigestService,
        policy: Callable[[], Policy],
        authority: Authority | None = None,
    ) -> None:
        self.digest = digest
        self.policy = policy
        self.authority = authority

    async def answer_digest(self, ack: AsyncAck, command: dict[str, Any], _rest: str) -> None:
        if not await reads_everywhere(self.authority, actor_of(command), refusing=True):
            await ephemeral(ack, messages.DIGEST_MEMBERS_ONLY)
            return
        period = self.digest.current_period()
        built = await self.digest.build(period.start, period.end)
        text, blocks = digest_blocks.digest_message(
            built, self.policy(), zone=self.digest.zone, preview=True
        )
        await ephemeral(ack, text, blocks)

    async def agenda_ticked(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """A checkbox of the meeting's agenda, answered once its answer is stored."""
        action = first_action(body)
        where = parse_meeting_block_id(str(action.get("block_id", "")))
        if where is not None:
            meeting, postmortem_id = where
            ticked = option_values(action.get("selected_options"))
            user = str((body.get("user") or {}).get("id", ""))
            await self.digest.answer_agenda(meeting, postmortem_id, ticked, by=user)
        await ack()

    def subcommands(self) -> list[Subcommand]:
        return [
            Subcommand(
                "digest",
                "digest",
                messages.HELP_DIGEST,
                self.answer_digest,
            )
        ]


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    if deps.digest is None:
        return []
    listeners = DigestListeners(deps.digest, deps.policy, deps.authority)
    app.action(Action.MEETING_AGENDA)(listeners.agenda_ticked)
    return listeners.subcommands()
