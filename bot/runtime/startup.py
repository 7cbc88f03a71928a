"""Start-up checks that refuse to run rather than serve wrongly: the database schema must
be current (or be migrated, when allowed), and the roster's emails must resolve to Slack
users. Either failure is a ConfigError, which `firewatch run` reports and exits on."""

from __future__ import annotations

import logging
from typing import Protocol

from bot.config import ConfigError
from bot.domain.paging import UnknownPerson
from storage import migrate
from storage.engine import Database

log = logging.getLogger(__name__)

SCHEMA_OUT_OF_DATE = (
    "the database schema is at revision {current}, this Firewatch needs {head}: "
    "run `firewatch migrate` (or set FIREWATCH_AUTO_MIGRATE=true)"
)


class Roster(Protocol):
    async def resolve(self) -> object: ...


async def prepare_schema(db: Database, *, auto_migrate: bool) -> None:
    """Migrate to the head revision when `auto_migrate`, else refuse an old schema."""
    current = await migrate.current_revision(db.engine)
    head = migrate.head_revision()
    if current == head:
        return
    if auto_migrate:
        log.info("migrating the database schema", extra={"from": current or "empty", "to": head})
        await migrate.upgrade(db.engine)
        return
    raise ConfigError(SCHEMA_OUT_OF_DATE.format(current=current or "empty", head=head))


async def resolve_roster(roster: Roster) -> None:
    """Look up the roster's emails (users.lookupByEmail) before serving."""
    try:
        await roster.resolve()
    except UnknownPerson as exc:
        raise ConfigError(f"FIREWATCH_POLICY_FILE: {exc}") from None
    except Exception as exc:
        raise ConfigError(
            f"FIREWATCH_POLICY_FILE: could not look up the roster's emails in Slack: {exc}"
        ) from None
