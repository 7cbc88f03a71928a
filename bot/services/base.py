"""What every use-case service holds, and the one way it finds an incident to change."""

from __future__ import annotations

from collections.abc import Callable

from bot.domain.clock import Clock
from bot.domain.incident import Incident, reference
from bot.domain.policy import Policy
from storage.engine import Database
from storage.repositories import IncidentRepository
from storage.session import Session


class IncidentNotFound(Exception):
    pass


class Service:
    """The database, the policy in force (asked at each use, so a reloaded policy file
    applies at once), the clock, and what to call after a commit that queued outbox
    rows (the outbox worker's wake-up)."""

    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self._policy = policy
        self.clock = clock
        self._on_commit = on_commit or (lambda: None)

    @property
    def policy(self) -> Policy:
        return self._policy()


async def locked_incident(session: Session, incident_id: int) -> Incident:
    """The incident, its row locked for the transaction: every change of the record,
    and the timeline's hash chain, needs it. Raises IncidentNotFound."""
    incident = await IncidentRepository(session).find(incident_id, lock=True)
    if incident is None:
        raise IncidentNotFound(reference(incident_id))
    return incident
