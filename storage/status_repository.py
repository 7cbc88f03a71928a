"""Status page queries (issue 24): incident effects on components, public updates,
scheduled maintenance and states set by hand; and what the public page is built from.

Returns plain values and domain types: what reaches the page is chosen here and in
`bot.domain.status_page`, never by handing a whole incident row to a renderer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, union, update

from bot.domain.incident import OPEN_STATUSES, Kind, Status
from bot.domain.status_page import ComponentState, Maintenance, PublicUpdate, worst
from storage.models import IncidentRow
from storage.session import Repository
from storage.status_models import (
    ComponentOverrideRow,
    IncidentComponentRow,
    MaintenanceRow,
    PublicUpdateRow,
)

OPEN = OPEN_STATUSES


@dataclass(frozen=True)
class PublicIncident:
    """What the page may know of an incident: its number, status and times, the states
    it declares and its public updates. No title, report, people or channel."""

    id: int
    status: Status
    declared_at: datetime
    ended_at: datetime | None
    effects: Mapping[str, ComponentState]
    updates: Sequence[PublicUpdate]


@dataclass(frozen=True)
class Affected:
    """One incident's effect on one component over time, for the 90-day history."""

    component: str
    state: ComponentState  # the worst it declared
    start: datetime
    end: datetime | None  # None: still open


