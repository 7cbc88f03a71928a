"""Outbox handlers for alert pages: the page DM (posted once, then updated in place as
the page is acknowledged, escalated or closed) and PagerDuty (trigger, acknowledge,
resolve). Each renders the page as it is when it is sent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.alert_pages import pagerduty_dedup_key, pagerduty_routing_key
from bot.domain.policy import Policy
from bot.services.alert_paging import (
    ALERT_PAGE_DM,
    ALERT_PAGE_PAGERDUTY,
    ALERT_PAGE_UPDATE_DM,
    AlertPageView,
    AlertPaging,
)
from bot.services.outbox_worker import EffectHandler, OutboxItem, PermanentFailure, RetryLater
from bot.slack.blocks import alert_pages as ui
from bot.slack.blocks.common import role_title
from bot.slack.delivery.handler import Handler
from bot.slack.delivery.paging import ExternalPaging, PagePoster
from bot.slack.delivery.web_api import update_message

log = logging.getLogger(__name__)


async def _gave_up(item: OutboxItem, error: str) -> None:
    """A page message that could not be delivered is logged; its page is left as it is."""
    log.error("alert page delivery %s (%s) gave up: %s", item.id, item.kind, error)


@dataclass
class AlertPageEffects:
    client: AsyncWebClient
    paging: AlertPaging
    policy: Callable[[], Policy]
    external: ExternalPaging = field(default_factory=ExternalPaging)

    def __post_init__(self) -> None:
        self.slack = PagePoster(self.client)

    def handlers(self) -> dict[str, EffectHandler]:
        return {
            ALERT_PAGE_DM: Handler(self.post_dm, _gave_up),
            ALERT_PAGE_UPDATE_DM: Handler(self.update_dm, _gave_up),
            ALERT_PAGE_PAGERDUTY: Handler(self.pagerduty, _gave_up),
        }

    async def _view(self, item: OutboxItem) -> AlertPageView:
        found = await self.paging.view(int(item.payload["page_id"]))
        if found is None:
            raise PermanentFailure("alert page not found")
        return found

    async def post_dm(self, item: OutboxItem) -> dict[str, Any]:
        view = await self._view(item)
        text, body = ui.alert_page_dm(view, self.policy())
        # chat.postMessage to a user id posts in the bot's DM with them (Slack opens it).
        ts, channel, _ = await self.slack.post(item, view.page.person, text, body)
        await self.paging.dm_posted(view.page.id, channel, ts)
        return {"channel": channel, "ts": ts}

    async def update_dm(self, item: OutboxItem) -> dict[str, Any]:
        view = await self._view(item)
        page = view.page
        if not (page.dm_channel and page.dm_ts):
            return {"skipped": "the DM was never posted"}
        text, body = ui.alert_page_dm(view, self.policy())
        await update_message(self.client, page.dm_channel, page.dm_ts, text, body)
        return {"ts": page.dm_ts}

    async def pagerduty(self, item: OutboxItem) -> dict[str, Any]:
        view = await self._view(item)
        page, group, policy = view.page, view.group, self.policy()
        default = self.external.pagerduty_routing_key
        key = pagerduty_routing_key(policy, page.role, group.severity, default)
        if key is None:
            return {"skipped": "no routing key"}
        action = str(item.payload["action"])
        event: dict[str, Any] = {
            "routing_key": key,
            "event_action": action,
            "dedup_key": pagerduty_dedup_key(page.id),
        }
        if action == "trigger":
            event["payload"] = {
                "summary": f"Alert: {group.title} — {role_title(policy, page.role)} paged"[:1024],
                "source": "firewatch",
                "severity": "critical",
                "custom_details": {
                    "alert_group": group.id,
                    "severity": group.severity,
                    "person": page.person,
                    "role": page.role,
                    "labels": dict(group.labels),
                },
            }
        await self._send(event)
        return {"sent": action}

    async def _send(self, body: dict[str, Any]) -> None:
        timeout = aiohttp.ClientTimeout(total=self.external.timeout_seconds)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self.external.pagerduty_url, json=body) as resp,
            ):
                status = resp.status
                text = (await resp.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"PagerDuty: {type(exc).__name__}", outcome_unknown=True) from None
        if status == 429 or status >= 500:
            raise RetryLater(f"PagerDuty: HTTP {status}")
        if status >= 400:
            raise PermanentFailure(f"PagerDuty: HTTP {status} {text}")
