"""The alerts' part of the retention purge (`retention.alerts_days`), which
`LifecycleService.purge` runs, so `firewatch purge` and the daily job both apply it.

Resolved alert groups linked to no incident go with their alerts once last seen before
the cutoff; a group linked to an incident stays while the incident does (purging the
incident unlinks it, and it goes at the next purge once old enough). Silences go a day
after they end, storm cards once no group uses them. Each delete is one short
transaction of at most `batch` rows, so a large table is never locked for long.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.domain.retention import Cutoffs
from storage.alert_retention import AlertRetentionRepository
from storage.engine import Database

_Delete = Callable[[AlertRetentionRepository, datetime, int], Awaitable[int]]


async def purge_alerts(db: Database, cut: Cutoffs, *, dry_run: bool, batch: int) -> dict[str, int]:
    """Rows deleted (or, with `dry_run`, that would be), by table."""
    if dry_run:
        async with db.session(write=False) as session:
            return await AlertRetentionRepository(session).count_due(cut.alerts, cut.alert_silences)
    # Alerts before their groups (bounded statements rather than one long cascade), and
    # groups before the storm cards they refer to.
    steps: list[tuple[str, datetime, _Delete]] = [
        ("alerts", cut.alerts, lambda r, c, n: r.delete_alerts_of_due_groups(c, limit=n)),
        ("alert_groups", cut.alerts, lambda r, c, n: r.delete_due_groups(c, limit=n)),
        ("alert_storms", cut.alerts, lambda r, c, n: r.delete_unused_storms(c, limit=n)),
        (
            "alert_silences",
            cut.alert_silences,
            lambda r, c, n: r.delete_expired_silences(c, limit=n),
        ),
    ]
    counts: dict[str, int] = {}
    for table, cutoff, step in steps:
        counts[table] = 0
        while True:
            async with db.session() as session:
                n = await step(AlertRetentionRepository(session), cutoff, batch)
            counts[table] += n
            if n < batch:
                break
    return counts
