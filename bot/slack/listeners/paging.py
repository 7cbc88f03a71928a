"""Paging in Slack: the Acknowledge button and `/incident roster|away|page|assign`.

Every answer here touches the database only and goes back in the acknowledgement; the
DMs, channel posts and invites follow through the outbox.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.domain.incident import Incident
from bot.domain.paging import BadWhen, parse_person, parse_until
from bot.services.paging import PagingError
from bot.slack import messages
from bot.slack.blocks import paging as ui
from bot.slack.blocks.incident import slack_date
from bot.slack.deps import ListenerDeps
from bot.slack.subcommands import Subcommand, ephemeral

AWAY_USAGE = (
    "Say until when: `/incident away until 17:00` (or `tomorrow`, `monday`, `3d`); "
    "`/incident away off` when you are back."
)


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    paging = deps.paging
    if paging is None:
        return []

    async def acknowledge(ack: AsyncAck, body: dict[str, Any]) -> None:
        action = (body.get("actions") or [{}])[0]
        user = str((body.get("user") or {}).get("id", ""))
        try:
            await paging.acknowledge(int(action.get("value", "")), user)
        except (ValueError, PagingError):
            pass  # a stale button: the message already says what became of the page
        await ack()

    app.action(ui.ACK_ACTION)(acknowledge)

    async def incident_here(ack: AsyncAck, command: dict[str, Any], name: str) -> Incident | None:
        incident = await deps.incidents.by_channel(str(command.get("channel_id", "")))
        if incident is None:
            await ephemeral(ack, messages.NOT_AN_INCIDENT_CHANNEL.format(command=name))
        return incident

    async def answer_roster(ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        user = str(command.get("user_id", ""))
        if rest.strip().lower() == "reload":
            try:
                await ephemeral(ack, await paging.reload_roster(user))
            except PagingError as exc:
                await ephemeral(ack, str(exc))
            return
        incident = await deps.incidents.by_channel(str(command.get("channel_id", "")))
        assignments = await paging.assignments(incident.id) if incident else None
        view = await paging.roster_view()
        await ephemeral(ack, "Incident roles", ui.roster(view, assignments=assignments))

    async def answer_away(ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        user = str(command.get("user_id", ""))
        words = rest.strip()
        if words.lower() in {"off", "back", "clear"}:
            await paging.set_away(user, None)
            await ephemeral(ack, "Welcome back: you will be paged again for your roles.")
            return
        when = words[len("until") :].strip() if words.lower().startswith("until") else words
        try:
            until = parse_until(when, paging.clock.now(), paging.policy.working_time.timezone)
            await paging.set_away(user, until)
        except BadWhen as exc:
            await ephemeral(ack, f"{exc}\n{AWAY_USAGE}")
            return
        except PagingError as exc:
            await ephemeral(ack, str(exc))
            return
        await ephemeral(
            ack, f"You are away until {slack_date(until)}: pages for your roles go to your backup."
        )

    async def answer_page(ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        incident = await incident_here(ack, command, "page")
        if incident is None:
            return
        target, _, message = rest.strip().partition(" ")
        if not target:
            await ephemeral(ack, "Page whom? `/incident page <role or @person> [message]`")
            return
        await _answer(
            ack,
            paging.page_by_hand(
                incident.id,
                target,
                by=str(command.get("user_id", "")),
                message=message.strip(),
                key=str(command.get("trigger_id", "")),
            ),
            "Paging <@{person}>.",
        )

    async def answer_assign(ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        incident = await incident_here(ack, command, "assign")
        if incident is None:
            return
        role, _, who = rest.strip().partition(" ")
        person = parse_person(who)
        if not role or person is None:
            await ephemeral(ack, "Usage: `/incident assign <role> @person`")
            return
        await _answer(
            ack,
            paging.assign_role(
                incident.id,
                role.lower(),
                person,
                by=str(command.get("user_id", "")),
                key=str(command.get("trigger_id", "")),
            ),
            "<@{person}> now holds the role for this incident and is being paged.",
        )

    return [
        Subcommand(
            "roster",
            "roster [reload]",
            "incident roles, their people and who is acting now; `reload` re-reads the policy",
            answer_roster,
        ),
        Subcommand(
            "away",
            "away until <when>",
            "mark yourself unavailable; your pages go to your backup (`away off` to return)",
            answer_away,
        ),
        Subcommand(
            "page",
            "page <role or @person> [message]",
            "page someone for this incident (in an incident channel)",
            answer_page,
        ),
        Subcommand(
            "assign",
            "assign <role> @person",
            "set who holds a role for this incident, e.g. the SME",
            answer_assign,
        ),
    ]


async def _answer(ack: AsyncAck, work: Any, done: str) -> None:
    try:
        page = await work
    except PagingError as exc:
        await ephemeral(ack, str(exc))
        return
    await ephemeral(ack, done.format(person=page.person))
