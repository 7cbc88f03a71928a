"""Webhook bodies from Alertmanager, Grafana and the generic webhook become an AlertBatch;
anything else is an AlertPayloadError naming the JSON path, and nothing else escapes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.alert_payloads import (
    MAX_ALERTS,
    MAX_ENTRIES,
    MAX_VALUE_BYTES,
    parse_alertmanager,
    parse_generic,
    parse_grafana,
)
from bot.domain.alerts import AlertBatch, AlertPayloadError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
T0 = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)


def alertmanager_body() -> dict[str, Any]:
    return {
        "version": "4",
        "receiver": "firewatch",
        "status": "firing",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
        "commonAnnotations": {"summary": "Disk full"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "instance": "db1", "severity": "critical"},
                "annotations": {
                    "summary": "Disk full on db1",
                    "runbook_url": "https://runbooks.example/disk",
                },
                "startsAt": "2026-12-06T07:00:00.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
                "fingerprint": "a1b2c3d4e5f60718",
            }
        ],
    }


def grafana_body() -> dict[str, Any]:
    body = alertmanager_body()
    body |= {"title": "[FIRING:1] DiskFull", "state": "alerting", "message": "db1 is full"}
    body["alerts"][0] |= {
        "dashboardURL": "https://grafana.example/d/abc",
        "panelURL": "https://grafana.example/d/abc?viewPanel=2",
        "silenceURL": "https://grafana.example/alerting/silence/new",
        "values": {"A": 99.5, "B": 3, "C": None},
        "valueString": "[ var='A' value=99.5 ]",
    }
    return body


def expect_error(parse: Any, body: object, field: str, problem: str = "") -> None:
    with pytest.raises(AlertPayloadError) as raised:
        parse(body)
    assert raised.value.field == field
    assert problem in raised.value.problem


# --- Alertmanager -------------------------------------------------------------------


def test_an_alertmanager_body_becomes_a_batch_with_its_links() -> None:
    batch = parse_alertmanager(alertmanager_body())
    assert (batch.source, batch.status, batch.receiver) == ("alertmanager", "firing", "firewatch")
    assert batch.group_key == '{}:{alertname="DiskFull"}'
    assert batch.common_labels["severity"] == "critical"
    assert batch.external_url == "http://alertmanager:9093"
    [alert] = batch.alerts
    assert alert.fingerprint == "a1b2c3d4e5f60718"
    assert alert.starts_at == datetime(2026, 12, 6, 7, 0, 0, 123456, tzinfo=UTC)
    assert alert.ends_at is None  # 0001-01-01 is Go's zero time: unset
    assert alert.summary == "Disk full on db1"
    assert alert.links == {
        "generator": "http://prometheus:9090/graph?g0.expr=disk",
        "runbook": "https://runbooks.example/disk",
    }


def test_a_resolved_alert_keeps_its_end_and_offsets_become_utc() -> None:
    body = alertmanager_body()
    body["status"] = "resolved"
    body["alerts"][0] |= {
        "status": "resolved",
        "startsAt": "2026-12-06T08:00:00+01:00",
        "endsAt": "2026-12-06T02:30:00-05:00",
    }
    [alert] = parse_alertmanager(body).alerts
    assert alert.status == "resolved"
    assert alert.starts_at == T0
    assert alert.starts_at.tzinfo is UTC
    assert alert.ends_at == datetime(2026, 12, 6, 7, 30, tzinfo=UTC)


def test_a_missing_fingerprint_is_computed_from_the_labels_stably() -> None:
    body = alertmanager_body()
    del body["alerts"][0]["fingerprint"]
    first = parse_alertmanager(body).alerts[0].fingerprint
    body["alerts"][0]["labels"] = dict(reversed(list(body["alerts"][0]["labels"].items())))
    assert parse_alertmanager(body).alerts[0].fingerprint == first
    assert len(first) == 16
    assert int(first, 16) >= 0
    body["alerts"][0]["labels"]["instance"] = "db2"
    assert parse_alertmanager(body).alerts[0].fingerprint != first


def test_a_missing_group_key_comes_from_the_group_labels_else_the_common_ones() -> None:
    body = alertmanager_body()
    del body["groupKey"]
    body["groupLabels"] = {"team": "db", "alertname": "DiskFull"}
    assert parse_alertmanager(body).group_key == '{}:{alertname="DiskFull",team="db"}'
    del body["groupLabels"]
    assert parse_alertmanager(body).group_key == '{}:{alertname="DiskFull",severity="critical"}'


def test_a_missing_batch_status_is_firing_while_any_alert_fires() -> None:
    body = alertmanager_body()
    del body["status"]
    assert parse_alertmanager(body).status == "firing"
    body["alerts"][0]["status"] = "resolved"
    assert parse_alertmanager(body).status == "resolved"


def test_unicode_labels_and_annotations_are_kept() -> None:
    body = alertmanager_body()
    body["alerts"][0]["labels"] |= {"équipe": "base de données", "service": "支付"}
    body["alerts"][0]["annotations"]["summary"] = "Disque plein 🔥"
    [alert] = parse_alertmanager(body).alerts
    assert alert.labels["équipe"] == "base de données"
    assert alert.labels["service"] == "支付"
    assert alert.summary == "Disque plein 🔥"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("alerts",), "alerts"),
        (("alerts", 0, "labels"), "alerts[0].labels"),
        (("alerts", 0, "startsAt"), "alerts[0].startsAt"),
        (("alerts", 0, "status"), "alerts[0].status"),
    ],
)
def test_each_required_alertmanager_field_missing_is_named(
    path: tuple[Any, ...], field: str
) -> None:
    body = alertmanager_body()
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    expect_error(parse_alertmanager, body, field, "is required")


def test_the_failing_alert_is_named_by_its_index() -> None:
    body = alertmanager_body()
    body["alerts"] = [copy.deepcopy(body["alerts"][0]) for _ in range(3)]
    body["alerts"][2]["startsAt"] = "yesterday"
    expect_error(parse_alertmanager, body, "alerts[2].startsAt", "RFC 3339")


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"alerts": {"not": "a list"}}, "alerts", "must be a list"),
        ({"alerts": []}, "alerts", "at least one"),
        ({"groupKey": 42}, "groupKey", "must be a string"),
        ({"status": "pending"}, "status", "firing or resolved"),
        ({"truncatedAlerts": -1}, "truncatedAlerts", "0 or more"),
        ({"truncatedAlerts": True}, "truncatedAlerts", "whole number"),
        ({"commonLabels": ["a"]}, "commonLabels", "JSON object"),
        ({"externalURL": ["x"]}, "externalURL", "must be a string"),
    ],
)
def test_wrong_types_at_the_top_are_named(change: dict[str, Any], field: str, problem: str) -> None:
    expect_error(parse_alertmanager, alertmanager_body() | change, field, problem)


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"labels": "alertname=X"}, "alerts[0].labels", "JSON object"),
        ({"labels": {"severity": 1}}, "alerts[0].labels.severity", "must be a string"),
        ({"labels": {"a b": None}}, 'alerts[0].labels["a b"]', "must be a string"),
        ({"annotations": {"summary": ["x"]}}, "alerts[0].annotations.summary", "string"),
        ({"startsAt": 1733468400}, "alerts[0].startsAt", "timestamp string"),
        ({"startsAt": "2026-12-06T07:00:00"}, "alerts[0].startsAt", "RFC 3339"),
        ({"startsAt": "2026-02-30T07:00:00Z"}, "alerts[0].startsAt", "not a valid date"),
        ({"startsAt": "0001-01-01T00:00:00Z"}, "alerts[0].startsAt", "zero time"),
        ({"endsAt": "9999-12-31T23:00:00-05:00"}, "alerts[0].endsAt", "not a valid date"),
        ({"status": "FIRING"}, "alerts[0].status", "firing or resolved"),
        ({"fingerprint": 7}, "alerts[0].fingerprint", "must be a string"),
        ({"generatorURL": {}}, "alerts[0].generatorURL", "must be a string"),
    ],
)
def test_wrong_types_in_an_alert_are_named(
    change: dict[str, Any], field: str, problem: str
) -> None:
    body = alertmanager_body()
    body["alerts"][0] |= change
    expect_error(parse_alertmanager, body, field, problem)


def test_a_body_that_is_not_an_object_is_named_as_the_body() -> None:
    for parse in (parse_alertmanager, parse_grafana, parse_generic):
        expect_error(parse, ["alerts"], "(body)", "JSON object")
    expect_error(parse_alertmanager, {"alerts": ["x"]}, "alerts[0]", "JSON object")


# --- limits -------------------------------------------------------------------------


def test_too_many_alerts_names_the_limit() -> None:
    body = alertmanager_body()
    body["alerts"] = body["alerts"] * (MAX_ALERTS + 1)
    expect_error(parse_alertmanager, body, "alerts", f"limit is {MAX_ALERTS} alerts per body")
    body["alerts"] = body["alerts"][:MAX_ALERTS]
    assert len(parse_alertmanager(body).alerts) == MAX_ALERTS


def test_too_many_labels_names_the_limit() -> None:
    body = alertmanager_body()
    body["alerts"][0]["labels"] = {f"l{i}": "v" for i in range(MAX_ENTRIES + 1)}
    expect_error(parse_alertmanager, body, "alerts[0].labels", f"limit is {MAX_ENTRIES}")


def test_a_value_longer_than_8_kib_names_the_limit_in_bytes() -> None:
    body = alertmanager_body()
    body["alerts"][0]["annotations"]["description"] = "é" * (MAX_VALUE_BYTES // 2)
    parse_alertmanager(body)  # exactly 8 KiB of UTF-8
    body["alerts"][0]["annotations"]["description"] += "x"
    expect_error(
        parse_alertmanager, body, "alerts[0].annotations.description", f"{MAX_VALUE_BYTES} bytes"
    )


def test_a_label_name_longer_than_the_limit_is_refused() -> None:
    body = alertmanager_body()
    body["alerts"][0]["labels"]["n" * 2000] = "v"
    expect_error(parse_alertmanager, body, "alerts[0].labels", "1024 bytes")


# --- Grafana ------------------------------------------------------------------------


def test_a_grafana_body_keeps_its_title_links_and_values_as_strings() -> None:
    batch = parse_grafana(grafana_body())
    assert batch.source == "grafana"
    assert batch.title == "[FIRING:1] DiskFull"
    assert batch.common_annotations["message"] == "db1 is full"
    [alert] = batch.alerts
    assert alert.values == {"A": "99.5", "B": "3", "C": "null"}
    assert alert.annotations["valueString"] == "[ var='A' value=99.5 ]"
    assert alert.links == {
        "generator": "http://prometheus:9090/graph?g0.expr=disk",
        "dashboard": "https://grafana.example/d/abc",
        "panel": "https://grafana.example/d/abc?viewPanel=2",
        "silence": "https://grafana.example/alerting/silence/new",
        "runbook": "https://runbooks.example/disk",
    }


def test_grafana_state_stands_in_for_a_missing_status() -> None:
    body = grafana_body()
    del body["status"]
    body["state"] = "ok"
    body["alerts"][0]["status"] = "firing"
    assert parse_grafana(body).status == "resolved"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"values": {"A": "99.5"}}, "alerts[0].values.A"),
        ({"values": {"A": True}}, "alerts[0].values.A"),
        ({"values": [1]}, "alerts[0].values"),
        ({"values": {"A": 10**120}}, "alerts[0].values.A"),
        ({"dashboardURL": 3}, "alerts[0].dashboardURL"),
        ({"valueString": {}}, "alerts[0].valueString"),
    ],
)
def test_grafana_wrong_types_are_named(change: dict[str, Any], field: str) -> None:
    body = grafana_body()
    body["alerts"][0] |= change
    expect_error(parse_grafana, body, field)
    expect_error(parse_grafana, grafana_body() | {"title": 1}, "title", "must be a string")


def test_alertmanager_ignores_grafana_fields() -> None:
    [alert] = parse_alertmanager(grafana_body()).alerts
    assert alert.values == {}
    assert "dashboard" not in alert.links


# --- generic ------------------------------------------------------------------------


def generic_alert(**change: Any) -> dict[str, Any]:
    alert = {
        "id": "disk-full-db1",
        "title": "Disk full on db1",
        "description": "/var is at 99%",
        "severity": "critical",
        "labels": {"service": "db", "severity": "low"},
        "started_at": "2026-12-06T09:00:00+02:00",
        "url": "https://monitor.example/a/1",
    }
    return alert | change


def test_a_generic_body_becomes_a_batch() -> None:
    batch = parse_generic({"group": "db-disks", "alerts": [generic_alert()]})
    assert (batch.source, batch.group_key, batch.status) == ("webhook", "db-disks", "firing")
    [alert] = batch.alerts
    assert alert.fingerprint == "disk-full-db1"
    assert alert.summary == "Disk full on db1"
    assert alert.annotations["description"] == "/var is at 99%"
    assert alert.labels == {"service": "db", "severity": "critical"}  # the field wins
    assert alert.starts_at == T0
    assert alert.ends_at is None
    assert alert.links == {"url": "https://monitor.example/a/1"}


def test_a_single_generic_alert_needs_no_wrapper_and_gets_a_group() -> None:
    batch = parse_generic(generic_alert(status="resolved", ended_at="2026-12-06T07:05:00Z"))
    assert batch.group_key == "webhook:disk-full-db1"
    assert batch.status == "resolved"
    assert batch.alerts[0].ends_at == T0 + timedelta(minutes=5)


def test_several_generic_alerts_share_a_group_digest_and_must_differ() -> None:
    two = [generic_alert(), generic_alert(id="disk-full-db2")]
    key = parse_generic({"alerts": two}).group_key
    assert key == parse_generic({"alerts": two[::-1]}).group_key
    assert key.startswith("webhook:")
    assert len(key) == len("webhook:") + 16
    expect_error(parse_generic, {"alerts": [generic_alert()] * 2}, "alerts[1].id", "alerts[0].id")


def test_the_generic_start_defaults_to_the_arrival_time_only_when_given() -> None:
    body = generic_alert()
    del body["started_at"]
    expect_error(parse_generic, body, "started_at", "is required")
    arrived = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    assert parse_generic(body, received_at=arrived).alerts[0].starts_at == arrived


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"id": None}, "alerts[0].id", "is required"),
        ({"title": None}, "alerts[0].title", "is required"),
        ({"id": " "}, "alerts[0].id", "must not be empty"),
        ({"id": 12}, "alerts[0].id", "must be a string"),
        ({"status": "open"}, "alerts[0].status", "firing or resolved"),
        ({"labels": {"x": 1}}, "alerts[0].labels.x", "must be a string"),
        ({"ended_at": "soon"}, "alerts[0].ended_at", "RFC 3339"),
        ({"url": 5}, "alerts[0].url", "must be a string"),
    ],
)
def test_generic_problems_are_named(change: dict[str, Any], field: str, problem: str) -> None:
    expect_error(parse_generic, {"alerts": [generic_alert(**change)]}, field, problem)


def test_generic_wrapper_problems_are_named() -> None:
    expect_error(parse_generic, {"alerts": "x"}, "alerts", "must be a list")
    expect_error(parse_generic, {"alerts": [generic_alert()], "group": 1}, "group", "string")


# --- captured fixtures (tests/fixtures/alerts/README.md) ----------------------------


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text(encoding="utf-8")))


def test_alertmanagers_captured_firing_notification() -> None:
    batch = parse_alertmanager(fixture("alertmanager_firing.json"))
    assert (batch.status, batch.receiver, batch.truncated) == ("firing", "firewatch", 0)
    assert batch.group_key == '{}:{alertname="HighErrorRate"}'
    assert [a.fingerprint for a in batch.alerts] == ["1aeb4e53cd38cbe7", "3b6a87bc6779c948"]
    first = batch.alerts[0]
    assert first.starts_at == datetime(2026, 12, 6, 7, 13, 32, 673000, tzinfo=UTC)
    assert first.ends_at is None
    assert first.summary == "High 5xx error rate on api-1.prod.example.com:8080"
    assert first.links["runbook"] == "https://runbooks.example.com/payments/high-error-rate"
    assert first.links["generator"].startswith("http://prometheus.example.com:9090/graph?")


def test_a_fingerprint_left_out_is_the_one_alertmanager_computes() -> None:
    body = fixture("alertmanager_firing.json")
    sent = [alert.pop("fingerprint") for alert in body["alerts"]]
    assert [a.fingerprint for a in parse_alertmanager(body).alerts] == sent


def test_alertmanagers_resend_is_the_same_batch_and_its_resolution_ends_it() -> None:
    firing = parse_alertmanager(fixture("alertmanager_firing.json"))
    assert parse_alertmanager(fixture("alertmanager_repeat.json")) == firing
    resolved = parse_alertmanager(fixture("alertmanager_resolved.json"))
    assert resolved.status == "resolved"
    assert resolved.group_key == firing.group_key
    for before, after in zip(firing.alerts, resolved.alerts, strict=True):
        assert (after.fingerprint, after.starts_at) == (before.fingerprint, before.starts_at)
        assert after.status == "resolved"
        assert after.ends_at == datetime(2026, 12, 6, 7, 13, 33, 777000, tzinfo=UTC)


def test_grafanas_documented_body() -> None:
    batch = parse_grafana(fixture("grafana_firing.json"))
    assert batch.title == "[FIRING:2] (Payments checkout payments)"
    assert batch.group_key == "{}:{}"
    assert batch.common_annotations["message"].startswith("**Firing**")
    latency, errors = batch.alerts
    assert latency.starts_at == datetime(2026, 11, 30, 13, 2, 10, 417532, tzinfo=UTC)
    assert latency.values == {"B": "1.8324151", "C": "1"}
    assert latency.links["dashboard"] == "https://grafana.example.com/d/c4k2p9x/checkout?orgId=1"
    assert latency.annotations["valueString"].startswith("[ var='B'")
    assert "dashboard" not in errors.links  # sent as ""
    assert errors.links["silence"].startswith("https://grafana.example.com/alerting/silence/")


# --- never anything else ------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
ALERT_KEYS = (
    "status labels annotations startsAt endsAt generatorURL fingerprint dashboardURL panelURL "
    "silenceURL values valueString id title description severity started_at ended_at url"
).split()
TOP_KEYS = (
    "receiver status groupKey truncatedAlerts groupLabels commonLabels commonAnnotations "
    "externalURL title state message group"
).split()
TIMES = st.sampled_from(
    ["0001-01-01T00:00:00Z", "2026-12-06T07:00:00+14:00", "9999-12-31T23:59:60.5-23:59"]
)
STRINGS = st.dictionaries(st.text(max_size=8), st.text(max_size=8) | JSON, max_size=4)


MISSING = object()
VALUES = JSON | TIMES | STRINGS | st.sampled_from(["firing", "resolved", MISSING])


def mutated(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`body` with some keys set to random JSON, or removed (MISSING)."""
    out = body | changes
    return {key: value for key, value in out.items() if value is not MISSING}


