"""The metric families Firewatch exports, one class per concern: Slack (its requests and
our Web API calls), the outbox, incidents and paging, scheduled jobs, the database.

`bot.runtime.metrics.Metrics` is all of them on one registry. Each family defines its
metrics and the plain methods that feed them; the code that reports (the Slack layer's
instrumentation, the outbox worker, storage's statement timing, the scheduler's listener)
calls those methods and knows nothing of Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from storage.outbox import OutboxStats

REQUEST_KINDS = ("command", "view_submission", "block_actions", "shortcut", "event", "other")
REQUEST_OUTCOMES = ("ok", "rejected", "error")
JOB_OUTCOMES = ("ok", "error")
ALERT_SOURCES = ("alertmanager", "grafana", "webhook")
ALERT_OUTCOMES = (
    "stored",
    "unauthorized",
    "not_found",
    "too_large",
    "bad_request",
    "unavailable",
    "busy",
)
ALERT_STATUSES = ("firing", "resolved")

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

MAX_API_ERROR_SERIES = 200
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")


class _Family:
    """What every family needs: the registry its metrics are registered in."""

    registry: CollectorRegistry

    def _counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)

    def _gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=self.registry)

    def _histogram(
        self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> Histogram:
        return Histogram(name, doc, labels, buckets=buckets, registry=self.registry)


class SlackMetrics(_Family):
    """Slack's requests to /slack/events and Firewatch's Web API calls."""

    def _define_slack_metrics(self) -> None:
        self.slack_requests = self._counter(
            "firewatch_slack_requests",
            "Requests from Slack to /slack/events, by kind and outcome "
            "(ok: 2xx, rejected: 401/403, error: anything else).",
            ["kind", "outcome"],
        )
        self.ack_latency = self._histogram(
            "firewatch_ack_latency_seconds",
            "Time from receiving a Slack request to having its HTTP answer.",
            ["kind"],
            ACK_BUCKETS,
        )
        for kind in REQUEST_KINDS:
            self.ack_latency.labels(kind)
            for outcome in REQUEST_OUTCOMES:
                self.slack_requests.labels(kind, outcome)
        self.slack_api_calls = self._counter(
            "firewatch_slack_api_calls", "Slack Web API calls made, by method.", ["method"]
        )
        self.slack_api_errors = self._counter(
            "firewatch_slack_api_errors",
            "Slack Web API calls that failed, by method and Slack error "
            "(http_<status> or the exception name when Slack gave none).",
            ["method", "error"],
        )
        self._api_error_series: set[tuple[str, str]] = set()
        self.slack_auth_ok = self._gauge(
            "firewatch_slack_auth_ok", "1 when the last auth.test succeeded, else 0."
        )

    def slack_request(self, kind: str, outcome: str, seconds: float) -> None:
        kind = kind if kind in REQUEST_KINDS else "other"
        outcome = outcome if outcome in REQUEST_OUTCOMES else "error"
        self.slack_requests.labels(kind, outcome).inc()
        self.ack_latency.labels(kind).observe(seconds)

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


class OutboxMetrics(_Family):
    """The outbox: the worker's `DeliveryObserver`, and its backlog at scrape time."""

    def _define_outbox_metrics(self) -> None:
        self.outbox_deliveries = self._counter(
            "firewatch_outbox_deliveries", "Outbox rows delivered to Slack.", ["kind"]
        )
        self.outbox_retries = self._counter(
            "firewatch_outbox_retries", "Failed outbox attempts that will be retried.", ["kind"]
        )
        self.outbox_dead = self._counter(
            "firewatch_outbox_dead", "Outbox rows given up on (marked dead).", ["kind"]
        )
        self.outbox_backlog = self._gauge(
            "firewatch_outbox_backlog", "Outbox rows pending delivery (set at scrape time)."
        )
        self.outbox_oldest_age = self._gauge(
            "firewatch_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox row; 0 when none (set at scrape time).",
        )
        self.outbox_dead_messages = self._gauge(
            "firewatch_outbox_dead_messages",
            "Outbox rows in status dead, waiting for `firewatch outbox --resend` "
            "(set at scrape time).",
        )

    def register_outbox_kinds(self, kinds: Iterable[str]) -> None:
        """Export the outbox counters at 0 for these kinds, so rate() and increase() see
        the first delivery, retry or dead row of a kind."""
        for kind in kinds:
            self.outbox_deliveries.labels(kind)
            self.outbox_retries.labels(kind)
            self.outbox_dead.labels(kind)

    def delivered(self, kind: str, count: int = 1) -> None:
        self.outbox_deliveries.labels(kind).inc(count)

    def retried(self, kind: str, reason: str) -> None:  # noqa: ARG002 - reason is free text
        self.outbox_retries.labels(kind).inc()

    def dead(self, kind: str, reason: str) -> None:  # noqa: ARG002 - reason is free text
        self.outbox_dead.labels(kind).inc()

    def set_outbox_stats(self, stats: OutboxStats, now: datetime) -> None:
        self.outbox_backlog.set(stats.pending)
        self.outbox_dead_messages.set(stats.dead)
        age = (now - stats.oldest_pending).total_seconds() if stats.oldest_pending else 0.0
        self.outbox_oldest_age.set(max(age, 0.0))


