"""Every alert query: intake upserts (idempotent on the tables' unique keys), the card's
read, silences, storm cards, links to incidents and acknowledgements."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, case, func, literal, select, update

from bot.domain.alerts import (
    FIRING,
    RESOLVED,
    AlertChange,
    AlertGroup,
    IncomingAlert,
    Silence,
    StoredAlert,
)
from storage.alert_card_queries import AlertCardQueries, group_from_row
from storage.alert_models import AlertGroupRow, AlertRow, AlertSilenceRow
from storage.types import UTCDateTime

_groups = cast(Table, AlertGroupRow.__table__)
_alerts = cast(Table, AlertRow.__table__)


def group_hash(group_key: str) -> str:
    """Group keys can be long (Alertmanager's names every grouping label): stored whole,
    found by their hash."""
    return hashlib.sha256(group_key.encode("utf-8")).hexdigest()


class AlertRepository(AlertCardQueries):
    # --- intake -----------------------------------------------------------------------

    async def group_for(
        self,
        source: str,
        group_key: str,
        *,
        channel: str | None,
        title: str,
        severity: str,
        labels: Mapping[str, str],
        now: datetime,
    ) -> tuple[AlertGroup, bool]:
        """The group, locked for this transaction, created if new (then True)."""
        key_hash = group_hash(group_key)
        stmt = (
            (await self._insert(_groups))
            .values(
                source=source,
                group_hash=key_hash,
                group_key=group_key,
                channel=channel,
                status=FIRING,
                title=title,
                severity=severity,
                labels=dict(labels),
                firing=0,
                total=0,
                first_seen_at=now,
                last_seen_at=now,
                card_queued=False,
            )
            .on_conflict_do_nothing(index_elements=["source", "group_hash"])
        )
        created = await self._changed(stmt) == 1
        row = (
            await self.session.execute(
                select(AlertGroupRow)
                .where(AlertGroupRow.source == source, AlertGroupRow.group_hash == key_hash)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        return group_from_row(row), created

    async def record(
        self, group_id: int, alerts: Sequence[IncomingAlert], now: datetime
    ) -> list[AlertChange]:
        """Store the received alerts; what each changed (see `AlertChange`), in order.

        A monitor resends its firing alerts on every repeat: one read finds the ones
        stored already, one update moves all their "last seen"; only new firings are
        inserted, and only resolutions are written one by one (each has its own end)."""
        stored = await self._stored(alerts)
        changes: list[AlertChange] = []
        seen: list[int] = []
        for alert in alerts:
            found = stored.get((alert.fingerprint, _utc(alert.starts_at)))
            if found is None:
                changes.append(await self._insert_alert(group_id, alert, now))
                continue
            row_id, before = found
            if before == FIRING and alert.status == RESOLVED:
                await self.session.execute(
                    update(AlertRow)
                    .where(AlertRow.id == row_id)
                    .values(
                        status=RESOLVED,
                        ends_at=alert.ends_at or now,
                        last_seen_at=now,
                        received=AlertRow.received + 1,
                    )
                )
                changes.append(AlertChange.RESOLVED)
                continue
            seen.append(row_id)
            changes.append(AlertChange.RESENT if before == FIRING else AlertChange.UNCHANGED)
        if seen:
            await self.session.execute(
                update(AlertRow)
                .where(AlertRow.id.in_(seen))
                .values(last_seen_at=now, received=AlertRow.received + 1)
            )
        return changes

    async def _stored(
        self, alerts: Sequence[IncomingAlert]
    ) -> dict[tuple[str, datetime], tuple[int, str]]:
        """(fingerprint, startsAt) → (row id, status) of the alerts already stored."""
        if not alerts:
            return {}
        stmt = select(AlertRow.id, AlertRow.fingerprint, AlertRow.starts_at, AlertRow.status).where(
            AlertRow.source == alerts[0].source,
            AlertRow.fingerprint.in_(sorted({a.fingerprint for a in alerts})),
        )
        rows = (await self.session.execute(stmt)).all()
        return {(fp, _utc(starts)): (row_id, status) for row_id, fp, starts, status in rows}

    async def _insert_alert(
        self, group_id: int, alert: IncomingAlert, now: datetime
    ) -> AlertChange:
        insert = (
            (await self._insert(_alerts))
            .values(
                group_id=group_id,
                source=alert.source,
                fingerprint=alert.fingerprint,
                starts_at=alert.starts_at,
                status=alert.status,
                ends_at=alert.ends_at,
                labels=dict(alert.labels),
                annotations=dict(alert.annotations),
                links=dict(alert.links),
                values=dict(alert.values),
                first_seen_at=now,
                last_seen_at=now,
                received=1,
            )
            .on_conflict_do_nothing(index_elements=["source", "fingerprint", "starts_at"])
        )
        if await self._changed(insert) == 1:
            return AlertChange.NEW if alert.status == FIRING else AlertChange.UNCHANGED
        # Another replica stored it between the read and this insert: it is theirs to tell.
        return AlertChange.UNCHANGED

    async def touch_group(self, group_id: int, now: datetime) -> AlertGroup:
        """A resend that changed nothing else: only the group's "last seen" moves."""
        await self.session.execute(
            update(AlertGroupRow)
            .where(AlertGroupRow.id == group_id)
            .values(last_seen_at=now, resent_at=now)
        )
        found = await self.group(group_id)
        assert found is not None
        return found

    async def settle_group(
        self, group_id: int, *, now: datetime, resent: bool, title: str | None = None
    ) -> AlertGroup:
        """Recount the group's alerts and set its status from them, in one statement."""
        mine = AlertRow.group_id == group_id
        firing = (
            select(func.coalesce(func.sum(func.cast(AlertRow.status == FIRING, Integer)), 0))
            .where(mine)
            .scalar_subquery()
        )
        total = select(func.count()).where(mine).scalar_subquery()
        values: dict[str, Any] = {
            "total": total,
            "firing": firing,
            "last_seen_at": now,
            "status": case((firing > 0, FIRING), else_=RESOLVED),
            # Resolved when the last alert stopped firing; kept while it stays resolved.
            "resolved_at": case(
                (firing > 0, None),
                (AlertGroupRow.status == RESOLVED, AlertGroupRow.resolved_at),
                else_=literal(now, UTCDateTime()),
            ),
        }
        if resent:
            values["resent_at"] = now
        if title:
            values["title"] = title
        await self.session.execute(
            update(AlertGroupRow).where(AlertGroupRow.id == group_id).values(**values)
        )
        found = await self.group(group_id)
        assert found is not None
        return found

    async def silenced(self, source: str, fingerprints: Iterable[str], now: datetime) -> set[str]:
        wanted = sorted(set(fingerprints))
        if not wanted:
            return set()
        stmt = select(AlertSilenceRow.fingerprint).where(
            AlertSilenceRow.source == source,
            AlertSilenceRow.fingerprint.in_(wanted),
            AlertSilenceRow.until > now,
        )
        return set((await self.session.execute(stmt)).scalars())

    # --- reads ------------------------------------------------------------------------

    async def lock_group(self, group_id: int) -> AlertGroup | None:
        stmt = (
            select(AlertGroupRow)
            .where(AlertGroupRow.id == group_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return group_from_row(row) if row is not None else None

    async def alerts(
        self, group_id: int, *, limit: int = 50, firing_first: bool = True
    ) -> list[StoredAlert]:
        order = [AlertRow.status.desc()] if firing_first else []  # "resolved" < "firing"
        stmt = (
            select(AlertRow)
            .where(AlertRow.group_id == group_id)
            .order_by(*order, AlertRow.starts_at, AlertRow.id)
            .limit(limit)
        )
        return [_alert(row) for row in (await self.session.execute(stmt)).scalars()]

    async def groups_of_incident(self, incident_id: int) -> list[AlertGroup]:
        stmt = (
            select(AlertGroupRow)
            .where(AlertGroupRow.incident_id == incident_id)
            .order_by(AlertGroupRow.id)
        )
        return [group_from_row(row) for row in (await self.session.execute(stmt)).scalars()]

    # --- acting on a group ----------------------------------------------------------

    async def link(self, group_id: int, incident_id: int) -> bool:
        """Link the group to an incident; False if it already was (to that one)."""
        stmt = (
            update(AlertGroupRow)
            .where(
                AlertGroupRow.id == group_id,
                (AlertGroupRow.incident_id.is_(None)) | (AlertGroupRow.incident_id != incident_id),
            )
            .values(incident_id=incident_id)
        )
        return await self._changed(stmt) == 1

    async def acknowledge(self, group_id: int, user: str, now: datetime) -> bool:
        """The first acknowledgement of the group (its MTTA); False if it had one."""
        stmt = (
            update(AlertGroupRow)
            .where(AlertGroupRow.id == group_id, AlertGroupRow.acknowledged_at.is_(None))
            .values(acknowledged_by=user, acknowledged_at=now)
        )
        return await self._changed(stmt) == 1

    async def silence(self, silences: Sequence[Silence]) -> None:
        for item in silences:
            stmt = (await self._insert(cast(Table, AlertSilenceRow.__table__))).values(
                source=item.source,
                fingerprint=item.fingerprint,
                until=item.until,
                silenced_by=item.by,
                reason=item.reason,
                silenced_at=item.silenced_at,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["source", "fingerprint"],
                set_={
                    "until": stmt.excluded.until,
                    "silenced_by": stmt.excluded.silenced_by,
                    "reason": stmt.excluded.reason,
                    "silenced_at": stmt.excluded.silenced_at,
                },
            )
            await self.session.execute(stmt)

    async def silences(self, source: str, fingerprints: Iterable[str]) -> list[Silence]:
        wanted = sorted(set(fingerprints))
        if not wanted:
            return []
        stmt = select(AlertSilenceRow).where(
            AlertSilenceRow.source == source, AlertSilenceRow.fingerprint.in_(wanted)
        )
        return [
            Silence(
                source=row.source,
                fingerprint=row.fingerprint,
                until=row.until,
                by=row.silenced_by,
                reason=row.reason,
                silenced_at=row.silenced_at,
            )
            for row in (await self.session.execute(stmt)).scalars()
        ]


def _alert(row: AlertRow) -> StoredAlert:
    return StoredAlert(
        id=row.id,
        group_id=row.group_id,
        source=row.source,
        fingerprint=row.fingerprint,
        status=row.status,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        labels=dict(row.labels or {}),
        annotations=dict(row.annotations or {}),
        links=dict(row.links or {}),
        values=dict(row.values or {}),
        last_seen_at=row.last_seen_at,
        received=row.received,
    )


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC)
