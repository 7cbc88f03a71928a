"""Outbox handler for the App Home: publish a person's Home as it is now."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.policy import Policy
from bot.services import effects
from bot.services.home import HomeService
from bot.services.outbox_worker import EffectHandler, OutboxItem, PermanentFailure
from bot.slack.blocks.home import home_view
from bot.slack.delivery.handler import Handler
from bot.slack.delivery.web_api import call, slack_error

# Slack's answers for a person the Home cannot be published to (deleted, another team):
# nothing to retry, and not worth a dead row.
_NOBODY = {"user_not_found", "invalid_arguments", "not_allowed_token_type"}


@dataclass
class HomeEffects:
    client: AsyncWebClient
    home: HomeService
    policy: Callable[[], Policy]

    def handlers(self) -> dict[str, EffectHandler]:
        # One person a delivery: every refresh shares one ordering key (paced for the
        # workspace), and a person has at most one waiting (bot/services/home.py).
        return {effects.HOME_REFRESH: Handler(self.publish)}

    async def publish(self, item: OutboxItem) -> dict[str, Any]:
        user = str(item.payload["user"])
        view = home_view(await self.home.home(user), self.policy())
        try:
            await call(self.client, "views.publish", user_id=user, view=view)
        except PermanentFailure as exc:
            if slack_error(exc) in _NOBODY:
                return {"skipped": slack_error(exc)}
            raise
        return {"user": user}
