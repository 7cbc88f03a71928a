"""bot.runtime.metrics and what feeds it: the Slack request middleware on a real aiohttp
server (bot.slack.instrumentation), the /metrics endpoint, the outbox observer, Web API call
counting, SQLAlchemy timing (storage.instrumentation), the scheduler's listener and registry
isolation."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from bot.domain.clock import FrozenClock
from bot.emulator import SlackRequestSender
from bot.policy.loader import load_default_policy
from bot.runtime.metric_families import ACK_BUCKETS
from bot.runtime.metrics import Metrics
from bot.runtime.scheduler import job_listener
from bot.services.incidents import IncidentService
from bot.services.notes import NoteIntake
from bot.services.outbox_worker import (
    DeliveryObserver,
    OutboxItem,
    OutboxWorker,
    PermanentFailure,
    RetryLater,
)
from bot.slack.delivery.web_api import call
from bot.slack.instrumentation import InstrumentedWebClient, outcome_for_status, request_metrics
from bot.slack.request_kinds import classify_request
from storage.engine import Database, background_writes
from storage.instrumentation import time_database, time_statements
from storage.models import IncidentRow
from storage.outbox import OutboxRepository, OutboxStats
from tests.support import Harness, checkout_report

FORM = "application/x-www-form-urlencoded"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# --- helpers ----------------------------------------------------------------------------


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(exposition: str, name: str, **labels: str) -> float | None:
    return samples(exposition).get((name, frozenset(labels.items())))


def scrape(metrics: Metrics) -> str:
    return metrics.exposition().decode()


class Seen:
    """What the dummy /slack/events handler saw."""

    def __init__(self) -> None:
        self.digests: list[str] = []
        self.forms: list[dict[str, str]] = []


def events_app(metrics: Metrics, seen: Seen, max_size: int = 1024 * 1024) -> web.Application:
    async def slack_events(request: web.Request) -> web.StreamResponse:
        raw = await request.read()  # already read by the middleware
        seen.digests.append(hashlib.sha256(raw).hexdigest())
        if request.content_type == FORM:
            seen.forms.append({k: str(v) for k, v in (await request.post()).items()})
        want = request.headers.get("X-Want")
        if want == "raise-forbidden":
            raise web.HTTPForbidden()
        if want == "crash":
            raise RuntimeError("listener bug")
        return web.json_response({"len": len(raw)}, status=int(want or 200))

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(middlewares=[request_metrics(metrics)], client_max_size=max_size)
    app.add_routes([web.post("/slack/events", slack_events), web.get("/health", health)])
    return app


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        yield client


# --- the request middleware --------------------------------------------------------------


async def test_slack_requests_are_counted_and_timed_by_kind() -> None:
    metrics, seen = Metrics(), Seen()
    async with serve(events_app(metrics, seen)) as client:
        url = str(client.make_url("/slack/events"))
        async with SlackRequestSender(url, "secret") as slack:
            assert (await slack.slash_command("sev1 checkout down")).status == 200
            assert (await slack.slash_command()).status == 200
            assert (await slack.block_action("ack", value="1")).status == 200
            view = {"id": "V1", "type": "modal", "blocks": [{"type": "input", "block_id": "t"}]}
            assert (await slack.view_submission(view, {})).status == 200
            assert (await slack.view_closed(view)).status == 200
            assert (await slack.global_shortcut("declare")).status == 200
            message = {"ts": "1.2", "text": "x", "blocks": []}
            shortcut = await slack.message_shortcut("declare", message=message, channel_id="C1")
            assert shortcut.status == 200
            assert (await slack.event({"type": "app_mention", "text": "hi"})).status == 200
            assert (await slack.url_verification("challenge")).status == 200
        assert (await client.get("/health")).status == 200

    exposition = scrape(metrics)
    expected = {
        "command": 2,
        "block_actions": 1,
        "view_submission": 1,
        "shortcut": 2,
        "event": 1,
        "other": 2,  # view_closed, url_verification
    }
    for kind, count in expected.items():
        assert value(exposition, "firewatch_slack_requests_total", kind=kind, outcome="ok") == count
        assert value(exposition, "firewatch_ack_latency_seconds_count", kind=kind) == count
        top = value(exposition, "firewatch_ack_latency_seconds_bucket", kind=kind, le="3.0")
        assert top == count  # a dummy handler answers well within Slack's 3 s
        assert value(exposition, "firewatch_ack_latency_seconds_sum", kind=kind) is not None
    # Requests to other paths are not Slack requests.
    total = sum(
        v
        for (name, _), v in samples(exposition).items()
        if name == "firewatch_slack_requests_total"
    )
    assert total == 9
    # Every kind/outcome pair is exported from the start (rate() needs the zeros).
    assert value(exposition, "firewatch_slack_requests_total", kind="event", outcome="error") == 0


async def test_the_handler_reads_the_same_body_the_middleware_read() -> None:
    metrics, seen = Metrics(), Seen()
    fields = {"command": "/incident", "text": "sev1 " + "é" * 1000, "trigger_id": "1.2.3"}
    body = urlencode(fields).encode()
    event = json.dumps({"type": "event_callback", "event": {"type": "message"}}).encode()
    async with serve(events_app(metrics, seen)) as client:
        first = await client.post("/slack/events", data=body, headers={"Content-Type": FORM})
        assert first.status == 200
        assert (await first.json())["len"] == len(body)
        second = await client.post(
            "/slack/events", data=event, headers={"Content-Type": "application/json"}
        )
        assert second.status == 200
    assert seen.digests == [hashlib.sha256(body).hexdigest(), hashlib.sha256(event).hexdigest()]
    assert seen.forms == [fields]  # request.post() still parses the cached body
    exposition = scrape(metrics)
    assert value(exposition, "firewatch_slack_requests_total", kind="command", outcome="ok") == 1
    assert value(exposition, "firewatch_slack_requests_total", kind="event", outcome="ok") == 1


async def test_outcomes_follow_the_answer_status() -> None:
    metrics, seen = Metrics(), Seen()
    command = urlencode({"command": "/incident", "text": ""}).encode()
    cases = [
        ({"X-Want": "200"}, 200),
        ({"X-Want": "401"}, 401),  # bad signature
        ({"X-Want": "raise-forbidden"}, 403),
        ({"X-Want": "400"}, 400),  # listener failure answered as 400
        ({"X-Want": "404"}, 404),  # socket mode
        ({"X-Want": "crash"}, 500),
    ]
    async with serve(events_app(metrics, seen)) as client:
        for headers, status in cases:
            response = await client.post(
                "/slack/events", data=command, headers={"Content-Type": FORM, **headers}
            )
            assert response.status == status
        # A GET is not a Slack request: passed through, not counted.
        assert (await client.get("/slack/events")).status == 405
    exposition = scrape(metrics)
    counts = {
        outcome: value(
            exposition, "firewatch_slack_requests_total", kind="command", outcome=outcome
        )
        for outcome in ("ok", "rejected", "error")
    }
    assert counts == {"ok": 1, "rejected": 2, "error": 3}
    assert value(exposition, "firewatch_ack_latency_seconds_count", kind="command") == 6


async def test_an_oversized_body_is_an_error_of_kind_other() -> None:
    metrics, seen = Metrics(), Seen()
    async with serve(events_app(metrics, seen, max_size=1024)) as client:
        response = await client.post(
            "/slack/events", data=b"command=" + b"x" * 4096, headers={"Content-Type": FORM}
        )
        assert response.status == 413
    assert seen.digests == []
    exposition = scrape(metrics)
    assert value(exposition, "firewatch_slack_requests_total", kind="other", outcome="error") == 1


def _payload(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (b"token=t&team_id=T1&command=%2Fincident&text=", FORM, "command"),
        (b"command=%2Fincident", FORM, "command"),
        (
            _payload({"type": "block_actions", "actions": [{"type": "button"}]}),
            FORM,
            "block_actions",
        ),
        (_payload({"type": "view_submission", "view": {"type": "modal"}}), FORM, "view_submission"),
        (_payload({"type": "shortcut", "callback_id": "x"}), FORM, "shortcut"),
        (_payload({"type": "message_action", "callback_id": "x"}), FORM, "shortcut"),
        (_payload({"type": "view_closed"}), FORM, "other"),
        (_payload({"type": "block_suggestion"}), FORM, "other"),
        # "type" not first: found by scanning the encoded bytes (nested "modal" skipped).
        (_payload({"view": {"type": "modal"}, "type": "view_submission"}), FORM, "view_submission"),
        # A form field whose *value* mentions payload= or command= is neither.
        (urlencode({"text": '&payload={"type":"shortcut"}'}).encode(), FORM, "other"),
        # Typed text that looks like a type is escaped inside JSON strings: not matched.
        (_payload({"text": '"type":"shortcut"'}), FORM, "other"),
        (b"payload=not-json", FORM, "other"),
        (
            b'{"type": "event_callback", "event": {"type": "app_mention"}}',
            "application/json",
            "event",
        ),
        (b'{"event":{"type":"message"},"type":"event_callback"}', "", "event"),
        (b'{"type":"url_verification","challenge":"c"}', "application/json", "other"),
        (b'{"type" :\n "event_callback"}', "application/json", "event"),
        (b'{"event":{"subtype":"event_callback"}}', "application/json", "other"),
        (b'{"event":{"text":"\\"type\\":\\"event_callback\\""}}', "application/json", "other"),
        (b"", "", "other"),
        (b"\xff\xfe garbage", "application/octet-stream", "other"),
    ],
)
def test_classify_request(body: bytes, content_type: str, kind: str) -> None:
    assert classify_request(body, content_type) == kind


def test_classifying_a_large_hostile_body_stays_cheap() -> None:
    huge = b"payload=" + b"%22x%22%3A" * 100_000  # 1 MB, no type anywhere
    assert classify_request(huge, FORM) == "other"
    assert classify_request(b"{" + b" " * 1_000_000, "application/json") == "other"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "ok"),
        (204, "ok"),
        (401, "rejected"),
        (403, "rejected"),
        (400, "error"),
        (500, "error"),
    ],
)
def test_outcome_for_status(status: int, outcome: str) -> None:
    assert outcome_for_status(status) == outcome


def test_ack_buckets_span_1ms_to_3s() -> None:
    assert ACK_BUCKETS[0] == 0.001
    assert ACK_BUCKETS[-1] == 3.0
    assert 1.0 in ACK_BUCKETS  # the FirewatchSlowAcknowledgements threshold
    assert list(ACK_BUCKETS) == sorted(ACK_BUCKETS)


# --- GET /metrics ------------------------------------------------------------------------


async def test_metrics_endpoint_refreshes_then_serves_the_registry() -> None:
    metrics = Metrics(version="1.2.3")
    calls: list[str] = []

    async def stats() -> OutboxStats:
        return OutboxStats(pending=4, dead=2, oldest_pending=T0 - timedelta(seconds=90))

    async def incidents() -> dict[tuple[str, str], int]:
        return {("sev1", "investigating"): 2, ("sev3", "closed"): 7}

    async def refresh() -> None:
        calls.append("refresh")
        await metrics.refresh(
            stats, incident_counts=incidents, slack_auth_ok=lambda: True, now=lambda: T0
        )

    app = web.Application()
    app.add_routes([web.get("/metrics", metrics.aiohttp_handler(refresh))])
    async with serve(app) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        exposition = await response.text()
    assert calls == ["refresh"]
    assert value(exposition, "firewatch_outbox_backlog") == 4
    assert value(exposition, "firewatch_outbox_dead_messages") == 2
    assert value(exposition, "firewatch_outbox_oldest_pending_age_seconds") == 90
    assert value(exposition, "firewatch_incidents", severity="sev1", status="investigating") == 2
    assert value(exposition, "firewatch_incidents", severity="sev3", status="closed") == 7
    assert value(exposition, "firewatch_slack_auth_ok") == 1
    assert value(exposition, "firewatch_build_info", version="1.2.3") == 1


async def test_a_failed_refresh_still_serves_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()

    async def broken() -> None:
        raise ConnectionRefusedError("database down")

    app = web.Application()
    app.add_routes([web.get("/metrics", metrics.aiohttp_handler(broken))])
    async with serve(app) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        exposition = await response.text()
    assert value(exposition, "firewatch_metrics_refresh_failures_total") == 1
    assert "ConnectionRefusedError" in caplog.text


async def test_the_metrics_endpoint_can_require_a_bearer_token() -> None:
    metrics = Metrics()
    app = web.Application()
    app.add_routes([web.get("/metrics", metrics.aiohttp_handler(bearer_token="s3cret"))])
    async with serve(app) as client:
        assert (await client.get("/metrics")).status == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        right = await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert right.status == 200


async def test_incident_gauge_drops_combinations_that_disappeared() -> None:
    metrics = Metrics()
    metrics.set_incident_counts({("sev1", "investigating"): 1})
    metrics.set_incident_counts({("sev1", "resolved"): 1})
    exposition = scrape(metrics)
    assert value(exposition, "firewatch_incidents", severity="sev1", status="investigating") is None
    assert value(exposition, "firewatch_incidents", severity="sev1", status="resolved") == 1


async def test_database_refresh_reads_outbox_and_incidents(db: Database) -> None:
    async with db.session() as session:
        repo = OutboxRepository(session)
        first = await repo.enqueue("post_message", "channel:A", {}, now=T0)
        await repo.enqueue("post_message", "channel:A", {}, now=T0 + timedelta(seconds=30))
        dead = await repo.enqueue("create_channel", "channel:B", {}, now=T0)
        await repo.settle_dead(dead.id, error="channel_not_found")
        for n, (severity, status) in enumerate(
            [("sev1", "investigating"), ("sev1", "investigating"), ("sev2", "resolved")]
        ):
            session.add(
                IncidentRow(
                    declare_key=f"k{n}",
                    title="t",
                    nature="n",
                    discovery="monitoring_alert",
                    impact="i",
                    severity=severity,
                    status=status,
                    reporter_id="U1",
                    channel_status="none",
                    declared_at=T0,
                    updated_at=T0,
                )
            )
    assert first.id
    metrics = Metrics()
    refresh = metrics.database_refresh(
        db, now=lambda: T0 + timedelta(minutes=10), slack_auth_ok=lambda: False
    )
    await refresh()
    exposition = scrape(metrics)
    assert value(exposition, "firewatch_outbox_backlog") == 2
    assert value(exposition, "firewatch_outbox_dead_messages") == 1
    assert value(exposition, "firewatch_outbox_oldest_pending_age_seconds") == 600
    assert value(exposition, "firewatch_incidents", severity="sev1", status="investigating") == 2
    assert value(exposition, "firewatch_incidents", severity="sev2", status="resolved") == 1
    assert value(exposition, "firewatch_slack_auth_ok") == 0


# --- the outbox observer -----------------------------------------------------------------


class Scripted:
    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)

    async def deliver(self, item: OutboxItem) -> dict[str, Any]:  # noqa: ARG002
        if self.failures:
            raise self.failures.pop(0)
        return {"ok": True}

    async def gave_up(self, item: OutboxItem, error: str) -> None:
        pass


async def test_the_worker_reports_to_metrics_as_its_observer(db: Database) -> None:
    metrics = Metrics()
    observer: DeliveryObserver = metrics  # the protocol, checked by mypy
    metrics.register_outbox_kinds(["post_message", "create_channel"])
    async with db.session() as session:
        repo = OutboxRepository(session)
        await repo.enqueue("post_message", "channel:A", {}, now=T0)
        await repo.enqueue("create_channel", "channel:B", {}, now=T0)
    clock = FrozenClock(T0)
    worker = OutboxWorker(
        db,
        {
            "post_message": Scripted(RetryLater("HTTP 503")),
            "create_channel": Scripted(PermanentFailure("conversations.create: name_taken")),
        },
        clock,
        rng=random.Random(1),
        observer=observer,
    )
    await worker.drain()
    clock.advance(timedelta(minutes=5))
    await worker.drain()
    exposition = scrape(metrics)
    assert value(exposition, "firewatch_outbox_retries_total", kind="post_message") == 1
    assert value(exposition, "firewatch_outbox_deliveries_total", kind="post_message") == 1
    assert value(exposition, "firewatch_outbox_dead_total", kind="create_channel") == 1
    # Registered kinds start at zero; free-text reasons never become labels.
    assert value(exposition, "firewatch_outbox_deliveries_total", kind="create_channel") == 0
    assert "name_taken" not in exposition
    assert "HTTP 503" not in exposition


# --- Slack Web API calls -----------------------------------------------------------------


async def fake_slack() -> web.Application:
    async def api(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "chat.postMessage":
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if method == "chat.update":
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429)
        return web.json_response({"ok": True, "user_id": "U0BOT"})

    app = web.Application()
    app.add_routes([web.post("/api/{method}", api)])
    return app


async def test_instrumented_client_counts_calls_and_slack_errors() -> None:
    metrics = Metrics()
    async with serve(await fake_slack()) as server:
        dead_url = str(server.make_url("/api/"))
        client = InstrumentedWebClient(
            token="xoxb-test", base_url=str(server.make_url("/api/")), metrics=metrics
        )
        client.retry_handlers = []
        await client.auth_test()
        assert (await call(client, "conversations.info", channel="C1"))["ok"]
        with pytest.raises(PermanentFailure):
            await call(client, "chat.postMessage", channel="C404", text="x")
        with pytest.raises(RetryLater):
            await call(client, "chat.update", channel="C1", ts="1.2", text="x")
    # Nothing listens here any more: a network failure.
    offline = InstrumentedWebClient(token="xoxb-test", base_url=dead_url, metrics=metrics)
    offline.retry_handlers = []
    with pytest.raises(RetryLater):
        await call(offline, "chat.postMessage", channel="C1", text="x")

    exposition = scrape(metrics)
    assert value(exposition, "firewatch_slack_api_calls_total", method="auth.test") == 1
    assert value(exposition, "firewatch_slack_api_calls_total", method="conversations.info") == 1
    assert value(exposition, "firewatch_slack_api_calls_total", method="chat.postMessage") == 2
    assert (
        value(
            exposition,
            "firewatch_slack_api_errors_total",
            method="chat.postMessage",
            error="channel_not_found",
        )
        == 1
    )
    assert (
        value(
            exposition,
            "firewatch_slack_api_errors_total",
            method="chat.update",
            error="ratelimited",
        )
        == 1
    )
    network = [
        labels
        for (name, labels), v in samples(exposition).items()
        if name == "firewatch_slack_api_errors_total"
        and ("method", "chat.postMessage") in labels
        and ("error", "channel_not_found") not in labels
        and v == 1
    ]
    assert len(network) == 1  # e.g. error="ClientConnectorError"


def test_api_error_labels_are_sanitised_and_capped() -> None:
    metrics = Metrics()
    metrics.web_api_call("chat.postMessage", 'bad "label"\n{x}')
    for n in range(300):
        metrics.web_api_call("chat.postMessage", f"error_{n}")
    exposition = scrape(metrics)
    errors = [
        dict(labels)
        for (name, labels) in samples(exposition)
        if name == "firewatch_slack_api_errors_total"
    ]
    assert {"method": "chat.postMessage", "error": "bad__label___x_"} in errors
    assert len(errors) <= 201
    assert value(
        exposition, "firewatch_slack_api_errors_total", method="chat.postMessage", error="other"
    )
    assert value(exposition, "firewatch_slack_api_calls_total", method="chat.postMessage") == 301


# --- counters for later features, scheduler ----------------------------------------------


def test_feature_counters_and_scheduler_listener() -> None:
    metrics = Metrics()
    metrics.register_scheduler_jobs(["escalate"])
    metrics.page()
    metrics.page()
    metrics.acknowledgement()
    metrics.escalation()
    metrics.response_breach()
    listener, mask = job_listener(metrics)
    assert mask & EVENT_JOB_MISSED
    assert mask & EVENT_JOB_EXECUTED
    for code, exception in [
        (EVENT_JOB_EXECUTED, None),
        (EVENT_JOB_EXECUTED, None),
        (EVENT_JOB_ERROR, RuntimeError("x")),
        (EVENT_JOB_MISSED, None),
        (EVENT_JOB_MAX_INSTANCES, None),
    ]:
        listener(JobExecutionEvent(code, "reminders", "default", T0, exception=exception))
    exposition = scrape(metrics)
    assert value(exposition, "firewatch_pages_total") == 2
    assert value(exposition, "firewatch_acknowledgements_total") == 1
    assert value(exposition, "firewatch_escalations_total") == 1
    assert value(exposition, "firewatch_response_breaches_total") == 1
    runs = "firewatch_scheduler_job_runs_total"
    assert value(exposition, runs, job_id="reminders", outcome="ok") == 2
    assert value(exposition, runs, job_id="reminders", outcome="error") == 1
    assert value(exposition, "firewatch_scheduler_job_misses_total", job_id="reminders") == 2
    # Registered jobs are exported at zero before anything happens.
    assert value(exposition, "firewatch_scheduler_job_misses_total", job_id="escalate") == 0
    assert value(exposition, runs, job_id="escalate", outcome="ok") == 0


# --- SQLAlchemy timing -------------------------------------------------------------------


async def test_sqlalchemy_timing_observes_statements(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'timing.db'}")
    metrics = Metrics()
    try:
        uninstall = time_statements(db.engine, metrics.statement_executed)
        time_statements(db.engine, metrics.statement_executed)  # a second install: a no-op
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            await conn.execute(text("SELECT x FROM t"))
            await conn.execute(text("SELECT x FROM t"))
            with pytest.raises(Exception, match="no such table"):
                await conn.execute(text("SELECT * FROM missing"))
        exposition = scrape(metrics)
        count = "firewatch_db_query_seconds_count"
        assert value(exposition, count, operation="select") == 2
        assert value(exposition, count, operation="insert") == 1
        assert value(exposition, count, operation="other") == 1  # CREATE TABLE
        uninstall()
        async with db.engine.begin() as conn:
            await conn.execute(text("SELECT x FROM t"))
        assert value(scrape(metrics), count, operation="select") == 2
    finally:
        await db.dispose()


async def test_every_engine_of_the_database_is_timed(db: Database) -> None:
    """A note is stored in one statement on PostgreSQL's single-statement pool, and
    appended on SQLite's batch writer: both are statements of the busiest path, and
    both must show in firewatch_db_query_seconds (neither did while only the sessions'
    engine was timed)."""
    clock = FrozenClock(datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    policy = load_default_policy()
    incidents = IncidentService(db, lambda: policy, clock, broadcast_channel=None)
    incident = (
        await incidents.declare(checkout_report(), reporter_id="U0ALICE", declare_key="k1")
    ).incident.id
    notes = NoteIntake(db, clock)
    metrics = Metrics()
    uninstall = time_database(db, metrics.statement_executed)

    def statements() -> float:
        exposition = scrape(metrics)
        operations = ("select", "insert", "update", "delete", "other")
        counted = (
            value(exposition, "firewatch_db_query_seconds_count", operation=o) for o in operations
        )
        return sum(n or 0 for n in counted)

    try:
        await notes.accept(incident, actor="U0BOB", text="seen", source_key="n1")
        stored = statements()
        assert stored >= 1
        assert await notes.append_waiting([incident]) == 1
        assert statements() > stored
    finally:
        uninstall()


async def test_writer_waits_are_observed_by_whose_work_waited(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'writer.db'}")
    metrics = Metrics()
    db.on_writer_wait = metrics.writer_waited
    try:
        async with db.session():
            pass
        with background_writes():
            async with db.session():
                pass
            await db.write_batch(lambda _conn: None)
        exposition = scrape(metrics)
        count = "firewatch_db_writer_wait_seconds_count"
        assert value(exposition, count, work="request") == 1
        assert value(exposition, count, work="background") == 2
        async with db.session(write=False):  # reads take no writer
            pass
        assert value(scrape(metrics), count, work="request") == 1
    finally:
        await db.dispose()


# --- isolation ---------------------------------------------------------------------------


def test_two_instances_have_separate_registries() -> None:
    first, second = Metrics(), Metrics()  # would raise "Duplicated timeseries" if shared
    first.delivered("post_message")
    first.slack_request("command", "ok", 0.01)
    first.set_slack_auth(True)
    a, b = scrape(first), scrape(second)
    assert value(a, "firewatch_outbox_deliveries_total", kind="post_message") == 1
    assert value(b, "firewatch_outbox_deliveries_total", kind="post_message") is None
    assert value(a, "firewatch_slack_requests_total", kind="command", outcome="ok") == 1
    assert value(b, "firewatch_slack_requests_total", kind="command", outcome="ok") == 0
    assert value(a, "firewatch_slack_auth_ok") == 1
    assert value(b, "firewatch_slack_auth_ok") == 0
    assert first.registry is not second.registry


def test_every_exported_name_is_prefixed() -> None:
    metrics = Metrics(process_metrics=False)
    names = {family.name for family in text_string_to_metric_families(scrape(metrics))}
    assert names
    assert all(name.startswith("firewatch_") for name in names), names


# --- wired into Firewatch ----------------------------------------------------------------


async def test_a_running_firewatch_serves_its_metrics(harness: Harness) -> None:
    """End to end: a declaration shows in the running app's /metrics."""
    url = f"http://127.0.0.1:{harness.app.port}/metrics"
    await harness.declare()
    await harness.settled()
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        exposition = await response.text()
    found = samples(exposition)

    def total(name: str, **labels: str) -> float:
        wanted = set(labels.items())
        return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)

    requests = "firewatch_slack_requests_total"
    assert total(requests, kind="command", outcome="ok") >= 1
    assert total(requests, kind="view_submission", outcome="ok") >= 1
    assert total(requests, outcome="error") == 0
    assert total("firewatch_ack_latency_seconds_count") >= 2
    assert total("firewatch_outbox_deliveries_total") >= 1
    assert total("firewatch_slack_api_calls_total", method="chat.postMessage") >= 1
    assert total("firewatch_outbox_backlog") == 0
    assert total("firewatch_outbox_dead_messages") == 0
    assert total("firewatch_incidents") == 1
    assert total("firewatch_db_query_seconds_count") > 0
    assert total("firewatch_slack_auth_ok") == 1
    waits = "firewatch_db_writer_wait_seconds_count"
    if harness.app.db.is_sqlite:  # one writer: every write transaction's wait is observed
        assert total(waits, work="request") >= 1  # the submission's intake row
        assert total(waits, work="background") >= 1  # the declaration, the deliveries
    else:  # PostgreSQL has no writer lock to wait for
        assert total(waits) == 0
