from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

TOKEN = "xoxb-test-token"

#: Every scope the emulator checks: the Web API shape tests below are not about scopes
#: (test_emulator_scopes.py is, with manifest.yaml's scopes).
EVERY_SCOPE = frozenset(
    f"{prefix}:{verb}"
    for prefix in ("channels", "groups", "im", "mpim")
    for verb in ("history", "read", "write", "manage", "join")
) | {
    "chat:write", "chat:write.public", "pins:read", "pins:write", "reactions:read",
    "reactions:write", "bookmarks:read", "bookmarks:write", "users:read", "users:read.email",
    "team:read", "commands",
}  # fmt: skip


class FakeClock:
    """A settable clock for the emulator (rate-limit refill, trigger expiry) without sleeping."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def emulator() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator(bot_token=TOKEN, scopes=EVERY_SCOPE) as emu:
        yield emu


@pytest.fixture
async def clocked_emulator(clock: FakeClock) -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator(bot_token=TOKEN, clock=clock, scopes=EVERY_SCOPE) as emu:
        yield emu


@pytest.fixture
def client(emulator: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=emulator.api_url)
