"""The alert webhooks over real HTTP on loopback: unset token 404, bearer 401 before
anything is read, 413 by Content-Length and by a streamed body, 400 naming the field, 503
when storing fails, 200 with the receipt; counted in /metrics; settings masked."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.domain.alerts import AlertBatch
from bot.domain.clock import FrozenClock
from bot.runtime.alert_endpoints import AlertTokens, alert_routes
from bot.runtime.metrics import Metrics
from tests.cli.test_config import run_cli

AM_TOKEN = "am-token-0123456789abcdef"
GRAFANA_TOKEN = "grafana-token-0123456789"
HOOK_TOKEN = "hook-token-0123456789abc"
NOW = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
LIMIT = 8192
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"


@dataclass(frozen=True)
class Receipt:
    alerts: int
    new: int
    group: int


class RecordingReceiver:
    def __init__(self) -> None:
        self.batches: list[AlertBatch] = []
        self.fail = False

    async def receive(self, batch: AlertBatch) -> Receipt:
        if self.fail:
            raise RuntimeError("database is down")
        self.batches.append(batch)
        return Receipt(alerts=len(batch.alerts), new=len(batch.alerts), group=7)


@dataclass
class Served:
    url: str
    receiver: RecordingReceiver
    metrics: Metrics
    http: aiohttp.ClientSession

    async def post(
        self, path: str, body: Any = None, *, token: str | None = None, data: Any = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        payload = data if data is not None else json.dumps(body).encode()
        async with self.http.post(self.url + path, data=payload, headers=headers) as response:
            return response.status, await response.json()

    def count(self, sample: str) -> float:
        for line in self.metrics.exposition().decode().splitlines():
            if line.startswith(sample + " "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{sample} is not exported")


@asynccontextmanager
async def serve(tokens: AlertTokens) -> AsyncIterator[Served]:
    receiver = RecordingReceiver()
    metrics = Metrics(process_metrics=False)
    routes = alert_routes(receiver, tokens, metrics, FrozenClock(NOW), max_body_bytes=LIMIT)
    app = web.Application(client_max_size=1024)  # smaller than LIMIT: ours applies
    app.add_routes(routes)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Served(str(server.make_url("")), receiver, metrics, http)
    finally:
        await server.close()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serve(AlertTokens(AM_TOKEN, GRAFANA_TOKEN, HOOK_TOKEN)) as running:
        yield running


def am_body(alerts: int = 1) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "instance": "db1"},
        "annotations": {"summary": "Disk full"},
        "startsAt": "2026-12-06T06:59:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
    }
    resolved = alert | {"status": "resolved", "labels": {"alertname": "DiskFull", "x": "2"}}
    return {"groupLabels": {"alertname": "DiskFull"}, "alerts": [alert] + [resolved] * (alerts - 1)}


def requests(served: Served, source: str, outcome: str) -> float:
    return served.count(f'firewatch_alert_requests_total{{outcome="{outcome}",source="{source}"}}')


async def test_a_stored_body_answers_the_receipt_and_is_counted(served: Served) -> None:
    status, answer = await served.post("/alerts/alertmanager", am_body(2), token=AM_TOKEN)
    assert status == 200
    assert answer == {"status": "stored", "alerts": 2, "new": 2, "group": 7}
    [batch] = served.receiver.batches
    assert batch.source == "alertmanager"
    assert batch.group_key == '{}:{alertname="DiskFull"}'
    assert requests(served, "alertmanager", "stored") == 1
    received = 'firewatch_alerts_received_total{source="alertmanager",status="%s"}'
    assert served.count(received % "firing") == 1
    assert served.count(received % "resolved") == 1


async def test_the_generic_webhook_starts_an_undated_alert_when_received(served: Served) -> None:
    body = {"id": "disk-full-db1", "title": "Disk full on db1"}
    status, answer = await served.post("/alerts/webhook", body, token=HOOK_TOKEN)
    assert status == 200
    assert answer["status"] == "stored"
    [batch] = served.receiver.batches
    assert batch.alerts[0].starts_at == NOW
    assert batch.group_key == "webhook:disk-full-db1"


async def test_an_endpoint_without_a_token_is_not_found() -> None:
    async with serve(AlertTokens(alertmanager=AM_TOKEN)) as served:
        for source, token in (("grafana", GRAFANA_TOKEN), ("webhook", HOOK_TOKEN)):
            status, answer = await served.post(f"/alerts/{source}", am_body(), token=token)
            assert status == 404
            assert answer == {"error": "not found", "field": None}
            assert requests(served, source, "not_found") == 1
        assert served.receiver.batches == []


@pytest.mark.parametrize(
    ("source", "name", "token"),
    [
        ("alertmanager", "alertmanager_firing.json", AM_TOKEN),
        ("alertmanager", "alertmanager_resolved.json", AM_TOKEN),
        ("grafana", "grafana_firing.json", GRAFANA_TOKEN),
    ],
)
async def test_the_captured_bodies_are_stored(
    served: Served, source: str, name: str, token: str
) -> None:
    raw = (FIXTURES / name).read_bytes()
    status, answer = await served.post(f"/alerts/{source}", data=raw, token=token)
    assert (status, answer["alerts"]) == (200, 2)
    [batch] = served.receiver.batches
    assert batch.source == source
    assert [alert.fingerprint for alert in batch.alerts] == [
        alert["fingerprint"] for alert in json.loads(raw)["alerts"]
    ]


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789", AM_TOKEN + "x", HOOK_TOKEN])
async def test_a_missing_or_wrong_token_is_401_and_nothing_is_stored(
    served: Served, token: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, answer = await served.post("/alerts/alertmanager", am_body(), token=token)
    assert status == 401
    assert answer["field"] is None
    assert served.receiver.batches == []
    assert requests(served, "alertmanager", "unauthorized") == 1
    assert AM_TOKEN not in caplog.text


async def test_a_wrong_token_is_refused_before_the_body_is_read(served: Served) -> None:
    status, _ = await served.post("/alerts/alertmanager", data=b"\xff not json", token="nope")
    assert status == 401
    assert requests(served, "alertmanager", "bad_request") == 0


async def test_the_endpoint_limit_applies_not_the_apps_client_max_size(served: Served) -> None:
    body = am_body()
    body["alerts"][0]["annotations"]["description"] = "x" * 2000  # over 1024, under LIMIT
    status, _ = await served.post("/alerts/alertmanager", body, token=AM_TOKEN)
    assert status == 200
    assert served.receiver.batches[0].alerts[0].annotations["description"] == "x" * 2000


async def test_a_body_over_the_limit_by_its_length_is_413(served: Served) -> None:
    body = am_body()
    body["alerts"][0]["annotations"]["description"] = "x" * LIMIT
    status, answer = await served.post("/alerts/alertmanager", body, token=AM_TOKEN)
    assert status == 413
    assert str(LIMIT) in answer["error"]
    assert served.receiver.batches == []
    assert requests(served, "alertmanager", "too_large") == 1


async def test_a_streamed_body_over_the_limit_is_413(served: Served) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for _ in range(LIMIT // 512 + 2):
            yield b" " * 512

    status, _ = await served.post("/alerts/alertmanager", data=chunks(), token=AM_TOKEN)
    assert status == 413
    assert served.receiver.batches == []
    assert requests(served, "alertmanager", "too_large") == 1


async def test_a_streamed_body_under_the_limit_is_taken(served: Served) -> None:
    encoded = json.dumps(am_body()).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield encoded[:10]
        yield encoded[10:]

    status, _ = await served.post("/alerts/alertmanager", data=chunks(), token=AM_TOKEN)
    assert status == 200
    assert len(served.receiver.batches) == 1


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"{not json", "not JSON"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b"[" * 2000 + b"]" * 2000, "not JSON"),
    ],
)
async def test_a_body_that_is_not_json_is_400_without_a_field(
    served: Served, data: bytes, error: str
) -> None:
    status, answer = await served.post("/alerts/webhook", data=data, token=HOOK_TOKEN)
    assert status == 400
    assert answer == {"error": f"the body is {error}", "field": None}
    assert requests(served, "webhook", "bad_request") == 1


async def test_a_payload_problem_is_400_naming_the_field(served: Served) -> None:
    body = am_body()
    del body["alerts"][0]["startsAt"]
    status, answer = await served.post("/alerts/alertmanager", body, token=AM_TOKEN)
    assert status == 400
    assert answer == {"error": "is required", "field": "alerts[0].startsAt"}
    assert served.receiver.batches == []


async def test_a_receiver_failure_is_503_with_a_logged_reference(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    served.receiver.fail = True
    status, answer = await served.post("/alerts/alertmanager", am_body(), token=AM_TOKEN)
    assert status == 503
    assert "Traceback" not in json.dumps(answer)
    assert "database is down" not in answer["error"]
    ref = answer["error"].split("(ref ", 1)[1].split(")", 1)[0]
    [logged] = [r for r in caplog.records if getattr(r, "error_ref", None) == ref]
    assert logged.exc_info is not None
    assert requests(served, "alertmanager", "unavailable") == 1
    assert (
        served.count('firewatch_alerts_received_total{source="alertmanager",status="firing"}') == 0
    )


def test_tokens_do_not_show_in_their_repr() -> None:
    tokens = AlertTokens(alertmanager=AM_TOKEN)
    assert AM_TOKEN not in repr(tokens)
    assert "alertmanager=set" in repr(tokens)


def test_check_config_masks_the_alert_tokens(tmp_path: Path) -> None:
    env = {
        "FIREWATCH_ALERTMANAGER_TOKEN": AM_TOKEN,
        "FIREWATCH_GRAFANA_TOKEN": GRAFANA_TOKEN,
        "FIREWATCH_ALERT_WEBHOOK_TOKEN": HOOK_TOKEN,
        "FIREWATCH_ALERT_MAX_BODY_BYTES": "2097152",
    }
    result = run_cli("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for token in (AM_TOKEN, GRAFANA_TOKEN, HOOK_TOKEN):
        assert token not in result.stdout + result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "****…cdef (25 chars)" in lines["FIREWATCH_ALERTMANAGER_TOKEN"]
    assert "2097152" in lines["FIREWATCH_ALERT_MAX_BODY_BYTES"]
    short = run_cli("check-config", env={"FIREWATCH_GRAFANA_TOKEN": "short"}, cwd=tmp_path)
    assert short.returncode == 2
    assert "FIREWATCH_GRAFANA_TOKEN: must be at least 16 characters" in short.stderr
