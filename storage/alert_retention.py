"""Queries for the alerts' retention (the policy's `retention.alerts_days`).

Due: an alert group that is resolved, linked to no incident and last seen before the
cutoff (but never the newest group: see `_group_due`); its alerts (and its alert pages,
which cascade from it); a silence that ended before its cutoff; a storm card no group
refers to, last seen before the cutoff.

Every delete takes at most `limit` rows, chosen by a subquery that states the condition
again, so each statement is short and only ever removes what is due when it runs: a group
that fires again, or gets linked, between two statements is no longer due and stays. A
group's alerts are deleted in bounded statements before the group itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, select, tuple_
from sqlalchemy.orm import aliased

from bot.domain.alerts import RESOLVED
from storage.alert_models import AlertGroupRow, AlertRow, AlertSilenceRow, AlertStormRow
from storage.session import Repository


def _group_due(cutoff: datetime) -> ColumnElement[bool]:
    """Due, except the newest group, always kept: SQLite gives a new row the highest id
    plus one, so deleting the highest would give its id (and the declaration key
    `alert:<id>` an incident may still hold) to the next group."""
    other = aliased(AlertGroupRow)
    newest = select(func.max(other.id)).scalar_subquery()
    return (
        (AlertGroupRow.status == RESOLVED)
        & AlertGroupRow.incident_id.is_(None)
        & (AlertGroupRow.last_seen_at < cutoff)
        & (AlertGroupRow.id < newest)
    )


def _storm_unused(cutoff: datetime, *, keeping_due_groups: bool) -> ColumnElement[bool]:
    """A storm card last seen before `cutoff` that no group refers to (with
    `keeping_due_groups` False: no group that this purge keeps, for a dry run's count)."""
    referring = AlertGroupRow.storm_id == AlertStormRow.id
    if not keeping_due_groups:
        referring = referring & ~_group_due(cutoff)
    return (AlertStormRow.last_seen_at < cutoff) & ~exists().where(referring)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class AlertRetentionRepository(Repository):
    # --- counts (a dry run) -----------------------------------------------------------

    async def count_due(self, cutoff: datetime, silences_cutoff: datetime) -> dict[str, int]:
        """What the purge would delete now, by table."""
        due_groups = select(AlertGroupRow.id).where(_group_due(cutoff))
        statements = {
            "alert_groups": select(func.count()).where(_group_due(cutoff)),
            "alerts": select(func.count()).where(AlertRow.group_id.in_(due_groups)),
            "alert_storms": select(func.count()).where(
                _storm_unused(cutoff, keeping_due_groups=False)
            ),
            "alert_silences": select(func.count()).where(AlertSilenceRow.until < silences_cutoff),
        }
        return {
            table: int((await self.session.execute(stmt)).scalar_one())
            for table, stmt in statements.items()
        }

    # --- deletes, each bounded by `limit` ----------------------------------------------

    async def delete_alerts_of_due_groups(self, cutoff: datetime, *, limit: int) -> int:
        due_groups = select(AlertGroupRow.id).where(_group_due(cutoff))
        ids = select(AlertRow.id).where(AlertRow.group_id.in_(due_groups)).limit(limit)
        result = await self.session.execute(
            delete(AlertRow).where(AlertRow.id.in_(ids.scalar_subquery()))
        )
        return _rowcount(result)

    async def delete_due_groups(self, cutoff: datetime, *, limit: int) -> int:
        """Groups due with whatever still refers to them (their alert pages cascade)."""
        ids = select(AlertGroupRow.id).where(_group_due(cutoff)).limit(limit)
        result = await self.session.execute(
            delete(AlertGroupRow)
            .where(AlertGroupRow.id.in_(ids.scalar_subquery()))
            .where(_group_due(cutoff))
        )
        return _rowcount(result)

    async def delete_unused_storms(self, cutoff: datetime, *, limit: int) -> int:
        unused = _storm_unused(cutoff, keeping_due_groups=True)
        ids = select(AlertStormRow.id).where(unused).limit(limit)
        result = await self.session.execute(
            delete(AlertStormRow).where(AlertStormRow.id.in_(ids.scalar_subquery())).where(unused)
        )
        return _rowcount(result)

    async def delete_expired_silences(self, cutoff: datetime, *, limit: int) -> int:
        key = tuple_(AlertSilenceRow.source, AlertSilenceRow.fingerprint)
        keys = (
            select(AlertSilenceRow.source, AlertSilenceRow.fingerprint)
            .where(AlertSilenceRow.until < cutoff)
            .limit(limit)
        )
        result = await self.session.execute(
            delete(AlertSilenceRow).where(key.in_(keys)).where(AlertSilenceRow.until < cutoff)
        )
        return _rowcount(result)
