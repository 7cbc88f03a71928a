"""A checked start: Firewatch compares the bot scopes Slack granted (auth.test's
x-oauth-scopes header) with what its code needs (bot/slack/scopes.py). A missing scope
makes /health degraded naming it and is logged once, saying what fails and how to fix it;
Firewatch serves on."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

from bot.emulator import SlackEmulator
from bot.emulator.manifest import manifest_bot_scopes
from bot.slack.auth import granted_scopes
from tests.support import TOKEN, Harness, start_harness

MANIFEST_SCOPES = sorted(manifest_bot_scopes())
REINSTALL = "reinstall the Slack app from manifest.yaml"


async def checked(harness: Harness) -> None:
    """Until the start-up auth.test has been answered and compared (bounded)."""
    identity = harness.app.auth.identity
    for _ in range(1000):
        if identity.checked_at is not None:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("no auth.test answer within 10 s of the start")


async def health(harness: Harness) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{harness.app.port}/health") as response,
    ):
        assert response.status == 200
        payload: dict[str, Any] = await response.json()
        return payload


def scope_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is not granted" in r.getMessage()]


@pytest.mark.parametrize("scope", MANIFEST_SCOPES)
async def test_start_up_names_each_missing_scope(
    database_url: str, caplog: pytest.LogCaptureFixture, scope: str
) -> None:
    caplog.set_level(logging.INFO)
    slack = SlackEmulator(bot_token=TOKEN, scopes=set(MANIFEST_SCOPES) - {scope})
    await slack.start()
    try:
        async with start_harness(database_url, emulator=slack) as harness:
            await checked(harness)
            payload = await health(harness)
            assert payload["status"] == "degraded"
            component = payload["components"]["slack_scopes"]
            assert component["status"] == "missing"
            assert component["missing"] == [scope]
            assert component["fails"][scope]  # the feature, in words
            assert payload["components"]["slack_auth"]["status"] == "ok"
            [line] = scope_lines(caplog)
            assert f"scope {scope} is not granted" in line
            assert REINSTALL in line
            assert component["fails"][scope] in line

            # The watch asks again later: the same missing scope is not logged again.
            await harness.app.check_slack_auth()
            assert len(scope_lines(caplog)) == 1
            # Reinstalled with it: /health no longer names it.
            slack.scopes.add(scope)
            await harness.app.check_slack_auth()
            component = (await health(harness))["components"]["slack_scopes"]
            assert component == {"status": "ok", "missing": [], "fails": {}}
    finally:
        await slack.stop()


async def test_every_manifest_scope_granted_is_a_quiet_start(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await checked(harness)
    await harness.app.check_slack_auth()
    payload = await health(harness)
    assert payload["components"]["slack_scopes"] == {"status": "ok", "missing": [], "fails": {}}
    assert payload["status"] == "ok"
    assert scope_lines(caplog) == []


async def test_two_missing_scopes_are_two_lines_and_serving_goes_on(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    lacking = {"im:write", "pins:write"}
    slack = SlackEmulator(bot_token=TOKEN, scopes=set(MANIFEST_SCOPES) - lacking)
    await slack.start()
    try:
        async with start_harness(database_url, emulator=slack) as harness:
            await checked(harness)
            assert (await health(harness))["components"]["slack_scopes"]["missing"] == sorted(
                lacking
            )
            lines = scope_lines(caplog)
            assert len(lines) == 2
            assert {next(s for s in lacking if f"scope {s} " in line) for line in lines} == lacking
            # Serving goes on: a declaration is still answered and stored.
            await harness.declare()
            await harness.declared()
            assert len(await harness.incidents()) == 1
    finally:
        await slack.stop()


def test_the_granted_scopes_header_is_read_whatever_its_case() -> None:
    read = granted_scopes({"X-OAuth-Scopes": "chat:write, commands,"})
    assert read == frozenset({"chat:write", "commands"})
    assert granted_scopes({"x-oauth-scopes": ""}) == frozenset()
    # No header (a proxy that drops it): unknown, which /health says, not "all missing".
    assert granted_scopes({"content-type": "application/json"}) is None
    assert granted_scopes(None) is None
