"""One person's App Home: what it shows (read in one transaction) and its refreshes.

A refresh is an outbox row (`effects.HOME_REFRESH`, payload `{"user": …}`) whose
delivery publishes the view as it is when it is sent. A person with a refresh still
waiting gets no second one, so refreshes are debounced per user; those asked for by
opening the Home wait `debounce` seconds, so a burst of openings publishes once.

Every refresh has the one ordering key `effects.HOMES_KEY`: views.publish is limited per
workspace (Tier 4, about 100 a minute), so the outbox worker paces that key
(FIREWATCH_HOME_PUBLISH_INTERVAL_SECONDS) with the pace kept in the database, and a 429's
Retry-After on the head holds every refresh behind it, on every replica.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.home import HomeSnapshot
from bot.domain.paging import absent_people
from bot.domain.policy import Policy
from bot.services import effects
from bot.services.base import Service
from storage.engine import Database
from storage.home_repository import HomeRepository
from storage.session import Session

# Each of the viewer's lists is read up to this many rows, the open incidents up to the
# most a Home of 100 blocks can show; the view says how many more there are.
HOME_READ_LIMIT = 20
HOME_INCIDENTS_LIMIT = 95
# Most people whose Home one change refreshes (reporter, paged people, role holders).
REFRESH_FAN_OUT = 20


@dataclass(frozen=True)
class RoleNow:
    """A roster role the viewer is named in, and who acts in it now."""

    role: str
    title: str
    acting: str | None  # the person acting now (the viewer, a backup, or nobody)


@dataclass(frozen=True)
class HomeView:
    user: str
    now: datetime
    snapshot: HomeSnapshot
    roles: list[RoleNow]
    away_until: datetime | None


class HomeService(Service):
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        on_commit: Callable[[], None] | None = None,
        *,
        debounce: float = 2.0,
    ) -> None:
        super().__init__(db, policy, clock, on_commit)
        self.debounce = timedelta(seconds=debounce)

    async def home(self, user: str) -> HomeView:
        """What `user`'s Home shows now."""
        now, policy = self.clock.now(), self.policy
        async with self.db.session(write=False) as session:
            snapshot = await HomeRepository(session).snapshot(
                user,
                today=now.date(),
                severities=list(policy.severities),
                limit=HOME_READ_LIMIT,
                incidents=HOME_INCIDENTS_LIMIT,
            )
        absent = absent_people(snapshot.absences, now)
        holders = policy.acting_holders(absent)
        roles = [
            RoleNow(key, role.title, holders[key].person if key in holders else None)
            for key, role in policy.roles.items()
            if user in role.people or (key in holders and holders[key].person == user)
        ]
        away = snapshot.absences.get(user)
        return HomeView(user, now, snapshot, roles, away if away and away > now else None)

    async def request_refresh(self, user: str, *, debounced: bool = True) -> bool:
        """Publish `user`'s Home, unless a refresh is waiting already; opening the Home
        (`debounced`) waits for the debounce first. True if one was queued."""
        now = self.clock.now()
        async with self.db.session() as session:
            queued = await HomeRepository(session).queue_refresh(
                effects.HOME_REFRESH,
                effects.HOMES_KEY,
                [user],
                now=now,
                due=now + self.debounce if debounced else now,
            )
        if queued:
            self._on_commit()
        return bool(queued)


async def refresh_homes(session: Session, people: Iterable[str | None], now: datetime) -> None:
    """Queue, in the caller's transaction, a Home refresh for the people a change
    concerns (bounded: never the whole workspace), skipping those with one waiting."""
    users: list[str] = []
    for person in people:
        if person and person.startswith(("U", "W")) and person not in users:
            users.append(person)
    await HomeRepository(session).queue_refresh(
        effects.HOME_REFRESH, effects.HOMES_KEY, users[:REFRESH_FAN_OUT], now=now, due=now
    )


async def refresh_incident_homes(session: Session, incident_id: int, now: datetime) -> None:
    """`refresh_homes` for the people an incident concerns: its reporter, role holders
    and paged people."""
    people = await HomeRepository(session).incident_people(incident_id, REFRESH_FAN_OUT)
    await refresh_homes(session, people, now)
