"""Public pages for the web tests: an outage, the same after resolution, and one whose
public updates are hostile text, all made with the domain's own functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.incident import ChannelStatus, Incident, Kind, Status
from bot.domain.status_history import Outage, PublicPage, histories
from bot.domain.status_page import (
    Component,
    ComponentState,
    Maintenance,
    PublicUpdate,
    StatusIncident,
    status_document,
)

S = ComponentState
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Paris")
COMPONENTS = (
    Component(key="ssoe", name="SSOe", group="Login", description="Signing in with SSOe"),
    Component(key="sis", name="SiS", group="Login", description="Signing in with SiS"),
    Component(key="va_profile", name="Profile"),
)
# What an incident holds that must never be published.
INTERNAL = {
    "title": "Secret DB primary failover on db-prod-7",
    "nature": "Runbook https://wiki.internal/runbooks/db",
    "impact": "Alice Example paged bob@example.com",
    "reporter_id": "U0REPORTER",
    "channel_name": "inc-secret-db-failover",
}
HOSTILE = "<script>alert(1)</script> & <@U123> <b>bold</b> ]]> \x1b"


def incident(number: int, status: Status, declared: datetime) -> Incident:
    return Incident(
        id=number,
        severity="sev1",
        status=status,
        kind=Kind.INCIDENT,
        declared_at=declared,
        channel_status=ChannelStatus.CREATED,
        discovery="monitoring_alert",
        evidence="Grafana panel https://grafana.internal/d/abc",
        service=None,
        channel_id="C0SECRET",
        title=INTERNAL["title"],
        nature=INTERNAL["nature"],
        impact=INTERNAL["impact"],
        reporter_id=INTERNAL["reporter_id"],
        channel_name=INTERNAL["channel_name"],
    )


def maintenance(starts_in: timedelta) -> Maintenance:
    return Maintenance(
        id="mnt-7",
        title="Identity provider upgrade",
        components=["sis"],
        starts_at=NOW + starts_in,
        ends_at=NOW + starts_in + timedelta(hours=2),
    )


def outage_page(text: str = "Logins with SSOe fail; we are on it.") -> PublicPage:
    """SSOe in major outage since 40 minutes ago, maintenance of SiS in 3 hours."""
    started = NOW - timedelta(minutes=40)
    current = StatusIncident.of(
        incident(12, Status.IDENTIFIED, started),
        {"ssoe": S.MAJOR_OUTAGE},
        (
            PublicUpdate(started, Status.INVESTIGATING, "We are looking into SSOe logins."),
            PublicUpdate(NOW - timedelta(minutes=10), Status.IDENTIFIED, text),
        ),
    )
    document = status_document(COMPONENTS, [current], [maintenance(timedelta(hours=3))], {}, NOW)
    outages = [
        Outage("ssoe", S.MAJOR_OUTAGE, started, None),
        Outage("sis", S.PARTIAL_OUTAGE, NOW - timedelta(days=3, hours=2), NOW - timedelta(days=3)),
        Outage(
            "va_profile", S.DEGRADED_PERFORMANCE, NOW - timedelta(days=20), NOW - timedelta(days=19)
        ),
    ]
    return PublicPage(
        document=document,
        histories=histories(COMPONENTS, outages, now=NOW, zone=ZONE),
        past_incidents=[],
        title="Example status",
    )


def resolved_page() -> PublicPage:
    """The same two hours later: resolved, everything operational, one past incident."""
    later = NOW + timedelta(hours=2)
    started = NOW - timedelta(minutes=40)
    document = status_document(COMPONENTS, [], [], {}, later)
    past: dict[str, Any] = {
        "id": "INC-12",
        "name": "Major outage: SSOe",
        "status": "resolved",
        "started_at": "2026-12-06T08:20:00Z",
        "resolved_at": "2026-12-06T10:30:00Z",
        "components": {"ssoe": "major_outage"},
        "updates": [
            {"at": "2026-12-06T08:20:00Z", "status": "investigating", "text": "Looking."},
            {"at": "2026-12-06T10:30:00Z", "status": "resolved", "text": "SSOe logins work again."},
        ],
    }
    outages = [Outage("ssoe", S.MAJOR_OUTAGE, started, later - timedelta(minutes=30))]
    return PublicPage(
        document=document,
        histories=histories(COMPONENTS, outages, now=later, zone=ZONE),
        past_incidents=[past],
        title="Example status",
    )
