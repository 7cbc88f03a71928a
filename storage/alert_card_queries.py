"""Alert queries shared by intake and the cards' delivery: the group read, the storm
bound and storm cards, the "update waiting" marks and where a card was posted."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.domain.alerts import FIRING, AlertGroup, AlertStorm
from storage.alert_models import AlertGroupRow, AlertStormRow
from storage.session import Repository

STORM_LISTED = 15  # groups a storm card names; the rest are counted


class AlertCardQueries(Repository):
    async def _insert(self, table: Table) -> Any:
        conn = await self.session.connection()
        dialect = conn.dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)

    async def _changed(self, stmt: Any) -> int:
        """Run an insert or update; how many rows it changed."""
        conn = await self.session.connection()
        return int((await conn.execute(stmt)).rowcount or 0)

    async def group(self, group_id: int) -> AlertGroup | None:
        row = await self.session.get(AlertGroupRow, group_id, populate_existing=True)
        return group_from_row(row) if row is not None else None

    # --- cards ------------------------------------------------------------------------

    async def lock_channel(self, channel: str) -> None:
        """Hold the channel's storm bound for this transaction: two groups new in one
        channel at once must not both count the other's card as not there yet. SQLite's
        one writer already serialises them; PostgreSQL takes a transaction advisory lock."""
        conn = await self.session.connection()
        if conn.dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(f"alerts:{channel}".encode()).digest()[:8], "big")
            await conn.execute(
                select(func.pg_advisory_xact_lock(key - (1 << 63) if key >= 1 << 63 else key))
            )

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
            groups=[group_from_row(g) for g in groups],
            group_count=int(totals[0]),
            firing_alerts=int(totals[1]),
            total_alerts=int(totals[2]),
            firing_groups=int(totals[3]),
        )


def group_from_row(row: AlertGroupRow) -> AlertGroup:
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
