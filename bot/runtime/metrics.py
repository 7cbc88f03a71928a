"""Prometheus metrics for Firewatch, served at GET /metrics.

One `Metrics` object per Firewatch instance owns its own `CollectorRegistry`: nothing is
registered globally, so tests (and two apps in one process) never clash. Everything it
exports is named `firewatch_*` (plus the standard `process_*`/`python_*` collectors).

What feeds it:

* `aiohttp_middleware()` times and counts Slack's requests to /slack/events by kind and
  outcome. The kind comes from a cheap look at the raw body (no signature check, no JSON
  parse of the whole body: the body is untrusted until the handler has verified it).
* The outbox worker reports through the `DeliveryObserver` methods (`delivered`, `retried`,
  `dead`); `InstrumentedWebClient` counts every Web API call and Slack error.
* Gauges that describe the database (outbox backlog, incidents by severity and status) are
  set at scrape time by a refresh callable, e.g. `database_refresh(db, now=clock.now)`.

Label values are bounded: request kinds and outcomes are fixed sets, Slack method and error
names are sanitised and capped, and free-text reasons (retry/dead reasons) never become labels.
Request bodies are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.metadata
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.engine import Database
from storage.models import IncidentRow
from storage.outbox import OutboxRepository, OutboxStats

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"

REQUEST_KINDS = ("command", "view_submission", "block_actions", "shortcut", "event", "other")
REQUEST_OUTCOMES = ("ok", "rejected", "error")
JOB_OUTCOMES = ("ok", "error")

# Slack gives an app 3 s to answer; the interesting range is 1 ms .. 3 s.
ACK_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    2.5,
    3.0,
)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

OutboxStatsProvider = Callable[[], Awaitable[OutboxStats]]
# (severity, status) -> number of incidents
IncidentCountsProvider = Callable[[], Awaitable[Mapping[tuple[str, str], int]]]
Refresh = Callable[[], Awaitable[None]]

MAX_API_ERROR_SERIES = 200
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")
_SQL_OPERATIONS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
_QUERY_STARTED = "_firewatch_query_started"


class Metrics:
    """The metrics of one Firewatch instance, with their own registry."""

    def __init__(
        self,
        *,
        version: str | None = None,
        registry: CollectorRegistry | None = None,
        process_metrics: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        reg = self.registry
        if process_metrics:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)
            GCCollector(registry=reg)

        # --- Slack's requests ----------------------------------------------------------
        self.slack_requests = Counter(
            "firewatch_slack_requests",
            "Requests from Slack to /slack/events, by kind and outcome "
            "(ok: 2xx, rejected: 401/403, error: anything else).",
            ["kind", "outcome"],
            registry=reg,
        )
        self.ack_latency = Histogram(
            "firewatch_ack_latency_seconds",
            "Time from receiving a Slack request to having its HTTP answer.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=reg,
        )
        for kind in REQUEST_KINDS:
            self.ack_latency.labels(kind)
            for outcome in REQUEST_OUTCOMES:
                self.slack_requests.labels(kind, outcome)

        # --- outbox --------------------------------------------------------------------
        self.outbox_deliveries = Counter(
            "firewatch_outbox_deliveries",
            "Outbox rows delivered to Slack.",
            ["kind"],
            registry=reg,
        )
        self.outbox_retries = Counter(
            "firewatch_outbox_retries",
            "Failed outbox attempts that will be retried.",
            ["kind"],
            registry=reg,
        )
        self.outbox_dead = Counter(
            "firewatch_outbox_dead",
            "Outbox rows given up on (marked dead).",
            ["kind"],
            registry=reg,
        )
        self.outbox_backlog = Gauge(
            "firewatch_outbox_backlog",
            "Outbox rows pending delivery (set at scrape time).",
            registry=reg,
        )
        self.outbox_oldest_age = Gauge(
            "firewatch_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox row; 0 when none (set at scrape time).",
            registry=reg,
        )
        self.outbox_dead_messages = Gauge(
            "firewatch_outbox_dead_messages",
            "Outbox rows in status dead, waiting for `firewatch outbox --resend` "
            "(set at scrape time).",
            registry=reg,
        )

        # --- Slack Web API -------------------------------------------------------------
        self.slack_api_calls = Counter(
            "firewatch_slack_api_calls",
            "Slack Web API calls made, by method.",
            ["method"],
            registry=reg,
        )
        self.slack_api_errors = Counter(
            "firewatch_slack_api_errors",
            "Slack Web API calls that failed, by method and Slack error "
            "(http_<status> or the exception name when Slack gave none).",
            ["method", "error"],
            registry=reg,
        )
        self._api_error_series: set[tuple[str, str]] = set()
        self.slack_auth_ok = Gauge(
            "firewatch_slack_auth_ok",
            "1 when the last auth.test succeeded, else 0.",
            registry=reg,
        )

        # --- incidents -----------------------------------------------------------------
        self.incidents = Gauge(
            "firewatch_incidents",
            "Incidents stored, by severity and status (set at scrape time).",
            ["severity", "status"],
            registry=reg,
        )
        self.pages = Counter("firewatch_pages", "Pages sent.", registry=reg)
        self.acknowledgements = Counter(
            "firewatch_acknowledgements", "Pages acknowledged.", registry=reg
        )
        self.escalations = Counter("firewatch_escalations", "Escalations made.", registry=reg)
        self.response_breaches = Counter(
            "firewatch_response_breaches",
            "Incidents whose response deadline passed without an acknowledgement.",
            registry=reg,
        )

        # --- scheduler -----------------------------------------------------------------
        # The label is job_id, not job: Prometheus attaches its own `job` label to every
        # scraped series and would rename ours to exported_job.
        self.scheduler_job_runs = Counter(
            "firewatch_scheduler_job_runs",
            "Scheduled job runs, by job and outcome (ok, error).",
            ["job_id", "outcome"],
            registry=reg,
        )
        self.scheduler_job_misses = Counter(
            "firewatch_scheduler_job_misses",
            "Scheduled runs that did not happen (missed, or skipped because the previous "
            "run was still going).",
            ["job_id"],
            registry=reg,
        )

        # --- database ------------------------------------------------------------------
        self.db_query = Histogram(
            "firewatch_db_query_seconds",
            "Database statement execution time, by operation.",
            ["operation"],
            buckets=DB_BUCKETS,
            registry=reg,
        )
        self.db_writer_wait = Histogram(
            "firewatch_db_writer_wait_seconds",
            "SQLite: how long a write transaction waited for the one writer, by whose it "
            "was (a request being answered, or background work).",
            ["work"],
            buckets=DB_BUCKETS,
            registry=reg,
        )
        for work in ("request", "background"):
            self.db_writer_wait.labels(work)
        self._timed_engines: weakref.WeakSet[Any] = weakref.WeakSet()

        # --- the process itself --------------------------------------------------------
        self.build_info = Gauge(
            "firewatch_build_info",
            "Always 1; the version label says which Firewatch is running.",
            ["version"],
            registry=reg,
        )
        self.build_info.labels(version or _installed_version()).set(1)
        self.refresh_failures = Counter(
            "firewatch_metrics_refresh_failures",
            "Scrapes whose database-backed gauges could not be refreshed "
            "(the gauges keep their previous values).",
            registry=reg,
        )

    # --- Slack's requests --------------------------------------------------------------

    def slack_request(self, kind: str, outcome: str, seconds: float) -> None:
        kind = kind if kind in REQUEST_KINDS else "other"
        outcome = outcome if outcome in REQUEST_OUTCOMES else "error"
        self.slack_requests.labels(kind, outcome).inc()
        self.ack_latency.labels(kind).observe(seconds)

    def aiohttp_middleware(self, path: str = EVENTS_PATH) -> Middleware:
        """Times and counts POSTs to `path`; every other request passes through untouched.

        The body is read before the handler runs (aiohttp keeps it, so the handler's own
        `request.read()` returns the same bytes) and classified after it answered.
        """

        @web.middleware
        async def firewatch_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.method != "POST" or request.path != path:
                return await handler(request)
            started = time.perf_counter()
            status = 500
            body = b""
            try:
                body = await request.read()
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                self.slack_request(
                    classify_request(body, request.content_type),
                    outcome_for_status(status),
                    time.perf_counter() - started,
                )

        return firewatch_metrics

    # --- outbox: the worker's DeliveryObserver -----------------------------------------

    def register_outbox_kinds(self, kinds: Iterable[str]) -> None:
        """Export the outbox counters at 0 for these kinds, so rate() and increase() see
        the first delivery, retry or dead row of a kind."""
        for kind in kinds:
            self.outbox_deliveries.labels(kind)
            self.outbox_retries.labels(kind)
            self.outbox_dead.labels(kind)

    def delivered(self, kind: str) -> None:
        self.outbox_deliveries.labels(kind).inc()

    def retried(self, kind: str, reason: str) -> None:  # noqa: ARG002 - reason is free text
        self.outbox_retries.labels(kind).inc()

    def dead(self, kind: str, reason: str) -> None:  # noqa: ARG002 - reason is free text
        self.outbox_dead.labels(kind).inc()

    def set_outbox_stats(self, stats: OutboxStats, now: datetime) -> None:
        self.outbox_backlog.set(stats.pending)
        self.outbox_dead_messages.set(stats.dead)
        age = (now - stats.oldest_pending).total_seconds() if stats.oldest_pending else 0.0
        self.outbox_oldest_age.set(max(age, 0.0))

    # --- Slack Web API -----------------------------------------------------------------

    def web_api_call(self, method: str, error: str | None) -> None:
        """One Web API call to `method`; `error` is Slack's error code when it failed."""
        method = _label(method)
        self.slack_api_calls.labels(method).inc()
        if error is None:
            return
        error = _label(error)
        series = (method, error)
        if series not in self._api_error_series:
            if len(self._api_error_series) >= MAX_API_ERROR_SERIES:
                series = (method, "other")
            self._api_error_series.add(series)
        self.slack_api_errors.labels(*series).inc()

    def set_slack_auth(self, ok: bool) -> None:
        self.slack_auth_ok.set(1 if ok else 0)

    # --- incidents ---------------------------------------------------------------------

    def set_incident_counts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Replace the incident gauge: a (severity, status) no longer present disappears."""
        self.incidents.clear()
        for (severity, status), count in counts.items():
            self.incidents.labels(severity, status).set(count)

    def page(self) -> None:
        self.pages.inc()

    def acknowledgement(self) -> None:
        self.acknowledgements.inc()

    def escalation(self) -> None:
        self.escalations.inc()

    def response_breach(self) -> None:
        self.response_breaches.inc()

    # --- scheduler ---------------------------------------------------------------------

    def register_scheduler_jobs(self, job_ids: Iterable[str]) -> None:
        """Export the scheduler counters at 0 for these jobs, so increase() sees the first
        miss (a series born at 1 has no increase)."""
        for job_id in job_ids:
            self.scheduler_job_misses.labels(job_id)
            for outcome in JOB_OUTCOMES:
                self.scheduler_job_runs.labels(job_id, outcome)

    def job_run(self, job_id: str, outcome: str) -> None:
        self.scheduler_job_runs.labels(
            job_id, outcome if outcome in JOB_OUTCOMES else "error"
        ).inc()

    def job_missed(self, job_id: str) -> None:
        self.scheduler_job_misses.labels(job_id).inc()

    def apscheduler_listener(self) -> tuple[Callable[[Any], None], int]:
        """A listener and event mask for APScheduler 3:
        `scheduler.add_listener(*metrics.apscheduler_listener())`."""
        from apscheduler.events import (
            EVENT_JOB_ERROR,
            EVENT_JOB_EXECUTED,
            EVENT_JOB_MAX_INSTANCES,
            EVENT_JOB_MISSED,
        )

        def listener(job_event: Any) -> None:
            job_id = str(getattr(job_event, "job_id", "unknown"))
            code = getattr(job_event, "code", 0)
            if code in (EVENT_JOB_MISSED, EVENT_JOB_MAX_INSTANCES):
                self.job_missed(job_id)
            elif code == EVENT_JOB_ERROR:
                self.job_run(job_id, "error")
            elif code == EVENT_JOB_EXECUTED:
                self.job_run(job_id, "ok")

        mask = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        return listener, int(mask)

    # --- database ----------------------------------------------------------------------

    def install_sqlalchemy_timing(self, engine: AsyncEngine) -> Callable[[], None]:
        """Observe every statement's execution time; returns a function that uninstalls."""
        sync_engine = engine.sync_engine
        if sync_engine in self._timed_engines:
            return lambda: None
        histogram = self.db_query

        def before(
            _conn: Any, _cursor: Any, _stmt: str, _params: Any, context: Any, _many: bool
        ) -> None:
            if context is not None:
                setattr(context, _QUERY_STARTED, time.perf_counter())

        def after(
            _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
        ) -> None:
            started = getattr(context, _QUERY_STARTED, None)
            if started is not None:
                histogram.labels(_sql_operation(statement)).observe(time.perf_counter() - started)

        event.listen(sync_engine, "before_cursor_execute", before)
        event.listen(sync_engine, "after_cursor_execute", after)
        self._timed_engines.add(sync_engine)

        def uninstall() -> None:
            event.remove(sync_engine, "before_cursor_execute", before)
            event.remove(sync_engine, "after_cursor_execute", after)
            self._timed_engines.discard(sync_engine)

        return uninstall

    def writer_waited(self, background: bool, seconds: float) -> None:
        """`Database.on_writer_wait`: one SQLite write transaction's wait for the writer."""
        self.db_writer_wait.labels("background" if background else "request").observe(seconds)

    # --- scraping ----------------------------------------------------------------------

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
    ) -> Refresh:
        """The refresh for `aiohttp_handler`: outbox stats and incident counts in one
        read-only session, bounded by `timeout` seconds."""

        async def refresh() -> None:
            async with asyncio.timeout(timeout), db.session(write=False) as session:
                stats = await OutboxRepository(session).stats()
                counts = await incident_counts(session)

            async def outbox() -> OutboxStats:
                return stats

            async def incidents() -> Mapping[tuple[str, str], int]:
                return counts

            await self.refresh(
                outbox, incident_counts=incidents, slack_auth_ok=slack_auth_ok, now=now
            )

        return refresh

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def aiohttp_handler(
        self, refresh: Refresh | None = None, *, bearer_token: str | None = None
    ) -> Handler:
        """GET /metrics: refresh the scrape-time gauges, then the text exposition.

        A failed refresh (database down, timeout) is logged and counted in
        firewatch_metrics_refresh_failures_total; the scrape still succeeds, so `up` keeps
        meaning "the process answers". With `bearer_token`, scrapes must send
        `Authorization: Bearer <token>`.
        """
        expected = f"Bearer {bearer_token}".encode() if bearer_token else None

        async def metrics_endpoint(request: web.Request) -> web.StreamResponse:
            if expected is not None:
                given = request.headers.get("Authorization", "").encode()
                if not hmac.compare_digest(given, expected):
                    return web.Response(status=401, text="unauthorized\n")
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


