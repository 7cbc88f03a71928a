"""Prometheus metrics for Firewatch: the registry, and GET /metrics that serves it.

One `Metrics` object per Firewatch instance owns its own `CollectorRegistry`: nothing is
registered globally, so tests (and two apps in one process) never clash. Everything it
exports is named `firewatch_*` (plus the standard `process_*`/`python_*` collectors).

What feeds it: each layer reports through plain methods here and knows nothing of
Prometheus.

* Slack's requests to /slack/events and Firewatch's Web API calls: `request_metrics()` and
  `InstrumentedWebClient` (bot/slack/instrumentation.py) call `slack_request` and
  `web_api_call`.
* The outbox worker reports through the `DeliveryObserver` methods (`delivered`, `retried`,
  `dead`).
* The database: `time_statements` (storage/instrumentation.py) calls `statement_executed`,
  and `Database.on_writer_wait` is `writer_waited`.
* APScheduler: `job_listener` (bot/runtime/scheduler.py) calls `job_run` and `job_missed`.
* The alert webhooks (bot/runtime/alert_endpoints.py) call `alert_request` and
  `alerts_received`.
* Gauges that describe the database (outbox backlog, incidents by severity and status) are
  set at scrape time by a refresh callable, e.g. `database_refresh(db, now=clock.now)`.

Label values are bounded: request kinds and outcomes are fixed sets, Slack method and error
names are sanitised and capped, and free-text reasons (retry/dead reasons) never become labels.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from bot.runtime.access import OperatorAccess
from bot.runtime.metric_families import (
    AlertMetrics,
    DatabaseMetrics,
    IncidentMetrics,
    OutboxMetrics,
    SchedulerMetrics,
    SlackMetrics,
)
from storage.engine import Database
from storage.instrumentation import gauge_counts
from storage.outbox import OutboxStats

log = logging.getLogger(__name__)
T = TypeVar("T")

OutboxStatsProvider = Callable[[], Awaitable[OutboxStats]]
# (severity, status) -> number of incidents
IncidentCountsProvider = Callable[[], Awaitable[Mapping[tuple[str, str], int]]]
Refresh = Callable[[], Awaitable[None]]
# The database aggregates behind the gauges are read at most this often: scrapes in
# between (several Prometheus servers, someone's loop) reuse the last answer.
AGGREGATE_CACHE_SECONDS = 5.0


class Metrics(
    SlackMetrics, OutboxMetrics, IncidentMetrics, SchedulerMetrics, DatabaseMetrics, AlertMetrics
):
    """The metrics of one Firewatch instance, with their own registry: every family
    (bot/runtime/metric_families.py), the process's own, and the scrape."""

    def __init__(
        self,
        *,
        version: str | None = None,
        registry: CollectorRegistry | None = None,
        process_metrics: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self._define_slack_metrics()
        self._define_outbox_metrics()
        self._define_incident_metrics()
        self._define_scheduler_metrics()
        self._define_database_metrics()
        self._define_alert_metrics()
        self.build_info = self._gauge(
            "firewatch_build_info",
            "Always 1; the version label says which Firewatch is running.",
            ["version"],
        )
        self.build_info.labels(version or _installed_version()).set(1)
        self.refresh_failures = self._counter(
            "firewatch_metrics_refresh_failures",
            "Scrapes whose database-backed gauges could not be refreshed "
            "(the gauges keep their previous values).",
        )

    async def refresh(
        self,
        outbox_stats: OutboxStatsProvider,
        *,
        incident_counts: IncidentCountsProvider | None = None,
        slack_auth_ok: Callable[[], bool] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """Set the scrape-time gauges from their providers."""
        if slack_auth_ok is not None:
            self.set_slack_auth(slack_auth_ok())
        stats = await outbox_stats()
        self.set_outbox_stats(stats, now() if now is not None else datetime.now(UTC))
        if incident_counts is not None:
            self.set_incident_counts(await incident_counts())

    def database_refresh(
        self,
        db: Database,
        *,
        now: Callable[[], datetime],
        slack_auth_ok: Callable[[], bool] | None = None,
        timeout: float = 2.0,
        cache_seconds: float = AGGREGATE_CACHE_SECONDS,
    ) -> Refresh:
        """The refresh for `aiohttp_handler`: outbox stats and incident counts in one
        read-only session, bounded by `timeout` seconds, and read at most once every
        `cache_seconds` by `now`'s clock (concurrent scrapes wait for the same read)."""
        read = _cached(lambda: gauge_counts(db), now=now, seconds=cache_seconds)

        async def refresh() -> None:
            async with asyncio.timeout(timeout):
                stats, counts = await read()

            async def outbox() -> OutboxStats:
                return stats

            async def incidents() -> Mapping[tuple[str, str], int]:
                return counts

            await self.refresh(
                outbox, incident_counts=incidents, slack_auth_ok=slack_auth_ok, now=now
            )

        return refresh

    def route(
        self, refresh: Refresh | None = None, *, access: OperatorAccess | None = None
    ) -> web.RouteDef:
        """GET /metrics, for the web app's routes (loopback only without `access`)."""
        return web.get("/metrics", self.aiohttp_handler(refresh, access=access))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def aiohttp_handler(
        self,
        refresh: Refresh | None = None,
        *,
        access: OperatorAccess | None = None,
        bearer_token: str | None = None,
    ) -> Handler:
        """GET /metrics: refresh the scrape-time gauges, then the text exposition.

        A failed refresh (database down, timeout) is logged and counted in
        firewatch_metrics_refresh_failures_total; the scrape still succeeds, so `up` keeps
        meaning "the process answers". Who may scrape is `access` (bot/runtime/access.py):
        by default (no `access`, no `bearer_token`) loopback clients only; with
        `bearer_token`, scrapes must send `Authorization: Bearer <token>`.
        """
        rule = access if access is not None else OperatorAccess(bearer_token)

        async def metrics_endpoint(request: web.Request) -> web.StreamResponse:
            verdict = rule.verdict(request)
            if verdict != "allowed":
                return rule.refusal(verdict)
            if refresh is not None:
                try:
                    await refresh()
                except Exception as exc:
                    self.refresh_failures.inc()
                    log.warning("metrics refresh failed: %s", type(exc).__name__)
            return web.Response(
                body=self.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        return metrics_endpoint


def _cached(
    read: Callable[[], Awaitable[T]], *, now: Callable[[], datetime], seconds: float
) -> Callable[[], Awaitable[T]]:
    """`read`, its answer reused for `seconds` after it was read (by `now`); callers that
    come while it is being read wait for that read. A failed read is not kept."""
    lock = asyncio.Lock()
    kept: list[tuple[datetime, T]] = []
    window = timedelta(seconds=seconds)

    def fresh() -> T | None:
        if kept and now() - kept[0][0] < window:
            return kept[0][1]
        return None

    async def cached() -> T:
        async with lock:
            value = fresh()
            if value is None:
                value = await read()
                kept[:] = [(now(), value)]
            return value

    return cached


def _installed_version() -> str:
    try:
        return importlib.metadata.version("firewatch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
