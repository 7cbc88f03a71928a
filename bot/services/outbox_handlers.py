"""What an outbox delivery handler is given and how it says how the attempt went.

The worker (bot/services/outbox_worker.py) knows nothing of Slack: a handler per row kind
does the call and reports by returning a result or raising one of the exceptions below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class RetryLater(Exception):
    """The attempt failed in a way that may pass (429, 5xx, network).

    `counts=False`: the attempt made progress it keeps (a long lookup stopped by a rate
    limit, its place stored), so it does not count towards the row's attempts."""

    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
        counts: bool = True,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown
        self.counts = counts


class PermanentFailure(Exception):
    """Retrying cannot help (e.g. channel_not_found): the row is marked dead at once."""


class NotReady(Exception):
    """Something this row needs is not there yet; try again soon without counting it."""


class ClaimLost(Exception):
    """Raised by `save_progress` when another worker holds the row now (this worker's
    lease ran out): the attempt stops, and the worker leaves the row to its holder."""


@dataclass
class OutboxItem:
    id: int
    kind: str
    ordering_key: str
    payload: dict[str, Any]
    attempts: int
    outcome_unknown: bool
    progress: dict[str, Any]
    incident_id: int | None
    save_progress: Callable[[dict[str, Any]], Awaitable[None]] = field(repr=False)
    # Rows of the same kind queued right behind this one, delivered together by a
    # handler that sets `batch_limit` (e.g. timeline echoes when Slack's rate is the limit).
    batch: list[OutboxItem] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [self.id, *(i.id for i in self.batch)]


class EffectHandler(Protocol):
    async def deliver(self, item: OutboxItem) -> dict[str, Any]: ...

    async def gave_up(self, item: OutboxItem, error: str) -> None: ...


class DeliveryObserver(Protocol):
    def delivered(self, kind: str, count: int = 1) -> None: ...
    def retried(self, kind: str, reason: str) -> None: ...
    def dead(self, kind: str, reason: str) -> None: ...


class NullObserver:
    """The observer of a worker given none: it counts nothing."""

    def delivered(self, kind: str, count: int = 1) -> None:
        pass

    def retried(self, kind: str, reason: str) -> None:
        pass

    def dead(self, kind: str, reason: str) -> None:
        pass