class StatusRepository(Repository):
    # --- writes, in the caller's transaction ----------------------------------------------

    async def set_effects(
        self,
        incident_id: int,
        effects: Mapping[str, ComponentState],
        at: datetime,
        since: datetime | None = None,
    ) -> bool:
        """The incident now affects exactly `effects`; components left out are no longer
        affected. True when anything changed. `worst` keeps the worst state ever declared
        for the component (what its history shows)."""
        rows = {
            r.component: r
            for r in (
                await self.session.execute(
                    select(IncidentComponentRow).where(
                        IncidentComponentRow.incident_id == incident_id
                    )
                )
            ).scalars()
        }
        changed = False
        for key in set(rows) - set(effects):
            await self.session.delete(rows[key])
            changed = True
        for key, state in effects.items():
            row = rows.get(key)
            if row is None:
                self.session.add(
                    IncidentComponentRow(
                        incident_id=incident_id,
                        component=key,
                        state=state.value,
                        worst=state.value,
                        since=since or at,
                        updated_at=at,
                    )
                )
                changed = True
            elif row.state != state.value:
                row.state = state.value
                row.worst = worst([ComponentState(row.worst), state]).value
                row.updated_at = at
                changed = True
        await self.session.flush()
        return changed

    async def add_public_update(
        self,
        incident_id: int,
        *,
        status: Status,
        text: str,
        actor: str,
        at: datetime,
        source_key: str | None = None,
    ) -> bool:
        """Store a public update; False when `source_key` was stored already."""
        if source_key is not None:
            seen = await self.session.execute(
                select(PublicUpdateRow.id).where(PublicUpdateRow.source_key == source_key)
            )
            if seen.first() is not None:
                return False
        self.session.add(
            PublicUpdateRow(
                incident_id=incident_id,
                at=at,
                status=status.value,
                text=text,
                actor=actor,
                source_key=source_key,
            )
        )
        await self.session.flush()
        return True

    async def add_maintenance(self, **values: Any) -> tuple[int, bool]:
        """Store scheduled maintenance (`values`: its columns, components as a list);
        (its id, whether it is new): a `source_key` stored already returns that one."""
        key = values.get("source_key")
        if key is not None:
            seen = await self.session.execute(
                select(MaintenanceRow.id).where(MaintenanceRow.source_key == key)
            )
            found = seen.scalar_one_or_none()
            if found is not None:
                return int(found), False
        components = {"keys": list(values.pop("components"))}
        row = MaintenanceRow(components=components, **values)
        self.session.add(row)
        await self.session.flush()
        return int(row.id), True

    async def cancel_maintenance(self, maintenance_id: int, at: datetime) -> bool:
        """Cancel maintenance not cancelled and not over; False if there is none."""
        result = await self.session.execute(
            update(MaintenanceRow)
            .where(
                MaintenanceRow.id == maintenance_id,
                MaintenanceRow.cancelled_at.is_(None),
                MaintenanceRow.ends_at > at,
            )
            .values(cancelled_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_override(
        self, component: str, state: ComponentState | None, *, actor: str, at: datetime
    ) -> None:
        """Set a component's state by hand; None hands it back to incidents and maintenance."""
        await self.session.execute(
            delete(ComponentOverrideRow).where(ComponentOverrideRow.component == component)
        )
        if state is not None:
            self.session.add(
                ComponentOverrideRow(
                    component=component, state=state.value, set_by=actor, set_at=at
                )
            )
        await self.session.flush()

    # --- reads ----------------------------------------------------------------------------

    async def effects(self, incident_id: int) -> dict[str, ComponentState]:
        stmt = select(IncidentComponentRow.component, IncidentComponentRow.state).where(
            IncidentComponentRow.incident_id == incident_id
        )
        return {c: ComponentState(s) for c, s in await self.session.execute(stmt)}

    async def has_public_face(self, incident_id: int) -> bool:
        """The incident shows on the page: it affects a component or has public updates."""
        for model in (IncidentComponentRow, PublicUpdateRow):
            stmt = select(model.incident_id).where(model.incident_id == incident_id).limit(1)
            if (await self.session.execute(stmt)).first() is not None:
                return True
        return False

    async def public_incidents(
        self, resolved_since: datetime, resolved_limit: int = 25
    ) -> list[PublicIncident]:
        """Open incidents, and the newest `resolved_limit` resolved (or closed) since
        `resolved_since`, that affect a component or have public updates; by number."""
        public = or_(
            exists().where(IncidentComponentRow.incident_id == IncidentRow.id),
            exists().where(PublicUpdateRow.incident_id == IncidentRow.id),
        )
        columns = (
            IncidentRow.id,
            IncidentRow.status,
            IncidentRow.declared_at,
            IncidentRow.resolved_at,
            IncidentRow.closed_at,
        )
        shown = (public, IncidentRow.kind == Kind.INCIDENT.value)
        current = select(*columns).where(IncidentRow.status.in_(OPEN), *shown)
        ended = (
            select(*columns)
            .where(IncidentRow.resolved_at >= resolved_since, IncidentRow.status.not_in(OPEN))
            .where(*shown)
            .order_by(IncidentRow.resolved_at.desc())
            .limit(resolved_limit)
        )
        conn = await self.session.connection()
        rows = sorted(
            [*await conn.execute(current), *await conn.execute(ended)], key=lambda row: row.id
        )
        if not rows:
            return []
        effects, updates = await self._public_facts([r.id for r in rows])
        return [
            PublicIncident(
                r.id,
                Status(r.status),
                r.declared_at,
                r.resolved_at or r.closed_at,
                effects[r.id],
                tuple(updates[r.id]),
            )
            for r in rows
        ]

    async def _public_facts(
        self, ids: list[int]
    ) -> tuple[dict[int, dict[str, ComponentState]], dict[int, list[PublicUpdate]]]:
        """The incidents' declared effects and public updates (oldest first), by id."""
        effects: dict[int, dict[str, ComponentState]] = {i: {} for i in ids}
        for incident_id, component, state in await self.session.execute(
            select(
                IncidentComponentRow.incident_id,
                IncidentComponentRow.component,
                IncidentComponentRow.state,
            ).where(IncidentComponentRow.incident_id.in_(ids))
        ):
            effects[incident_id][component] = ComponentState(state)
        updates: dict[int, list[PublicUpdate]] = {i: [] for i in ids}
        for u in (
            await self.session.execute(
                select(PublicUpdateRow)
                .where(PublicUpdateRow.incident_id.in_(ids))
                .order_by(PublicUpdateRow.at, PublicUpdateRow.id)
            )
        ).scalars():
            updates[u.incident_id].append(PublicUpdate(u.at, Status(u.status), u.text))
        return effects, updates

    async def affected_since(self, since: datetime) -> list[Affected]:
        """Every incident's effect on a component that lasted into [since, now]: the
        history's input (one row per incident and component)."""
        return await self._affected(_lasting_into(since))

    async def ended_between(self, since: datetime, before: datetime) -> list[Affected]:
        """The effects of incidents that ended in [since, before): settled history, which
        only a reopened, changed or purged incident can change (`ended_fingerprint`)."""
        return await self._affected(_ended_between(since, before))

    async def ended_fingerprint(self, since: datetime, before: datetime) -> tuple[Any, ...]:
        """Changes whenever `ended_between(since, before)` would read other rows: how many
        incidents ended then, the sum of their numbers and their latest change (a change
        of what an incident declares is a change of the incident: `touch`), aggregated
        in the database, none of the rows sent."""
        stmt = select(
            func.count(),
            func.coalesce(func.sum(IncidentRow.id), 0),
            func.max(IncidentRow.updated_at),
        ).where(_ended_in(since, before))
        row = (await (await self.session.connection()).execute(stmt)).one()
        return tuple(row)

    async def touch(self, incident_id: int, at: datetime) -> None:
        """Mark the incident changed (what it declares about components changed)."""
        await self.session.execute(
            update(IncidentRow).where(IncidentRow.id == incident_id).values(updated_at=at)
        )

    async def _affected(self, incident_ids: Any) -> list[Affected]:
        stmt = (
            select(
                IncidentComponentRow.component,
                IncidentComponentRow.worst,
                IncidentComponentRow.since,
                IncidentRow.resolved_at,
                IncidentRow.closed_at,
                IncidentRow.status,
            )
            .join(IncidentRow, IncidentRow.id == IncidentComponentRow.incident_id)
            .where(IncidentRow.id.in_(incident_ids))
        )
        # Core on the connection: thousands of rows, no ORM bookkeeping wanted.
        conn = await self.session.connection()
        states = {state.value: state for state in ComponentState}
        return [
            Affected(
                component,
                states[state],
                start,
                None if status in OPEN else (resolved or closed),
            )
            for component, state, start, resolved, closed, status in await conn.execute(stmt)
        ]

    async def maintenances(self, ending_after: datetime) -> list[Maintenance]:
        """Maintenance not cancelled that ends after `ending_after`, by start."""
        stmt = (
            select(MaintenanceRow)
            .where(MaintenanceRow.cancelled_at.is_(None), MaintenanceRow.ends_at > ending_after)
            .order_by(MaintenanceRow.starts_at, MaintenanceRow.id)
        )
        return [
            Maintenance(
                str(r.id), r.title, tuple(r.components.get("keys", ())), r.starts_at, r.ends_at
            )
            for r in (await self.session.execute(stmt)).scalars()
        ]

    async def overrides(self) -> dict[str, ComponentState]:
        stmt = select(ComponentOverrideRow.component, ComponentOverrideRow.state)
        return {c: ComponentState(s) for c, s in await self.session.execute(stmt)}


def _lasting_into(since: datetime) -> Any:
    """The ids of incidents open, or ended at or after `since` (an incident ends when it
    is resolved; one closed without being resolved, when closed): a union of index reads
    (an OR of them would read every incident)."""
    return union(
        select(IncidentRow.id).where(IncidentRow.status.in_(OPEN)),
        select(IncidentRow.id).where(IncidentRow.resolved_at >= since),
        select(IncidentRow.id).where(
            IncidentRow.closed_at >= since, IncidentRow.resolved_at.is_(None)
        ),
    )


def _ended_in(since: datetime, before: datetime) -> Any:
    """Incidents not open that ended in [since, before) (resolved then, or closed then
    without having been resolved)."""
    resolved, closed = IncidentRow.resolved_at, IncidentRow.closed_at
    return and_(
        IncidentRow.status.not_in(OPEN),
        or_(
            and_(resolved >= since, resolved < before),
            and_(resolved.is_(None), closed >= since, closed < before),
        ),
    )


def _ended_between(since: datetime, before: datetime) -> Any:
    """The ids of incidents not open that ended in [since, before)."""
    return select(IncidentRow.id).where(_ended_in(since, before))
