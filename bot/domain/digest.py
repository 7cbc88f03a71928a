"""The weekly digest for the post-mortem meeting (seed 003: "A weekly IPM meeting is to be
held. Prior to the meeting, the IPM(s) should have been filed for review.").

Pure: `build_digest` takes plain facts loaded by the service and the period's bounds, and
returns what the meeting looks at. Every "now" is an argument.

>>> from datetime import UTC, datetime
>>> start, end = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)
>>> build_digest(start, end, [], [], [], [], [], end).incident_count
0
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from bot.domain.postmortem import OUTSTANDING, PostmortemStatus, mean, mtta, mttr

INCIDENT = "incident"
NON_INCIDENT = "non_incident"
OPEN = "open"  # an action item's status until it is done


@dataclass(frozen=True)
class IncidentFacts:
    id: int
    kind: str  # "incident" | "non_incident"
    severity: str
    title: str
    status: str
    reporter_id: str
    declared_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class PostmortemFacts:
    id: int
    incident_id: int
    incident_title: str
    severity: str
    status: str
    owner_id: str
    due_at: datetime
    submitted_by: str | None = None
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class ActionItemFacts:
    id: int
    incident_id: int
    text: str
    owner_id: str
    due_on: date
    status: str = OPEN


@dataclass(frozen=True)
class BreachFacts:
    incident_id: int
    incident_title: str
    severity: str
    deadline: datetime
    recorded_at: datetime


@dataclass(frozen=True)
class OwedPostmortem:
    """A resolved incident whose post-mortem is not submitted: missing (never requested,
    `postmortem_id` None) or outstanding (requested, draft, sent back for changes)."""

    incident_id: int
    incident_title: str
    severity: str
    owner_id: str | None
    due_at: datetime | None
    postmortem_id: int | None
    status: str | None  # None: no post-mortem was requested
    overdue: bool


@dataclass(frozen=True)
class OverdueItem:
    item: ActionItemFacts
    days_overdue: int


@dataclass(frozen=True)
class ResponseTimes:
    """Mean time to acknowledge and to resolve for one severity, now and the period before."""

    severity: str
    mtta: timedelta | None
    mttr: timedelta | None
    previous_mtta: timedelta | None
    previous_mttr: timedelta | None
    acknowledged: int  # how many incidents each mean is taken over
    resolved: int


@dataclass(frozen=True)
class Digest:
    period_start: datetime
    period_end: datetime
    # Incidents declared in the period, by severity (most severe first), oldest first.
    by_severity: dict[str, list[IncidentFacts]]
    to_review: list[PostmortemFacts]  # submitted, waiting for the meeting's approval
    owed: list[OwedPostmortem]
    non_incidents: list[IncidentFacts]  # reports recorded as not being incidents
    breaches: list[BreachFacts]
    response_times: list[ResponseTimes]
    overdue_items: list[OverdueItem]
    generated_at: datetime
    severity_counts: dict[str, int] = field(default_factory=dict)

    @property
    def incident_count(self) -> int:
        return sum(self.severity_counts.values())

    @property
    def is_quiet(self) -> bool:
        """Nothing happened and nothing waits: the meeting has nothing to look at."""
        return not (
            self.incident_count
            or self.to_review
            or self.owed
            or self.non_incidents
            or self.breaches
            or self.overdue_items
        )


def previous_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The period of the same length that ends where this one starts."""
    return start - (end - start), start


