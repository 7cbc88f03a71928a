"""The weekly digest: build it for a period, queue it for a channel, store the meeting's
agenda answers, and find who a reminder is for.

A digest's period ends at its meeting (the weekly_digest schedule's time) and starts at
the meeting before, in FIREWATCH_TIMEZONE; a preview covers the meeting so far.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.clock import Clock
from bot.domain.digest import (
    Digest,
    OverdueItem,
    OwedPostmortem,
    build_digest,
    previous_period,
)
from bot.domain.policy import Policy
from bot.domain.postmortem import OUTSTANDING, PostmortemStatus, format_duration
from bot.services.base import Service
from bot.services.schedule_times import last_run
from storage.digest_repository import DigestRepository
from storage.engine import Database
from storage.outbox import OutboxRepository
from storage.session import Session

# Outbox row kinds of the weekly meeting (delivered by bot/slack/digest_delivery.py).
POST_DIGEST = "digest.post"
POSTMORTEM_REMINDER = "digest.postmortem_reminder"
FOLLOWUP_REMINDER = "digest.followup_reminder"

_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_REVIEW_STATUSES = (PostmortemStatus.SUBMITTED.value, *(s.value for s in OUTSTANDING))


def digest_key(channel: str) -> str:
    return f"digest:{channel}"


def meeting_id(scheduled_for: datetime) -> str:
    """The id answers are stored under: the meeting's scheduled time, ISO, in UTC."""
    return scheduled_for.isoformat(timespec="minutes")


@dataclass(frozen=True)
class QueuedDigest:
    """The outbox row of a digest `post` queued, or found already waiting (`already`)."""

    id: int
    already: bool


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    meeting: str | None  # None for a preview or an arbitrary range
    to_now: bool = False  # since the last meeting until the moment it was asked for


