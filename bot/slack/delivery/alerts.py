"""Outbox handlers for alert cards: a group's card posted once, then updated in place;
a channel's storm card likewise. Each renders the group as it is when it is sent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.policy import Policy
from bot.services import effects
from bot.services.alert_cards import AlertCards
from bot.services.outbox_worker import EffectHandler, OutboxItem, PermanentFailure
from bot.slack.blocks import alerts as ui
from bot.slack.delivery.handler import Handler
from bot.slack.delivery.web_api import NameResolver, SlackPoster, update_message

log = logging.getLogger(__name__)


async def _gave_up(item: OutboxItem, error: str) -> None:
    log.error("alert card delivery %s (%s) gave up: %s", item.id, item.kind, error)


@dataclass
class AlertEffects:
    client: AsyncWebClient
    cards: AlertCards
    policy: Callable[[], Policy]
    names: NameResolver | None = None

    def __post_init__(self) -> None:
        self.slack = SlackPoster(self.client, self.names)

    def handlers(self) -> dict[str, EffectHandler]:
        return {
            effects.ALERT_CARD: Handler(self.card, _gave_up),
            effects.ALERT_STORM_CARD: Handler(self.storm_card, _gave_up),
        }

    async def card(self, item: OutboxItem) -> dict[str, Any]:
        group_id = int(item.payload["group_id"])
        card = await self.cards.take(group_id)
        if card is None:
            return {"skipped": "alert group gone"}
        group = card.group
        if group.channel is None:
            return {"skipped": "no channel for alerts"}
        text, blocks = ui.alert_card(card, self.policy())
        if group.card_channel_id and group.card_ts:
            await update_message(self.client, group.card_channel_id, group.card_ts, text, blocks)
            return {"updated": group.card_ts}
        channel = await self.slack.resolve_channel(group.channel)
        ts, channel, _ = await self.slack.post(item, channel, text, blocks)
        await self.cards.posted(group_id, channel, ts)
        return {"channel": channel, "ts": ts}

    async def storm_card(self, item: OutboxItem) -> dict[str, Any]:
        storm = await self.cards.take_storm(int(item.payload["storm_id"]))
        if storm is None:
            raise PermanentFailure("storm card gone")
        text, blocks = ui.storm_card(storm, self.policy())
        if storm.card_channel_id and storm.card_ts:
            await update_message(self.client, storm.card_channel_id, storm.card_ts, text, blocks)
            return {"updated": storm.card_ts}
        channel = await self.slack.resolve_channel(storm.channel)
        ts, channel, _ = await self.slack.post(item, channel, text, blocks)
        await self.cards.storm_posted(storm.id, channel, ts)
        return {"channel": channel, "ts": ts}
