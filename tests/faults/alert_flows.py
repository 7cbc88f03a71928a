"""The alert step of the fault matrix (issue 22): Alertmanager posts a notification to one
replica, retrying as it does when it gets no 2xx; whatever breaks, the alert is stored
once and its card is posted once, in the routed channel (the broadcast channel here)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from tests.faults.cluster import ALERTMANAGER_TOKEN, Cluster

if TYPE_CHECKING:  # flows.py lists this step among its own
    from tests.faults.flows import Incident

BROADCAST = "incidents"  # FIREWATCH_BROADCAST_CHANNEL of every replica (#incidents)


def notification(tag: str) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for one firing alert of this case."""
    started = (datetime.now(UTC) - timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    labels = {"alertname": f"DiskFull{tag}", "severity": "warning", "instance": "db-1"}
    return {
        "version": "4",
        "receiver": "firewatch",
        "status": "firing",
        "groupKey": f'{{}}:{{alertname="DiskFull{tag}"}}',
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": f"DiskFull{tag}"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": f"disk full on db-1 {tag}"},
        "externalURL": "http://alertmanager.test",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"disk full on db-1 {tag}"},
                "startsAt": started,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.test/graph",
                "fingerprint": f"fp{tag}"[:64],
            }
        ],
    }


async def alert(c: Cluster, inc: Incident) -> None:
    """POST to the next live replica until one answers 2xx (Alertmanager retries a
    notification that failed, and may send it to another replica behind the balancer)."""
    body = notification(inc.tag)
    headers = {"Authorization": f"Bearer {ALERTMANAGER_TOKEN}"}
    last = ""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for attempt in range(12):
            live = [r for name, r in c.replicas.items() if c.alive(name)]
            if live:
                replica = live[attempt % len(live)]
                url = replica.server.base_url + "/alerts/alertmanager"
                try:
                    async with http.post(url, json=body, headers=headers) as answer:
                        if answer.status < 300:
                            return
                        last = f"HTTP {answer.status}: {(await answer.text())[:200]}"
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    last = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.5)
    raise AssertionError(f"no replica took the notification: {last}")


async def alerted(c: Cluster, inc: Incident) -> None:
    await c.settled()
    stored = await c.scalar(
        "SELECT count(*) FROM alerts WHERE fingerprint = :f", f=f"fp{inc.tag}"[:64]
    )
    assert stored == 1, f"{stored} alerts stored"
    channel = c.slack.channel_by_name(BROADCAST)
    assert channel is not None
    summary = f"disk full on db-1 {inc.tag}"
    shown = [m for m in c.slack.messages(channel.id) if summary in m.text + json.dumps(m.blocks)]
    assert len(shown) == 1, f"the alert's card shown {len(shown)} times"
    assert "1 of 1 alert firing" in json.dumps(shown[0].blocks)
