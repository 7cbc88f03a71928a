"""Paging in Slack: the Acknowledge button and `/incident roster|away|page|assign`.

Every answer here touches the database only and goes back in the acknowledgement; the
DMs, channel posts and invites follow through the outbox.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.domain.paging import BadWhen, parse_person, parse_until
from bot.domain.permissions import Action
from bot.services.paging import PagingError, PagingService
from bot.slack import messages
from bot.slack.blocks import paging as ui
from bot.slack.blocks.common import policy_zone, slack_date
from bot.slack.deps import ListenerDeps
from bot.slack.ids import Action as Ids
from bot.slack.listeners.forms import channel_of, first_action
from bot.slack.permission import actor_of, refusal, refused_answer
from bot.slack.subcommands import Subcommand, ephemeral, incident_here


class PagingListeners:
    """The feature's listeners and subcommands, sharing the services they call."""

    def __init__(self, deps: ListenerDeps, paging: PagingService) -> None:
        self.incidents = deps.incidents
        self.paging = paging
        self.authority, self.notices = deps.authority, deps.notices

    async def page_acknowledged(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """The Acknowledge button of a page, answered once the acknowledgement is stored."""
        user = str((body.get("user") or {}).get("id", ""))
        try:
            page_id = int(first_action(body).get("value", ""))
            refused = await refusal(
                self.authority, actor_of(body), Action.ACKNOWLEDGE, page_id=page_id
            )
            if refused is None:
                await self.paging.acknowledge(page_id, user)
        except (ValueError, PagingError):
            refused = None  # a stale button: the message already says what became of the page
        await ack()
        if refused is not None:
            await self.notices.tell(user, channel_of(body), refused)

    async def answer_roster(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        user = str(command.get("user_id", ""))
        if rest.strip().lower() == "reload":
            if await refused_answer(ack, self.authority, actor_of(command), Action.RELOAD_ROSTER):
                return
            try:
                await ephemeral(ack, await self.paging.reload_roster(user))
            except PagingError as exc:
                await ephemeral(ack, str(exc))
            return
        incident = await self.incidents.by_channel(str(command.get("channel_id", "")))
        assignments = await self.paging.assignments(incident.id) if incident else None
        view = await self.paging.roster_view()
        zone = policy_zone(self.paging.policy)
        body = ui.roster(view, assignments=assignments, zone=zone)
        await ephemeral(ack, messages.INCIDENT_ROLES, body)

    async def answer_away(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        paging, user, words = self.paging, str(command.get("user_id", "")), rest.strip()
        if words.lower() in {"off", "back", "clear"}:
            await paging.set_away(user, None)
            await ephemeral(ack, messages.WELCOME_BACK)
            return
        when = words[len("until") :].strip() if words.lower().startswith("until") else words
        try:
            until = parse_until(when, paging.clock.now(), paging.policy.working_time.timezone)
            await paging.set_away(user, until)
        except BadWhen as exc:
            await ephemeral(ack, f"{exc}\n{messages.AWAY_USAGE}")
            return
        except PagingError as exc:
            await ephemeral(ack, str(exc))
            return
        await ephemeral(
            ack, messages.AWAY_UNTIL.format(until=slack_date(until, policy_zone(paging.policy)))
        )

    async def answer_page(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        incident = await incident_here(self.incidents, ack, command, "page")
        if incident is None:
            return
        target, _, message = rest.strip().partition(" ")
        if not target:
            await ephemeral(ack, messages.PAGE_USAGE)
            return
        if await refused_answer(ack, self.authority, actor_of(command), Action.PAGE, incident.id):
            return
        paged = self.paging.page_by_hand(
            incident.id,
            target,
            by=str(command.get("user_id", "")),
            message=message.strip(),
            key=str(command.get("trigger_id", "")),
        )
        await answer_paged(ack, paged, messages.PAGING)

    async def answer_assign(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        incident = await incident_here(self.incidents, ack, command, "assign")
        if incident is None:
            return
        role, _, who = rest.strip().partition(" ")
        person = parse_person(who)
        if not role or person is None:
            await ephemeral(ack, messages.ASSIGN_USAGE)
            return
        if await refused_answer(
            ack, self.authority, actor_of(command), Action.ASSIGN_ROLE, incident.id
        ):
            return
        assigned = self.paging.assign_role(
            incident.id,
            role.lower(),
            person,
            by=str(command.get("user_id", "")),
            key=str(command.get("trigger_id", "")),
        )
        await answer_paged(ack, assigned, messages.ASSIGNED)

    def subcommands(self) -> list[Subcommand]:
        return [
            Subcommand(
                "roster",
                "roster [reload]",
                messages.HELP_ROSTER,
                self.answer_roster,
            ),
            Subcommand(
                "away",
                "away until <when>",
                messages.HELP_AWAY,
                self.answer_away,
            ),
            Subcommand(
                "page",
                "page <role or @person> [message]",
                messages.HELP_PAGE,
                self.answer_page,
            ),
            Subcommand(
                "assign",
                "assign <role> @person",
                messages.HELP_ASSIGN,
                self.answer_assign,
            ),
        ]


async def answer_paged(ack: AsyncAck, work: Awaitable[Any], done: str) -> None:
    """Answer with `done` naming the person paged, or with why nobody was."""
    try:
        page = await work
    except PagingError as exc:
        await ephemeral(ack, str(exc))
        return
    await ephemeral(ack, done.format(person=page.person))


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    if deps.paging is None:
        return []
    listeners = PagingListeners(deps, deps.paging)
    app.action(Ids.PAGE_ACKNOWLEDGE)(listeners.page_acknowledged)
    return listeners.subcommands()
