"""The outbox worker's leases: how long a claim lasts, keeping it while a handler runs,
and giving a row up when its claim was lost.

How long: a handler makes a few Web API calls, each of which may take the whole call
timeout (`FIREWATCH_SLACK_TIMEOUT_SECONDS`, up to 120 s), so

    lease = calls × call timeout + margin

where `calls` is the most calls one delivery makes (the Slack layer says how many:
bot/slack/delivery/handler.py) and the margin covers the database statements between
them, the event loop's delays and the clocks of replicas that disagree a little.

Kept: while any of its claims is live, the worker renews them all in one statement every
third of a lease (a handler that pages through `conversations.list` may make more calls
than `calls`). Lost: when another worker took a row over (the lease ran out while this
one was stalled, or its renewals failed), the renewal does not find the claim's token;
the handler is cancelled where it waits, and the settlement that would follow finds
nothing either (storage/outbox_settle.py): the row is left to its new holder.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.domain.clock import Clock
from storage.engine import Database
from storage.outbox_settle import renew_in

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(seconds=10)


def delivery_lease(call_timeout: float, calls: int) -> timedelta:
    """The lease of a claim: longer than `calls` calls that each take the whole
    `call_timeout`, by `LEASE_MARGIN` (see the module's docstring)."""
    return timedelta(seconds=calls * call_timeout) + LEASE_MARGIN


@dataclass(eq=False)
class Claim:
    """One claim this worker holds: its token, its rows (the head first) and the task
    delivering them."""

    token: str
    ids: list[int]
    task: asyncio.Task[Any] | None
    lost: bool = False  # another worker holds it now: abandon the attempt
    settling: bool = False  # the settlement is under way: renewals leave it alone
    _cancelled: bool = field(default=False, repr=False)

    def abandon(self) -> None:
        """Lost: stop the handler where it waits (once)."""
        self.lost = True
        if self.task is not None and not self._cancelled and not self.settling:
            self._cancelled = True
            self.task.cancel()

    def was_cancelled_for_loss(self) -> bool:
        return self._cancelled


class Leases:
    """The live claims of one worker and the heartbeat that renews them."""

    def __init__(
        self, db: Database, clock: Clock, lease: timedelta, renew_every: float | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.lease = lease
        self.renew_every = renew_every or lease.total_seconds() / 3
        self._prefix = uuid.uuid4().hex[:16]
        self._counter = itertools.count(1)
        self._live: dict[str, Claim] = {}
        self._beat: asyncio.Task[None] | None = None

    def new_token(self) -> str:
        """Unique across workers (a random prefix per worker) and cheap (a counter)."""
        return f"{self._prefix}-{next(self._counter):x}"

    def hold(self, token: str, row_id: int) -> Claim:
        """A claim just made by the current task; the heartbeat runs while any is live."""
        claim = Claim(token, [row_id], asyncio.current_task())
        self._live[token] = claim
        if self._beat is None or self._beat.done():
            self._beat = asyncio.create_task(self._heartbeat())
        return claim

    def add_rows(self, claim: Claim, row_ids: Iterable[int]) -> None:
        claim.ids.extend(row_ids)

    def drop(self, claim: Claim) -> None:
        """The attempt is over (settled or abandoned)."""
        self._live.pop(claim.token, None)
        if not self._live and self._beat is not None:
            self._beat.cancel()
            self._beat = None

    async def _heartbeat(self) -> None:
        while self._live:
            await asyncio.sleep(self.renew_every)
            try:
                await self.renew()
            except Exception:  # the next beat tries again; settling still checks the token
                log.exception("renewing outbox leases failed")

    async def renew(self) -> None:
        """Extend every live claim's lease from now, in one statement; abandon those
        whose rows another worker holds now."""
        claims = [c for c in self._live.values() if not (c.lost or c.settling)]
        if not claims:
            return
        held = await self.db.write_batch(
            functools.partial(
                renew_in,
                row_ids=[i for c in claims for i in c.ids],
                tokens=[c.token for c in claims],
                until=self.clock.now() + self.lease,
            ),
            background=True,
        )
        for claim in claims:
            if claim.ids[0] not in held and not claim.settling:
                log.warning("outbox row %s: claim lost to another worker", claim.ids[0])
                claim.abandon()
