"""What the offline `firewatch` commands share: the database, the policy and the clock
without Slack, and the exit code of a usage or configuration error.

Its own module so that `bot.cli.main` (which registers `bot.cli.data`'s commands) and
`bot.cli.data` both use it without importing each other. Imports stay inside the
functions: an offline command loads neither the Slack side nor Alembic
(docs/performance.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings

if TYPE_CHECKING:
    from bot.domain.clock import SystemClock
    from bot.policy.holder import PolicyHolder
    from storage.engine import Database

EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 75  # sysexits' EX_TEMPFAIL: the database was not there; try again later


class Offline:
    """What CLI commands need without Slack: database, policy, clock."""

    db: Database
    policy: PolicyHolder
    clock: SystemClock

    def __init__(self, settings: Settings) -> None:
        from bot.domain.clock import SystemClock
        from bot.policy.holder import load_policy_or_fail
        from storage.engine import Database

        self.db = Database(settings.effective_database_url)
        self.policy = load_policy_or_fail(settings)
        self.clock = SystemClock()


@asynccontextmanager
async def offline(settings: Settings) -> AsyncIterator[Offline]:
    """The offline parts, once the database schema is known to be current; the
    database's connections are closed on the way out, whatever happens."""
    from storage import migrate

    app = Offline(settings)
    try:
        if not await migrate.is_current(app.db.engine):
            raise ConfigError("the database schema is not current: run `firewatch migrate`")
        yield app
    finally:
        await app.db.dispose()


def incident_number(text: str) -> int:
    """The number of an `INC-42` (or `42`) argument.

    A text that is no incident reference is a usage error: it is reported here and
    raises `UsageError`, which `bot.cli.main.main` turns into exit code 2.
    """
    from bot.domain.incident import parse_reference

    number = parse_reference(text)
    if number is None:
        print(f"firewatch: {text!r} is not an incident reference (INC-42)", file=sys.stderr)
        raise UsageError(text)
    return number


class UsageError(Exception):
    """An argument the command cannot use; already reported on standard error."""


def database_down(exc: BaseException) -> str | None:
    """What to tell the operator when `exc` says the database could not be reached, or None."""
    from storage.errors import is_unreachable, reason

    return reason(exc) if is_unreachable(exc) else None


def waiting_for_database(
    command: Callable[[], int],
    *,
    wait_seconds: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Run `command`, again while the database cannot be reached (a restart, a failover),
    for up to `wait_seconds()` with back-off; then exit EXIT_UNAVAILABLE, in one line.
    Only for commands that may be repeated: a read, `migrate`, `digest --post` (which
    does not queue a digest already waiting to be posted)."""
    deadline: float | None = None
    delay = 0.5
    while True:
        try:
            return command()
        except Exception as exc:
            why = database_down(exc)
            if why is None:
                raise
            if deadline is None:
                deadline = monotonic() + wait_seconds()
            if monotonic() + delay > deadline:
                print(f"firewatch: the database cannot be reached ({why})", file=sys.stderr)
                return EXIT_UNAVAILABLE
            print(
                f"firewatch: the database cannot be reached ({why}); asking again in {delay:g} s",
                file=sys.stderr,
            )
            sleep(delay)
            delay = min(delay * 2, 8.0)


def positive_int(text: str) -> int:
    """An argparse type: a whole number from 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1")
    return value


def utc_text(moment: datetime | None) -> str:
    """A listing's time column: UTC to the second, "-" for none."""
    if moment is None:
        return "-"
    return (moment.astimezone(UTC) if moment.tzinfo else moment).strftime("%Y-%m-%d %H:%M:%S")
