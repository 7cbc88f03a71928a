"""Webhook bodies from monitors, parsed into `AlertBatch`: Prometheus Alertmanager (v4),
Grafana, and Firewatch's own generic shape. Pure functions on decoded JSON; no HTTP.

Every problem raises `AlertPayloadError(field, problem)`, `field` being a JSON path
(`alerts[2].startsAt`, `alerts`, `groupKey`): nothing else escapes, whatever the body.
Sizes are bounded so that one body cannot hold more than the limits below.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from bot.domain.alerts import FIRING, RESOLVED, AlertBatch, AlertPayloadError, IncomingAlert

MAX_ALERTS = 1000  # alerts in one body
MAX_ENTRIES = 128  # entries in one labels / annotations / values object
MAX_NAME_BYTES = 1024  # a label or annotation name, an id
MAX_VALUE_BYTES = 8 * 1024  # a label or annotation value, a URL, a title, a group key
STATUSES = (FIRING, RESOLVED)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Grafana's legacy `state`, when a body has no `status`.
_GRAFANA_STATES = {"alerting": FIRING, "firing": FIRING, "ok": RESOLVED, "resolved": RESOLVED}

Body = Mapping[str, Any]


def parse_alertmanager(body: object) -> AlertBatch:
    """An Alertmanager webhook (version 4): `alerts` (required), `status`, `receiver`,
    `groupKey` (else derived from `groupLabels`, else `commonLabels`), `groupLabels`,
    `commonLabels`, `commonAnnotations`, `externalURL`, `truncatedAlerts`. Each alert needs
    `status`, `labels` and `startsAt`; `endsAt` 0001-01-01 means unset; a missing
    `fingerprint` is computed from the labels. Links: `generator` (generatorURL) and
    `runbook` (the `runbook_url` annotation)."""
    top = _object(body, "")
    alerts = tuple(
        _monitor_alert(item, f"alerts[{i}]", "alertmanager")
        for i, item in enumerate(_alert_list(top.get("alerts"), "alerts"))
    )
    return _monitor_batch(top, alerts, "alertmanager", title=None)


def parse_grafana(body: object) -> AlertBatch:
    """A Grafana webhook contact point: Alertmanager's shape plus `title`, `state` (used
    when `status` is absent), `message` (kept as the common `message` annotation), and per
    alert `dashboardURL`, `panelURL`, `silenceURL` (links `dashboard`, `panel`,
    `silence`), `values` (numbers, kept as strings) and `valueString` (kept as the
    `valueString` annotation)."""
    top = _object(body, "")
    alerts = tuple(
        _monitor_alert(item, f"alerts[{i}]", "grafana")
        for i, item in enumerate(_alert_list(top.get("alerts"), "alerts"))
    )
    title = _text(top.get("title"), "title")
    state = _text(top.get("state"), "state")
    if "status" not in top and state is not None:
        top = {**top, "status": _GRAFANA_STATES.get(state.lower())}
    message = _text(top.get("message"), "message")
    batch = _monitor_batch(top, alerts, "grafana", title=title)
    if message and "message" not in batch.common_annotations:
        common = {**batch.common_annotations, "message": message}
        return replace(batch, common_annotations=common)
    return batch


def parse_generic(body: object, *, received_at: datetime | None = None) -> AlertBatch:
    """Firewatch's generic webhook (`POST /alerts/webhook`)::

        {"group": "db-disks",                      # optional group key
         "alerts": [{
            "id": "disk-full-db1",                 # required: the alert's fingerprint
            "status": "firing",                    # or "resolved"; default firing
            "title": "Disk full on db1",           # required: the summary annotation
            "description": "/var is at 99%",       # optional annotation
            "severity": "critical",                # optional: the severity label
            "labels": {"service": "db"},           # optional, strings
            "started_at": "2026-12-06T07:00:00Z",  # RFC 3339; default: when received
            "ended_at": "2026-12-06T08:00:00Z",    # optional, RFC 3339
            "url": "https://monitor.example/a/1"   # optional: the `url` link
         }]}

    A single alert object without the `alerts` wrapper is one alert. `started_at` may be
    left out only when the caller passes `received_at` (the endpoint passes the time the
    request arrived). Without `group`, the group key is `webhook:<id>` for one alert, and
    `webhook:` plus a digest of the sorted ids for several. Ids must differ in one body.
    """
    top = _object(body, "")
    if "alerts" in top:
        items, prefix = _alert_list(top["alerts"], "alerts"), "alerts"
        group = _text(top.get("group"), "group", limit=MAX_VALUE_BYTES)
    else:
        items, prefix = [top], ""
        group = _text(top.get("group"), "group", limit=MAX_VALUE_BYTES)
    alerts: list[IncomingAlert] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(items):
        path = f"{prefix}[{i}]" if prefix else ""
        alert = _generic_alert(item, path, received_at)
        if alert.fingerprint in seen:
            raise AlertPayloadError(_join(path, "id"), f"repeats {seen[alert.fingerprint]}")
        seen[alert.fingerprint] = _join(path, "id")
        alerts.append(alert)
    if not group:
        ids = sorted(seen)
        group = f"webhook:{ids[0]}" if len(ids) == 1 else f"webhook:{_digest(ids)}"
    return AlertBatch(
        source="webhook",
        group_key=group,
        status=_batch_status(alerts),
        alerts=tuple(alerts),
    )


# --- the monitors' shape ------------------------------------------------------------


def _monitor_batch(
    top: Body, alerts: tuple[IncomingAlert, ...], source: str, *, title: str | None
) -> AlertBatch:
    group_labels = _strings(top.get("groupLabels"), "groupLabels")
    common_labels = _strings(top.get("commonLabels"), "commonLabels")
    status = top.get("status")
    if status is None:
        status = _batch_status(alerts)
    elif status not in STATUSES:
        raise AlertPayloadError("status", "must be firing or resolved")
    group_key = _text(top.get("groupKey"), "groupKey", limit=MAX_VALUE_BYTES)
    truncated = top.get("truncatedAlerts", 0)
    if truncated is None:
        truncated = 0
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise AlertPayloadError("truncatedAlerts", "must be a whole number, 0 or more")
    return AlertBatch(
        source=source,
        group_key=group_key or _derived_group_key(group_labels or common_labels),
        status=status,
        alerts=alerts,
        group_labels=group_labels,
        common_labels=common_labels,
        common_annotations=_strings(top.get("commonAnnotations"), "commonAnnotations"),
        receiver=_text(top.get("receiver"), "receiver") or "",
        external_url=_text(top.get("externalURL"), "externalURL") or None,
        truncated=truncated,
        title=title,
    )


def _monitor_alert(item: object, path: str, source: str) -> IncomingAlert:
    alert = _object(item, path)
    status = _status(alert, path, default=None)
    labels = _strings(_required(alert, "labels", path), _join(path, "labels"))
    annotations = _strings(alert.get("annotations"), _join(path, "annotations"))
    starts_at = _time(_required(alert, "startsAt", path), _join(path, "startsAt"))
    if starts_at is None:
        raise AlertPayloadError(_join(path, "startsAt"), "is the zero time (0001-01-01)")
    ends_at = _time(alert.get("endsAt"), _join(path, "endsAt"))
    fingerprint = _text(alert.get("fingerprint"), _join(path, "fingerprint"), MAX_NAME_BYTES)
    link_fields = {"generator": "generatorURL"}
    values: dict[str, str] = {}
    if source == "grafana":
        link_fields |= {"dashboard": "dashboardURL", "panel": "panelURL", "silence": "silenceURL"}
        values = _numbers(alert.get("values"), _join(path, "values"))
        value_string = _text(alert.get("valueString"), _join(path, "valueString"))
        if value_string and "valueString" not in annotations:
            annotations["valueString"] = value_string
    links = {
        name: url
        for name, key in link_fields.items()
        if (url := _text(alert.get(key), _join(path, key)))
    }
    if annotations.get("runbook_url"):
        links["runbook"] = annotations["runbook_url"]
    return IncomingAlert(
        source=source,
        fingerprint=fingerprint or _label_fingerprint(labels),
        status=status,
        starts_at=starts_at,
        ends_at=ends_at,
        labels=labels,
        annotations=annotations,
        links=links,
        values=values,
    )


def _generic_alert(item: object, path: str, received_at: datetime | None) -> IncomingAlert:
    alert = _object(item, path)
    fingerprint = _text(_required(alert, "id", path), _join(path, "id"), MAX_NAME_BYTES)
    title = _text(_required(alert, "title", path), _join(path, "title"), MAX_VALUE_BYTES)
    if not fingerprint or not fingerprint.strip():
        raise AlertPayloadError(_join(path, "id"), "must not be empty")
    if not title or not title.strip():
        raise AlertPayloadError(_join(path, "title"), "must not be empty")
    labels = _strings(alert.get("labels"), _join(path, "labels"))
    severity = _text(alert.get("severity"), _join(path, "severity"), MAX_VALUE_BYTES)
    if severity:
        labels["severity"] = severity
    annotations = {"summary": title}
    description = _text(alert.get("description"), _join(path, "description"), MAX_VALUE_BYTES)
    if description:
        annotations["description"] = description
    starts_at = _time(alert.get("started_at"), _join(path, "started_at"))
    if starts_at is None:
        if received_at is None:
            raise AlertPayloadError(_join(path, "started_at"), "is required")
        starts_at = received_at.astimezone(UTC)
    url = _text(alert.get("url"), _join(path, "url"), MAX_VALUE_BYTES)
    return IncomingAlert(
        source="webhook",
        fingerprint=fingerprint,
        status=_status(alert, path, default=FIRING),
        starts_at=starts_at,
        ends_at=_time(alert.get("ended_at"), _join(path, "ended_at")),
        labels=labels,
        annotations=annotations,
        links={"url": url} if url else {},
    )


# --- fields -------------------------------------------------------------------------


def _object(value: object, path: str) -> Body:
    if not isinstance(value, Mapping):
        raise AlertPayloadError(path or "(body)", "must be a JSON object")
    return value


def _required(body: Body, key: str, path: str) -> object:
    if key not in body or body[key] is None:
        raise AlertPayloadError(_join(path, key), "is required")
    return body[key]


def _alert_list(value: object, path: str) -> list[Any]:
    if value is None:
        raise AlertPayloadError(path, "is required")
    if not isinstance(value, list):
        raise AlertPayloadError(path, "must be a list of alerts")
    if not value:
        raise AlertPayloadError(path, "must hold at least one alert")
    if len(value) > MAX_ALERTS:
        raise AlertPayloadError(
            path, f"holds {len(value)} alerts; the limit is {MAX_ALERTS} alerts per body"
        )
    return value


def _status(alert: Body, path: str, *, default: str | None) -> str:
    status = alert.get("status")
    if status is None and default is not None:
        return default
    if status is None:
        raise AlertPayloadError(_join(path, "status"), "is required")
    if status not in STATUSES:
        raise AlertPayloadError(_join(path, "status"), "must be firing or resolved")
    return str(status)


def _text(value: object, path: str, limit: int = MAX_VALUE_BYTES) -> str | None:
    """An optional string (None when absent or null), at most `limit` UTF-8 bytes."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise AlertPayloadError(path, "must be a string")
    _bound(value, path, limit)
    return value


