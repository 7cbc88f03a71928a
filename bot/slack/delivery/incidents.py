"""Outbox handlers for a declared incident's Slack side: its channel, the people invited
to it, the pinned report, the announcement, and their updates.

The handlers of the other features post through `IncidentEffects` (a `SlackPoster`, see
web_api.py) and read the incident through its service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.incident import ChannelStatus, Incident, with_suffix
from bot.domain.policy import Policy
from bot.services import effects
from bot.services.alert_actions import LinkedAlerts
from bot.services.incidents import IncidentService
from bot.services.outbox_worker import EffectHandler, NotReady, OutboxItem, PermanentFailure
from bot.slack import messages
from bot.slack.blocks import incident as blocks
from bot.slack.delivery.handler import Handler
from bot.slack.delivery.web_api import (
    NameResolver,
    SlackPoster,
    call,
    invite_users,
    public_channel_named,
    slack_error,
    tolerating,
    update_message,
)

MAX_NAME_ATTEMPTS = 20


def channel_or_thread(incident: Incident, waiting: str) -> tuple[str, str | None]:
    """Where a message about `incident` goes: its channel, else its announcement's thread.
    Until it has either, the row waits (NotReady with `waiting`)."""
    if incident.channel_id:
        return incident.channel_id, None
    if incident.announcement_channel_id and incident.announcement_ts:
        return incident.announcement_channel_id, incident.announcement_ts
    raise NotReady(waiting)


class IncidentEffects(SlackPoster):
    """Builds the outbox handlers of an incident's channel, report and announcement."""

    def __init__(
        self,
        client: AsyncWebClient,
        incidents: IncidentService,
        policy: Callable[[], Policy],
        bot_user_id: Callable[[], Awaitable[str]],
        names: NameResolver | None = None,
        *,
        linked_alerts: Callable[[int], Awaitable[LinkedAlerts]] | None = None,
    ) -> None:
        super().__init__(client, names)
        self.incidents = incidents
        self.policy = policy
        self.bot_user_id = bot_user_id
        self.linked_alerts = linked_alerts  # the report's "Alerts" line; None: not shown

    async def report(
        self, incident: Incident, policy: Policy, note: str | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        """The report as the incident is now, with the alerts linked to it."""
        alerts = await self.linked_alerts(incident.id) if self.linked_alerts else None
        return blocks.incident_report(incident, policy, note=note, alerts=alerts)

    def handlers(self) -> dict[str, EffectHandler]:
        return {
            effects.CREATE_CHANNEL: Handler(self.create_channel, self.channel_gave_up),
            effects.INVITE: Handler(self.invite),
            effects.POST_REPORT: Handler(self.post_report),
            effects.PIN_REPORT: Handler(self.pin_report),
            effects.ANNOUNCE: Handler(self.announce),
            effects.REPORT_FALLBACK: Handler(self.report_fallback),
            effects.UPDATE_ANNOUNCEMENT: Handler(self.update_announcement),
            effects.UPDATE_REPORT: Handler(self.update_report),
        }

    async def with_channel(self, item: OutboxItem) -> Incident:
        """The row's incident, once its channel exists (until then the row waits)."""
        incident = await self.incidents.get(item.payload["incident_id"])
        if not incident.channel_id:
            raise NotReady("incident channel not created yet")
        return incident

    # --- channel --------------------------------------------------------------------

    async def create_channel(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.incidents.get(item.payload["incident_id"])
        if incident.channel_id:
            return {"channel": incident.channel_id}
        base = str(item.payload["name"])
        tried: list[str] = list(item.progress.get("tried", []))
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            name = with_suffix(base, attempt)
            tried_before = name in tried
            if not tried_before:
                tried.append(name)
                # Durable before the call: a retry knows this name may already be ours.
                await item.save_progress({"tried": tried})
            try:
                data = await call(self.client, "conversations.create", name=name, is_private=False)
            except PermanentFailure as exc:
                if slack_error(exc) != "name_taken":
                    raise
                adopted = await self._adopt(name) if tried_before else None
                if adopted:
                    await self.incidents.channel_created(incident.id, adopted, name)
                    return {"channel": adopted, "name": name, "adopted": True}
                continue
            channel = data["channel"]
            await self.incidents.channel_created(incident.id, channel["id"], channel["name"])
            return {"channel": channel["id"], "name": channel["name"]}
        raise PermanentFailure(
            f"conversations.create: no free name after {MAX_NAME_ATTEMPTS} tries"
        )

    async def _adopt(self, name: str) -> str | None:
        """The channel called `name` if this bot created it and no incident has it yet.

        conversations.create is not idempotent: when an earlier attempt timed out after
        Slack had created the channel, the retry meets name_taken for our own channel.
        """
        me = await self.bot_user_id()
        channel = await public_channel_named(self.client, name)
        if channel is None:
            return None
        mine = channel.get("creator") == me
        unclaimed = await self.incidents.channel_owner(channel["id"]) is None
        return str(channel["id"]) if mine and unclaimed else None

    async def channel_gave_up(self, item: OutboxItem, error: str) -> None:
        await self.incidents.channel_failed(item.payload["incident_id"], error.rsplit(": ", 1)[-1])

    async def invite(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.with_channel(item)
        me = await self.bot_user_id()
        users = [u for u in item.payload["users"] if u != me]
        if not users:
            return {}
        await invite_users(self.client, incident.channel_id, users)
        return {"invited": users}

    # --- messages -------------------------------------------------------------------

    async def post_report(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.with_channel(item)
        text, body = await self.report(incident, self.policy())
        assert incident.channel_id is not None
        ts, _, _ = await self.post(item, incident.channel_id, text, body)
        await self.incidents.report_posted(incident.id, ts)
        return {"channel": incident.channel_id, "ts": ts}

    async def pin_report(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.with_channel(item)
        if not incident.report_ts:
            raise PermanentFailure("pins.add: the report was never posted")
        with tolerating("already_pinned"):
            await call(
                self.client, "pins.add", channel=incident.channel_id, timestamp=incident.report_ts
            )
        return {"pinned": incident.report_ts}

    async def announce(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.incidents.get(item.payload["incident_id"])
        if incident.channel_status is ChannelStatus.PENDING:
            # The announcement links the channel: wait until it exists (or failed).
            raise NotReady("incident channel not created yet")
        text, body = blocks.announcement(incident, self.policy())
        channel = await self.resolve_channel(item.payload["channel"])
        ts, channel, _ = await self.post(item, channel, text, body)
        await self.incidents.announcement_posted(incident.id, channel, ts)
        return {"channel": channel, "ts": ts}

    async def report_fallback(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.incidents.get(item.payload["incident_id"])
        policy = self.policy()
        reason = item.payload.get("reason")
        if reason:
            note = messages.CHANNEL_FALLBACK_NOTE.format(ref=incident.ref, reason=reason)
        else:
            severity = policy.severities.get(incident.severity)
            note = messages.NO_CHANNEL_NOTE.format(
                label=severity.label if severity else incident.severity
            )
        text, body = await self.report(incident, policy, note)
        thread_ts = incident.announcement_ts if incident.announcement_channel_id else None
        channel = incident.announcement_channel_id or await self.resolve_channel(
            item.payload["channel"]
        )
        ts, _, _ = await self.post(item, channel, text, body, thread_ts=thread_ts)
        return {"channel": channel, "ts": ts, "thread_ts": thread_ts}

    async def update_announcement(self, item: OutboxItem) -> dict[str, Any]:
        """chat.update is idempotent: it always shows the record as it is now."""
        incident = await self.incidents.get(item.payload["incident_id"])
        if not (incident.announcement_channel_id and incident.announcement_ts):
            return {"skipped": "no announcement"}
        text, body = blocks.announcement(incident, self.policy())
        await update_message(
            self.client, incident.announcement_channel_id, incident.announcement_ts, text, body
        )
        return {"ts": incident.announcement_ts}

    async def update_report(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.with_channel(item)
        if not incident.report_ts:
            return {"skipped": "no report"}
        text, body = await self.report(incident, self.policy())
        await update_message(self.client, incident.channel_id, incident.report_ts, text, body)
        return {"ts": incident.report_ts}
