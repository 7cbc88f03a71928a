"""The App Home: its opening queues a refresh; its own buttons (declare, away and back).

The Acknowledge, Write and Done buttons of the Home reuse the pages', post-mortems' and
action items' action ids, so their listeners and permission checks apply unchanged.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.home import HomeService
from bot.services.paging import PagingError, PagingService
from bot.slack.blocks import declare as modals
from bot.slack.deps import ListenerDeps
from bot.slack.ids import Action, Event
from bot.slack.listeners.forms import first_action
from bot.slack.permission import look_up
from bot.slack.subcommands import Subcommand

# "Mark me away" from the Home: away for this long (`/incident away until …` for more).
AWAY_FROM_HOME = timedelta(days=1)


class HomeListeners:
    def __init__(self, deps: ListenerDeps, home: HomeService, paging: PagingService) -> None:
        self.deps, self.home, self.paging = deps, home, paging

    async def home_opened(self, ack: AsyncAck, event: dict[str, Any]) -> None:
        """Publish the viewer's Home (debounced: a burst of openings publishes once)."""
        await ack()
        user = str(event.get("user", ""))
        if user and event.get("tab", "home") == "home":
            await self.home.request_refresh(user)

    async def declare_clicked(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """The Home's Declare incident button: the declare modal, after the answer."""
        await ack()
        work = functools.partial(self.open_declare_modal, body, client)
        self.deps.follow_ups.start(work, name="home-declare-modal")

    async def open_declare_modal(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        view = modals.declare_modal(self.deps.policy())
        await client.views_open(trigger_id=body["trigger_id"], view=view)
        await look_up(self.deps.authority, body)  # the submission reads only the cache

    async def away_clicked(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Away for a day, or back: the `/incident away` use case, then the Home again."""
        await ack()
        user = str((body.get("user") or {}).get("id", ""))
        back = first_action(body).get("value") == "back"
        until = None if back else self.paging.clock.now() + AWAY_FROM_HOME
        try:
            await self.paging.set_away(user, until)
        except PagingError:
            pass  # the Home shows the state as it is
        await self.home.request_refresh(user, debounced=False)


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    if deps.home is None or deps.paging is None:
        return []
    listeners = HomeListeners(deps, deps.home, deps.paging)
    app.event(Event.APP_HOME_OPENED)(listeners.home_opened)
    app.action(Action.HOME_DECLARE)(listeners.declare_clicked)
    app.action(Action.HOME_AWAY)(listeners.away_clicked)
    return []
