"""`firewatch run` on a port another process listens on: a configuration error naming
the setting and the address, exit 2, one line; not "the database cannot be reached"
(which an orchestrator would wait out) and not a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bot.cli.offline import EXIT_CONFIG
from tests.ports import LOOPBACK, free_port
from tests.support import run_cli

SLACK = {
    "SLACK_BOT_TOKEN": "xoxb-1-test",
    "SLACK_SIGNING_SECRET": "test-signing-secret",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",  # never reached: it stops before Slack
    "FIREWATCH_ENV": "test",
    "FIREWATCH_LOG_FORMAT": "text",
    "FIREWATCH_AUTO_MIGRATE": "true",
    "FIREWATCH_HOST": LOOPBACK,
}


@pytest.fixture
def taken() -> Iterator[int]:
    """A port another process is listening on."""
    with socket.socket() as other:
        other.bind((LOOPBACK, free_port()))
        other.listen()
        yield int(other.getsockname()[1])


@pytest.mark.parametrize("setting", ["FIREWATCH_PORT", "FIREWATCH_STATUS_PORT"])
async def test_a_port_in_use_is_a_configuration_error_naming_it(
    database_url: str, taken: int, setting: str
) -> None:
    ports = {"FIREWATCH_PORT": str(free_port()), setting: str(taken)}
    done = await run_cli("run", database_url=database_url, extra_env=SLACK | ports)
    assert done.returncode == EXIT_CONFIG
    assert "Traceback" not in done.stderr
    assert "database cannot be reached" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"firewatch: configuration error: {setting}: cannot listen on {LOOPBACK}:{taken} ("
    )
    assert "in use" in last
    assert "test-signing-secret" not in done.stderr
