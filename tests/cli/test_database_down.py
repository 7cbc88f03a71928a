"""The offline commands when the database is not there (a restart, a failover): a
command that may be repeated asks again for FIREWATCH_DATABASE_WAIT_SECONDS, then every
command says so in one line and exits 75, never with a traceback."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.cli.offline import EXIT_UNAVAILABLE, waiting_for_database
from bot.services.digest import POST_DIGEST
from storage import migrate
from storage.engine import Database
from storage.models import OutboxRow
from tests.cli.test_backup import firewatch
from tests.ports import free_port
from tests.support import PG_ENV, spawn_cli


def waiting(seconds: float) -> dict[str, str]:
    return {"FIREWATCH_DATABASE_WAIT_SECONDS": str(seconds)}


async def test_a_repeatable_command_asks_again_then_says_so_in_one_line() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/firewatch"
    code, out, err = await firewatch("digest", "--post", database_url=url, extra_env=waiting(1.2))
    assert code == EXIT_UNAVAILABLE
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("firewatch: the database cannot be reached (")
    assert lines[0].endswith("asking again in 0.5 s")
    assert lines[-1].startswith("firewatch: the database cannot be reached (ConnectionRefused")
    assert "asking again" not in lines[-1]
    assert out == ""


async def test_a_command_that_is_not_repeated_says_so_at_once() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/firewatch"
    code, _, err = await firewatch("intake", "list", database_url=url, extra_env=waiting(30))
    assert code == EXIT_UNAVAILABLE
    assert "Traceback" not in err
    assert "asking again" not in err
    assert err.startswith("firewatch: the database cannot be reached (")


async def test_firewatch_run_without_its_database_exits_in_one_line() -> None:
    """What an orchestrator restarting a replica sees while the database is away: exit
    75 and one line naming why, not a traceback (it restarts the replica later)."""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/firewatch"
    slack = {
        "SLACK_BOT_TOKEN": "xoxb-1-test",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "FIREWATCH_ENV": "test",
        "FIREWATCH_LOG_FORMAT": "text",
    }
    code, _, err = await firewatch("run", database_url=url, extra_env=slack)
    assert code == EXIT_UNAVAILABLE
    assert "Traceback" not in err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("firewatch: the database cannot be reached (ConnectionRefused")
    )
    assert "test-signing-secret" not in err


class Sleeps:
    """An injected clock: sleeping moves it on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_asking_again_backs_off_until_the_database_answers() -> None:
    clock = Sleeps()
    answers: Iterator[BaseException | int] = iter(
        [ConnectionRefusedError(111, "refused")] * 4 + [0]
    )

    def command() -> int:
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    code = waiting_for_database(
        command, wait_seconds=lambda: 60, sleep=clock.sleep, monotonic=lambda: clock.now
    )
    assert (code, clock.slept) == (0, [0.5, 1.0, 2.0, 4.0])


def test_other_errors_are_not_waited_out() -> None:
    def command() -> int:
        raise ValueError("a bug, not the database")

    clock = Sleeps()
    with pytest.raises(ValueError, match="a bug"):
        waiting_for_database(
            command, wait_seconds=lambda: 60, sleep=clock.sleep, monotonic=lambda: clock.now
        )
    assert clock.slept == []


async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.mark.skipif(
    not os.environ.get(PG_ENV), reason="needs PostgreSQL (FIREWATCH_TEST_DATABASE_URL)"
)
async def test_digest_post_waits_for_the_database_to_come_back_and_queues_once(
    database_url: str,
) -> None:
    """The database is away when the weekly job runs `digest --post`, and back once the
    command has said it asks again (a loopback forwarder opens on the port the command
    was given): it is queued once."""
    db = Database(database_url)
    await migrate.upgrade(db.engine)
    real = make_url(database_url)
    port = free_port()
    through_proxy = real.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)

    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(real.host, real.port or 5432)
        await asyncio.gather(forward(reader, up_writer), forward(up_reader, writer))

    command = await spawn_cli("digest", "--post", database_url=through_proxy, extra_env=waiting(30))
    assert command.stderr is not None
    # The database comes back only after the command found it away (however long the
    # command took to start: seconds on a busy CI machine).
    first = ""
    while "asking again" not in first:
        line = await asyncio.wait_for(command.stderr.readline(), timeout=60)
        assert line, f"the command ended without asking again: {first}"
        first += line.decode()
    server = await asyncio.start_server(connect, "127.0.0.1", port)
    try:
        out_bytes, err_bytes = await asyncio.wait_for(command.communicate(), timeout=60)
    finally:
        server.close()
    out, err = out_bytes.decode(), first + err_bytes.decode()
    assert command.returncode == 0, err
    assert "Traceback" not in err
    assert out.startswith("digest queued for #incident-review")
    async with db.session() as session:
        rows = (await session.execute(select(OutboxRow.kind))).scalars().all()
    await db.dispose()
    assert rows == [POST_DIGEST]
