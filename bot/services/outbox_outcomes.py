"""What the outbox worker does with each attempt's outcome: a delivered row is done, a
failure is retried with back-off or dead, a row waiting for another goes back to waiting;
and, whatever the outcome, nothing is written once this worker's claim is lost.

Every write here is one of storage/outbox_settle.py's statements, conditional on the
claim's token, run through `Database.write_batch`.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.domain.clock import Clock
from bot.runtime.load import RequestLoad
from bot.services.outbox_handlers import (
    ClaimLost,
    DeliveryObserver,
    EffectHandler,
    NotReady,
    OutboxItem,
    PermanentFailure,
    RetryLater,
)
from bot.services.outbox_leases import Claim
from storage import outbox_settle as settle
from storage.engine import Database

log = logging.getLogger("bot.services.outbox_worker")


class AttemptOutcomes:
    """The outbox worker's handling of outcomes (a base class of `OutboxWorker`)."""

    db: Database
    clock: Clock
    load: RequestLoad
    handlers: dict[str, EffectHandler]
    observer: DeliveryObserver
    pacing: Mapping[str, timedelta]
    _paced: dict[str, datetime]
    max_attempts: int
    backoff_base: float
    backoff_cap: float
    not_ready_delay: float
    rng: random.Random
    _waiting: int

    def backoff(self, attempts: int) -> float:
        """Exponential back-off with jitter: 1 s, 2 s, 4 s … capped, times 0.5–1.0."""
        raw = min(self.backoff_cap, self.backoff_base * 2.0 ** max(0, attempts - 1))
        return raw * (0.5 + self.rng.random() / 2)

    async def _save_progress(self, row_id: int, claim: Claim, progress: dict[str, Any]) -> None:
        saved = await self._settle(
            claim, settle.save_progress_in, row_id=row_id, progress=progress, final=False
        )
        if not saved:
            claim.lost = True
            raise ClaimLost(f"outbox row {row_id} is held by another worker")

    async def _settle(self, claim: Claim, work: Any, *, final: bool = True, **kwargs: Any) -> Any:
        """One of storage/outbox_settle.py's conditional statements under `claim`'s token;
        a `final` one ends the claim (renewals leave it alone from here)."""
        if final:
            claim.settling = True
        await self.load.gap()
        return await self.db.write_batch(
            functools.partial(work, token=claim.token, **kwargs), background=True
        )

    def _abandoned(self, row_id: int, kind: str) -> None:
        log.warning("outbox row %s (%s): another worker holds it now; left to it", row_id, kind)

    async def _attempt(self, item: OutboxItem, claim: Claim) -> None:
        """Run the row's handler and settle the attempt by how it went."""
        handler = self.handlers.get(item.kind)
        if handler is None:
            await self._dead(item, claim, f"no handler for outbox kind {item.kind!r}", None)
            return
        try:
            result = await handler.deliver(item)
        except ClaimLost:
            self._abandoned(item.id, item.kind)
            return
        except NotReady as exc:
            self._waiting += 1
            await self._retry(
                item, claim, f"waiting: {exc}", self.not_ready_delay, unknown=False, count=False
            )
        except RetryLater as exc:
            await self._failed(
                item,
                claim,
                handler,
                exc.reason,
                exc.retry_after,
                exc.outcome_unknown,
                counts=exc.counts,
            )
        except PermanentFailure as exc:
            await self._dead(item, claim, str(exc), handler)
        except Exception as exc:  # a bug in a handler must not stop delivery of the rest
            log.exception("outbox handler %s crashed on row %s", item.kind, item.id)
            reason = f"handler error: {exc!r}"
            await self._failed(item, claim, handler, reason, None, True)
        else:
            await self._delivered(item, claim, result)
            return
        if item.batch and not claim.lost:
            # Only the head carries the failure; the rest go back to waiting behind it.
            await self._settle(claim, settle.release_in, row_ids=[i.id for i in item.batch])

    async def _delivered(self, item: OutboxItem, claim: Claim, result: dict[str, Any]) -> None:
        delivered = set(result.pop("delivered_ids", item.ids))
        now = self.clock.now()
        settled = await self._settle(
            claim,
            settle.settle_delivered_in,
            delivered=[i for i in item.ids if i in delivered],
            undelivered=[i for i in item.ids if i not in delivered],
            now=now,
            result=result,
        )
        if not settled:
            self._abandoned(item.id, item.kind)
            return
        if delivered:  # once for the message, not once per row it carried (hundreds)
            self.observer.delivered(item.kind, len(delivered))
        interval = self.pacing.get(item.kind)
        if interval:
            self._paced[item.ordering_key] = now + interval

    async def _failed(
        self,
        item: OutboxItem,
        claim: Claim,
        handler: EffectHandler,
        reason: str,
        retry_after: float | None,
        unknown: bool,
        *,
        counts: bool = True,
    ) -> None:
        """An attempt that may pass later: retried with back-off, or dead at the last
        (`counts=False`: it made progress it keeps, and uses up no attempt)."""
        if counts and item.attempts >= self.max_attempts:
            await self._dead(
                item, claim, f"gave up after {item.attempts} attempts: {reason}", handler
            )
            return
        delay = max(retry_after or 0.0, self.backoff(item.attempts))
        interval = self.pacing.get(item.kind)
        if interval:  # a failed call counts against Slack's pace too
            delay = max(delay, interval.total_seconds())
        reason += " (outcome unknown)" if unknown else ""
        await self._retry(item, claim, reason, delay, unknown=unknown, count=counts)

    async def _retry(
        self,
        item: OutboxItem,
        claim: Claim,
        reason: str,
        delay: float,
        *,
        unknown: bool,
        count: bool,
    ) -> None:
        settled = await self._settle(
            claim,
            settle.settle_retry_in,
            row_id=item.id,
            error=reason,
            next_attempt_at=self.clock.now() + timedelta(seconds=delay),
            outcome_unknown=unknown,
            counted=count,
        )
        if not settled:
            self._abandoned(item.id, item.kind)
            claim.lost = True
            return
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

    async def _dead(
        self, item: OutboxItem, claim: Claim, reason: str, handler: EffectHandler | None
    ) -> None:
        if not await self._settle(claim, settle.settle_dead_in, row_id=item.id, error=reason):
            self._abandoned(item.id, item.kind)
            claim.lost = True
            return
        log.error("outbox row %s (%s) is dead: %s", item.id, item.kind, reason)
        self.observer.dead(item.kind, reason)
        if handler is not None:
            try:
                await handler.gave_up(item, reason)
            except Exception:
                log.exception("outbox fallback for row %s failed", item.id)
