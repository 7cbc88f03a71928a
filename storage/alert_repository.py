"""Every alert query: intake upserts (idempotent on the tables' unique keys), the card's
read, silences, storm cards, links to incidents and acknowledgements."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.domain.alerts import (
    FIRING,
    RESOLVED,
    AlertChange,
    AlertGroup,
    AlertStorm,
    IncomingAlert,
    Silence,
    StoredAlert,
)
from storage.alert_models import AlertGroupRow, AlertRow, AlertSilenceRow, AlertStormRow
from storage.session import Repository

_groups = cast(Table, AlertGroupRow.__table__)
_alerts = cast(Table, AlertRow.__table__)


def group_hash(group_key: str) -> str:
    """Group keys can be long (Alertmanager's names every grouping label): stored whole,
    found by their hash."""
    return hashlib.sha256(group_key.encode("utf-8")).hexdigest()


class AlertRepository(Repository):
    async def _insert(self, table: Table) -> Any:
        conn = await self.session.connection()
        dialect = conn.dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)

    async def _changed(self, stmt: Any) -> int:
        """Run an insert or update; how many rows it changed."""
        conn = await self.session.connection()
        return int((await conn.execute(stmt)).rowcount or 0)

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
        return _group(row), created

    async def record(self, group_id: int, alert: IncomingAlert, now: datetime) -> AlertChange:
        """Store one received alert; what it changed (see `AlertChange`)."""
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
        key = and_(
            AlertRow.source == alert.source,
            AlertRow.fingerprint == alert.fingerprint,
            AlertRow.starts_at == alert.starts_at,
        )
        before = (await self.session.execute(select(AlertRow.status).where(key))).scalar_one()
        values: dict[str, Any] = {"last_seen_at": now, "received": AlertRow.received + 1}
        if alert.status == RESOLVED:
            values.update(status=RESOLVED, ends_at=alert.ends_at or now)
        else:
            # A firing alert's annotations may be templated on its value: keep the newest.
            values.update(annotations=dict(alert.annotations), values=dict(alert.values))
        await self.session.execute(update(AlertRow).where(key).values(**values))
        if before == FIRING and alert.status == RESOLVED:
            return AlertChange.RESOLVED
        if before == FIRING:
            return AlertChange.RESENT
        return AlertChange.UNCHANGED

    async def settle_group(
        self, group_id: int, *, now: datetime, resent: bool, title: str | None = None
    ) -> AlertGroup:
        """Recount the group's alerts and set its status from them."""
        counts = (
            await self.session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(func.cast(AlertRow.status == FIRING, Integer)), 0),
                ).where(AlertRow.group_id == group_id)
            )
        ).one()
        total, firing = int(counts[0]), int(counts[1])
        values: dict[str, Any] = {"total": total, "firing": firing, "last_seen_at": now}
        if resent:
            values["resent_at"] = now
        if title:
            values["title"] = title
        group = await self.group(group_id)
        assert group is not None
        if firing and group.status != FIRING:
            values.update(status=FIRING, resolved_at=None)
        elif not firing and group.status != RESOLVED:
            values.update(status=RESOLVED, resolved_at=now)
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

    # --- cards ------------------------------------------------------------------------

    async def own_cards_since(self, channel: str, since: datetime) -> int:
        """Groups of `channel` first seen since `since` that have a card of their own."""
        stmt = select(func.count()).where(
            AlertGroupRow.channel == channel,
            AlertGroupRow.first_seen_at >= since,
            AlertGroupRow.storm_id.is_(None),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def storm_for(self, channel: str, *, quiet_since: datetime, now: datetime) -> int:
        """The channel's storm card still in use (seen since `quiet_since`), else a new one."""
        stmt = (
            select(AlertStormRow.id)
            .where(AlertStormRow.channel == channel, AlertStormRow.last_seen_at >= quiet_since)
            .order_by(AlertStormRow.id.desc())
            .limit(1)
        )
        found = (await self.session.execute(stmt)).scalar_one_or_none()
        if found is not None:
            await self.session.execute(
                update(AlertStormRow).where(AlertStormRow.id == found).values(last_seen_at=now)
            )
            return int(found)
        row = AlertStormRow(channel=channel, opened_at=now, last_seen_at=now, card_queued=False)
        self.session.add(row)
        await self.session.flush()
        return int(row.id)

    async def put_in_storm(self, group_id: int, storm_id: int) -> None:
        await self.session.execute(
            update(AlertGroupRow).where(AlertGroupRow.id == group_id).values(storm_id=storm_id)
        )

    async def queue_card(self, group_id: int) -> bool:
        """Mark the group's card as having an update waiting; False if one already was."""
        stmt = (
            update(AlertGroupRow)
            .where(AlertGroupRow.id == group_id, AlertGroupRow.card_queued.is_(False))
            .values(card_queued=True)
        )
        return await self._changed(stmt) == 1

    async def queue_storm_card(self, storm_id: int) -> bool:
        stmt = (
            update(AlertStormRow)
            .where(AlertStormRow.id == storm_id, AlertStormRow.card_queued.is_(False))
            .values(card_queued=True)
        )
        return await self._changed(stmt) == 1

    async def take_card(self, group_id: int) -> AlertGroup | None:
        """The delivery's read: clear the waiting mark first, so a change made while the
        card is being sent queues another update."""
        await self.session.execute(
            update(AlertGroupRow).where(AlertGroupRow.id == group_id).values(card_queued=False)
        )
        return await self.group(group_id)

    async def take_storm_card(self, storm_id: int) -> AlertStorm | None:
        await self.session.execute(
            update(AlertStormRow).where(AlertStormRow.id == storm_id).values(card_queued=False)
        )
        return await self.storm(storm_id)

    async def card_posted(self, group_id: int, channel_id: str, ts: str) -> None:
        await self.session.execute(
            update(AlertGroupRow)
            .where(AlertGroupRow.id == group_id)
            .values(card_channel_id=channel_id, card_ts=ts)
        )

    async def storm_card_posted(self, storm_id: int, channel_id: str, ts: str) -> None:
        await self.session.execute(
            update(AlertStormRow)
            .where(AlertStormRow.id == storm_id)
            .values(card_channel_id=channel_id, card_ts=ts)
        )

    # --- reads ------------------------------------------------------------------------

    async def group(self, group_id: int) -> AlertGroup | None:
        row = await self.session.get(AlertGroupRow, group_id, populate_existing=True)
        return _group(row) if row is not None else None

    async def lock_group(self, group_id: int) -> AlertGroup | None:
        stmt = (
            select(AlertGroupRow)
            .where(AlertGroupRow.id == group_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return _group(row) if row is not None else None

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
        return [_group(row) for row in (await self.session.execute(stmt)).scalars()]

    async def storm(self, storm_id: int) -> AlertStorm | None:
        row = await self.session.get(AlertStormRow, storm_id, populate_existing=True)
        if row is None:
            return None
        groups = (
            await self.session.execute(
                select(AlertGroupRow)
                .where(AlertGroupRow.storm_id == storm_id)
                .order_by(AlertGroupRow.firing.desc(), AlertGroupRow.id)
                .limit(STORM_LISTED)
            )
        ).scalars()
        totals = (
            await self.session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(AlertGroupRow.firing), 0),
                    func.coalesce(func.sum(AlertGroupRow.total), 0),
                    func.coalesce(func.sum(func.cast(AlertGroupRow.status == FIRING, Integer)), 0),
                ).where(AlertGroupRow.storm_id == storm_id)
            )
        ).one()
        return AlertStorm(
            id=row.id,
            channel=row.channel,
            opened_at=row.opened_at,
            last_seen_at=row.last_seen_at,
            card_channel_id=row.card_channel_id,
            card_ts=row.card_ts,
            groups=[_group(g) for g in groups],
            group_count=int(totals[0]),
            firing_alerts=int(totals[1]),
            total_alerts=int(totals[2]),
            firing_groups=int(totals[3]),
        )

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


STORM_LISTED = 15


def _group(row: AlertGroupRow) -> AlertGroup:
    return AlertGroup(
        id=row.id,
        source=row.source,
        group_key=row.group_key,
        channel=row.channel,
        status=row.status,
        title=row.title,
        severity=row.severity,
        labels=dict(row.labels or {}),
        firing=row.firing,
        total=row.total,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        resent_at=row.resent_at,
        storm_id=row.storm_id,
        card_channel_id=row.card_channel_id,
        card_ts=row.card_ts,
        incident_id=row.incident_id,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
    )


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