def _within(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def _ordered_severities(order: Sequence[str], seen: Iterable[str]) -> list[str]:
    keys = list(order)
    keys += sorted({s for s in seen if s not in keys})
    return keys


# Per severity: MTTA, MTTR, and how many incidents each is taken over.
_Means = dict[str, tuple[timedelta | None, timedelta | None, int, int]]


def _response_means(incidents: Iterable[IncidentFacts], start: datetime, end: datetime) -> _Means:
    """Per severity: MTTA over incidents declared in the period, MTTR over incidents
    resolved in it."""
    acks: dict[str, list[timedelta]] = {}
    fixes: dict[str, list[timedelta]] = {}
    for incident in incidents:
        if incident.kind != INCIDENT:
            continue
        if _within(incident.declared_at, start, end):
            ack = mtta(incident.declared_at, incident.acknowledged_at)
            if ack is not None:
                acks.setdefault(incident.severity, []).append(ack)
        if _within(incident.resolved_at, start, end):
            fix = mttr(incident.declared_at, incident.resolved_at)
            if fix is not None:
                fixes.setdefault(incident.severity, []).append(fix)
    return {
        severity: (
            mean(acks.get(severity, [])),
            mean(fixes.get(severity, [])),
            len(acks.get(severity, [])),
            len(fixes.get(severity, [])),
        )
        for severity in set(acks) | set(fixes)
    }


def build_digest(
    period_start: datetime,
    period_end: datetime,
    incidents: Sequence[IncidentFacts],
    previous_incidents: Sequence[IncidentFacts],
    postmortems: Sequence[PostmortemFacts],
    action_items: Sequence[ActionItemFacts],
    breaches: Sequence[BreachFacts],
    now: datetime,
    *,
    today: date | None = None,
    severity_order: Sequence[str] = (),
    default_owner: str | None = None,
) -> Digest:
    """What the weekly meeting reviews for [period_start, period_end).

    - `incidents`: at least those declared or resolved in the period;
      `previous_incidents`: those of the period before (for the response-time trend).
    - `postmortems`: every submitted or outstanding post-mortem, and those of the
      incidents resolved in the period (to tell "approved" from "missing").
    - `action_items`: open items (those due before `today` are overdue).
    - `today`: the local date where the team works (default: `now`'s date).
    - `default_owner`: who owes a post-mortem nobody was asked for (else the reporter).
    """
    today = today or now.date()
    in_period = [i for i in incidents if _within(i.declared_at, period_start, period_end)]
    by_severity = _by_severity(in_period, severity_order)
    prev_start, prev_end = previous_period(period_start, period_end)
    return Digest(
        period_start=period_start,
        period_end=period_end,
        by_severity=by_severity,
        to_review=sorted(
            (p for p in postmortems if p.status == PostmortemStatus.SUBMITTED),
            key=lambda p: (p.submitted_at or p.due_at, p.id),
        ),
        owed=_owed_postmortems(
            incidents, postmortems, (period_start, period_end), now, default_owner
        ),
        non_incidents=_oldest_first(i for i in in_period if i.kind == NON_INCIDENT),
        breaches=sorted(
            (b for b in breaches if _within(b.recorded_at, period_start, period_end)),
            key=lambda b: (b.recorded_at, b.incident_id),
        ),
        response_times=_response_times(
            _response_means(incidents, period_start, period_end),
            _response_means(previous_incidents, prev_start, prev_end),
            severity_order,
        ),
        overdue_items=_overdue_items(action_items, today),
        generated_at=now,
        severity_counts={s: len(listed) for s, listed in by_severity.items()},
    )


def _oldest_first(incidents: Iterable[IncidentFacts]) -> list[IncidentFacts]:
    return sorted(incidents, key=lambda i: (i.declared_at, i.id))


def _by_severity(
    in_period: Iterable[IncidentFacts], severity_order: Sequence[str]
) -> dict[str, list[IncidentFacts]]:
    """The incidents declared in the period by severity, every policy severity listed
    (most severe first, then any other seen), each oldest first."""
    declared = _oldest_first(i for i in in_period if i.kind == INCIDENT)
    severities = _ordered_severities(severity_order, (i.severity for i in declared))
    by_severity: dict[str, list[IncidentFacts]] = {s: [] for s in severities}
    for incident in declared:
        by_severity[incident.severity].append(incident)
    return by_severity


def _owed_postmortems(
    incidents: Iterable[IncidentFacts],
    postmortems: Sequence[PostmortemFacts],
    period: tuple[datetime, datetime],
    now: datetime,
    default_owner: str | None,
) -> list[OwedPostmortem]:
    """Outstanding post-mortems, and those never requested for incidents resolved in the
    period (owed by `default_owner`, else the reporter); soonest due first, missing last."""
    by_incident = {p.incident_id: p for p in postmortems}
    owed: dict[int, OwedPostmortem] = {}
    outstanding = {s.value for s in OUTSTANDING}
    for p in postmortems:
        if p.status in outstanding:
            owed[p.incident_id] = OwedPostmortem(
                incident_id=p.incident_id,
                incident_title=p.incident_title,
                severity=p.severity,
                owner_id=p.owner_id,
                due_at=p.due_at,
                postmortem_id=p.id,
                status=p.status,
                overdue=p.due_at < now,
            )
    for incident in incidents:
        if (
            incident.kind == INCIDENT
            and _within(incident.resolved_at, *period)
            and incident.id not in by_incident
        ):
            owed[incident.id] = OwedPostmortem(
                incident_id=incident.id,
                incident_title=incident.title,
                severity=incident.severity,
                owner_id=default_owner or incident.reporter_id,
                due_at=None,
                postmortem_id=None,
                status=None,
                overdue=False,
            )
    return sorted(
        owed.values(),
        key=lambda o: (o.due_at is None, o.due_at or now, o.incident_id),
    )


def _response_times(
    current: _Means, previous: _Means, severity_order: Sequence[str]
) -> list[ResponseTimes]:
    """One line per severity with a mean in either period, in the policy's order."""
    response_times = []
    for severity in _ordered_severities(severity_order, set(current) | set(previous)):
        if severity not in current and severity not in previous:
            continue
        now_ack, now_fix, acked, fixed = current.get(severity, (None, None, 0, 0))
        before_ack, before_fix, _, _ = previous.get(severity, (None, None, 0, 0))
        response_times.append(
            ResponseTimes(severity, now_ack, now_fix, before_ack, before_fix, acked, fixed)
        )
    return response_times


def _overdue_items(action_items: Iterable[ActionItemFacts], today: date) -> list[OverdueItem]:
    """Open action items due before `today`, the longest overdue first."""
    return sorted(
        (
            OverdueItem(item, (today - item.due_on).days)
            for item in action_items
            if item.status == OPEN and item.due_on < today
        ),
        key=lambda o: (o.item.due_on, o.item.id),
    )


def trend(current: timedelta | None, previous: timedelta | None) -> str:
    """ "faster", "slower" or "same" against the previous period; "" without both."""
    if current is None or previous is None:
        return ""
    if current < previous:
        return "faster"
    if current > previous:
        return "slower"
    return "same"
