"""`firewatch check-config`: "configuration OK" only when nothing `firewatch run` needs is
missing; the bot scopes Slack granted compared with what the code needs, when Slack can be
reached (the emulator here), and a plain "could not check" when it cannot."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.emulator import SlackEmulator
from bot.emulator.manifest import manifest_bot_scopes
from tests.cli.test_config import CLEAN_ENV
from tests.support import SECRET, TOKEN

OK = "configuration OK"
INCOMPLETE = "configuration incomplete"


def env_for(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    return {
        **CLEAN_ENV,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api_url,
        "FIREWATCH_ENV": "test",
        "FIREWATCH_DATABASE_URL": f"sqlite+aiosqlite:///{(tmp_path / 'fw.db').as_posix()}",
        **extra,
    }


async def check_config(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, from a thread: the emulator keeps answering meanwhile."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "check-config"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(bot_token=TOKEN)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


async def test_a_missing_scope_is_named_with_what_fails_and_the_fix(
    slack: SlackEmulator, tmp_path: Path
) -> None:
    slack.scopes.discard("im:write")
    result = await check_config(env_for(tmp_path, slack.api_url), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "missing im:write: reinstall the Slack app from manifest.yaml" in result.stdout
    [warning] = [line for line in result.stderr.splitlines() if "im:write" in line]
    assert warning.startswith("warning: Slack bot scope im:write is not granted")
    assert "page is sent twice" in warning
    assert OK not in result.stdout
    assert f"{INCOMPLETE}: 1 Slack bot scope(s) missing" in result.stdout
    assert [c.method for c in slack.calls] == ["auth.test"]


async def test_every_scope_granted_is_ok(slack: SlackEmulator, tmp_path: Path) -> None:
    result = await check_config(env_for(tmp_path, slack.api_url), tmp_path)
    assert result.returncode == 0, result.stderr
    count = len(manifest_bot_scopes())
    assert f"every needed bot scope is granted ({count} granted)" in result.stdout
    assert result.stdout.rstrip().endswith(OK)
    assert "warning" not in result.stderr


async def test_slack_out_of_reach_is_said_not_guessed(tmp_path: Path) -> None:
    env = env_for(tmp_path, "http://127.0.0.1:9/api/")
    result = await check_config(env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "could not check the bot scopes: Slack did not answer as expected" in result.stdout
    assert result.stdout.rstrip().endswith(OK)


async def test_a_missing_required_setting_is_not_configuration_ok(
    slack: SlackEmulator, tmp_path: Path
) -> None:
    env = env_for(tmp_path, slack.api_url)
    del env["SLACK_BOT_TOKEN"]
    result = await check_config(env, tmp_path)
    assert "warning: SLACK_BOT_TOKEN: is required" in result.stderr
    assert "could not check the bot scopes: no usable SLACK_BOT_TOKEN" in result.stdout
    assert OK not in result.stdout
    assert f"{INCOMPLETE}: 1 setting(s) `firewatch run` needs" in result.stdout
    assert slack.calls == []
    # The production audit key counts too.
    env = env_for(tmp_path, slack.api_url, FIREWATCH_ENV="production")
    result = await check_config(env, tmp_path)
    assert "warning: FIREWATCH_AUDIT_KEY: is required" in result.stderr
    assert OK not in result.stdout
    assert INCOMPLETE in result.stdout
