"""Acting on an alert card (issue 22): declaring an incident from it (a report prefilled
from the group), linking it to an open incident (or moving it from another), silencing
its firing alerts in Firewatch for a while, and an incident's list of its alerts.

Lock order, as everywhere alerts are written: the alert group's row, then the
incident's (two incidents, when a group moves: in id order).

Firewatch's silences live in its own database: `AlertDesk.receive` skips a silenced
fingerprint (no card update, no page, no auto-declaration). Nothing is written to
Alertmanager.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.alerts import FIRING, AlertGroup, IncomingAlert, Silence, StoredAlert
from bot.domain.incident import Incident, IncidentReport, reference
from bot.domain.timeline import EntryKind
from bot.services import effects
from bot.services.alert_cards import declaration_report
from bot.services.alerts import DECLARE_KEY_PREFIX, AlertDesk, card_update
from bot.services.base import IncidentNotFound, Service, locked_incident
from bot.services.effects import Effect
from storage.alert_repository import AlertRepository
from storage.outbox import OutboxRepository
from storage.repositories import DraftRepository, IncidentRepository, TimelineRepository
from storage.session import Session

#: The Silence form's durations, in hours (none beyond `alerts.max_silence_hours`).
SILENCE_HOURS = (1, 4, 24, 168)
REASON_MAX = 500
#: At most this many alerts of one group are silenced (the firing ones are read first).
SILENCED_MAX = 1000
#: How many linked alert groups an incident's report lists; the rest are counted.
REPORT_LISTED = 3
_SILENCE_KEY = "alert-silence:"


class AlertActionError(Exception):
    """Something the person is told (the Slack layer words it from the type)."""


class GroupGone(AlertActionError):
    pass


class IncidentClosed(AlertActionError):
    def __init__(self, ref: str) -> None:
        super().__init__(ref)
        self.ref = ref


class AlreadyLinked(AlertActionError):
    def __init__(self, incident: Incident) -> None:
        super().__init__(incident.ref)
        self.incident = incident


class NothingFiring(AlertActionError):
    pass


class SilenceTooLong(AlertActionError):
    def __init__(self, most_hours: int) -> None:
        super().__init__(str(most_hours))
        self.most_hours = most_hours


@dataclass(frozen=True)
class Declaration:
    """What the Declare button opens: the group and the report its alert makes."""

    group: AlertGroup
    report: IncidentReport
    key: str  # the declaration's idempotency key: one incident per alert group


@dataclass(frozen=True)
class Linked:
    incident: Incident
    moved_from: Incident | None
    changed: bool  # False: it was linked to that incident already


@dataclass(frozen=True)
class Silenced:
    group: AlertGroup
    until: datetime
    fingerprints: int
    changed: bool  # False: this submission was stored already


@dataclass(frozen=True)
class LinkedAlerts:
    """An incident's alert groups (firing first, at most `REPORT_LISTED`) and how many."""

    groups: list[AlertGroup]
    total: int


def silence_choices(most_hours: int) -> tuple[int, ...]:
    """The durations the form offers under the policy's bound."""
    return tuple(h for h in SILENCE_HOURS if h <= most_hours)


def declare_key(group_id: int) -> str:
    """One declaration per alert group, whether a rule or a person declares it: a second
    submission (a double click, a second person, an auto-declare in flight) finds it."""
    return f"{DECLARE_KEY_PREFIX}{group_id}"


