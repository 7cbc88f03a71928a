"""What one person's App Home shows: plain records, read in one database transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class HomeIncident:
    id: int
    title: str
    severity: str
    status: str
    channel_id: str | None
    declared_at: datetime
    response_deadline: datetime | None


@dataclass(frozen=True)
class HomePage:
    id: int
    incident_id: int
    incident_title: str
    role: str | None
    paged_at: datetime
    ack_deadline: datetime


@dataclass(frozen=True)
class HomePostmortem:
    incident_id: int
    incident_title: str
    status: str
    due_at: datetime


@dataclass(frozen=True)
class HomeItem:
    id: int
    incident_id: int
    text: str
    due_on: date


@dataclass(frozen=True)
class HomeSnapshot:
    """Everything the viewer's Home needs from the database, each list most urgent first
    and cut at the read's limit; `*_total` says how many there are in all."""

    incidents: list[HomeIncident]
    incidents_total: int
    pages: list[HomePage]
    postmortems: list[HomePostmortem]
    items: list[HomeItem]
    items_total: int
    assigned: dict[int, list[str]] = field(default_factory=dict)  # incident id → roles
    # How many unacknowledged pages and owed post-mortems in all (None: the lists are all).
    pages_total: int | None = None
    postmortems_total: int | None = None
    absences: dict[str, datetime] = field(default_factory=dict)  # who is away, until
