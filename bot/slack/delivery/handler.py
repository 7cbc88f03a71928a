"""The outbox handler every delivery module registers for its effect kinds.

The outbox worker calls `deliver` for a row and `gave_up` when the row is dead; a handler
with a `batch_limit` over 1 is given the rows of its kind queued behind the head as well.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.services.outbox_worker import OutboxItem

# The most Web API calls one delivery makes, for the outbox lease (`delivery_lease`: this
# many calls that each take FIREWATCH_SLACK_TIMEOUT_SECONDS, and a margin). The longest
# usual delivery is an announcement to a configured `#name` not yet known after a lost
# answer: conversations.list, conversations.join, conversations.history (is it posted
# already?), chat.postMessage, and one more for a DM's conversations.open. Deliveries
# that may go on longer (channel names tried in turn, conversations.list page after page,
# PagerDuty) are covered by the worker renewing its leases while they run.
CALLS_PER_DELIVERY = 5

Deliver = Callable[[OutboxItem], Awaitable[dict[str, Any]]]
GaveUp = Callable[[OutboxItem, str], Awaitable[None]]


class Handler:
    def __init__(
        self, deliver: Deliver, gave_up: GaveUp | None = None, *, batch_limit: int = 1
    ) -> None:
        self._deliver = deliver
        self._gave_up = gave_up
        self.batch_limit = batch_limit

    async def deliver(self, item: OutboxItem) -> dict[str, Any]:
        return await self._deliver(item)

    async def gave_up(self, item: OutboxItem, error: str) -> None:
        if self._gave_up is not None:
            await self._gave_up(item, error)
