"""What alerts show and make: a group's card as it is now (read by the delivery, which
clears the card's "update waiting" mark first), and the incident report an alert makes
when it declares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.alert_pages import AlertPage
from bot.domain.alerts import (
    AlertGroup,
    AlertStorm,
    IncomingAlert,
    Silence,
    StoredAlert,
    affected_components,
)
from bot.domain.incident import Incident, IncidentReport
from bot.domain.policy import Policy
from bot.domain.status_page import worst
from bot.services.base import Service
from bot.services.page_resolves import pagerduty_resolved_count
from storage.alert_page_repository import AlertPageRepository
from storage.alert_repository import AlertRepository
from storage.repositories import IncidentRepository

CARD_ALERTS = 10  # alerts listed on a card; the rest are counted


@dataclass(frozen=True)
class AlertCard:
    """A group's card as it is now: the group, its first alerts (firing first), the
    incident it is linked to, the silences on its alerts and its pages (alert_paging.py)."""

    group: AlertGroup
    alerts: list[StoredAlert]
    incident: Incident | None
    silences: list[Silence]
    pagerduty_resolved: int = 0  # the linked incident's PagerDuty alerts Firewatch resolved
    pages: Sequence[AlertPage] = ()


class AlertCards(Service):
    """The delivery's reads and writes: take a card to send, record where it was posted."""

    async def take(self, group_id: int) -> AlertCard | None:
        """The card to send, its "update waiting" mark cleared first (a change made
        while it is being sent queues another update)."""
        async with self.db.session() as session:
            repo = AlertRepository(session)
            group = await repo.take_card(group_id)
            if group is None:
                return None
            alerts = await repo.alerts(group_id, limit=CARD_ALERTS)
            incident = (
                await IncidentRepository(session).find(group.incident_id)
                if group.incident_id is not None
                else None
            )
            resolved = (
                await pagerduty_resolved_count(session, incident.id)
                if incident is not None and incident.status.ended
                else 0
            )
            silences = [
                s
                for s in await repo.silences(group.source, [a.fingerprint for a in alerts])
                if s.until > self.clock.now()
            ]
            pages = await AlertPageRepository(session).pages(group_id)
        return AlertCard(
            group, alerts, incident, silences, pagerduty_resolved=resolved, pages=pages
        )

    async def take_storm(self, storm_id: int) -> AlertStorm | None:
        async with self.db.session() as session:
            return await AlertRepository(session).take_storm_card(storm_id)

    async def posted(self, group_id: int, channel_id: str, ts: str) -> None:
        async with self.db.session() as session:
            await AlertRepository(session).card_posted(group_id, channel_id, ts)

    async def storm_posted(self, storm_id: int, channel_id: str, ts: str) -> None:
        async with self.db.session() as session:
            await AlertRepository(session).storm_card_posted(storm_id, channel_id, ts)


def declaration_report(
    policy: Policy, group: AlertGroup, alert: IncomingAlert, severity: str
) -> IncidentReport:
    """The incident report an alert makes: its summary as the title, its description
    as the nature, its links and annotations as the evidence, discovered by monitoring."""
    report = policy.report
    lengths = report.fields
    methods = [m.key for m in report.discovery_methods]
    discovery = next((k for k in methods if "monitor" in k), methods[0] if methods else "")
    description = alert.annotations.get("description") or alert.summary
    evidence = [f"{name}: {url}" for name, url in alert.links.items()]
    evidence += [f"{k}: {v}" for k, v in alert.annotations.items() if k not in ("summary",)]
    evidence += [f"labels: {', '.join(f'{k}={v}' for k, v in alert.labels.items())}"]
    affected = affected_components(policy.alerts, alert.labels)  # the status page's
    return IncidentReport(
        title=(alert.summary or group.title)[:200],
        severity=severity,
        nature=description[: lengths.nature.max_length or 3000],
        discovery=discovery,
        impact=(f"Declared by a monitoring alert ({alert.name}); impact to be assessed.")[
            : lengths.impact.max_length or 3000
        ],
        evidence="\n".join(evidence)[: lengths.evidence.max_length or 3000],
        service=(alert.labels.get("service") or alert.labels.get("job") or "")[:200] or None,
        components=tuple(affected),
        component_state=worst(affected.values()).value if affected else "",
    )


def reporter_for(policy: Policy, roles: Sequence[str]) -> str | None:
    """Who reports an auto-declared incident: the holder of the first role the alert
    pages, else of the first IRT role with someone in it."""
    holders = policy.acting_holders()
    for role in [*roles, *policy.irt_roles]:
        holder = holders.get(role)
        if holder is not None and holder.person is not None:
            return holder.person
    return None