class InstrumentedWebClient(AsyncWebClient):
    """An AsyncWebClient that reports each Web API call (and Slack's error) to `metrics`.

    Every call made through it goes through `api_call`, including those of
    bot.slack.delivery.incidents.call(). Retries slack_sdk makes inside one call count once.
    """

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    def __deepcopy__(self, memo: dict[int, Any]) -> InstrumentedWebClient:
        """Shared, not copied: Bolt deep-copies a request (and the client in its context)
        for each lazy listener, and the copy must keep the one keep-alive HTTP session
        instead of opening connections of its own. The client holds no per-request state."""
        return self

    async def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> AsyncSlackResponse:
        try:
            response = await super().api_call(api_method, *args, **kwargs)
        except SlackApiError as exc:
            self.metrics.web_api_call(api_method, slack_error_code(exc))
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.metrics.web_api_call(api_method, type(exc).__name__)
            raise
        self.metrics.web_api_call(api_method, None)
        return response


def slack_error_code(exc: SlackApiError) -> str:
    response = exc.response
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    status = getattr(response, "status_code", None)
    return f"http_{status}" if status else "unknown"


async def incident_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = await session.execute(
        select(IncidentRow.severity, IncidentRow.status, func.count(IncidentRow.id)).group_by(
            IncidentRow.severity, IncidentRow.status
        )
    )
    return {(str(sev), str(status)): int(n) for sev, status, n in rows.all()}


