"""What the offline `firewatch` commands share: the database, the policy and the clock
without Slack, and the exit code of a usage or configuration error.

Its own module so that `bot.cli.main` (which registers `bot.cli.data`'s commands) and
`bot.cli.data` both use it without importing each other. Imports stay inside the
functions: an offline command loads neither the Slack side nor Alembic
(docs/performance.md).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings

if TYPE_CHECKING:
    from bot.domain.clock import SystemClock
    from bot.policy.holder import PolicyHolder
    from storage.engine import Database

EXIT_CONFIG = 2


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