def _bound(value: str, path: str, limit: int) -> None:
    # Cheap first: a str of n code points encodes to at most 4n bytes.
    if len(value) * 4 > limit and len(value.encode("utf-8", "surrogatepass")) > limit:
        raise AlertPayloadError(path, f"is longer than the limit of {limit} bytes")


def _entries(value: object, path: str) -> list[tuple[str, object, str]]:
    """An optional object's (name, value, path of the value), bounded in count and names."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise AlertPayloadError(path, "must be a JSON object")
    if len(value) > MAX_ENTRIES:
        raise AlertPayloadError(
            path, f"has {len(value)} entries; the limit is {MAX_ENTRIES} per object"
        )
    out = []
    for name, item in value.items():
        if not isinstance(name, str):
            raise AlertPayloadError(path, "names must be strings")
        _bound(name, path, MAX_NAME_BYTES)
        out.append((name, item, _key_path(path, name)))
    return out


def _strings(value: object, path: str) -> dict[str, str]:
    """An optional object of strings (labels, annotations)."""
    out: dict[str, str] = {}
    for name, item, item_path in _entries(value, path):
        if not isinstance(item, str):
            raise AlertPayloadError(item_path, "must be a string")
        _bound(item, item_path, MAX_VALUE_BYTES)
        out[name] = item
    return out


def _numbers(value: object, path: str) -> dict[str, str]:
    """Grafana's `values`: an object of numbers (null allowed), kept as strings."""
    out: dict[str, str] = {}
    for name, item, item_path in _entries(value, path):
        if item is None:
            out[name] = "null"
        elif isinstance(item, bool) or not isinstance(item, int | float):
            raise AlertPayloadError(item_path, "must be a number")
        elif isinstance(item, float):
            out[name] = repr(item)
        elif abs(item) >= 10**100:
            raise AlertPayloadError(item_path, "is too large a number")
        else:
            out[name] = str(item)
    return out