# --- classifying Slack's requests ------------------------------------------------------

_PAYLOAD_TYPES = {
    "view_submission": "view_submission",
    "block_actions": "block_actions",
    "shortcut": "shortcut",
    "message_action": "shortcut",
}
_EVENT_CALLBACK = b'"event_callback"'
_TYPE_KEY_BEFORE = re.compile(rb'"type"\s*:\s*\Z')  # ends right where the value starts
_PAYLOAD_HEAD = 512  # encoded bytes of `payload=` decoded to find a leading "type"
_PAYLOAD_SCAN = 64 * 1024  # encoded bytes scanned when "type" is not the first key
_HEAD_TYPE = re.compile(r'\A\s*\{\s*"type"\s*:\s*"([A-Za-z_]{1,40})"')
_Q = rb'(?:"|%22)'
_WS = rb"(?:\s|\+|%20)*"
_ENCODED_TYPE = re.compile(
    _Q
    + rb"type"
    + _Q
    + _WS
    + rb"(?::|%3[Aa])"
    + _WS
    + _Q
    + rb"(view_submission|block_actions|shortcut|message_action)"
    + _Q
)


def classify_request(body: bytes, content_type: str = "") -> str:
    """The kind of a Slack request, from a cheap look at its raw (unverified) body.

    * form with a `command` field: a slash command;
    * form with a `payload` field: the payload's JSON `type`, read from the start of the
      decoded payload (where Slack puts it), else searched for in the first 64 KiB of the
      encoded payload; block_actions, view_submission, shortcut and message_action (a
      message shortcut) have kinds, anything else (view_closed, block_suggestion ...) is
      "other";
    * JSON with `"type": "event_callback"`: an event (url_verification is "other").

    Nothing is JSON-decoded, at most `_PAYLOAD_HEAD` bytes are URL-decoded and every scan
    is a C-level substring search, so a large or hostile body stays cheap (about a
    millisecond per MiB).
    """
    if content_type == "application/json" or body[:64].lstrip().startswith(b"{"):
        return "event" if _is_event_callback(body) else "other"
    start = _form_value_start(body, b"payload")
    if start is None:
        return "command" if _form_value_start(body, b"command") is not None else "other"
    end = body.find(b"&", start)
    end = len(body) if end == -1 else end
    head = body[start : min(end, start + _PAYLOAD_HEAD)]
    leading = _HEAD_TYPE.match(unquote_plus(head.decode("latin-1")))
    if leading is not None:
        return _PAYLOAD_TYPES.get(leading.group(1), "other")
    scanned = _ENCODED_TYPE.search(body, start, min(end, start + _PAYLOAD_SCAN))
    return _PAYLOAD_TYPES[scanned.group(1).decode()] if scanned else "other"


