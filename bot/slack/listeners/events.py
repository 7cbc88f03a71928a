"""Events API callbacks."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack.deps import ListenerDeps


def register(app: AsyncApp, deps: ListenerDeps) -> None:  # noqa: ARG001 - same seam as the others
    @app.event("app_mention")
    async def mentioned(event: dict[str, Any]) -> None:  # noqa: ARG001
        # Mentions are not commands: Firewatch acts on /incident and shortcuts only.
        return None
