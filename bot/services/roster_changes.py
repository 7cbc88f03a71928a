"""Who acts in a role changing without anyone asking: an absence running out (the paging
tick) or a reloaded policy file. The channels' topics (they name the lead) and the
Homes of the people concerned are brought up to date, as setting an absence does.

Both are queued in the transaction that records the change, so a refresh is never lost
and, for an absence, never queued twice: its end is the deletion of its row, which one
replica's tick makes (storage/paging_repository.py `end_absences`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.domain.incident import ChannelStatus
from bot.domain.policy import Policy
from bot.services import effects
from bot.services.home import REFRESH_FAN_OUT
from storage.home_repository import HomeRepository
from storage.outbox import OutboxRepository
from storage.repositories import IncidentRepository
from storage.session import Session

# Open incidents whose topics a change of who leads re-syncs (newest first): Slack's
# rate, not all.
TOPIC_SYNCS_MAX = 50
# Most Homes a reloaded policy refreshes: every person of each role that changed.
RELOAD_HOMES_MAX = 100


async def topic_syncs(session: Session) -> list[effects.Effect]:
    """A topic sync for each open incident with a channel (its lead may have changed)."""
    return [
        effects.about(effects.SYNC_CHANNEL, effects.incident_channel_key(i.id), i.id)
        for i in await IncidentRepository(session).list_open(limit=TOPIC_SYNCS_MAX)
        if i.channel_status is ChannelStatus.CREATED
    ]


def rostered(policy: Policy, people: Iterable[str]) -> list[str]:
    """Those of `people` named in a role of the roster."""
    named = {p for role in policy.roles.values() for p in role.people}
    return [p for p in people if p in named]


def role_mates(policy: Policy, people: Iterable[str]) -> list[str]:
    """`people`, then everyone sharing a role with one of them: whose Home shows who acts
    in those roles."""
    found = list(dict.fromkeys(people))
    people_set = set(found)
    for role in policy.roles.values():
        if any(p in role.people for p in people_set):
            found += [p for p in role.people if p not in found]
    return found


def moved(before: Policy, after: Policy) -> list[str]:
    """The people of each role that changed between two policies: first those who gained
    or lost a place in it (or whose place moved), then the others of the role, who see
    someone else acting in it."""
    first: list[str] = []
    rest: list[str] = []
    for key in dict.fromkeys([*before.roles, *after.roles]):
        old = before.roles[key].people if key in before.roles else ()
        new = after.roles[key].people if key in after.roles else ()
        if old == new:
            continue
        for person in dict.fromkeys([*old, *new]):
            place_old = old.index(person) if person in old else None
            place_new = new.index(person) if person in new else None
            (first if place_old != place_new else rest).append(person)
    return list(dict.fromkeys([*first, *rest]))


async def absences_ended(session: Session, ended: list[str], policy: Policy, now: datetime) -> None:
    """In the transaction that ended them: the topics (when someone of the roster is
    back, the lead may change) and the Homes of the people back and their role mates."""
    if rostered(policy, ended):
        await OutboxRepository(session).enqueue_many(await topic_syncs(session), now=now)
    await _refresh(session, role_mates(policy, ended), now, REFRESH_FAN_OUT)


async def roster_reloaded(session: Session, before: Policy, after: Policy, now: datetime) -> None:
    """After a changed policy file was loaded: the open incidents' topics (the newest
    TOPIC_SYNCS_MAX) and the Homes of the people whose roles changed."""
    await OutboxRepository(session).enqueue_many(await topic_syncs(session), now=now)
    await _refresh(session, moved(before, after), now, RELOAD_HOMES_MAX)


async def _refresh(session: Session, people: list[str], now: datetime, most: int) -> None:
    users = [p for p in people if p.startswith(("U", "W"))][:most]
    await HomeRepository(session).queue_refresh(
        effects.HOME_REFRESH, effects.HOMES_KEY, users, now=now, due=now
    )
