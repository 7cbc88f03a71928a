from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

TOKEN = "xoxb-test-token"


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
    async with SlackEmulator(bot_token=TOKEN) as emu:
        yield emu


@pytest.fixture
async def clocked_emulator(clock: FakeClock) -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator(bot_token=TOKEN, clock=clock) as emu:
        yield emu


@pytest.fixture
def client(emulator: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=emulator.api_url)
