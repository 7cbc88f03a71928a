"""The public status page (issue 24): what incidents, maintenance and people set about the
components, and the page built from it.

Writes happen in the transaction of the fact they belong to: a declaration stores the
components it affects with the incident, a status change stores its public update with
the status (`record_effects`, `record_public_update`). Reads build a `PublicPage` from
the status tables only (storage/status_repository.py), so nothing from the timeline, no
person and no channel reaches it. The page is cached for `cache_seconds` and built by
one caller at a time: during an outage the page is read far more than it changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as time_of_day

from bot.domain.clock import Clock
from bot.domain.incident import Incident, Status
from bot.domain.policy import Policy
from bot.domain.status_history import Outage, PublicPage, histories, merged
from bot.domain.status_page import (
    ComponentState,
    Maintenance,
    StatusIncident,
    iso,
    public_incident,
    status_document,
)
from bot.domain.timeline import EntryKind, TimelineEntry
from bot.services.base import Service, locked_incident
from storage.engine import Database
from storage.repositories import TimelineRepository
from storage.session import Session
from storage.status_repository import Affected, PublicIncident, StatusRepository

log = logging.getLogger(__name__)

PAST_DAYS = 7  # resolved incidents stay listed this long
HISTORY_DAYS = 90
RESOLVED_TEXT = "This incident has been resolved."
PUBLIC_UPDATE_MAX = 3000
MAINTENANCE_TITLE_MAX = 200


class UnknownComponents(ValueError):
    def __init__(self, keys: Iterable[str], known: Iterable[str]) -> None:
        self.keys, self.known = sorted(keys), list(known)
        super().__init__(
            f"no component {', '.join(self.keys)}; known: {', '.join(self.known) or '(none)'}"
        )


def known_effects(
    policy: Policy, keys: Iterable[str], state: ComponentState
) -> dict[str, ComponentState]:
    """`state` for each of `keys` the policy lists, in the policy's order; keys it no
    longer lists (a reload since the form opened) are dropped."""
    wanted = set(keys)
    return {c.key: state for c in policy.components if c.key in wanted}


def effects_text(policy: Policy, effects: Mapping[str, ComponentState]) -> str:
    names = {c.key: c.name for c in policy.components}
    if not effects:
        return "Status page: no component affected"
    parts = [f"{names.get(key, key)}: {state.label.lower()}" for key, state in effects.items()]
    return "Status page: " + "; ".join(parts)


async def record_effects(
    session: Session,
    incident: Incident,
    effects: Mapping[str, ComponentState],
    *,
    policy: Policy,
    actor: str | None,
    at: datetime,
) -> TimelineEntry | None:
    """The incident now affects exactly `effects` (in the caller's transaction), noted on
    its timeline when anything changed (the entry; None: nothing changed)."""
    # A component added to an incident that has ended corrects its record: affected
    # since it was declared. One still open is affected from now on.
    since = at if incident.is_open else incident.declared_at
    repo = StatusRepository(session)
    if not await repo.set_effects(incident.id, effects, at, since):
        return None
    await repo.touch(incident.id, at)
    data = {"components": {key: state.value for key, state in effects.items()}}
    return await TimelineRepository(session).append(
        incident.id,
        EntryKind.SYSTEM,
        effects_text(policy, effects),
        at=at,
        actor=actor,
        data=data,
    )


async def record_public_update(
    session: Session,
    incident: Incident,
    text: str,
    *,
    actor: str,
    at: datetime,
    source_key: str | None = None,
) -> TimelineEntry | None:
    """Store a public update at the incident's status (in the caller's transaction); the
    timeline records that one was published, and what it said (the entry; None: nothing
    to publish, or published already)."""
    text = text.strip()
    if not text:
        return None
    added = await StatusRepository(session).add_public_update(
        incident.id, status=incident.status, text=text, actor=actor, at=at, source_key=source_key
    )
    if not added:
        return None
    return await TimelineRepository(session).append(
        incident.id,
        EntryKind.SYSTEM,
        f"Public update on the status page: {text}",
        at=at,
        actor=actor,
        data={"public_update": text},
    )


async def resolved_publicly(
    session: Session, incident: Incident, text: str, *, actor: str, at: datetime
) -> TimelineEntry | None:
    """On resolution: an incident the page shows gets a resolving public update (the one
    written, or the standard sentence)."""
    if not await StatusRepository(session).has_public_face(incident.id):
        return None
    return await record_public_update(
        session, incident, text.strip() or RESOLVED_TEXT, actor=actor, at=at
    )


async def publish_with_status(
    session: Session,
    incident: Incident,
    public_update: str,
    components: Mapping[str, ComponentState] | None,
    *,
    policy: Policy,
    actor: str,
    at: datetime,
) -> list[TimelineEntry | None]:
    """What a status change (to `incident.status`) tells the status page, in its
    transaction; the timeline entries saying so, to be echoed like the change itself."""
    said: list[TimelineEntry | None] = []
    if components is not None:
        said.append(
            await record_effects(session, incident, components, policy=policy, actor=actor, at=at)
        )
    if incident.status is Status.RESOLVED:
        said.append(await resolved_publicly(session, incident, public_update, actor=actor, at=at))
    elif public_update.strip():
        said.append(
            await record_public_update(session, incident, public_update, actor=actor, at=at)
        )
    return said


class StatusPageService(Service):
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        zone: tzinfo,
        cache_seconds: float = 0.0,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(db, policy, clock, on_commit)
        self.zone = zone
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, PublicPage] | None = None
        self._settled_cache: tuple[tuple[object, ...], list[Outage]] | None = None
        self._building = asyncio.Lock()

    # --- the page ---------------------------------------------------------------------

    async def public_page(self) -> PublicPage:
        """The page as of now, or as of at most `cache_seconds` ago."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._building:
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            page = await self.build()
            self._cached = (time.monotonic(), page)
            return page

    def _fresh(self) -> PublicPage | None:
        if self._cached is None or self.cache_seconds <= 0:
            return None
        built, page = self._cached
        return page if time.monotonic() - built < self.cache_seconds else None

    def forget(self) -> None:
        """Drop the cached page (this process changed what it shows)."""
        self._cached = None

    async def build(self) -> PublicPage:
        now = self.clock.now()
        policy = self.policy
        window = now - timedelta(days=HISTORY_DAYS + 1)
        today = _midnight(now, self.zone)
        async with self.db.session(write=False) as session:
            repo = StatusRepository(session)
            incidents = await repo.public_incidents(now - timedelta(days=PAST_DAYS))
            maintenances = await repo.maintenances(window)
            overrides = await repo.overrides()
            outages = await self._settled(repo, window, today)
            outages += _outages(await repo.affected_since(today))
        current = [_status_incident(i) for i in incidents if not i.status.ended]
        document = status_document(policy.components, current, maintenances, overrides, now)
        outages += _maintenance_outages(maintenances, now)
        strips = histories(policy.components, outages, now=now, zone=self.zone, days=HISTORY_DAYS)
        past = [_past(i, policy) for i in reversed(incidents) if i.status.ended]
        return PublicPage(document=document, histories=strips, past_incidents=past)

    async def _settled(
        self, repo: StatusRepository, window: datetime, today: datetime
    ) -> list[Outage]:
        """The history of incidents that ended before today: read again only when its
        fingerprint changes (a reopened, changed or purged incident) or a day begins, so
        a long history costs one aggregate query, not thousands of rows, per build."""
        key = (today, await repo.ended_fingerprint(window, today))
        if self._settled_cache is not None and self._settled_cache[0] == key:
            return list(self._settled_cache[1])
        found = merged(_outages(await repo.ended_between(window, today)))
        self._settled_cache = (key, found)
        return list(found)

    # --- changes made outside an incident's own forms ------------------------------------

    async def effects_of(self, incident_id: int) -> dict[str, ComponentState]:
        async with self.db.session(write=False) as session:
            return await StatusRepository(session).effects(incident_id)

    async def set_effects(
        self, incident_id: int, effects: Mapping[str, ComponentState], *, actor: str | None
    ) -> bool:
        self._check_known(effects)
        now = self.clock.now()
        async with self.db.session() as session:
            incident = await locked_incident(session, incident_id)
            changed = await record_effects(
                session, incident, effects, policy=self.policy, actor=actor, at=now
            )
        self.forget()
        return changed is not None

    async def set_state(self, component: str, state: ComponentState | None, *, actor: str) -> None:
        """Set `component`'s state by hand (None: back to what incidents and maintenance say)."""
        self._check_known([component])
        async with self.db.session() as session:
            await StatusRepository(session).set_override(
                component, state, actor=actor, at=self.clock.now()
            )
        self.forget()
        log.info(
            "component state set by hand",
            extra={"component": component, "state": state.value if state else "automatic"},
        )

    async def schedule_maintenance(
        self,
        title: str,
        components: Iterable[str],
        starts_at: datetime,
        ends_at: datetime,
        *,
        actor: str,
        source_key: str | None = None,
    ) -> int:
        """Announce maintenance; its id. Raises ValueError for an empty title, no or
        unknown components, or an end not after the start."""
        keys = list(dict.fromkeys(components))
        title = title.strip()
        if not title or len(title) > MAINTENANCE_TITLE_MAX:
            raise ValueError(f"a title of 1 to {MAINTENANCE_TITLE_MAX} characters is needed")
        if not keys:
            raise ValueError("choose at least one component")
        self._check_known(keys)
        if ends_at <= starts_at:
            raise ValueError("the end must be after the start")
        async with self.db.session() as session:
            found, _ = await StatusRepository(session).add_maintenance(
                title=title,
                components=keys,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=actor,
                created_at=self.clock.now(),
                source_key=source_key,
            )
        self.forget()
        return found

    async def cancel_maintenance(self, maintenance_id: int) -> bool:
        async with self.db.session() as session:
            done = await StatusRepository(session).cancel_maintenance(
                maintenance_id, self.clock.now()
            )
        self.forget()
        return done

    async def maintenances(self) -> list[Maintenance]:
        """Maintenance in progress or to come."""
        async with self.db.session(write=False) as session:
            return await StatusRepository(session).maintenances(self.clock.now())

    def _check_known(self, keys: Iterable[str]) -> None:
        known = [c.key for c in self.policy.components]
        unknown = set(keys) - set(known)
        if unknown:
            raise UnknownComponents(unknown, known)


def _status_incident(item: PublicIncident) -> StatusIncident:
    return StatusIncident(item.id, item.status, item.declared_at, item.effects, item.updates)


def _past(item: PublicIncident, policy: Policy) -> dict[str, object]:
    """A resolved incident as the page lists it: the document's incident shape, with
    when it ended."""
    shown = public_incident(_status_incident(item), policy.components)
    shown["resolved_at"] = iso(item.ended_at or item.declared_at)
    return shown


def _outages(affected: Iterable[Affected]) -> list[Outage]:
    return [Outage(a.component, a.state, a.start, a.end) for a in affected]


def _midnight(now: datetime, zone: tzinfo) -> datetime:
    """Today's start in `zone`, in UTC (the history's days are the zone's)."""
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), time_of_day(0), tzinfo=zone)
    return start.astimezone(UTC)


def _maintenance_outages(maintenances: Iterable[Maintenance], now: datetime) -> list[Outage]:
    return [
        Outage(
            key,
            ComponentState.UNDER_MAINTENANCE,
            m.starts_at,
            m.ends_at if m.ends_at <= now else None,
        )
        for m in maintenances
        for key in m.components
        if m.starts_at <= now
    ]
