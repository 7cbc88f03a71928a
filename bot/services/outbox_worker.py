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
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.clock import Clock
from bot.runtime.load import RequestLoad
from bot.services.outbox_handlers import (
    DeliveryObserver,
    EffectHandler,
    NotReady,
    NullObserver,
    OutboxItem,
    PermanentFailure,
    RetryLater,
)
from bot.services.polling import poll_until_stopped
from storage import outbox_claims as claims
from storage.engine import Database, background_writes
from storage.outbox import ClaimedRow, OutboxRepository
from storage.slices import READ_SLICE, between_slices, giving_way

# The handlers' side, imported from here by the delivery modules.
__all__ = [
    "DeliveryObserver",
    "EffectHandler",
    "NotReady",
    "OutboxItem",
    "OutboxWorker",
    "PermanentFailure",
    "RetryLater",
    "default_worker_id",
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


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, EffectHandler],
        clock: Clock,
        *,
        max_attempts: int = 10,
        poll_seconds: float = 1.0,
        lease: timedelta = timedelta(seconds=60),
        concurrency: int = 8,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        not_ready_delay: float = 0.0,
        worker_id: str | None = None,
        rng: random.Random | None = None,
        observer: DeliveryObserver | None = None,
        load: RequestLoad | None = None,
        pacing: Mapping[str, float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
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
        # per-channel rate), measured in real time: it paces calls to Slack, not the
        # incident's clock. Rows queued meanwhile go out together (batch_limit).
        self.pacing = {kind: s for kind, s in (pacing or {}).items() if s > 0}
        self._monotonic = monotonic
        self._paced: dict[str, float] = {}  # ordering key -> when it may go again

    def wake(self) -> None:
        """Called after a use case commits rows, so delivery does not wait for the poll."""
        self._wake.set()

    def wake_for(self, kind: str, keys: Iterable[str]) -> None:
        """After a commit that queued `kind` rows on `keys`. A key held back to Slack's
        pace is taken when it comes free (run_forever wakes for that), so rows only for
        held keys do not wake the worker: under a storm of notes that was a pass, and its
        query, per commit for nothing."""
        if kind in self.pacing:
            now = self._monotonic()
            if all(self._paced.get(key, 0.0) > now for key in keys):
                return
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        """Exponential back-off with jitter: 1 s, 2 s, 4 s … capped, times 0.5–1.0."""
        raw = min(self.backoff_cap, self.backoff_base * 2.0 ** max(0, attempts - 1))
        return raw * (0.5 + self.rng.random() / 2)

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
        async with self.db.session(write=False) as session:
            heads = await OutboxRepository(session).ready_heads(now, limit=self._concurrency * 4)
            # What the claim cannot return: whether the attempt before this one ended
            # without a definite answer (the claim itself marks this one unknown).
            seen = [
                _Seen(row.id, row.attempts, row.attempts > 0 and row.outcome_unknown)
                for row in heads
                if not self._held(row.kind, row.ordering_key)
            ]
        if not seen:
            return 0
        self._waiting = 0
        await asyncio.gather(*(self._deliver(head) for head in seen))
        return len(seen) - self._waiting

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
        now = self._monotonic()
        expired = [key for key, free_at in self._paced.items() if free_at <= now]
        for key in expired:
            del self._paced[key]
        if expired:
            return 0.0  # one pass now for what waited on them; then they are gone
        if not self._paced:
            return self.poll_seconds
        return min(self.poll_seconds, min(self._paced.values()) - now + 0.001)

    def _held(self, kind: str, key: str) -> bool:
        """Is this paced kind's key waiting out its interval?"""
        if kind not in self.pacing:
            return False
        free_at = self._paced.get(key)
        if free_at is None:
            return False
        if free_at <= self._monotonic():
            del self._paced[key]
            return False
        return True

    async def drain(self, *, max_passes: int = 1000) -> None:
        """Deliver until nothing is ready now (tests and the demo)."""
        for _ in range(max_passes):
            if not await self.run_once():
                return

    async def _deliver(self, head: _Seen) -> None:
        async with self._semaphore:
            await self.load.gap()
            now = self.clock.now()
            row = await self.db.write_batch(
                functools.partial(
                    claims.claim_head_in,
                    row_id=head.id,
                    seen_attempts=head.attempts,
                    worker=self.worker_id,
                    now=now,
                    lease=self.lease,
                ),
                background=True,
            )
            if row is None:
                return  # another worker has it, tried it meanwhile, or it was settled
            item = self._item(row, row.attempts, outcome_unknown=head.prior_unknown)
            # Long reads (a storm's echo: hundreds of rows) wait between their slices
            # while a request is being answered (storage/slices.py), briefly: when
            # answers overlap without pause (PostgreSQL in a storm), waiting each time
            # for none to be in flight held an echo for seconds. Never inside a write
            # transaction: on SQLite that would hold the writer a request needs.
            with giving_way(functools.partial(self.load.between_answers, SLICE_WAIT_SECONDS)):
                limit = int(getattr(self.handlers.get(row.kind), "batch_limit", 1))
                if limit > 1:
                    item.batch = await self._claim_followers(row, now, limit - 1)
                await self.load.gap()
                await self._attempt(item)

    async def _claim_followers(
        self, head: ClaimedRow, now: datetime, limit: int
    ) -> list[OutboxItem]:
        """The contiguous run of same-kind rows behind `head` in its key, claimed: one
        read (in slices) and one update however long the run. A row another worker
        claimed in between ends the run."""
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
                now=now,
                lease=self.lease,
            ),
            background=True,
        )
        taken = run[: len(kept)]
        followers = []
        for n, row in enumerate(taken, 1):
            if not n % READ_SLICE:
                await between_slices()
            followers.append(self._item(row, row.attempts + 1, outcome_unknown=False))
        return followers

    def _item(self, row: Any, attempts: int, *, outcome_unknown: bool) -> OutboxItem:
        """What a handler is given for a claimed row (a claim's `ClaimedRow`, or a row
        `following` read), its progress saved back through this worker."""
        return OutboxItem(
            id=row.id,
            kind=row.kind,
            ordering_key=row.ordering_key,
            payload=dict(row.payload or {}),
            attempts=attempts,
            outcome_unknown=outcome_unknown,
            progress=dict(row.progress or {}),
            incident_id=row.incident_id,
            save_progress=functools.partial(self._save_progress, row.id),
        )

    async def _save_progress(self, row_id: int, progress: dict[str, Any]) -> None:
        async with self.db.session(background=True) as session:
            await OutboxRepository(session).save_progress(row_id, progress)

    async def _attempt(self, item: OutboxItem) -> None:
        handler = self.handlers.get(item.kind)
        if handler is None:
            await self._dead(item, f"no handler for outbox kind {item.kind!r}", None)
            return
        try:
            result = await handler.deliver(item)
        except NotReady as exc:
            self._waiting += 1
            await self._retry(
                item, f"waiting: {exc}", self.not_ready_delay, unknown=False, count=False
            )
        except RetryLater as exc:
            await self._retry_later(item, exc, handler)
        except PermanentFailure as exc:
            await self._dead(item, str(exc), handler)
        except Exception as exc:  # a bug in a handler must not stop delivery of the rest
            log.exception("outbox handler %s crashed on row %s", item.kind, item.id)
            if item.attempts >= self.max_attempts:
                await self._dead(item, f"handler error: {exc!r}", handler)
            else:
                await self._retry(
                    item,
                    f"handler error (outcome unknown): {exc!r}",
                    self.backoff(item.attempts),
                    unknown=True,
                    count=True,
                )
        else:
            delivered = set(result.pop("delivered_ids", item.ids))
            await self.load.gap()
            await self.db.write_batch(
                functools.partial(
                    claims.settle_delivered_in,
                    delivered=[i for i in item.ids if i in delivered],
                    undelivered=[i for i in item.ids if i not in delivered],
                    now=self.clock.now(),
                    result=result,
                ),
                background=True,
            )
            for _ in delivered:
                self.observer.delivered(item.kind)
            interval = self.pacing.get(item.kind)
            if interval:
                self._paced[item.ordering_key] = self._monotonic() + interval
            return
        if item.batch:
            # Only the head carries the failure; the rest go back to waiting behind it.
            await self.db.write_batch(
                functools.partial(claims.release_in, row_ids=[i.id for i in item.batch]),
                background=True,
            )

    async def _retry_later(self, item: OutboxItem, exc: RetryLater, handler: EffectHandler) -> None:
        """Retried after Retry-After or the back-off, or dead after the last attempt; an
        attempt that made progress it keeps (`counts=False`) uses up none."""
        if exc.counts and item.attempts >= self.max_attempts:
            reason = f"gave up after {item.attempts} attempts: {exc.reason}"
            await self._dead(item, reason, handler)
            return
        delay = max(exc.retry_after or 0.0, self.backoff(item.attempts))
        reason = exc.reason + (" (outcome unknown)" if exc.outcome_unknown else "")
        await self._retry(item, reason, delay, unknown=exc.outcome_unknown, count=exc.counts)

    async def _retry(
        self, item: OutboxItem, reason: str, delay: float, *, unknown: bool, count: bool
    ) -> None:
        when = self.clock.now() + timedelta(seconds=delay)
        async with self.db.session(background=True) as session:
            repo = OutboxRepository(session)
            await repo.settle_retry(
                item.id, error=reason, next_attempt_at=when, outcome_unknown=unknown
            )
            if not count:
                await repo.uncount_attempt(item.id)
        if count:
            log.warning(
                "outbox row %s (%s) attempt %s failed: %s; retry in %.1fs",
                item.id,
                item.kind,
                item.attempts,
                reason,
                delay,
            )
            self.observer.retried(item.kind, reason)

    async def _dead(self, item: OutboxItem, reason: str, handler: EffectHandler | None) -> None:
        async with self.db.session(background=True) as session:
            await OutboxRepository(session).settle_dead(item.id, error=reason)
        log.error("outbox row %s (%s) is dead: %s", item.id, item.kind, reason)
        self.observer.dead(item.kind, reason)
        if handler is not None:
            try:
                await handler.gave_up(item, reason)
            except Exception:
                log.exception("outbox fallback for row %s failed", item.id)