class AlertActions(Service):
    def __init__(self, desk: AlertDesk, *, on_commit: Callable[[], None] | None = None) -> None:
        super().__init__(desk.db, lambda: desk.policy, desk.clock, on_commit)
        self.desk = desk

    async def group(self, group_id: int) -> tuple[AlertGroup, Incident | None]:
        """The group and the incident it is linked to; raises GroupGone."""
        async with self.db.session(write=False) as session:
            group = await AlertRepository(session).group(group_id)
            if group is None:
                raise GroupGone()
            incident = (
                await IncidentRepository(session).find(group.incident_id)
                if group.incident_id is not None
                else None
            )
        return group, incident

    async def declaration(self, group_id: int) -> Declaration:
        """The report to prefill the declare form with; raises GroupGone, or AlreadyLinked
        when the group has an incident."""
        async with self.db.session(write=False) as session:
            repo = AlertRepository(session)
            group = await repo.group(group_id)
            if group is None:
                raise GroupGone()
            if group.incident_id is not None:
                incident = await IncidentRepository(session).find(group.incident_id)
                if incident is not None:
                    raise AlreadyLinked(incident)
            alerts = await repo.alerts(group_id, limit=1)
        policy = self.policy
        severity = group.severity if group.severity in policy.severities else ""
        if alerts:
            report = declaration_report(policy, group, _incoming(alerts[0]), severity)
        else:
            report = IncidentReport(group.title[:200], severity, group.title, "", "", "")
        return Declaration(group, report, declare_key(group_id))

    async def link(self, group_id: int, incident_id: int, *, by: str, key: str) -> Linked:
        """Link the group to the open incident `incident_id`: on its timeline (echoed in
        its channel), the card and both reports. A group linked elsewhere moves, and the
        incident it leaves says so. Idempotent: linking it where it is changes nothing.
        Raises GroupGone, IncidentClosed, IncidentNotFound."""
        async with self.db.session() as session:
            repo = AlertRepository(session)
            group = await repo.lock_group(group_id)
            if group is None:
                raise GroupGone()
            before = group.incident_id
            ids = sorted({incident_id} | ({before} if before is not None else set()))
            incidents = IncidentRepository(session)
            locked = {i: await incidents.find(i, lock=True) for i in ids}  # in id order
            target, old = locked[incident_id], locked.get(before) if before else None
            if target is None:
                raise IncidentNotFound(reference(incident_id))
            if before == incident_id:
                return Linked(target, None, changed=False)
            if not target.is_open:
                raise IncidentClosed(target.ref)
            note = f" (moved from {old.ref})" if old is not None else ""
            await self.desk.link(session, group_id, target, by=by, note=note)
            queued = effects.report_update(target)
            if old is not None:
                queued += await _moved_away(
                    session, group, old, target, by=by, key=key, now=self.clock.now()
                )
            await OutboxRepository(session).enqueue_many(queued, now=self.clock.now())
        self._on_commit()
        return Linked(target, old, changed=True)

    async def silence(
        self, group_id: int, hours: int, reason: str, *, by: str, key: str
    ) -> Silenced:
        """Silence each firing alert of the group in Firewatch for `hours`: stored per
        fingerprint, shown on the card, and on a linked incident's timeline. Idempotent
        on `key` (the form's view id). Raises SilenceTooLong, GroupGone, NothingFiring."""
        most = self.policy.alerts.max_silence_hours
        if hours not in silence_choices(most):
            raise SilenceTooLong(most)
        now = self.clock.now()
        async with self.db.session() as session:
            repo, drafts = AlertRepository(session), DraftRepository(session)
            group = await repo.lock_group(group_id)
            if group is None:
                raise GroupGone()
            done = await drafts.get(_SILENCE_KEY + key)
            if done is not None:  # Slack's retry, or a double click
                until = datetime.fromisoformat(str(done["until"]))
                return Silenced(group, until, int(done["fingerprints"]), changed=False)
            alerts = await repo.alerts(group_id, limit=SILENCED_MAX)
            fingerprints = sorted({a.fingerprint for a in alerts if a.status == FIRING})
            if not fingerprints:
                raise NothingFiring()
            until = now + timedelta(hours=hours)
            await repo.silence(
                [Silence(group.source, fp, until, by, reason, now) for fp in fingerprints]
            )
            stored = {"until": until.isoformat(), "fingerprints": len(fingerprints)}
            await drafts.save(_SILENCE_KEY + key, stored, now)
            queued = await card_update(repo, group)
            if group.incident_id is not None:
                queued += await _silenced_on_timeline(
                    session, group, fingerprints, until, reason, by=by, key=key, now=now
                )
            await OutboxRepository(session).enqueue_many(queued, now=now)
        self._on_commit()
        return Silenced(group, until, len(fingerprints), changed=True)

    async def linked(self, incident_id: int) -> LinkedAlerts:
        """The incident's alert groups for its report: firing first."""
        async with self.db.session(write=False) as session:
            groups = await AlertRepository(session).groups_of_incident(incident_id)
        ordered = sorted(groups, key=lambda g: (g.status != FIRING, g.id))
        return LinkedAlerts(ordered[:REPORT_LISTED], len(groups))


def _incoming(alert: StoredAlert) -> IncomingAlert:
    return IncomingAlert(
        source=alert.source,
        fingerprint=alert.fingerprint,
        status=alert.status,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        labels=alert.labels,
        annotations=alert.annotations,
        links=alert.links,
        values=alert.values,
    )


async def _moved_away(
    session: Session,
    group: AlertGroup,
    old: Incident,
    new: Incident,
    *,
    by: str,
    key: str,
    now: datetime,
) -> list[Effect]:
    """The incident a group leaves says where it went; its report drops it."""
    entry = await TimelineRepository(session).append(
        old.id,
        EntryKind.ALERT,
        f"Alert moved to {new.ref}: {group.title[:300]}",
        at=now,
        actor=by,
        data={"alert_group": group.id, "status": "moved", "to": new.id},
        source_key=f"alert-move:{group.id}:{key}",
    )
    return effects.echoes(old.channel_status, [entry]) + effects.report_update(old)


async def _silenced_on_timeline(
    session: Session,
    group: AlertGroup,
    fingerprints: list[str],
    until: datetime,
    reason: str,
    *,
    by: str,
    key: str,
    now: datetime,
) -> list[Effect]:
    """A linked incident's timeline records the silence (the person is its actor)."""
    assert group.incident_id is not None
    incident = await locked_incident(session, group.incident_id)  # after the group's lock
    count = f"{len(fingerprints)} alerts" if len(fingerprints) > 1 else "alert"
    entry = await TimelineRepository(session).append(
        incident.id,
        EntryKind.ALERT,
        f"Silenced {count} in Firewatch until {until:%Y-%m-%d %H:%M %Z}: "
        f"{group.title[:300]} (reason: {reason[:REASON_MAX]})",
        at=now,
        actor=by,
        data={
            "alert_group": group.id,
            "status": "silenced",
            "until": until.isoformat(),
            "fingerprints": fingerprints[:50],
        },
        source_key=f"alert-silence:{group.id}:{key}",
    )
    return effects.echoes(incident.channel_status, [entry])
