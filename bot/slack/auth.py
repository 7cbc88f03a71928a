"""Who Firewatch is in Slack: what auth.test answered, checked at start-up and then in the
background (never on a request's path), and Bolt's `authorize` answered from it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import Clock
from bot.slack import messages
from bot.slack.scopes import missing_scopes, parse_scopes

log = logging.getLogger(__name__)

# How often the background watch asks auth.test again (a revoked token shows in /health).
AUTH_CHECK_SECONDS = 300.0
SCOPES_HEADER = "x-oauth-scopes"

Authorize = Callable[..., Awaitable[AuthorizeResult]]


@dataclass
class SlackIdentity:
    """What auth.test told us; refreshed in the background, never on a request's path."""

    ok: bool = False
    team_id: str | None = None
    bot_user_id: str | None = None
    bot_id: str | None = None
    error: str | None = None
    checked_at: datetime | None = None
    # The bot scopes the installation granted (auth.test's x-oauth-scopes header; None
    # until Slack told us), and the needed ones it lacks → what fails without each.
    scopes: frozenset[str] | None = None
    missing_scopes: dict[str, str] = field(default_factory=dict)


class SlackAuth:
    """Keeps `identity` (one object for the process's life) up to date with auth.test."""

    def __init__(self, client: AsyncWebClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self.identity = SlackIdentity()

    async def check(self) -> SlackIdentity:
        """Ask auth.test; a failure is recorded (health reports it), never raised."""
        try:
            response = await self.client.auth_test()
            self.identity.ok = True
            self.identity.team_id = response.get("team_id")
            self.identity.bot_user_id = response.get("user_id")
            self.identity.bot_id = response.get("bot_id")
            self.identity.error = None
            self._compare_scopes(granted_scopes(response.headers))
        except Exception as exc:  # health reports it; requests keep being answered
            self.identity.ok = False
            self.identity.error = slack_error(exc)
            log.warning("Slack auth check failed: %s", self.identity.error)
        self.identity.checked_at = self.clock.now()
        return self.identity

    def _compare_scopes(self, granted: frozenset[str] | None) -> None:
        """Record the needed scopes not granted; log one line for each newly missing one
        (at start, and when a reinstall takes one away), not at every check."""
        identity = self.identity
        identity.scopes = granted
        if granted is None:
            identity.missing_scopes = {}
            return
        missing = missing_scopes(granted)
        for scope, fails in missing.items():
            if scope not in identity.missing_scopes:
                line = messages.SCOPE_MISSING.format(scope=scope, fails=fails)
                log.error(line, extra={"scope": scope})
        identity.missing_scopes = missing

    async def bot_user_id(self) -> str:
        """The bot's user id, asking auth.test first if no check has told it yet."""
        if self.identity.bot_user_id is None:
            await self.check()
        return self.identity.bot_user_id or ""

    def authorizer(self, token: str) -> Authorize:
        """Bolt's `authorize`: every request gets `token` and the cached identity, so no
        auth.test runs on a request's path."""
        identity = self.identity

        async def authorize(
            enterprise_id: str | None, team_id: str | None, **_: Any
        ) -> AuthorizeResult:
            return AuthorizeResult(
                enterprise_id=enterprise_id,
                team_id=team_id or identity.team_id,
                bot_token=token,
                bot_user_id=identity.bot_user_id,
                bot_id=identity.bot_id,
            )

        return authorize


def granted_scopes(headers: Mapping[str, object] | None) -> frozenset[str] | None:
    """The scopes in an auth.test answer's x-oauth-scopes header (None: no such header)."""
    for name, value in (headers or {}).items():
        if name.lower() == SCOPES_HEADER:
            return parse_scopes(str(value))
    return None


def slack_error(exc: Exception) -> str:
    """Slack's error code for a failed call, else the HTTP status or the exception's name."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            return str(response.get("error") or f"HTTP {response.status_code}")
        except Exception:
            return type(exc).__name__
    return type(exc).__name__


@dataclass(frozen=True)
class ScopeCheck:
    """What one auth.test said about the bot scopes: `missing` (needed scope → what fails
    without it) when Slack answered with its x-oauth-scopes header, else `unchecked`
    saying why not."""

    missing: dict[str, str]
    granted: frozenset[str] = frozenset()
    unchecked: str | None = None


async def check_scopes(token: str, base_url: str, seconds: float) -> ScopeCheck:
    """Ask auth.test once (`firewatch check-config`); never raises for Slack's sake."""
    client = AsyncWebClient(token=token, base_url=base_url, timeout=max(1, int(seconds)))
    try:
        response = await client.auth_test()
    except Exception as exc:  # unreachable, refused token, ...: say so, do not fail
        return ScopeCheck({}, unchecked=slack_error(exc))
    granted = granted_scopes(response.headers)
    if granted is None:
        return ScopeCheck({}, unchecked=messages.SCOPES_UNKNOWN)
    return ScopeCheck(missing_scopes(granted), granted)
