"""Alert intake: a monitor's notification stored first (deduplicated), then told in Slack
through the outbox, paged, linked to its incident or declared as one.

`AlertDesk.receive` writes a whole notification in one transaction: the group (one card
in Slack), each alert (one firing: source + fingerprint + startsAt, so a resend finds
its row), the card's update (coalesced: a group with an update waiting gets no second
one, and a channel gets at most `alerts.storm.cards_per_minute` new cards a minute — the
groups beyond that are counted on one storm card), timeline entries on a linked
incident, pages (the hooks in `on_firing`) and an auto-declaration (a declaration intake
row, declared by the intake worker like any submission).

Lock order, everywhere: the alert group's row, then the incident's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain.alerts import (
    FIRING,
    AlertBatch,
    AlertChange,
    AlertGroup,
    AlertIntakeBusy,
    IncomingAlert,
    all_match,
    auto_declare_severity,
    mapped_severity,
    roles_to_page,
    route_channel,
)
from bot.domain.incident import Incident
from bot.domain.policy import Policy
from bot.domain.timeline import EntryKind
from bot.services import effects
from bot.services.alert_cards import declaration_report, reporter_for
from bot.services.base import Service
from bot.services.effects import Effect
from storage import intake
from storage.alert_repository import AlertRepository
from storage.outbox import OutboxRepository
from storage.repositories import IncidentRepository, TimelineRepository
from storage.session import Session

log = logging.getLogger(__name__)

# A storm card stays in use until its channel has had no storm group for this long.
STORM_QUIET = timedelta(minutes=10)
# Declarations from alerts are stored with this key prefix (one per alert group).
DECLARE_KEY_PREFIX = "alert:"
# Notifications stored at once by one process. A monitor sends one per group, all at once
# (Alertmanager: every group on each tick): beyond this they wait their turn in memory,
# so they never take every database connection from the outbox that tells Slack.
INTAKE_CONCURRENCY = 4
# How long a notification may wait for its turn before the monitor is told to send again
# (503, Retry-After): Alertmanager gives up on a webhook after its own timeout and
# resends the group, so a longer queue would store what nobody waits for any more.
INTAKE_WAIT_SECONDS = 5.0
BUSY_RETRY_AFTER = 10
# How many alerts' names a timeline entry lists.
NAMES_LISTED = 5

FiringHook = Callable[[Session, AlertGroup, Sequence[IncomingAlert], datetime], Awaitable[None]]
GroupHook = Callable[[Session, AlertGroup, datetime], Awaitable[None]]


@dataclass
class AlertReceipt:
    """What one notification changed (the webhook's answer)."""

    alerts: int = 0
    new: int = 0
    resent: int = 0
    resolved: int = 0
    silenced: int = 0
    group: int | None = None
    auto_declared: bool = False


@dataclass
class _Seen:
    new: list[IncomingAlert] = field(default_factory=list)
    resent: list[IncomingAlert] = field(default_factory=list)
    resolved: list[IncomingAlert] = field(default_factory=list)
    counts_changed: bool = False  # an alert (silenced or not) began or stopped firing


class AlertDesk(Service):
    def __init__(
        self,
        db: Any,
        policy: Callable[[], Policy],
        clock: Any,
        *,
        broadcast_channel: str | None,
        on_commit: Callable[[], None] | None = None,
        on_declare: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(db, policy, clock, on_commit)
        self.broadcast_channel = broadcast_channel
        # Pages for new firing alerts (bot/services/alert_paging.py), in the same
        # transaction; and the intake worker's wake-up after an auto-declaration.
        self.on_firing: list[FiringHook] = []
        # The group's last alert stopped firing (its pages resolved outside Slack).
        self.on_resolved: list[GroupHook] = []
        self._on_declare = on_declare or (lambda: None)
        self._storing = asyncio.Semaphore(INTAKE_CONCURRENCY)
        self.intake_wait = INTAKE_WAIT_SECONDS

    async def receive(self, batch: AlertBatch) -> AlertReceipt:
        """Store the notification and queue what Slack should hear; idempotent (a resend
        only moves the "last seen" time)."""
        receipt = AlertReceipt(alerts=len(batch.alerts))
        if not batch.alerts:
            return receipt
        try:
            await asyncio.wait_for(self._storing.acquire(), self.intake_wait)
        except TimeoutError:
            raise AlertIntakeBusy(BUSY_RETRY_AFTER) from None
        try:
            return await self._receive(batch, receipt)
        finally:
            self._storing.release()

    async def _receive(self, batch: AlertBatch, receipt: AlertReceipt) -> AlertReceipt:
        now, policy = self.clock.now(), self.policy
        rules = policy.alerts
        labels = dict(batch.common_labels) or dict(batch.alerts[0].labels)
        channel = route_channel(rules, labels) or self.broadcast_channel
        severity = _most_severe(
            policy, [mapped_severity(rules, a.labels, policy.severities) for a in batch.alerts]
        )
        declared = False
        # A monitor, not a person, waits for this answer, and it retries: on SQLite its
        # writes queue with background work, so a storm of webhooks cannot hold the
        # writer from the outbox that tells Slack (a person's request still goes first).
        async with self.db.session(background=True) as session:
            repo = AlertRepository(session)
            group, created = await repo.group_for(
                batch.source,
                batch.group_key,
                channel=channel,
                title=_title(batch),
                severity=severity,
                labels=labels,
                now=now,
            )
            receipt.group = group.id
            was_firing = group.status == FIRING and not created
            seen = await _record_all(repo, group.id, batch, now, receipt)
            if seen.counts_changed or created:
                group = await repo.settle_group(group.id, now=now, resent=False)
            else:  # a resend, the commonest notification: nothing to count again
                group = await repo.touch_group(group.id, now)
            if created and group.channel is not None:
                group = await self._bound_storm(repo, group, rules.storm.cards_per_minute, now)
            queued: list[Effect] = []
            if seen.new or seen.resent or seen.resolved:
                queued += await card_update(repo, group)
            if group.incident_id is not None and (seen.new or seen.resolved):
                queued += await self._tell_incident(session, group, seen, now)
            if was_firing and group.status != FIRING:
                for ended in self.on_resolved:
                    await ended(session, group, now)
            if seen.new:
                for hook in self.on_firing:
                    await hook(session, group, seen.new, now)
                if group.incident_id is None:
                    declared = await self._auto_declare(session, group, seen.new, policy, now)
            await OutboxRepository(session).enqueue_many(queued, now=now)
        receipt.auto_declared = declared
        self._on_commit()
        if declared:
            self._on_declare()
        return receipt

    # --- storms -----------------------------------------------------------------------

    async def _bound_storm(
        self, repo: AlertRepository, group: AlertGroup, per_minute: int, now: datetime
    ) -> AlertGroup:
        """A new group gets a card of its own while its channel has had fewer than
        `per_minute` new cards in the last minute; else it is counted on the storm card."""
        assert group.channel is not None
        await repo.lock_channel(group.channel)
        # This group counts itself: it was inserted with no storm yet.
        if await repo.own_cards_since(group.channel, now - timedelta(minutes=1)) <= per_minute:
            return group
        storm = await repo.storm_for(group.channel, quiet_since=now - STORM_QUIET, now=now)
        await repo.put_in_storm(group.id, storm)
        found = await repo.group(group.id)
        assert found is not None
        log.info("alert storm: group counted on the storm card", extra={"channel": group.channel})
        return found

    # --- a linked incident ------------------------------------------------------------

    async def _tell_incident(
        self, session: Session, group: AlertGroup, seen: _Seen, now: datetime
    ) -> list[Effect]:
        assert group.incident_id is not None
        incident = await IncidentRepository(session).find(group.incident_id, lock=True)
        if incident is None:
            return []
        timeline = TimelineRepository(session)
        entries = []
        for alerts, what in ((seen.new, "firing"), (seen.resolved, "resolved")):
            if not alerts:
                continue
            names = ", ".join(a.summary[:120] for a in alerts[:NAMES_LISTED])
            more = f" and {len(alerts) - NAMES_LISTED} more" if len(alerts) > NAMES_LISTED else ""
            label = "Alert" if len(alerts) == 1 else f"{len(alerts)} alerts"
            entries.append(
                await timeline.append(
                    incident.id,
                    EntryKind.ALERT,
                    f"{label} {what}: {names}{more}",
                    at=now,
                    actor=None,
                    data={
                        "alert_group": group.id,
                        "status": what,
                        "fingerprints": [a.fingerprint for a in alerts],
                    },
                )
            )
        # The report's "Alerts" line shows the group's counts and status.
        return effects.echoes(incident.channel_status, entries) + effects.report_update(incident)

    async def link_declared(
        self, session: Session, incident: Incident, data: dict[str, Any]
    ) -> None:
        """After a declaration made from an alert (the Declare button or an auto-declare
        rule), in its transaction: link the group, and say so on the timeline."""
        group_id = data.get("alert_group_id")
        if not isinstance(group_id, int):
            return
        await self.link(session, group_id, incident, by=data.get("alert_declared_by"))

    async def link(
        self,
        session: Session,
        group_id: int,
        incident: Incident,
        *,
        by: str | None,
        note: str = "",
    ) -> bool:
        """Link the group to the incident (its timeline says so, `note` after it; its card
        shows it); False if it was linked to it already. The caller holds the incident
        locked."""
        repo = AlertRepository(session)
        group = await repo.group(group_id)
        if group is None or not await repo.link(group_id, incident.id):
            return False
        now = self.clock.now()
        state = "firing" if group.status == FIRING else "resolved"
        entry = await TimelineRepository(session).append(
            incident.id,
            EntryKind.ALERT,
            f"Alert linked: {group.title[:300]} ({group.firing} of {group.total} {state}){note}",
            at=now,
            actor=by,
            data={"alert_group": group.id, "status": "linked"},
            source_key=f"alert-link:{group.id}:{incident.id}",
        )
        queued = effects.echoes(incident.channel_status, [entry])
        queued += await card_update(repo, group)
        await OutboxRepository(session).enqueue_many(queued, now=now)
        return True

    async def incident_ended(self, session: Session, incident: Incident, now: datetime) -> None:
        """In the transaction resolving or closing an incident (TimelineService.on_ended):
        the cards of its alert groups say so. Queued without touching the groups' rows
        (this transaction holds the incident; the lock order is group, then incident)."""
        groups = await AlertRepository(session).groups_of_incident(incident.id)
        queued: list[Effect] = [
            (effects.ALERT_CARD, effects.alerts_key(g.channel), {"group_id": g.id}, None)
            for g in groups
            if g.channel is not None and g.storm_id is None
        ]
        await OutboxRepository(session).enqueue_many(queued, now=now)

    # --- auto-declare -----------------------------------------------------------------

    async def _auto_declare(
        self,
        session: Session,
        group: AlertGroup,
        alerts: Sequence[IncomingAlert],
        policy: Policy,
        now: datetime,
    ) -> bool:
        rules = policy.alerts
        for alert in alerts:
            severity = auto_declare_severity(rules, alert.labels, policy.severities)
            if severity is None:
                continue
            reporter = reporter_for(policy, roles_to_page(rules, alert.labels))
            if reporter is None:
                log.warning(
                    "an auto-declare rule matched but nobody holds a role to report it",
                    extra={"alert_group": group.id},
                )
                return False
            report = declaration_report(policy, group, alert, severity)
            rule = next(
                (r for r in rules.auto_declare if all_match(r.matchers, alert.labels)), None
            )
            data = {
                "report": report.__dict__,
                "reporter_id": reporter,
                "checklist": {
                    "declared_by_alert": {
                        "group": group.id,
                        "alert": alert.summary[:300],
                        "rule": [str(m) for m in rule.matchers] if rule else [],
                    }
                },
                "alert_group_id": group.id,
            }
            return await intake.add(session, f"{DECLARE_KEY_PREFIX}{group.id}", data, now=now)
        return False


async def card_update(repo: AlertRepository, group: AlertGroup) -> list[Effect]:
    """The group's card (or its storm card) brought up to date, unless an update is
    waiting already."""
    if group.channel is None:
        return []
    key = effects.alerts_key(group.channel)
    if group.storm_id is not None:
        if await repo.queue_storm_card(group.storm_id):
            return [(effects.ALERT_STORM_CARD, key, {"storm_id": group.storm_id}, None)]
        return []
    if await repo.queue_card(group.id):
        return [(effects.ALERT_CARD, key, {"group_id": group.id}, None)]
    return []


async def _record_all(
    repo: AlertRepository, group_id: int, batch: AlertBatch, now: datetime, receipt: AlertReceipt
) -> _Seen:
    """Store each alert; what changed, apart from silenced fingerprints (counted only)."""
    muted = await repo.silenced(batch.source, [a.fingerprint for a in batch.alerts], now)
    seen = _Seen()
    changes = await repo.record(group_id, batch.alerts, now)
    seen.counts_changed = any(c in (AlertChange.NEW, AlertChange.RESOLVED) for c in changes)
    for alert, change in zip(batch.alerts, changes, strict=True):
        if alert.fingerprint in muted:
            receipt.silenced += 1
        elif change is AlertChange.NEW:
            seen.new.append(alert)
        elif change is AlertChange.RESENT:
            seen.resent.append(alert)
        elif change is AlertChange.RESOLVED:
            seen.resolved.append(alert)
    receipt.new, receipt.resent, receipt.resolved = (
        len(seen.new),
        len(seen.resent),
        len(seen.resolved),
    )
    return seen


def _title(batch: AlertBatch) -> str:
    if batch.title:
        return batch.title[:500]
    common = batch.common_annotations.get("summary")
    return (common or batch.alerts[0].summary)[:500]


def _most_severe(policy: Policy, keys: Sequence[str]) -> str:
    order = policy.severity_keys
    return min(keys, key=order.index) if keys else order[-1]
