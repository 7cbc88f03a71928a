"""The incident status machine: investigating → identified → monitoring → resolved, with
reopen. Closing belongs to the post-mortem (an approved post-mortem closes it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.incident import Status

OPEN = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)
LABELS = {
    Status.INVESTIGATING: "Investigating",
    Status.IDENTIFIED: "Identified",
    Status.MONITORING: "Monitoring",
    Status.RESOLVED: "Resolved",
    Status.CLOSED: "Closed",
}


class InvalidTransition(Exception):
    """Said to the person who asked, as is."""


def allowed_targets(current: Status) -> tuple[Status, ...]:
    """Where an incident in `current` may go next."""
    if current in OPEN:
        return tuple(s for s in (*OPEN, Status.RESOLVED) if s != current)
    if current is Status.RESOLVED:
        return OPEN  # reopen
    return ()


@dataclass(frozen=True)
class StatusChange:
    old: Status
    new: Status
    mitigated_at: datetime | None
    resolved_at: datetime | None
    reopened: bool


def transition(
    current: Status,
    target: Status,
    *,
    at: datetime,
    mitigated_at: datetime | None,
    resolved_at: datetime | None,
) -> StatusChange:
    """Check a status change and work out the MTTR timestamps it sets.

    Mitigated is the first time the incident reaches monitoring (or resolved directly);
    resolved is the time it is resolved; reopening clears the resolution.
    """
    if target == current:
        raise InvalidTransition(f"The incident is already {LABELS[current].lower()}.")
    if target not in allowed_targets(current):
        if current is Status.CLOSED:
            raise InvalidTransition("The incident is closed; its post-mortem was approved.")
        if target is Status.CLOSED:
            raise InvalidTransition("An incident closes when its post-mortem is approved.")
        raise InvalidTransition(
            f"An incident that is {LABELS[current].lower()} cannot become {LABELS[target].lower()}."
        )
    reopened = current is Status.RESOLVED
    if target in (Status.MONITORING, Status.RESOLVED) and mitigated_at is None:
        mitigated_at = at
    if target is Status.RESOLVED:
        resolved_at = at
    elif reopened:
        resolved_at = None
    return StatusChange(current, target, mitigated_at, resolved_at, reopened)