def _time(value: object, path: str) -> datetime | None:
    """An RFC 3339 timestamp in UTC; None when absent, null or Go's zero time (0001-01-01,
    which Alertmanager sends for an unset `endsAt`)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise AlertPayloadError(path, "must be an RFC 3339 timestamp string")
    found = _RFC3339.match(value) if len(value) <= 64 else None
    if not found:
        raise AlertPayloadError(path, "must be an RFC 3339 timestamp, e.g. 2026-12-06T07:00:00Z")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = found.groups()
    try:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) if not zulu else timedelta()
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            min(int(second), 59),  # a leap second is its minute's last
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=timezone(-offset if sign == "-" else offset),
        )
        if local.year == 1 and local.month == 1 and local.day == 1:
            return None
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        raise AlertPayloadError(path, "is not a valid date and time") from None


# --- derived values -----------------------------------------------------------------


def _batch_status(alerts: tuple[IncomingAlert, ...] | list[IncomingAlert]) -> str:
    return FIRING if any(alert.status == FIRING for alert in alerts) else RESOLVED


def _label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's own fingerprint of a label set (Prometheus' `LabelSet.Fingerprint`):
    FNV-1a 64 over the sorted names and values, each followed by 0xff; 16 hex digits."""
    hashed = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8", "surrogatepass") + b"\xff":
                hashed = ((hashed ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{hashed:016x}"


def _digest(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _derived_group_key(labels: Mapping[str, str]) -> str:
    """Alertmanager's form, `{}:{name="value",…}`, from the group (or common) labels."""
    pairs = ",".join(f"{name}={json.dumps(value)}" for name, value in sorted(labels.items()))
    key = f"{{}}:{{{pairs}}}"
    return key if len(key) <= MAX_VALUE_BYTES else f"{{}}:{_digest(sorted(labels.items()))}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _key_path(path: str, name: str) -> str:
    if _PLAIN_KEY.match(name):
        return _join(path, name)
    return f"{path}[{json.dumps(name, ensure_ascii=False)}]"
