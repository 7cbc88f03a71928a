"""Builds the Bolt AsyncApp: settings, middleware and listeners, nothing else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import Clock
from bot.services.events import EventLog
from bot.slack import middleware
from bot.slack.deps import ListenerDeps
from bot.slack.listeners import (
    alert_ack,
    alert_actions,
    commands,
    declare,
    digest,
    home,
    live_channel,
    paging,
    postmortems,
    status_page,
    timeline,
)
from bot.slack.listeners.picker import IncidentPicker
from bot.slack.listeners.picker import register as register_picker
from bot.slack.subcommands import Subcommand


class Feature(Protocol):
    def register(self, app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]: ...


# A feature's listener module: `register(app, deps) -> list[Subcommand]`.
FEATURES: list[Feature] = [
    timeline,
    paging,
    postmortems,
    digest,
    home,
    live_channel,
    alert_ack,
    alert_actions,
    status_page,
]


def build_bolt_app(
    *,
    client: AsyncWebClient,
    signing_secret: str,
    authorize: Callable[..., Awaitable[AuthorizeResult]],
    verify_requests: bool,
    deps: ListenerDeps,
    events: EventLog,
    clock: Clock,
    listener_client: AsyncWebClient | None = None,
) -> AsyncApp:
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        # Listeners answer from the request itself (ack within a few ms); anything that
        # talks to Slack runs after the answer in a follow-up, a lazy listener or the outbox.
        process_before_response=True,
        # Answers from Firewatch's cached identity: no auth.test on a request's path.
        authorize=authorize,
        # Socket Mode has no signatures to check; HTTP requests are always verified.
        request_verification_enabled=verify_requests,
        raise_error_for_unhandled_request=False,
    )
    middleware.install(app, events, clock, listener_client)
    # Bolt tries listeners in registration order: the busiest requests (/incident, the
    # core buttons and forms) are matched first.
    subcommands = commands.core_subcommands(deps)
    # Outside an incident channel, a subcommand that needs one asks which (issue 23).
    incident_picker = IncidentPicker(deps, subcommands)
    commands.register(app, subcommands, deps.follow_ups, incident_picker)
    declare.register(app, deps)
    # Feature modules: each registers its listeners and contributes subcommands.
    for feature in FEATURES:
        subcommands += feature.register(app, deps)
    register_picker(app, incident_picker)
    return app
