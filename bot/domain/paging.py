"""Paging rules: who is paged for a role, the escalation ladder, deadlines, "away until".

Pure: the roster comes from the `Policy` (people already resolved to Slack user ids),
absences and per-incident assignments are arguments, and "now" is always passed in.

The ladder of a role, in order: the person assigned to the role for this incident (if
any), the role's acting holder (`Policy.acting_holders`: primary, else a backup, else the
stand-in role's holder, seed 003's "in PM's absence the DL acts as PM"), the role's other
available people, then the acting holder of the role accountable for handling the
incident (RACI). When every rung has been paged and nobody answered, the page is
unanswered.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from bot.domain import business_time
from bot.domain.durations import Duration
from bot.domain.policy import Policy, Role, RoleHolder, Severity, WorkingTime

# The RACI task whose accountable role is the last rung of every ladder.
ESCALATION_TASK = "decide_handling"

Via = Literal["assigned", "primary", "backup", "stand_in", "accountable", "manual"]


class PageStatus(StrEnum):
    WAITING = "waiting"  # paged, not acknowledged, deadline not yet handled
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"  # nobody answered in time; the next rung was paged
    UNANSWERED = "unanswered"  # nobody answered and no rung was left
    CLOSED = "closed"  # the incident ended before anyone answered


class PageKind(StrEnum):
    AUTO = "auto"  # from the severity's page_roles; escalates
    MANUAL = "manual"  # `/incident page` or `/incident assign`; does not escalate


class TimelineKind(StrEnum):
    """Timeline entry kinds written by paging (the timeline stores plain strings)."""

    PAGE = "page"
    ACKNOWLEDGED = "acknowledged"
    ESCALATION = "escalation"
    UNANSWERED = "unanswered"
    BREACH = "breach"
    ASSIGNED = "assigned"


class UnknownPerson(Exception):
    """A roster email with no Slack user: a configuration error naming the policy key."""

    def __init__(self, path: str, email: str) -> None:
        super().__init__(f"{path}: no Slack user with email {email}")
        self.path, self.email = path, email


@dataclass(frozen=True)
class Rung:
    """One step of a ladder: whom to page and why."""

    person: str
    via: Via
    role: str  # the role the person is paged as (the accountable role for that rung)


@dataclass(frozen=True)
class Page:
    """A page as stored: one person paged for one role (or by hand) in one incident."""

    id: int
    incident_id: int
    chain: str  # the role key for automatic pages; one chain escalates step by step
    role: str | None
    person: str
    step: int
    kind: PageKind
    via: str
    status: PageStatus
    paged_at: datetime
    ack_deadline: datetime
    paged_by: str | None = None
    message: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    escalated_to: str | None = None
    dm_channel: str | None = None
    dm_ts: str | None = None
    channel_ts: str | None = None


@dataclass(frozen=True)
class RosterLine:
    key: str
    title: str
    people: tuple[str, ...]
    acting: RoleHolder


@dataclass(frozen=True)
class Roster:
    lines: tuple[RosterLine, ...]
    away: Mapping[str, datetime] = field(default_factory=dict)


def absent_people(absences: Mapping[str, datetime], now: datetime) -> frozenset[str]:
    """The people whose "away until" lies in the future."""
    return frozenset(person for person, until in absences.items() if until > now)


def roster(policy: Policy, absences: Mapping[str, datetime], now: datetime) -> Roster:
    """Roles, their people and who acts in each now."""
    away = {p: u for p, u in absences.items() if u > now}
    holders = policy.acting_holders(frozenset(away))
    lines = tuple(
        RosterLine(key, role.title, role.people, holders[key]) for key, role in policy.roles.items()
    )
    return Roster(lines, away)


def ladder(
    policy: Policy,
    role: str,
    *,
    absent: Collection[str] = (),
    assigned: str | None = None,
) -> list[Rung]:
    """Everyone who may be paged for `role`, in order, each once (see the module doc).

    A role whose people are all away starts at its stand-in, or at the accountable role.
    """
    holders = policy.acting_holders(absent)
    # One person acts in one role only: people acting elsewhere are not this role's backups.
    busy = {h.person for key, h in holders.items() if key != role and h.person}
    rungs: list[Rung] = []
    if assigned:
        rungs.append(Rung(assigned, "assigned", role))
    holder = holders[role]
    if holder.person is not None and holder.via != "vacant":
        rungs.append(Rung(holder.person, holder.via, role))
    rungs += [
        Rung(person, "backup", role)
        for person in policy.roles[role].people
        if person not in absent and person not in busy
    ]
    accountable = _accountable_role(policy)
    if accountable is not None and holders[accountable].person is not None:
        rungs.append(Rung(str(holders[accountable].person), "accountable", accountable))
    seen: set[str] = set()
    unique = []
    for rung in rungs:
        if rung.person not in seen:
            seen.add(rung.person)
            unique.append(rung)
    return unique


def next_rung(
    policy: Policy,
    role: str,
    *,
    already_paged: Sequence[str],
    absent: Collection[str] = (),
    assigned: str | None = None,
) -> Rung | None:
    """Whom to page next for `role`; None when the ladder is used up (unanswered).

    The ladder is worked out afresh each time, so a roster change or a new absence since
    the last step is taken into account; people already paged in this chain are skipped.
    """
    for rung in ladder(policy, role, absent=absent, assigned=assigned):
        if rung.person not in already_paged:
            return rung
    return None


def leaves_the_role(rung: Rung | None) -> bool:
    """True when escalation goes beyond the role's own people: the broadcast is told."""
    return rung is None or rung.via == "accountable"


