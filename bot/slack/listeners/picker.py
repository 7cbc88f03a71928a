"""The incident picker (issue 23): `/incident note …`, `status`, `page`, … typed outside
an incident channel ask which open incident they are for, then run as if typed in its
channel.

1. The router asks `intercepts` before a subcommand that needs an incident answers. In
   an incident channel nothing changes. Elsewhere the typed command is kept as a draft
   on the server (`PickerService`), the command is acknowledged, and a follow-up opens
   the picker with the command's trigger id.
2. The picker's `external_select` loads its options as the person types
   (`block_suggestion`): one indexed query, at most 100 open incidents.
3. On submission the subcommand's own `answer` runs with the chosen incident's channel,
   so its permission checks (`Authority`) are those of the channel; the actor is still
   asking from where they typed (`PICKED_FROM`), so the picker never makes anyone a
   member of the incident's channel. What the answer said replaces the picker; a
   subcommand that opens a form (status, change, resolve) opens it after the answer.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.incidents import IncidentNotFound
from bot.services.picker import PickerService
from bot.slack import messages
from bot.slack.blocks.picker import incident_options, picker_modal, result_modal
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import PickerIds
from bot.slack.listeners.forms import errors, metadata, state_values
from bot.slack.permission import PICKED_FROM, actor_of, look_up, readable_here
from bot.slack.subcommands import Subcommand

#: Subcommands that act on one incident: outside an incident channel they ask which.
NEEDS_INCIDENT = frozenset(
    {"note", "status", "timeline", "change", "severity", "resolve", "postmortem", "page", "assign"}
)
# What of the slash command the draft keeps: who, where from, and its trigger (the
# idempotency key of what the command records). Not response_url: the answer goes back
# through the picker.
_KEPT = ("user_id", "user_name", "team_id", "channel_id", "channel_name", "trigger_id")
_REFERENCE = re.compile(r"\s*INC-?\d+\b", re.IGNORECASE)


def names_incident(rest: str) -> bool:
    """`timeline INC-12 …` says which incident itself: no picker."""
    return _REFERENCE.match(rest) is not None


def chosen_incident(view: dict[str, Any]) -> int | None:
    """The number of the incident picked in the form; None when none is or it is garbled."""
    element = (state_values(view).get(PickerIds.INCIDENT) or {}).get(PickerIds.SELECT) or {}
    option = element.get("selected_option") if isinstance(element, dict) else None
    value = str((option or {}).get("value") or "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def answered(ack: AsyncAck) -> tuple[str, list[dict[str, Any]] | None]:
    """What a subcommand's answer said: its text and blocks (("", None) for a bare ack)."""
    response = ack.response
    if response is None or not response.body:
        return "", None
    try:
        body = json.loads(response.body)
    except ValueError:
        return str(response.body), None
    if not isinstance(body, dict):
        return "", None
    blocks = body.get("blocks")
    return str(body.get("text") or ""), blocks if isinstance(blocks, list) else None


class IncidentPicker:
    def __init__(self, deps: ListenerDeps, subcommands: list[Subcommand]) -> None:
        self.deps = deps
        self.incidents = deps.incidents
        self.subcommands = subcommands  # the router's list: it grows until the first request
        self.service = PickerService(deps.incidents.db, deps.incidents.clock)

    def subcommand(self, name: str) -> Subcommand | None:
        return next((s for s in self.subcommands if s.name == name), None)

    async def intercepts(
        self,
        ack: AsyncAck,
        command: dict[str, Any],
        client: AsyncWebClient,
        sub: Subcommand,
        rest: str,
    ) -> bool:
        """True when `sub` needs an incident and none is named here: the picker opens."""
        if sub.name not in NEEDS_INCIDENT or names_incident(rest):
            return False
        if await self.incidents.channel_owner(str(command.get("channel_id", ""))) is not None:
            return False
        kept = {key: str(command.get(key) or "") for key in _KEPT}
        draft = await self.service.save_draft({"name": sub.name, "rest": rest, "command": kept})
        await ack()
        self.deps.follow_ups.start(
            functools.partial(self.open_picker, command, client, sub.name, rest, draft),
            name=f"/incident {sub.name} picker",
        )
        return True

    async def open_picker(
        self, command: dict[str, Any], client: AsyncWebClient, name: str, rest: str, draft: str
    ) -> None:
        typed = f"{name} {rest}".strip()
        view = picker_modal(name, typed, draft)
        await client.views_open(trigger_id=command["trigger_id"], view=view)
        await look_up(self.deps.authority, command)  # the options read only the cache

    async def options(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """The picker's options for what the person typed so far (`block_suggestion`)."""
        found = await self.service.open_matching(str(body.get("value") or ""))
        found = await readable_here(self.deps.authority, actor_of(body), found)
        await ack(options=incident_options(found, self.deps.policy()))

    @answer_errors
    async def submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        draft = await self.service.draft(str(metadata(view).get("draft") or ""))
        user = str((body.get("user") or {}).get("id") or "")
        sub = self.subcommand(str((draft or {}).get("name") or ""))
        if draft is None or sub is None or draft["command"].get("user_id") != user:
            await errors(ack, PickerIds.INCIDENT, messages.PICKER_EXPIRED)
            return
        number = chosen_incident(view)
        try:
            incident = await self.incidents.get(number if number is not None else -1)
        except IncidentNotFound:
            await errors(ack, PickerIds.INCIDENT, messages.INCIDENT_GONE)
            return
        if incident.channel_id is None:
            await errors(
                ack, PickerIds.INCIDENT, messages.PICKER_NO_CHANNEL.format(ref=incident.ref)
            )
            return
        command = {
            **draft["command"],
            "channel_id": incident.channel_id,
            "channel_name": incident.channel_name or "",
            PICKED_FROM: draft["command"].get("channel_id", ""),
        }
        await self.run(ack, body, client, sub, command, str(draft.get("rest") or ""))

    async def run(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        sub: Subcommand,
        command: dict[str, Any],
        rest: str,
    ) -> None:
        """The subcommand's answer, as in the incident's channel; it replaces the picker.
        A bare answer closes it, and the subcommand's form (if any) opens after."""
        said = AsyncAck()  # type: ignore[no-untyped-call]  # collects what the answer says
        await sub.answer(said, command, rest)
        text, blocks = answered(said)
        if text or blocks:
            await ack(response_action="update", view=result_modal(text, blocks))
            return
        await ack()
        if sub.follow_up is not None:
            follow = {**command, "trigger_id": str(body.get("trigger_id") or "")}
            self.deps.follow_ups.start(
                functools.partial(sub.follow_up, follow, client, rest),
                name=f"/incident {sub.name} picked",
            )


def register(app: AsyncApp, picker: IncidentPicker) -> None:
    app.options(PickerIds.SELECT)(picker.options)
    app.view(PickerIds.MODAL)(picker.submitted)
