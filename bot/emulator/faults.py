"""Fault injection for the emulator: scripted failures, token-bucket rate limits, chaos."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

#: The ``error`` field Slack answers with for a non-200 status.
DEFAULT_ERRORS = {429: "ratelimited", 500: "internal_error", 502: "bad_gateway"}
DEFAULT_ERRORS |= {503: "service_unavailable", 504: "request_timeout"}


def error_for(status: int) -> str:
    return DEFAULT_ERRORS.get(status, "internal_error")


@dataclass
class Fault:
    """One scripted misbehaviour of ``method`` (or ``"*"``) for the next ``remaining`` calls.

    A *failing* fault (non-200 status, a Slack ``error``, or a dropped connection) answers the
    failure instead of the real result; ``apply`` says whether the call's state change still
    happened first (e.g. the channel got created, then the connection dropped). A fault with only
    a ``delay`` always does the work and answers the real result late.
    """

    method: str
    remaining: int
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    drop_connection: bool = False
    apply: bool = False
    #: Matching calls answered normally before the fault starts (``2``: the third call fails).
    after: int = 0
    release: asyncio.Event | None = None

    async def hold(self) -> None:
        """Wait as this fault says before answering."""
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if self.release is not None:
            await self.release.wait()

    def take(self) -> bool:
        """Count one matching call; whether the fault applies to it (not still ``after``)."""
        if self.after > 0:
            self.after -= 1
            return False
        self.remaining -= 1
        return True

    @property
    def fails(self) -> bool:
        return self.status != 200 or self.error is not None or self.drop_connection

    def matches(self, method: str) -> bool:
        return self.remaining > 0 and self.method in ("*", method)


@dataclass
class TokenBucket:
    per_second: float
    burst: int
    tokens: float
    updated: float

    def take(self, now: float) -> float | None:
        """Take one token; ``None`` if allowed, else seconds until a token is available."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.per_second)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.per_second


@dataclass
class RateLimit:
    """Slack-style per-method (optionally per-channel) limit: a token bucket per key."""

    method: str
    per_second: float
    burst: int
    per_channel: bool
    buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def check(self, channel_key: str, now: float) -> int | None:
        """``None`` if the call may proceed, else the ``Retry-After`` seconds (>= 1)."""
        key = channel_key if self.per_channel else "*"
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.per_second, self.burst, float(self.burst), now)
            self.buckets[key] = bucket
        wait = bucket.take(now)
        return None if wait is None else max(1, math.ceil(wait))


@dataclass
class Chaos:
    """Random failures: each matching call fails with probability ``rate``."""

    rate: float
    statuses: Sequence[int]
    rng: random.Random
    methods: Collection[str] | None
    retry_after: int

    def pick(self, method: str) -> int | None:
        if self.methods is not None and method not in self.methods:
            return None
        if self.rng.random() >= self.rate:
            return None
        return self.rng.choice(list(self.statuses))