def bodies() -> st.SearchStrategy[Any]:
    """Valid bodies of each source with a few fields (top or alert) replaced or removed."""
    bases = st.sampled_from(
        [alertmanager_body(), grafana_body(), {"alerts": [generic_alert()]}, generic_alert()]
    )
    changes = st.dictionaries(st.sampled_from(ALERT_KEYS + TOP_KEYS), VALUES, max_size=3)

    def build(base: dict[str, Any], top: dict[str, Any], alert: dict[str, Any]) -> Any:
        body = mutated(copy.deepcopy(base), top)
        if isinstance(body.get("alerts"), list) and body["alerts"]:
            body["alerts"][0] = mutated(body["alerts"][0], alert)
        return body

    return st.builds(build, bases, changes, changes)


BODIES = JSON | bodies()


@settings(max_examples=400, deadline=None)
@given(BODIES)
def test_any_json_is_a_batch_or_a_payload_error(body: Any) -> None:
    for parse in (parse_alertmanager, parse_grafana, parse_generic):
        outcome: object
        try:
            outcome = parse(body)
        except AlertPayloadError as exc:
            outcome = exc
        assert isinstance(outcome, AlertBatch | AlertPayloadError)
        if isinstance(outcome, AlertPayloadError):
            assert outcome.field
            assert outcome.problem
