"""Outbox handlers for paging: DMs, channel posts, invites, updates, broadcasts, PagerDuty
and the outgoing webhook; and the email → Slack user directory.

Each handler renders from the page as stored when it runs, so an update shows the page
as it is then. Posts carry their outbox id in message metadata: after an attempt with no
answer, the retry looks for the message before posting again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.incident import ChannelStatus, Incident
from bot.domain.paging import Page
from bot.domain.policy import Policy
from bot.services import paging_effects as fx
from bot.services.outbox_worker import (
    EffectHandler,
    NotReady,
    OutboxItem,
    PermanentFailure,
    RetryLater,
)
from bot.services.paging import PagingService
from bot.slack.blocks import paging as ui
from bot.slack.delivery.handler import Deliver, Handler
from bot.slack.delivery.web_api import (
    SlackPoster,
    call,
    invite_users,
    slack_error,
    update_message,
)

log = logging.getLogger(__name__)

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
Render = Callable[[Page, Incident, Policy], tuple[str, list[dict[str, Any]]]]


@dataclass(frozen=True)
class ExternalPaging:
    """Settings for the optional channels besides Slack."""

    pagerduty_routing_key: str | None = None
    pagerduty_url: str = PAGERDUTY_URL
    webhook_url: str | None = None
    timeout_seconds: float = 10.0


class SlackDirectory:
    """users.lookupByEmail, cached: the roster's emails as Slack user ids."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._cache: dict[str, str] = {}

    async def user_id_for_email(self, email: str) -> str | None:
        key = email.strip().lower()
        if key not in self._cache:
            try:
                data = await call(self.client, "users.lookupByEmail", email=email)
            except PermanentFailure as exc:
                if slack_error(exc) == "users_not_found":
                    return None
                raise
            self._cache[key] = str(data["user"]["id"])
        return self._cache[key]


class PagePoster(SlackPoster):
    """Posts pages as they always were: the metadata holds the one outbox id, and a retry
    looks for it among the last 50 messages, a person's in the bot's DM with them."""

    lookup_limit = 50

    def event_payload(self, item: OutboxItem) -> dict[str, Any]:
        return {"outbox_id": item.id}


async def _gave_up(item: OutboxItem, error: str) -> None:
    """A page's message that could not be delivered is logged; its page is left as it is."""
    log.error("page delivery %s (%s) gave up: %s", item.id, item.kind, error)


