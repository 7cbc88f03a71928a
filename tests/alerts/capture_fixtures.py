"""Capture Alertmanager's webhook bodies into tests/fixtures/alerts/, from the real binary.

    python -m tests.alerts.capture_fixtures

Runs Alertmanager through the test harness (tests/alerts/alertmanager.py) with a
receiver on loopback, pushes a group of two firing alerts, and writes what Alertmanager
POSTed: the first notification (alertmanager_firing.json), its resend after
repeat_interval (alertmanager_repeat.json) and, once both alerts are resolved, the
resolved notification (alertmanager_resolved.json). Bodies are written with sorted keys
and an indent of 2, so that a regeneration changes only what Alertmanager changed
(times, and whatever a new Alertmanager version sends differently).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.alerts.alertmanager import Alertmanager, WebhookReceiver

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
TOKEN = "fixture-token"
EXTERNAL_URL = "http://alertmanager.example.com:9093"
PROMETHEUS = "http://prometheus.example.com:9090"
# Prometheus's link to the rule's expression, as it sets generatorURL.
EXPR = (
    "g0.expr=sum+by+%28instance%29+%28rate%28http_requests_total%7Bcode%3D~%225..%22%7D"
    "%5B5m%5D%29%29+%2F+sum+by+%28instance%29+%28rate%28http_requests_total%5B5m%5D%29%29"
    "+%3E+0.05&g0.tab=1"
)


def group() -> list[dict[str, Any]]:
    """Two firing alerts of one alert rule (so one group: group_by alertname)."""
    alerts = []
    for instance, rate in (
        ("api-1.prod.example.com:8080", "7.3"),
        ("api-2.prod.example.com:8080", "5.9"),
    ):
        alerts.append(
            {
                "labels": {
                    "alertname": "HighErrorRate",
                    "severity": "critical",
                    "env": "production",
                    "team": "payments",
                    "instance": instance,
                },
                "annotations": {
                    "summary": f"High 5xx error rate on {instance}",
                    "description": (
                        f"{rate}% of requests to {instance} failed with a 5xx status over "
                        "the last 5 minutes (threshold 5%)."
                    ),
                    "runbook_url": "https://runbooks.example.com/payments/high-error-rate",
                },
                "generatorURL": f"{PROMETHEUS}/graph?{EXPR}",
            }
        )
    return alerts


async def capture() -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="alertmanager-capture-") as workdir:
        async with (
            WebhookReceiver() as receiver,
            Alertmanager(
                receiver.url,
                TOKEN,
                group_interval="1s",
                repeat_interval="1ms",
                external_url=EXTERNAL_URL,
                workdir=Path(workdir),
            ) as am,
        ):
            await am.push(group())
            firing = await receiver.wait_for(lambda d: len(d.body["alerts"]) == 2, alertmanager=am)
            after = receiver.deliveries.index(firing) + 1
            repeat = await receiver.wait_for(since=after, alertmanager=am)
            await am.resolve(*(a["labels"] for a in firing.body["alerts"]))
            resolved = await receiver.wait_for(
                lambda d: d.body["status"] == "resolved", alertmanager=am
            )
    return {
        "alertmanager_firing.json": firing.body,
        "alertmanager_repeat.json": repeat.body,
        "alertmanager_resolved.json": resolved.body,
    }


def stable_json(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    bodies = asyncio.run(capture())
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        (FIXTURES / name).write_text(stable_json(body), "utf-8")
        sys.stdout.write(f"wrote {FIXTURES / name}\n")


if __name__ == "__main__":
    main()