class DigestService(Service):
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        timezone: str = "UTC",
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(db, policy, clock, on_commit)
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)

    # --- periods --------------------------------------------------------------------------

    def today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def meeting_period(self, scheduled_for: datetime) -> Period:
        """The digest posted at `scheduled_for`: since the meeting before."""
        schedule = self.policy.schedules.weekly_digest
        start = last_run(schedule, self.timezone, scheduled_for - timedelta(microseconds=1))
        return Period(start or scheduled_for - timedelta(days=7), scheduled_for, None)

    def current_period(self, now: datetime | None = None) -> Period:
        """What the next digest will cover, so far: since the last meeting until now."""
        now = now or self.clock.now()
        schedule = self.policy.schedules.weekly_digest
        start = last_run(schedule, self.timezone, now)
        return Period(start or now - timedelta(days=7), now, None, to_now=True)

    def dates_period(self, first: date, last: date) -> Period:
        """Whole local days, `first` to `last` included."""
        start = datetime.combine(first, time(), self.zone)
        end = datetime.combine(last + timedelta(days=1), time(), self.zone)
        return Period(start, end, None)

    # --- the digest -----------------------------------------------------------------------

    async def build(self, start: datetime, end: datetime) -> Digest:
        """The digest of [start, end) as the record is now."""
        async with self.db.session(write=False) as session:
            return await self.build_in(session, start, end, self.clock.now())

    async def build_in(
        self, session: Session, start: datetime, end: datetime, now: datetime
    ) -> Digest:
        repo = DigestRepository(session)
        policy = self.policy
        prev_start, prev_end = previous_period(start, end)
        return build_digest(
            start,
            end,
            await repo.incidents_between(start, end),
            await repo.incidents_between(prev_start, prev_end),
            await repo.postmortems_for_review(_REVIEW_STATUSES, start, end),
            await repo.overdue_action_items(self.today(now)),
            await repo.breaches_between(start, end),
            now,
            today=self.today(now),
            severity_order=policy.severity_keys,
            default_owner=default_postmortem_owner(policy),
        )

    async def post(self, period: Period, *, channel: str | None = None) -> QueuedDigest:
        """Queue the digest of `period` for the review channel (`firewatch digest --post`);
        the running Firewatch delivers it. The same period's digest still waiting to be
        posted there is not queued again: a command repeated (by hand, or after the
        database went away mid-command) posts it once. Once posted, it may be posted again."""
        target = channel or self.policy.schedules.weekly_digest.channel
        if not target:
            raise ValueError("schedules.weekly_digest.channel is not set in the policy")
        now = self.clock.now()
        async with self.db.session() as session:
            waiting = await OutboxRepository(session).waiting(POST_DIGEST, digest_key(target))
            for row_id, payload in waiting:
                if _same_digest(payload, period):
                    return QueuedDigest(row_id, already=True)  # asked twice: posted once
            row_id = await self.enqueue_digest(
                session, period, channel=target, meeting=period.meeting, note=None, now=now
            )
        self._on_commit()
        return QueuedDigest(row_id, already=False)

    async def enqueue_digest(
        self,
        session: Session,
        period: Period,
        *,
        channel: str,
        meeting: str | None,
        note: str | None,
        now: datetime,
        late_since: str | None = None,
    ) -> int:
        """The outbox row; the delivery renders the digest from the record when it posts
        (`late_since`: the scheduled time, ISO, of a digest posted late)."""
        row = await OutboxRepository(session).enqueue(
            POST_DIGEST,
            digest_key(channel),
            {
                "channel": channel,
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "meeting": meeting,
                "note": note,
                "late_since": late_since,
                "to_now": period.to_now,
            },
            now=now,
        )
        return row.id

    # --- reminders ------------------------------------------------------------------------

    async def owed_by(
        self, session: Session, *, since: datetime, now: datetime, owner: str | None = None
    ) -> list[OwedPostmortem]:
        """Post-mortems not submitted: requested ones not yet submitted (any age) and
        incidents resolved since `since` without one."""
        repo = DigestRepository(session)
        policy = self.policy
        outstanding = await repo.outstanding_postmortems(
            [s.value for s in OUTSTANDING], owner=owner
        )
        missing = await repo.resolved_without_postmortem(since, now + timedelta(seconds=1))
        fallback = default_postmortem_owner(policy)
        owed = [
            OwedPostmortem(
                p.incident_id,
                p.incident_title,
                p.severity,
                p.owner_id,
                p.due_at,
                p.id,
                p.status,
                p.due_at < now,
            )
            for p in outstanding
        ]
        for incident in missing:
            who = fallback or incident.reporter_id
            if owner is None or who == owner:
                owed.append(
                    OwedPostmortem(
                        incident.id,
                        incident.title,
                        incident.severity,
                        who,
                        None,
                        None,
                        None,
                        False,
                    )
                )
        return sorted(owed, key=lambda o: (o.due_at is None, o.due_at or now, o.incident_id))

    async def overdue_for(self, session: Session, owner: str, now: datetime) -> list[OverdueItem]:
        today = self.today(now)
        items = await DigestRepository(session).overdue_action_items(today, owner=owner)
        return sorted(
            (OverdueItem(i, (today - i.due_on).days) for i in items),
            key=lambda o: (o.item.due_on, o.item.id),
        )

    async def owed_for_reminder(self, owner: str, since: datetime) -> list[OwedPostmortem]:
        now = self.clock.now()
        async with self.db.session(write=False) as session:
            return await self.owed_by(session, since=since, now=now, owner=owner)

    async def overdue_for_reminder(self, owner: str) -> list[OverdueItem]:
        now = self.clock.now()
        async with self.db.session(write=False) as session:
            return await self.overdue_for(session, owner, now)

    async def overdue_owners(self, session: Session, now: datetime) -> list[str]:
        items = await DigestRepository(session).overdue_action_items(self.today(now))
        return sorted({i.owner_id for i in items})

    # --- the meeting's agenda -------------------------------------------------------------

    async def answer_agenda(
        self, meeting: str, postmortem_id: int, ticked: set[str], *, by: str
    ) -> dict[str, bool]:
        """Store the agenda's ticks for one post-mortem in one meeting: every question of
        the policy's agenda, ticked or not (a tick removed is stored as unticked)."""
        questions = [q.key for q in self.policy.postmortem.meeting_agenda]
        answers = {key: key in ticked for key in questions}
        async with self.db.session() as session:
            repo = DigestRepository(session)
            if not await repo.postmortem_exists(postmortem_id):
                return {}
            await repo.save_answers(meeting, postmortem_id, answers, by=by, at=self.clock.now())
        return answers

    async def answers(self, meeting: str) -> dict[int, dict[str, bool]]:
        async with self.db.session(write=False) as session:
            return await DigestRepository(session).answers(meeting)


