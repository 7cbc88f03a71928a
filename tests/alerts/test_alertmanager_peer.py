"""The real Alertmanager harness (tests/alerts/alertmanager.py) against a receiver on
loopback: what Alertmanager 0.25 actually sends, as Firewatch's endpoint will get it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.alerts.alertmanager import (
    Alertmanager,
    AlertmanagerError,
    AlertmanagerMissing,
    WebhookReceiver,
)

TOKEN = "s3cret-token"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: a firing alert's endsAt on the wire


def alert(instance: str, alertname: str = "HighErrorRate") -> dict[str, object]:
    return {
        "labels": {"alertname": alertname, "severity": "critical", "instance": instance},
        "annotations": {"summary": f"errors on {instance}"},
        "generatorURL": f"http://prometheus.test/graph?g0.expr={instance}",
    }


def parsed(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_one_push_of_two_alerts_is_one_notification_with_the_token(
    tmp_path: Path,
) -> None:
    async with (
        WebhookReceiver() as receiver,
        Alertmanager(receiver.url, TOKEN, workdir=tmp_path) as am,
    ):
        sent = await am.push([alert("api-1"), alert("api-2")])
        first = await receiver.wait_for(alertmanager=am)
        held = await am.alerts()

    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["User-Agent"].startswith("Alertmanager/")
    body = first.body
    assert body["version"] == "4"
    assert body["receiver"] == "firewatch"
    assert body["status"] == "firing"
    assert body["groupKey"] == '{}:{alertname="HighErrorRate"}'
    assert body["groupLabels"] == {"alertname": "HighErrorRate"}
    assert body["commonLabels"] == {"alertname": "HighErrorRate", "severity": "critical"}
    assert body["commonAnnotations"] == {}  # the summaries differ
    assert body["externalURL"] == am.url
    assert body["truncatedAlerts"] == 0
    # Both alerts in the first notification, each with its own fingerprint.
    assert len(set(first.fingerprints)) == 2
    by_instance = {a["labels"]["instance"]: a for a in body["alerts"]}
    assert sorted(by_instance) == ["api-1", "api-2"]
    for pushed in sent:
        got = by_instance[pushed["labels"]["instance"]]
        assert got["status"] == "firing"
        assert got["labels"] == pushed["labels"]
        assert got["annotations"] == pushed["annotations"]
        assert got["generatorURL"] == pushed["generatorURL"]
        assert parsed(got["startsAt"]) == parsed(pushed["startsAt"])
        assert got["endsAt"] == ZERO_TIME
    # The fingerprints are Alertmanager's own, as its API shows them.
    assert sorted(a["fingerprint"] for a in held) == first.fingerprints


async def test_group_by_keeps_other_alertnames_in_their_own_group(tmp_path: Path) -> None:
    async with (
        WebhookReceiver() as receiver,
        Alertmanager(receiver.url, TOKEN, workdir=tmp_path, repeat_interval="1h") as am,
    ):
        await am.push([alert("api-1"), alert("db-1", alertname="DiskFull")])
        errors = await receiver.wait_for(
            lambda d: d.body["groupLabels"] == {"alertname": "HighErrorRate"}, alertmanager=am
        )
        disk = await receiver.wait_for(
            lambda d: d.body["groupLabels"] == {"alertname": "DiskFull"}, alertmanager=am
        )
        held = await am.alerts()
        filtered = await am.alerts('alertname="DiskFull"')

    assert errors.body["groupKey"] != disk.body["groupKey"]
    assert [a["labels"]["instance"] for a in errors.body["alerts"]] == ["api-1"]
    assert [a["labels"]["instance"] for a in disk.body["alerts"]] == ["db-1"]
    assert sorted(a["fingerprint"] for a in held) == sorted(errors.fingerprints + disk.fingerprints)
    assert [a["labels"]["alertname"] for a in filtered] == ["DiskFull"]


async def test_a_resend_after_repeat_interval_is_the_same_firing(tmp_path: Path) -> None:
    # repeat_interval over group_interval: the resend waits for repeat_interval, then comes
    # on a group_interval tick.
    async with (
        WebhookReceiver() as receiver,
        Alertmanager(
            receiver.url, TOKEN, workdir=tmp_path, group_interval="200ms", repeat_interval="1s"
        ) as am,
    ):
        await am.push([alert("api-1"), alert("api-2")])
        first = await receiver.wait_for(alertmanager=am)
        resend = await receiver.wait_for(since=1, alertmanager=am)

    assert resend.received_at - first.received_at >= timedelta(seconds=1)
    assert resend.body["status"] == "firing"
    assert resend.body["groupKey"] == first.body["groupKey"]
    assert resend.fingerprints == first.fingerprints
    starts = {a["fingerprint"]: a["startsAt"] for a in first.body["alerts"]}
    assert {a["fingerprint"]: a["startsAt"] for a in resend.body["alerts"]} == starts
    # Nothing on the wire tells a resend from the first notification.
    assert resend.body == first.body


async def test_resolving_sends_status_resolved_with_ends_at(tmp_path: Path) -> None:
    async with (
        WebhookReceiver() as receiver,
        Alertmanager(receiver.url, TOKEN, workdir=tmp_path, group_interval="200ms") as am,
    ):
        await am.push([alert("api-1"), alert("api-2")])
        firing = await receiver.wait_for(alertmanager=am)
        labels = [a["labels"] for a in firing.body["alerts"]]
        again = await am.resolve(*labels)
        resolved = await receiver.wait_for(
            lambda d: d.body["status"] == "resolved", alertmanager=am
        )
        still_active = await am.alerts()

    assert resolved.headers["Authorization"] == f"Bearer {TOKEN}"
    assert resolved.body["groupKey"] == firing.body["groupKey"]
    assert resolved.fingerprints == firing.fingerprints
    ends = {tuple(sorted(a["labels"].items())): parsed(a["endsAt"]) for a in again}
    before = {a["fingerprint"]: a for a in firing.body["alerts"]}
    for got in resolved.body["alerts"]:
        assert got["status"] == "resolved"
        assert parsed(got["endsAt"]) == ends[tuple(sorted(got["labels"].items()))]
        assert parsed(got["endsAt"]) <= datetime.now(UTC)
        was = before[got["fingerprint"]]
        assert got["startsAt"] == was["startsAt"]
        assert got["annotations"] == was["annotations"]  # resolve() kept them
        assert got["generatorURL"] == was["generatorURL"]
    assert still_active == []


async def test_a_rejected_config_fails_with_alertmanagers_own_words(tmp_path: Path) -> None:
    with pytest.raises(AlertmanagerError, match="group_interval cannot be zero"):
        async with Alertmanager(
            "http://127.0.0.1:9/x", TOKEN, group_interval="0s", workdir=tmp_path
        ):
            pass


async def test_resolving_an_unknown_alert_says_so(tmp_path: Path) -> None:
    async with (
        WebhookReceiver() as receiver,
        Alertmanager(receiver.url, TOKEN, workdir=tmp_path) as am,
    ):
        with pytest.raises(AlertmanagerError, match="no active alert"):
            await am.resolve({"alertname": "Nothing"})
    assert receiver.deliveries == []


def test_a_missing_binary_is_an_error_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(AlertmanagerMissing, match="prometheus-alertmanager"):
        Alertmanager("http://127.0.0.1:9/x", TOKEN)