def _is_event_callback(body: bytes, tries: int = 8) -> bool:
    """Whether `"event_callback"` appears as the value of a "type" key (JSON strings escape
    their quotes, so text that merely mentions it does not count)."""
    found = body.find(_EVENT_CALLBACK)
    while found != -1 and tries > 0:
        if _TYPE_KEY_BEFORE.search(body, max(0, found - 32), found):
            return True
        found = body.find(_EVENT_CALLBACK, found + 1)
        tries -= 1
    return False


def _form_value_start(body: bytes, name: bytes) -> int | None:
    """Where the value of form field `name` starts (a raw `&` only separates fields)."""
    if body.startswith(name + b"="):
        return len(name) + 1
    found = body.find(b"&" + name + b"=")
    return None if found == -1 else found + len(name) + 2


def outcome_for_status(status: int) -> str:
    if 200 <= status < 300:
        return "ok"
    if status in (401, 403):
        return "rejected"
    return "error"


def _label(value: str, limit: int = 64) -> str:
    cleaned = _LABEL_UNSAFE.sub("_", value)[:limit]
    return cleaned or "unknown"


def _sql_operation(statement: str) -> str:
    word = statement.lstrip()[:8].split(None, 1)
    operation = word[0].upper() if word else ""
    return operation.lower() if operation in _SQL_OPERATIONS else "other"


def _installed_version() -> str:
    try:
        return importlib.metadata.version("firewatch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