def default_postmortem_owner(policy: Policy) -> str | None:
    """Who owes a post-mortem nobody was asked for: the acting holder of the role
    accountable for writing it (RACI `write_postmortem`), when the policy names one."""
    task = policy.raci.get("write_postmortem")
    if task is None or task.accountable not in policy.roles:
        return None
    holder = policy.acting_holders().get(task.accountable)
    person = holder.person if holder else None
    return person if person and _SLACK_USER.match(person) else None


__all__ = [
    "DigestService",
    "FOLLOWUP_REMINDER",
    "POSTMORTEM_REMINDER",
    "POST_DIGEST",
    "Period",
    "as_text",
    "default_postmortem_owner",
    "digest_key",
    "meeting_id",
]


def as_text(digest: Digest, policy: Policy, zone: ZoneInfo) -> str:
    """The digest as plain text (`firewatch digest`)."""

    def label(severity: str) -> str:
        found = policy.severities.get(severity)
        return found.label if found else severity

    def day(value: datetime | date) -> str:
        if isinstance(value, datetime):
            return f"{value.astimezone(zone):%Y-%m-%d %H:%M}"
        return value.isoformat()

    start, end = digest.period_start.astimezone(zone), digest.period_end.astimezone(zone)
    out = [f"Weekly incident review: {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({zone.key})"]
    out += ["", f"Incidents declared: {digest.incident_count}"]
    for severity, incidents in digest.by_severity.items():
        out.append(f"  {label(severity)}: {len(incidents)}")
        out += [f"    INC-{i.id} {i.title} ({i.status})" for i in incidents]
    if digest.response_times:
        out += ["", "Response times (this period / previous period)"]
        for r in digest.response_times:
            out.append(
                f"  {label(r.severity)}: MTTA {format_duration(r.mtta)} / "
                f"{format_duration(r.previous_mtta)}, MTTR {format_duration(r.mttr)} / "
                f"{format_duration(r.previous_mttr)}"
            )
    out += ["", f"Post-mortems to review: {len(digest.to_review)}"]
    for pm in digest.to_review:
        by = f", submitted by {pm.submitted_by}" if pm.submitted_by else ""
        out.append(f"  INC-{pm.incident_id} {pm.incident_title} ({label(pm.severity)}){by}")
    out += ["", f"Post-mortems not submitted: {len(digest.owed)}"]
    for owed in digest.owed:
        state = (owed.status or "not requested").replace("_", " ")
        due = f", due {day(owed.due_at)}" if owed.due_at else ""
        late = " (overdue)" if owed.overdue else ""
        out.append(
            f"  INC-{owed.incident_id} {owed.incident_title}: {owed.owner_id or 'nobody'}, "
            f"{state}{due}{late}"
        )
    out += ["", f"Non-incident reports: {len(digest.non_incidents)}"]
    out += [f"  INC-{i.id} {i.title} (by {i.reporter_id})" for i in digest.non_incidents]
    out += ["", f"Response-time breaches: {len(digest.breaches)}"]
    out += [
        f"  INC-{b.incident_id} {b.incident_title} ({label(b.severity)}): "
        f"no acknowledgement by {day(b.deadline)}"
        for b in digest.breaches
    ]
    out += ["", f"Overdue action items: {len(digest.overdue_items)}"]
    out += [
        f"  INC-{o.item.incident_id} {o.item.text}: {o.item.owner_id}, due "
        f"{day(o.item.due_on)} ({o.days_overdue} days late)"
        for o in digest.overdue_items
    ]
    return "\n".join(out) + "\n"


def _same_digest(payload: dict[str, object], period: Period) -> bool:
    """Whether a queued digest's payload is `period`'s: the same start and end, or both
    "since the last meeting until now" from the same meeting."""
    if payload.get("note") or payload.get("start") != period.start.isoformat():
        return False
    return bool(payload.get("to_now") and period.to_now) or (
        payload.get("end") == period.end.isoformat()
    )
