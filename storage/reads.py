"""Synchronous reads for `Database.read`: each takes a `Session` and returns domain
objects, so nothing is loaded after the read's transaction ends."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.incident import Incident
from storage.models import IncidentRow
from storage.repositories import incident_from_row


def incident(session: Session, incident_id: int) -> Incident | None:
    row = session.execute(
        select(IncidentRow).where(IncidentRow.id == incident_id)
    ).scalar_one_or_none()
    return incident_from_row(row) if row is not None else None