class IncidentMetrics(_Family):
    """Incidents by severity and status (at scrape time), and paging's counters."""

    def _define_incident_metrics(self) -> None:
        self.incidents = self._gauge(
            "firewatch_incidents",
            "Incidents stored, by severity and status (set at scrape time).",
            ["severity", "status"],
        )
        self.pages = self._counter("firewatch_pages", "Pages sent.")
        self.acknowledgements = self._counter("firewatch_acknowledgements", "Pages acknowledged.")
        self.escalations = self._counter("firewatch_escalations", "Escalations made.")
        self.response_breaches = self._counter(
            "firewatch_response_breaches",
            "Incidents whose response deadline passed without an acknowledgement.",
        )
        self.permission_refusals = self._counter(
            "firewatch_permission_refusals",
            "Actions refused by the policy's permissions, by action.",
            ["action"],
        )

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

    def permission_refused(self, action: str) -> None:
        self.permission_refusals.labels(action).inc()


class SchedulerMetrics(_Family):
    """Scheduled job runs and misses (fed by bot.runtime.scheduler.job_listener)."""

    def _define_scheduler_metrics(self) -> None:
        # The label is job_id, not job: Prometheus attaches its own `job` label to every
        # scraped series and would rename ours to exported_job.
        self.scheduler_job_runs = self._counter(
            "firewatch_scheduler_job_runs",
            "Scheduled job runs, by job and outcome (ok, error).",
            ["job_id", "outcome"],
        )
        self.scheduler_job_misses = self._counter(
            "firewatch_scheduler_job_misses",
            "Scheduled runs that did not happen (missed, or skipped because the previous "
            "run was still going).",
            ["job_id"],
        )

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


class DatabaseMetrics(_Family):
    """Statement times (storage.instrumentation.time_statements) and SQLite's writer waits."""

    def _define_database_metrics(self) -> None:
        self.db_query = self._histogram(
            "firewatch_db_query_seconds",
            "Database statement execution time, by operation.",
            ["operation"],
            DB_BUCKETS,
        )
        self.db_writer_wait = self._histogram(
            "firewatch_db_writer_wait_seconds",
            "SQLite: how long a write transaction waited for the one writer, by whose it "
            "was (a request being answered, or background work).",
            ["work"],
            DB_BUCKETS,
        )
        for work in ("request", "background"):
            self.db_writer_wait.labels(work)

    def statement_executed(self, operation: str, seconds: float) -> None:
        """`time_statements`' observer: one statement's execution time."""
        self.db_query.labels(operation).observe(seconds)

    def writer_waited(self, background: bool, seconds: float) -> None:
        """`Database.on_writer_wait`: one SQLite write transaction's wait for the writer."""
        self.db_writer_wait.labels("background" if background else "request").observe(seconds)


class AlertMetrics(_Family):
    """Monitoring webhooks (bot/runtime/alert_endpoints.py): requests by source and
    outcome, and the alerts they carried by source and status."""

    def _define_alert_metrics(self) -> None:
        self.alert_requests = self._counter(
            "firewatch_alert_requests",
            "Requests to the alert webhooks (/alerts/*), by source and outcome (stored, "
            "unauthorized, not_found, too_large, bad_request, unavailable, busy).",
            ["source", "outcome"],
        )
        self.alerts_received_total = self._counter(
            "firewatch_alerts_received",
            "Alerts in the webhook bodies that were stored, by source and status.",
            ["source", "status"],
        )
        for source in ALERT_SOURCES:
            for outcome in ALERT_OUTCOMES:
                self.alert_requests.labels(source, outcome)
            for status in ALERT_STATUSES:
                self.alerts_received_total.labels(source, status)

    def alert_request(self, source: str, outcome: str) -> None:
        source = source if source in ALERT_SOURCES else "other"
        outcome = outcome if outcome in ALERT_OUTCOMES else "unavailable"
        self.alert_requests.labels(source, outcome).inc()

    def alerts_received(self, source: str, status: str, count: int) -> None:
        source = source if source in ALERT_SOURCES else "other"
        self.alerts_received_total.labels(
            source, status if status in ALERT_STATUSES else "firing"
        ).inc(count)


def _label(value: str, limit: int = 64) -> str:
    cleaned = _LABEL_UNSAFE.sub("_", value)[:limit]
    return cleaned or "unknown"
