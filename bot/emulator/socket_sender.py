"""Pushes Slack-shaped payloads to the app over the emulator's Socket Mode connection: the
Socket Mode twin of :class:`~bot.emulator.signer.SlackRequestSender`.

A module of its own because it drives :class:`~bot.emulator.server.SlackEmulator`, which
holds the server side (:mod:`bot.emulator.socket_mode`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.emulator.server import SlackEmulator
from bot.emulator.signer import SlackPayloads
from bot.emulator.state import JSON

__all__ = ["SocketModeSender"]


class SocketModeSender:
    """Pushes Slack-shaped payloads to the app over the emulator's socket and returns the ack's
    payload; the Socket Mode twin of :class:`~bot.emulator.signer.SlackRequestSender`."""

    def __init__(self, emulator: SlackEmulator, payloads: SlackPayloads | None = None) -> None:
        self.emulator = emulator
        self.payloads = payloads or SlackPayloads(
            team_id=emulator.state.team_id,
            team_domain=emulator.state.team_domain,
            bot_user_id=emulator.state.bot_user_id,
            response_url_base=emulator.hooks_url,
            clock=emulator.clock,
            workspace=emulator.state,
        )

    async def slash_command(self, text: str = "", **fields: Any) -> JSON:
        payload = self.payloads.slash_command_fields(text, **fields)
        return await self.emulator.socket_send(type="slash_commands", payload=payload)

    async def view_submission(
        self,
        view: Mapping[str, Any],
        values: Mapping[str, Mapping[str, Any]],
        *,
        user_id: str = "U0ALICE",
    ) -> JSON:
        payload = self.payloads.view_submission_payload(view, values, user_id=user_id)
        return await self.emulator.socket_send(type="interactive", payload=payload)

    async def block_action(self, action_id: str, **kwargs: Any) -> JSON:
        payload = self.payloads.block_action_payload(action_id, **kwargs)
        return await self.emulator.socket_send(type="interactive", payload=payload)

    async def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> JSON:
        payload = self.payloads.event_envelope(event, event_id=event_id)
        return await self.emulator.socket_send(
            type="events_api",
            payload=payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )
