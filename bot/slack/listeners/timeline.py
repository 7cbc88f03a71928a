"""Timeline, status and emergency changes in Slack (a feature module for bolt_app.FEATURES).

Facts are written in the acknowledgement phase (database only); anything that calls
Slack runs after the answer: views.open and response_url replies in lazy listeners,
messages through the outbox.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.changes import ChangeStep, InvalidStep
from bot.domain.incident import Incident, Status, parse_reference, reference
from bot.domain.status import InvalidTransition
from bot.services.changes import ChangeNotFound, ChangeProposal
from bot.services.incidents import IncidentNotFound, InvalidChange
from bot.services.raci import NotAccountable
from bot.services.timeline import Captured, timeline_page
from bot.slack import messages
from bot.slack.blocks.timeline import (
    PAGE_SIZE,
    TimelineIds,
    capture_modal,
    change_modal,
    status_modal,
)
from bot.slack.blocks.timeline import timeline_page as render_page
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.listeners.declare import metadata, read_value, state_values
from bot.slack.subcommands import Subcommand, ephemeral


def permalink(team_domain: str | None, channel: str, ts: str) -> str:
    """Slack's message link, built without an API call."""
    host = f"https://{team_domain}.slack.com" if team_domain else "https://slack.com"
    return f"{host}/archives/{channel}/p{ts.replace('.', '')}"


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    timeline, changes, notices = deps.timeline, deps.changes, deps.notices

    async def incident_here(ack: AsyncAck, command: dict[str, Any], name: str) -> Incident | None:
        incident = await deps.incidents.by_channel(command.get("channel_id", ""))
        if incident is None:
            await ephemeral(ack, messages.NOT_AN_INCIDENT_CHANNEL.format(command=name))
        return incident

    # --- /incident note -------------------------------------------------------------------

    async def answer_note(ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        # The hottest path in a storm: the channel's owner is cached and the note joins
        # whatever other notes are being written (group commit), then the answer goes back.
        channel = command.get("channel_id", "")
        incident_id = await deps.incidents.channel_owner(channel)
        if incident_id is None:
            await ephemeral(ack, messages.NOT_AN_INCIDENT_CHANNEL.format(command="note"))
            return
        try:
            entry = await timeline.add_note(
                incident_id,
                actor=command["user_id"],
                text=rest,
                source_key=f"note:{command.get('trigger_id')}",
            )
        except InvalidChange as exc:
            await ephemeral(ack, str(exc))
            return
        except IncidentNotFound:  # purged since it was cached
            deps.incidents.forget_channel(channel)
            await ephemeral(ack, messages.NOT_AN_INCIDENT_CHANNEL.format(command="note"))
            return
        seq = f" as entry #{entry.seq}" if entry else ""
        await ephemeral(ack, f"Noted on {reference(incident_id)}'s timeline{seq}.")

    # --- /incident status -----------------------------------------------------------------

    async def answer_status(ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        incident = await incident_here(ack, command, "status")
        if incident is None:
            return
        if not rest:
            await ack()  # the modal opens after the answer
            return
        word, _, update = rest.partition(" ")
        try:
            target = Status(word.lower())
        except ValueError:
            valid = ", ".join(s.value for s in Status if s is not Status.CLOSED)
            await ephemeral(ack, f"`{word}` is not a status. Use one of: {valid}.")
            return
        try:
            await timeline.change_status(
                incident.id, target, actor=command["user_id"], update=update
            )
        except (InvalidTransition, InvalidChange) as exc:
            await ephemeral(ack, str(exc))
            return
        await ephemeral(ack, f"{incident.ref} is now {target.value}.")

    async def open_status(command: dict[str, Any], client: AsyncWebClient, rest: str) -> None:
        incident = await deps.incidents.by_channel(command.get("channel_id", ""))
        if incident is not None and not rest:
            await client.views_open(trigger_id=command["trigger_id"], view=status_modal(incident))

    # --- /incident timeline ---------------------------------------------------------------

    async def answer_timeline(ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        number = parse_reference(rest) if rest else None
        if number is not None:
            try:
                incident = await deps.incidents.get(number)
            except IncidentNotFound:
                await ephemeral(ack, f"There is no {rest.upper()}.")
                return
        else:
            found = await incident_here(ack, command, "timeline")
            if found is None:
                return
            incident = found
        entries, total = await timeline_page(
            deps.incidents.db, incident.id, offset=0, limit=PAGE_SIZE
        )
        await ephemeral(
            ack,
            f"Timeline of {incident.ref}",
            render_page(incident, entries, offset=0, total=total),
        )

    # --- /incident change -----------------------------------------------------------------

    async def answer_change(ack: AsyncAck, command: dict[str, Any], _rest: str) -> None:
        if await incident_here(ack, command, "change") is not None:
            await ack()

    async def open_change(command: dict[str, Any], client: AsyncWebClient, _rest: str) -> None:
        incident = await deps.incidents.by_channel(command.get("channel_id", ""))
        if incident is not None:
            view = change_modal(incident, deps.policy())
            await client.views_open(trigger_id=command["trigger_id"], view=view)

    # --- modals ---------------------------------------------------------------------------

    @app.view(TimelineIds.STATUS_MODAL)
    @answer_errors
    async def status_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = state_values(view)
        try:
            await timeline.change_status(
                int(metadata(view).get("incident_id", 0)),
                Status(read_value(values, TimelineIds.STATUS)),
                actor=body["user"]["id"],
                update=read_value(values, TimelineIds.UPDATE),
                source_key=f"view:{view['id']}",
            )
        except (ValueError, IncidentNotFound):
            await ack(response_action="errors", errors={TimelineIds.STATUS: messages.INCIDENT_GONE})
            return
        except (InvalidTransition, InvalidChange) as exc:
            await ack(response_action="errors", errors={TimelineIds.STATUS: str(exc)})
            return
        await ack()

    @app.view(TimelineIds.CHANGE_MODAL)
    @answer_errors
    async def change_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = state_values(view)
        ticked = {
            o.get("value")
            for o in ((values.get(TimelineIds.HANDLING) or {}).get("value") or {}).get(
                "selected_options"
            )
            or []
            if isinstance(o, dict)
        }
        proposal = ChangeProposal(
            summary=read_value(values, TimelineIds.SUMMARY),
            plan=read_value(values, TimelineIds.PLAN),
            rollback_plan=read_value(values, TimelineIds.ROLLBACK),
            risk=read_value(values, TimelineIds.RISK),
            checklist={q.key: q.key in ticked for q in deps.policy().change.handling_checklist},
        )
        errors = changes.check_proposal(proposal)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        try:
            await changes.propose(
                int(metadata(view).get("incident_id", 0)),
                proposal,
                actor=body["user"]["id"],
                propose_key=f"view:{view['id']}",
            )
        except (ValueError, IncidentNotFound):
            await ack(
                response_action="errors", errors={TimelineIds.SUMMARY: messages.INCIDENT_GONE}
            )
            return
        await ack()

    @app.view(TimelineIds.CAPTURE_MODAL)
    @answer_errors
    async def capture_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        message = metadata(view).get("message") or {}
        try:
            incident_id = int(read_value(state_values(view), TimelineIds.INCIDENT))
            await timeline.capture(
                incident_id, Captured(**message), actor=body["user"]["id"], via="shortcut"
            )
        except (ValueError, TypeError, IncidentNotFound):
            await ack(
                response_action="errors", errors={TimelineIds.INCIDENT: messages.INCIDENT_GONE}
            )
            return
        await ack()

    # --- message shortcut: Add to incident timeline ---------------------------------------

    def captured_from(body: dict[str, Any]) -> Captured:
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id", "")
        ts = str(message.get("ts", ""))
        return Captured(
            channel_id=channel,
            ts=ts,
            author=message.get("user") or message.get("bot_id"),
            text=str(message.get("text", "")),
            permalink=permalink((body.get("team") or {}).get("domain"), channel, ts),
        )

    async def shortcut_ack(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        message = captured_from(body)
        incident = await deps.incidents.by_channel(message.channel_id)
        if incident is not None and incident.is_open:
            entry = await timeline.capture(
                incident.id, message, actor=body["user"]["id"], via="shortcut"
            )
            note = "Added to" if entry else "Already on"
            await notices.tell(
                body["user"]["id"], message.channel_id, f"{note} {incident.ref}'s timeline."
            )

    async def shortcut_choose(body: dict[str, Any], client: AsyncWebClient) -> None:
        message = captured_from(body)
        if await deps.incidents.by_channel(message.channel_id) is not None:
            return
        open_incidents = await deps.incidents.list_open(limit=100)
        if not open_incidents:
            await notices.tell(body["user"]["id"], message.channel_id, "There is no open incident.")
            return
        data = message.__dict__ | {"text": message.text[:1500]}
        await client.views_open(
            trigger_id=body["trigger_id"], view=capture_modal(open_incidents, data)
        )

    app.shortcut(TimelineIds.ADD_TO_TIMELINE)(ack=shortcut_ack, lazy=[shortcut_choose])

    # --- reactions ------------------------------------------------------------------------

    def pinned_here(event: dict[str, Any]) -> bool:
        policy = deps.policy()
        if not policy.features.capture_reactions:
            return False  # switched off in the policy
        item = event.get("item") or {}
        return (
            event.get("reaction") == policy.declare.reaction_emoji and item.get("type") == "message"
        )

    async def reaction_ack(ack: AsyncAck) -> None:
        await ack()

    async def reaction_added(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if not pinned_here(event):
            return
        item = event["item"]
        incident = await deps.incidents.by_channel(item.get("channel", ""))
        if incident is None:
            return
        # The event does not carry the message: fetch it (after the answer to Slack).
        found = await client.conversations_history(
            channel=item["channel"], latest=item["ts"], oldest=item["ts"], inclusive=True, limit=1
        )
        history = found.get("messages") or []
        if not history:
            found = await client.conversations_replies(
                channel=item["channel"], ts=item["ts"], limit=1
            )
            history = found.get("messages") or []
        text = history[0].get("text", "") if history else ""
        author = history[0].get("user") if history else event.get("item_user")
        domain = None
        await timeline.capture(
            incident.id,
            Captured(
                item["channel"],
                item["ts"],
                author,
                text,
                permalink(domain, item["channel"], item["ts"]),
            ),
            actor=event.get("user", ""),
            via="reaction",
        )
        del body

    async def reaction_removed(event: dict[str, Any]) -> None:
        if not pinned_here(event):
            return
        item = event["item"]
        incident = await deps.incidents.by_channel(item.get("channel", ""))
        if incident is not None:
            await timeline.withdraw_capture(
                incident.id, item["channel"], item["ts"], actor=event.get("user", "")
            )

    app.event("reaction_added")(ack=reaction_ack, lazy=[reaction_added])
    app.event("reaction_removed")(reaction_removed)

    # --- buttons --------------------------------------------------------------------------

    async def change_step(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id", "")
        try:
            raw_id, raw_step = str(action.get("value", "")).split(":", 1)
            await changes.step(int(raw_id), ChangeStep(raw_step), actor=user)
        except (ValueError, ChangeNotFound):
            await notices.tell(user, channel, "That change no longer exists.")
        except (NotAccountable, InvalidStep) as exc:
            await notices.tell(user, channel, str(exc))

    app.action({"action_id": _prefix(TimelineIds.CHANGE_STEP)})(change_step)

    async def page_ack(ack: AsyncAck) -> None:
        await ack()

    async def turn_page(action: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            raw_id, raw_offset = str(action.get("value", "")).split(":", 1)
            incident = await deps.incidents.get(int(raw_id))
            offset = max(0, int(raw_offset))
        except (ValueError, IncidentNotFound):
            return
        entries, total = await timeline_page(
            deps.incidents.db, incident.id, offset=offset, limit=PAGE_SIZE
        )
        await respond(
            replace_original=True,
            response_type="ephemeral",
            text=f"Timeline of {incident.ref}",
            blocks=render_page(incident, entries, offset=offset, total=total),
        )

    app.action({"action_id": _prefix(TimelineIds.TIMELINE_PAGE)})(ack=page_ack, lazy=[turn_page])

    return [
        Subcommand("note", "note <text>", "add a note to this incident's timeline", answer_note),
        Subcommand(
            "status",
            "status [state] [update]",
            "post a status update (investigating, identified, monitoring, resolved)",
            answer_status,
            open_status,
        ),
        Subcommand("timeline", "timeline [INC-n]", "the timeline, oldest first", answer_timeline),
        Subcommand(
            "change",
            "change",
            "propose an emergency change (CHG) for this incident",
            answer_change,
            open_change,
        ),
    ]


def _prefix(action_id: str) -> Any:
    import re

    return re.compile(rf"^{re.escape(action_id)}(_.*)?$")


__all__ = ["register", "permalink", "json"]