@dataclass
class PagingEffects:
    """Builds the outbox handlers of pages: in Slack, to PagerDuty and to the webhook."""

    client: AsyncWebClient
    paging: PagingService
    policy: Callable[[], Policy]
    resolve_channel: Callable[[str], Awaitable[str]]
    external: ExternalPaging = field(default_factory=ExternalPaging)

    def __post_init__(self) -> None:
        self.slack = PagePoster(self.client)

    def handlers(self) -> dict[str, EffectHandler]:
        deliveries: dict[str, Deliver] = {
            fx.PAGE_DM: self.post_dm,
            fx.PAGE_POST: self.post_in_channel,
            fx.PAGE_INVITE: self.invite,
            fx.PAGE_UPDATE_DM: self.update_dm,
            fx.PAGE_UPDATE_POST: self.update_post,
            fx.PAGE_BROADCAST: self.broadcast,
            fx.PAGERDUTY: self.pagerduty,
            fx.WEBHOOK: self.webhook,
        }
        return {kind: Handler(deliver, _gave_up) for kind, deliver in deliveries.items()}

    # --- Slack ----------------------------------------------------------------------

    async def _view(self, item: OutboxItem) -> tuple[Page, Incident]:
        found = await self.paging.page_view(int(item.payload["page_id"]))
        if found is None:
            raise PermanentFailure("page not found")
        return found

    async def post_dm(self, item: OutboxItem) -> dict[str, Any]:
        page, incident = await self._view(item)
        text, body = ui.page_dm(page, incident, self.policy())
        # chat.postMessage to a user id posts in the bot's DM with them (Slack opens it).
        ts, channel, _ = await self.slack.post(item, page.person, text, body)
        await self.paging.dm_posted(page.id, channel, ts)
        return {"channel": channel, "ts": ts}

    async def post_in_channel(self, item: OutboxItem) -> dict[str, Any]:
        page, incident = await self._view(item)
        channel = self._channel_of(incident)
        if channel is None:
            return {"skipped": "no incident channel"}
        text, body = ui.page_post(page, incident, self.policy())
        ts, _, _ = await self.slack.post(item, channel, text, body)
        await self.paging.channel_posted(page.id, ts)
        return {"channel": channel, "ts": ts}

    async def invite(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.paging_incident(item)
        channel = self._channel_of(incident)
        if channel is None:
            return {"skipped": "no incident channel"}
        await invite_users(self.client, channel, item.payload["users"])
        return {"invited": item.payload["users"]}

    async def update_dm(self, item: OutboxItem) -> dict[str, Any]:
        return await self._update(
            item, ui.page_dm, lambda page, _: (page.dm_channel, page.dm_ts), "the DM"
        )

    async def update_post(self, item: OutboxItem) -> dict[str, Any]:
        return await self._update(
            item,
            ui.page_post,
            lambda page, incident: (incident.channel_id, page.channel_ts),
            "the channel message",
        )

    async def _update(
        self,
        item: OutboxItem,
        render: Render,
        where: Callable[[Page, Incident], tuple[str | None, str | None]],
        what: str,
    ) -> dict[str, Any]:
        """chat.update a page's message (found by `where`) to show the page as it is now."""
        page, incident = await self._view(item)
        channel, ts = where(page, incident)
        if not (channel and ts):
            return {"skipped": f"{what} was never posted"}
        text, body = render(page, incident, self.policy())
        await update_message(self.client, channel, ts, text, body)
        return {"ts": ts}

    async def broadcast(self, item: OutboxItem) -> dict[str, Any]:
        incident = await self.paging_incident(item)
        policy = self.policy()
        if item.payload["event"] == fx.BREACH:
            text, body = ui.breach(incident, policy)
        else:
            text, body = ui.unanswered(incident, policy, str(item.payload.get("role", "")))
        channel = await self.resolve_channel(str(item.payload["channel"]))
        ts, _, _ = await self.slack.post(item, channel, text, body)
        return {"channel": channel, "ts": ts}

    async def paging_incident(self, item: OutboxItem) -> Incident:
        return await self.paging.incident(int(item.payload["incident_id"]))

    @staticmethod
    def _channel_of(incident: Incident) -> str | None:
        if incident.channel_status in (ChannelStatus.NONE, ChannelStatus.FAILED):
            return None
        if not incident.channel_id:
            raise NotReady("incident channel not created yet")
        return incident.channel_id

    # --- PagerDuty and the webhook --------------------------------------------------

    def routing_key(
        self, page: Page, incident: Incident, severity_key: str | None = None
    ) -> str | None:
        """The role's key, else the severity's, else FIREWATCH_PAGERDUTY_ROUTING_KEY.

        `severity_key`: the severity the page was triggered at, when the row names it, so a
        resolve goes to the trigger's key after a severity change (PagerDuty drops a
        resolve sent with another routing key)."""
        policy = self.policy()
        role = policy.roles.get(page.role or "")
        severity = policy.severities.get(severity_key or incident.severity)
        return (
            (role.pagerduty_routing_key if role else None)
            or (severity.pagerduty_routing_key if severity else None)
            or self.external.pagerduty_routing_key
        )

    async def pagerduty(self, item: OutboxItem) -> dict[str, Any]:
        page, incident = await self._view(item)
        key = self.routing_key(page, incident, item.payload.get("severity"))
        if key is None:
            return {"skipped": "no routing key"}
        action = str(item.payload["action"])
        # Acknowledge and resolve are these three fields only (Events API v2), with the
        # trigger's dedup_key and routing key.
        event: dict[str, Any] = {
            "routing_key": key,
            "event_action": action,
            # PagerDuty de-duplicates on this key: a retried trigger opens no second alert.
            "dedup_key": f"firewatch-page-{page.id}",
        }
        if action == "trigger":
            title = ui.role_title(self.policy(), page.role)
            event["payload"] = {
                "summary": f"{incident.ref} {incident.title} — {title} paged"[:1024],
                "source": "firewatch",
                "severity": "critical",
                "custom_details": {
                    "incident": incident.ref,
                    "person": page.person,
                    "role": page.role,
                },
            }
        await self._send(self.external.pagerduty_url, event, "PagerDuty")
        return {"sent": action}

    async def webhook(self, item: OutboxItem) -> dict[str, Any]:
        if not self.external.webhook_url:
            return {"skipped": "no webhook URL"}
        page, incident = await self._view(item)
        body = {
            "event": f"page.{item.payload['action']}",
            "id": f"{item.id}",  # receivers de-duplicate retries on this
            "page": {
                "id": page.id,
                "role": page.role,
                "person": page.person,
                "status": page.status.value,
                "ack_deadline": page.ack_deadline.isoformat(),
                "acknowledged_by": page.acknowledged_by,
            },
            "incident": {
                "id": incident.id,
                "ref": incident.ref,
                "title": incident.title,
                "severity": incident.severity,
            },
        }
        await self._send(self.external.webhook_url, body, "webhook")
        return {"sent": body["event"]}

    async def _send(self, url: str, body: dict[str, Any], what: str) -> None:
        timeout = aiohttp.ClientTimeout(total=self.external.timeout_seconds)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, json=body) as resp,
            ):
                status = resp.status
                text = (await resp.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"{what}: {type(exc).__name__}", outcome_unknown=True) from None
        if status == 429 or status >= 500:
            raise RetryLater(f"{what}: HTTP {status}")
        if status >= 400:
            raise PermanentFailure(f"{what}: HTTP {status} {text}")