def ack_deadline(paged_at: datetime, severity: Severity, working_time: WorkingTime) -> datetime:
    """When a page sent at `paged_at` must be acknowledged (24x7 unless the policy says
    the timeout is in business time)."""
    return business_time.deadline(paged_at, severity.ack_timeout, working_time)


def _accountable_role(policy: Policy) -> str | None:
    if ESCALATION_TASK not in policy.raci:
        return None
    key = policy.accountable(ESCALATION_TASK)
    return key if key in policy.roles else None


# --- people ------------------------------------------------------------------------------


def roster_emails(policy: Policy) -> dict[str, str]:
    """Each email in the roster with the first policy key that names it."""
    found: dict[str, str] = {}
    for key, role in policy.roles.items():
        entries = [(f"roles.{key}.primary", role.primary)]
        entries += [(f"roles.{key}.backups[{i}]", p) for i, p in enumerate(role.backups)]
        for path, person in entries:
            if person and "@" in person:
                found.setdefault(person, path)
    return found


def with_user_ids(policy: Policy, user_ids: Mapping[str, str]) -> Policy:
    """The policy with roster emails replaced by Slack user ids (unknown ones kept)."""

    def swap(role: Role) -> Role:
        primary = user_ids.get(role.primary, role.primary) if role.primary else None
        backups = tuple(user_ids.get(p, p) for p in role.backups)
        return role.model_copy(update={"primary": primary, "backups": backups})

    roles = {key: swap(role) for key, role in policy.roles.items()}
    return policy.model_copy(update={"roles": roles})


_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def parse_person(text: str) -> str | None:
    """A Slack user from a command argument: `<@U123|name>`, `<@U123>` or `U123`."""
    text = text.strip()
    match = _MENTION.match(text)
    if match:
        return match.group(1)
    return text if _USER_ID.match(text) else None


# --- "away until <when>" --------------------------------------------------------------------

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class BadWhen(ValueError):
    pass


def parse_until(text: str, now: datetime, timezone: str) -> datetime:
    """When an absence ends, from what a member typed; in UTC.

    Accepts `17:00` (next time it is 17:00), `2026-03-10` (that day's start),
    `2026-03-10 17:00`, `tomorrow`, a weekday (`monday`: its start), or a duration
    (`2h`, `3 days`). Local times are in `timezone`.
    """
    zone = ZoneInfo(timezone)
    local_now = now.astimezone(zone)
    words = text.strip().lower()
    if not words:
        raise BadWhen("say until when, e.g. `17:00`, `tomorrow`, `2026-03-10` or `3d`")
    try:
        return now + Duration.parse(words).as_timedelta()
    except ValueError:
        pass
    if words == "tomorrow":
        return _start_of(local_now.date() + timedelta(days=1), zone)
    if words in _WEEKDAYS:
        ahead = (_WEEKDAYS.index(words) - local_now.weekday() - 1) % 7 + 1
        return _start_of(local_now.date() + timedelta(days=ahead), zone)
    try:
        clock = time.fromisoformat(words)
        when = datetime.combine(local_now.date(), clock, zone)
        return (when if when > local_now else when + timedelta(days=1)).astimezone(UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(words)
    except ValueError:
        raise BadWhen(
            f"I can't read `{text.strip()}` as a time; try `17:00`, `tomorrow`, "
            "`monday`, `2026-03-10`, `2026-03-10 17:00` or `3d`"
        ) from None
    if len(words) == 10:  # a bare date
        return _start_of(parsed.date(), zone)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), zone).astimezone(UTC)
