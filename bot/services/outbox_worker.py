"""Delivers outbox rows: claims the head of each ordering key, retries with back-off.

Knows nothing of Slack: a handler per row kind does the call and reports how it went by
returning a result or raising one of the exceptions of bot/services/outbox_handlers.py.
Retry state lives in the database, so a restart resumes where the last process stopped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.clock import Clock
from bot.runtime.load import RequestLoad
from bot.services.outbox_handlers import (
    ClaimLost,
    DeliveryObserver,
    EffectHandler,
    NotReady,
    NullObserver,
    OutboxItem,
    PermanentFailure,
    RetryLater,
)
from bot.services.outbox_leases import Claim, Leases, delivery_lease
from bot.services.outbox_outcomes import AttemptOutcomes
from bot.services.polling import poll_until_stopped
from storage import outbox_claims as claims
from storage.engine import Database, background_writes
from storage.outbox import ClaimedRow, OutboxRepository
from storage.slices import READ_SLICE, between_slices, giving_way

# The handlers' side, imported from here by the delivery modules.
__all__ = [
    "ClaimLost",
    "DeliveryObserver",
    "EffectHandler",
    "NotReady",
    "OutboxItem",
    "OutboxWorker",
    "PermanentFailure",
    "RetryLater",
    "default_worker_id",
    "delivery_lease",
]

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class _Seen:
    """A ready head as `ready_heads` read it."""

    id: int
    attempts: int
    prior_unknown: bool


# Between two slices of a long read, wait at most this long for the answers in flight.
SLICE_WAIT_SECONDS = 0.02


class OutboxWorker(AttemptOutcomes):
    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, EffectHandler],
        clock: Clock,
        *,
        max_attempts: int = 10,
        poll_seconds: float = 1.0,
        lease: timedelta = timedelta(seconds=60),  # the app's: `delivery_lease`
        concurrency: int = 8,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        not_ready_delay: float = 0.0,
        worker_id: str | None = None,
        rng: random.Random | None = None,
        observer: DeliveryObserver | None = None,
        load: RequestLoad | None = None,
        pacing: Mapping[str, float] | None = None,
        renew_every: float | None = None,
    ) -> None:
        self.db = db
        # Requests being answered: each delivery step waits for a gap between them.
        self.load = load or RequestLoad(max_wait=0.0)
        self.handlers = dict(handlers)
        self.clock = clock
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self.lease = lease
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.not_ready_delay = not_ready_delay
        self.worker_id = worker_id or default_worker_id()
        self.rng = rng or random.Random()
        self.observer: DeliveryObserver = observer or NullObserver()
        self._semaphore = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._waiting = 0
        # Kinds delivered at most once per so many seconds on one ordering key (Slack's
        # per-channel rate), by every replica together: a head of such a kind is ready
        # once its key's last delivery of the kind was settled that long ago, on `clock`
        # (storage/outbox_claims.py). Rows queued meanwhile go out together (batch_limit).
        self.pacing = {kind: timedelta(seconds=s) for kind, s in (pacing or {}).items() if s > 0}
        # The pace is kept in the database (a key's last delivered row of the kind), so
        # replicas share it; this is only what this worker knows of it, to skip wake-ups
        # and to wake itself when a key it paced comes free: ordering key -> free at.
        self._paced: dict[str, datetime] = {}
        # Paced keys a wake-up named that this worker knows nothing of (another replica
        # delivered their last row), with their kind's interval: see `_learn_paced`.
        self._asked: dict[str, timedelta] = {}
        self.leases = Leases(db, clock, lease, renew_every)

    def wake(self) -> None:
        """Called after a use case commits rows, so delivery does not wait for the poll."""
        self._wake.set()

    def wake_for(self, kind: str, keys: Iterable[str]) -> bool:
        """After a commit that queued `kind` rows on `keys`; whether it woke the worker. A
        key held back to Slack's pace is taken when it comes free (run_forever wakes for
        that), so rows only for held keys do not wake the worker: under a storm of notes
        that was a pass, and its query, per commit for nothing."""
        if kind in self.pacing:
            now = self.clock.now()
            waiting = [key for key in keys if not (key in self._paced and self._paced[key] > now)]
            if not waiting:
                return False
            for key in waiting:
                self._asked[key] = self.pacing[kind]
        self._wake.set()
        return True

    async def recover(self) -> int:
        """At start, free leases this deployment's dead processes left (single-writer SQLite)."""
        if not self.db.is_sqlite:
            return 0  # other replicas may hold them: their leases expire instead
        async with self.db.session(background=True) as session:
            return await OutboxRepository(session).release_leases()

    async def run_once(self) -> int:
        """Deliver the ready head of every ordering key once; returns how many made
        progress (rows only waiting for another row — NotReady — do not count)."""
        now = self.clock.now()
        asked, self._asked = self._asked, {}
        limit = self._concurrency * 4
        async with self.db.session(write=False) as session:
            heads = await OutboxRepository(session).ready_heads(now, limit=limit, paced=self.pacing)
        if len(heads) < limit:
            self._learn_paced(asked, {row.ordering_key for row in heads}, now)
            # What the claim cannot return: whether the attempt before this one ended
            # without a definite answer (the claim itself marks this one unknown).
            seen = [
                _Seen(row.id, row.attempts, row.attempts > 0 and row.outcome_unknown)
                for row in heads
            ]
        if not seen:
            return 0
        self._waiting = 0
        await asyncio.gather(*(self._deliver(head) for head in seen))
        return len(seen) - self._waiting

    def _learn_paced(self, asked: Mapping[str, timedelta], ready: set[str], now: datetime) -> None:
        """Keys a wake-up named whose head this pass did not find ready: another replica
        delivered on them within their interval (or holds their head now). They count as
        held back for one interval from now, so the rows queued on them meanwhile do not
        wake this worker again: with two replicas, the one that had not delivered a
        channel's last echo made a pass, and its query over every pending row, for each
        note it took. The replica that delivered knows when the key comes free and takes
        it then; should it die, this one finds the key when its interval is over."""
        for key, interval in asked.items():
            if key not in ready:
                self._paced[key] = max(self._paced.get(key, now), now + interval)

    async def run_forever(self, stop: asyncio.Event) -> None:
        # The handlers' own sessions (a channel's id, a posted report's ts) included.
        with background_writes():
            await self._run_forever(stop)

    async def _run_forever(self, stop: asyncio.Event) -> None:
        await self.recover()
        await poll_until_stopped(
            self.run_once,
            self._wake,
            stop,
            idle=self.idle_timeout,
            log=log,
            failed="outbox pass failed; retrying after the poll interval",
        )

    def idle_timeout(self) -> float:
        """How long an idle worker waits for a wake-up before its next pass: the poll
        interval, or until the first key held back to Slack's pace comes free (rows
        queued on it meanwhile did not wake the worker), or no time at all when one has
        just come free.

        Keys whose interval is over are forgotten here, whether or not a row was
        waiting on them. Before, a key with nothing left to send stayed the earliest
        release for good, in the past, and an idle worker after a storm of notes made a
        pass (and its query) every millisecond: half a core until the process restarted
        (docs/performance.md)."""
        now = self.clock.now()
        expired = [key for key, free_at in self._paced.items() if free_at <= now]
        for key in expired:
            del self._paced[key]
        if expired:
            return 0.0  # one pass now for what waited on them; then they are gone
        if not self._paced:
            return self.poll_seconds
        wait = (min(self._paced.values()) - now).total_seconds()
        return min(self.poll_seconds, wait + 0.001)

    async def drain(self, *, max_passes: int = 1000) -> None:
        """Deliver until nothing is ready now (tests and the demo)."""
        for _ in range(max_passes):
            if not await self.run_once():
                return

    async def _deliver(self, head: _Seen) -> None:
        async with self._semaphore:
            await self.load.gap()
            now = self.clock.now()
            token = self.leases.new_token()
            row = await self.db.write_batch(
                functools.partial(
                    claims.claim_head_in,
                    row_id=head.id,
                    seen_attempts=head.attempts,
                    worker=self.worker_id,
                    token=token,
                    now=now,
                    lease=self.lease,
                ),
                background=True,
            )
            if row is None:
                return  # another worker has it, tried it meanwhile, or it was settled
            claim = self.leases.hold(token, row.id)
            try:
                await self._deliver_claimed(row, claim, head.prior_unknown, now)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not claim.was_cancelled_for_loss() or task is None or task.uncancel() > 0:
                    raise
                self._abandoned(row.id, row.kind)
            finally:
                self.leases.drop(claim)

    async def _deliver_claimed(
        self, row: ClaimedRow, claim: Claim, prior_unknown: bool, now: datetime
    ) -> None:
        item = self._item(row, row.attempts, claim, outcome_unknown=prior_unknown)
        # Long reads (a storm's echo: hundreds of rows) wait between their slices while a
        # request is being answered (storage/slices.py), briefly: when answers overlap
        # without pause (PostgreSQL in a storm), waiting each time for none to be in
        # flight held an echo for seconds. Never inside a write transaction: on SQLite
        # that would hold the writer a request needs.
        with giving_way(functools.partial(self.load.between_answers, SLICE_WAIT_SECONDS)):
            limit = int(getattr(self.handlers.get(row.kind), "batch_limit", 1))
            if limit > 1:
                item.batch = await self._claim_followers(row, claim, now, limit - 1)
            await self.load.gap()
            await self._attempt(item, claim)

    async def _claim_followers(
        self, head: ClaimedRow, claim: Claim, now: datetime, limit: int
    ) -> list[OutboxItem]:
        """The contiguous run of same-kind rows behind `head` in its key, claimed under the
        head's token: one read (in slices) and one update however long the run. A row
        another worker claimed in between ends the run."""
        async with self.db.session(write=False) as session:
            queued = await OutboxRepository(session).following(head.ordering_key, head.id, limit)
        run = []
        for row in queued:
            if row.kind != head.kind or row.next_attempt_at > now:
                break
            run.append(row)
        if not run:
            return []
        kept = await self.db.write_batch(
            functools.partial(
                claims.claim_run_in,
                row_ids=[r.id for r in run],
                worker=self.worker_id,
                token=claim.token,
                now=now,
                lease=self.lease,
            ),
            background=True,
        )
        taken = run[: len(kept)]
        self.leases.add_rows(claim, kept)
        followers = []
        for n, row in enumerate(taken, 1):
            if not n % READ_SLICE:
                await between_slices()
            followers.append(self._item(row, row.attempts + 1, claim, outcome_unknown=False))
        return followers

    def _item(self, row: Any, attempts: int, claim: Claim, *, outcome_unknown: bool) -> OutboxItem:
        """What a handler is given for a claimed row (a claim's `ClaimedRow`, or a row
        `following` read), its progress saved back through this worker's claim."""
        return OutboxItem(
            id=row.id,
            kind=row.kind,
            ordering_key=row.ordering_key,
            payload=dict(row.payload or {}),
            attempts=attempts,
            outcome_unknown=outcome_unknown,
            progress=dict(row.progress or {}),
            incident_id=row.incident_id,
            save_progress=functools.partial(self._save_progress, row.id, claim),
        )
