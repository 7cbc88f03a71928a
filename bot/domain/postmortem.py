"""Post-mortems (seed 003): requested at resolution, written, submitted, and approved by
the accountable role — or sent back for changes. Approval closes the incident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum


class PostmortemStatus(StrEnum):
    REQUESTED = "requested"  # asked for, nothing written yet
    DRAFT = "draft"
    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"


WRITABLE = (PostmortemStatus.REQUESTED, PostmortemStatus.DRAFT, PostmortemStatus.CHANGES_REQUESTED)
OUTSTANDING = WRITABLE  # not yet submitted: the reminder chases these


class InvalidPostmortemStep(Exception):
    pass


def after_save(status: PostmortemStatus, *, submit: bool) -> PostmortemStatus:
    if status not in WRITABLE:
        if status is PostmortemStatus.SUBMITTED:
            raise InvalidPostmortemStep(
                "This post-mortem is waiting for review; it cannot change now."
            )
        raise InvalidPostmortemStep("This post-mortem is approved; it is final.")
    return PostmortemStatus.SUBMITTED if submit else PostmortemStatus.DRAFT


def after_decision(status: PostmortemStatus, *, approve: bool) -> PostmortemStatus:
    if status is not PostmortemStatus.SUBMITTED:
        raise InvalidPostmortemStep(
            "Only a submitted post-mortem can be reviewed; this one is "
            f"{status.value.replace('_', ' ')}."
        )
    return PostmortemStatus.APPROVED if approve else PostmortemStatus.CHANGES_REQUESTED


@dataclass(frozen=True)
class ActionItem:
    text: str
    owner: str
    due_on: date


def mtta(declared_at: datetime, acknowledged_at: datetime | None) -> timedelta | None:
    """Mean time to acknowledge, for one incident: declaration → first acknowledgement."""
    return acknowledged_at - declared_at if acknowledged_at else None


def mttr(declared_at: datetime, resolved_at: datetime | None) -> timedelta | None:
    """Time to resolve, for one incident: declaration → resolution."""
    return resolved_at - declared_at if resolved_at else None


def mean(values: list[timedelta]) -> timedelta | None:
    return sum(values, timedelta()) / len(values) if values else None


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"
