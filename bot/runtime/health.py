"""Health: GET /health/ready (can this process serve: database reachable, schema current)
and GET /health (how it is doing: database, outbox, declaration intake, Slack auth and the
bot scopes it granted, the Socket Mode connection). A degraded component (or a needed scope
not granted) makes the report "degraded" (200); a database that does not answer makes it
"down" (503)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.domain.clock import Clock
from storage import migrate
from storage.engine import Database
from storage.outbox import OutboxRepository, OutboxStats

# A declaration answered this long ago and still not declared makes /health degraded.
INTAKE_DEGRADED_SECONDS = 60.0
# The oldest pending outbox row older than this makes /health degraded.
OUTBOX_DEGRADED_SECONDS = 300
# A 📌 capture stored this long ago and still not on a timeline makes /health degraded.
CAPTURE_DEGRADED_SECONDS = 300
# How long each database question may take before the database counts as down.
PROBE_TIMEOUT_SECONDS = 2
# /health's overall status, for clients that may not see the details, is worked out at
# most this often: polling it cannot load the database.
SUMMARY_CACHE_SECONDS = 5.0

Probe = tuple[int, dict[str, Any]]


class SlackIdentity(Protocol):
    """What the last auth.test said (bot.slack.auth.SlackIdentity)."""

    @property
    def ok(self) -> bool: ...
    @property
    def team_id(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def checked_at(self) -> datetime | None: ...
    @property
    def scopes(self) -> frozenset[str] | None: ...
    @property
    def missing_scopes(self) -> Mapping[str, str]: ...


class SocketConnection(Protocol):
    """The Socket Mode connection (bot.slack.runtime.SocketMode)."""

    @property
    def last_message_at(self) -> datetime | None: ...
    async def connected(self) -> bool: ...


@dataclass
class Health:
    """`socket` is given only in Socket Mode; `intake_backlog` says how many declarations
    wait and the oldest one's age in seconds, `intake_set_aside` how many were moved
    aside after failing (`firewatch intake list`)."""

    db: Database
    clock: Clock
    intake_backlog: Callable[[], Awaitable[tuple[int, float]]]
    identity: SlackIdentity
    socket: SocketConnection | None
    # Declarations moved aside after failing too often (any: degraded).
    intake_set_aside: Callable[[], Awaitable[int]] | None = None
    # 📌 captures stored but not yet on a timeline, and the oldest one's age in seconds.
    capture_backlog: Callable[[], Awaitable[tuple[int, float]]] | None = None
    # Notes acknowledged but not yet on their timeline (milliseconds, normally).
    note_backlog: Callable[[], Awaitable[tuple[int, float]]] | None = None
    started_monotonic: float = field(default_factory=time.monotonic)
    _summary: tuple[datetime, Probe] | None = field(default=None, init=False, repr=False)
    _summary_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def readiness(self) -> Probe:
        try:
            current = await asyncio.wait_for(
                migrate.current_revision(self.db.engine), timeout=PROBE_TIMEOUT_SECONDS
            )
        except Exception as exc:
            return 503, {
                "status": "not ready",
                "reason": f"database unreachable: {type(exc).__name__}",
            }
        if current != migrate.head_revision():
            return 503, {"status": "not ready", "reason": "database schema is not current"}
        return 200, {"status": "ready"}

    async def report(self) -> Probe:
        components: dict[str, Any] = {}
        status = await self._storage(components)
        components["slack_auth"] = _slack_auth(self.identity)
        components["slack_scopes"] = scopes = _slack_scopes(self.identity)
        if (not self.identity.ok or scopes["status"] == "missing") and status == "ok":
            status = "degraded"
        if self.socket is not None:
            components["socket_mode"] = socket_mode = await _socket_mode(self.socket)
            if not socket_mode["connected"] and status == "ok":
                status = "degraded"
        payload = {
            "status": status,
            "uptime_seconds": round(time.monotonic() - self.started_monotonic, 1),
            "mode": "http" if self.socket is None else "socket",
            "components": components,
            "time": datetime.now(UTC).isoformat(),
        }
        return (503 if status == "down" else 200), payload

    async def summary(self) -> Probe:
        """The overall status alone (same HTTP status as the report), from a report made
        at most every SUMMARY_CACHE_SECONDS by the clock; concurrent callers share one."""
        async with self._summary_lock:
            kept = self._summary
            now = self.clock.now()
            if kept is None or (now - kept[0]).total_seconds() >= SUMMARY_CACHE_SECONDS:
                code, payload = await self.report()
                kept = self._summary = (now, (code, {"status": payload["status"]}))
            return kept[1]

    async def _storage(self, components: dict[str, Any]) -> str:
        """The database, the outbox, the declaration intake and the captures: "ok",
        "degraded" when a queue lags, "down" when the database does not answer."""
        started = time.perf_counter()
        try:
            async with self.db.session(write=False) as session:
                stats = await asyncio.wait_for(
                    OutboxRepository(session).stats(), timeout=PROBE_TIMEOUT_SECONDS
                )
            latency_ms = round((time.perf_counter() - started) * 1000, 2)
            components["database"] = {"status": "ok", "latency_ms": latency_ms}
            components["outbox"] = self._outbox(stats)
            # Declarations answered but not declared yet: seconds at most, normally.
            waiting, waited = await asyncio.wait_for(
                self.intake_backlog(), timeout=PROBE_TIMEOUT_SECONDS
            )
            aside = 0
            if self.intake_set_aside is not None:
                aside = await asyncio.wait_for(
                    self.intake_set_aside(), timeout=PROBE_TIMEOUT_SECONDS
                )
            behind = waited >= INTAKE_DEGRADED_SECONDS or aside > 0
            components["declaration_intake"] = {
                "status": "degraded" if behind else "ok",
                "pending": waiting,
                "oldest_pending_age_seconds": round(waited, 3),
                "set_aside": aside,
            }
            lagging = ["outbox", "declaration_intake"]
            # A capture retries Slack with back-off: minutes behind means it is stuck.
            # A note waits a tenth of a second, normally.
            queues = (
                ("captures", self.capture_backlog, CAPTURE_DEGRADED_SECONDS),
                ("note_intake", self.note_backlog, INTAKE_DEGRADED_SECONDS),
            )
            for name, backlog, degraded_after in queues:
                if backlog is not None:
                    components[name] = await _queue(backlog, degraded_after)
                    lagging.append(name)
        except Exception as exc:
            components["database"] = {"status": "down", "error": type(exc).__name__}
            return "down"
        return "ok" if all(components[name]["status"] == "ok" for name in lagging) else "degraded"

    def _outbox(self, stats: OutboxStats) -> dict[str, Any]:
        oldest_age = (
            (self.clock.now() - stats.oldest_pending).total_seconds()
            if stats.oldest_pending
            else 0.0
        )
        return {
            "status": "ok"
            if stats.dead == 0 and oldest_age < OUTBOX_DEGRADED_SECONDS
            else "degraded",
            "pending": stats.pending,
            "dead": stats.dead,
            "oldest_pending_age_seconds": round(max(oldest_age, 0.0), 3),
        }


def _slack_auth(identity: SlackIdentity) -> dict[str, Any]:
    checked_at = identity.checked_at
    return {
        "status": "ok" if identity.ok else "failing",
        "team": identity.team_id,
        "error": identity.error,
        "checked_at": checked_at.isoformat() if checked_at else None,
    }


def _slack_scopes(identity: SlackIdentity) -> dict[str, Any]:
    """The needed bot scopes the installation lacks (a feature fails without each; the
    rest keeps working), or "unknown" before Slack said which it granted."""
    missing = dict(identity.missing_scopes)
    status = "unknown" if identity.scopes is None else ("missing" if missing else "ok")
    return {"status": status, "missing": sorted(missing), "fails": missing}


async def _socket_mode(socket: SocketConnection) -> dict[str, Any]:
    connected = await socket.connected()
    last = socket.last_message_at
    return {
        "status": "ok" if connected else "disconnected",
        "connected": connected,
        "last_message_at": last.isoformat() if last else None,
    }


async def _queue(
    backlog: Callable[[], Awaitable[tuple[int, float]]], degraded_after: float
) -> dict[str, Any]:
    """A queue's component: how many rows wait and the oldest one's age; degraded once
    that age reaches `degraded_after` seconds."""
    count, age = await asyncio.wait_for(backlog(), timeout=PROBE_TIMEOUT_SECONDS)
    return {
        "status": "degraded" if age >= degraded_after else "ok",
        "pending": count,
        "oldest_pending_age_seconds": round(age, 3),
    }
