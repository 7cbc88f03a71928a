"""Monitoring alerts: what a monitor sent, label matchers, and the policy's `alerts` rules.

An alert comes from Prometheus Alertmanager, Grafana or a generic webhook (each parsed
into `IncomingAlert` by bot/domain/alert_payloads.py). The policy routes it to a channel,
may page a role for it, maps its labels to a severity and may declare an incident for it
at once. Everything here is plain data and pure functions; storing and telling Slack is
the services' work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer

from bot.domain.policy_parts import FROZEN, Key
from bot.domain.status_page import ComponentState, worst

FIRING = "firing"
RESOLVED = "resolved"

# Annotations and labels a card shows first, when present.
SUMMARY_KEYS = ("summary", "title", "description", "message")


Labels = Mapping[str, str]


def alert_name(labels: Labels, annotations: Labels, fingerprint: str) -> str:
    """What an alert is called: its `alertname`, else its title, else its fingerprint."""
    return labels.get("alertname") or annotations.get("title") or fingerprint


def alert_summary(labels: Labels, annotations: Labels, fingerprint: str) -> str:
    """The one line a card or a timeline shows: the first of SUMMARY_KEYS annotated."""
    for key in SUMMARY_KEYS:
        text = (annotations.get(key) or "").strip()
        if text:
            return text
    return alert_name(labels, annotations, fingerprint)


class AlertSource(StrEnum):
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    WEBHOOK = "webhook"


class AlertPayloadError(ValueError):
    """A webhook body that cannot be taken: `field` names what is wrong (a JSON path such
    as `alerts[3].startsAt`), for the 400 answer."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class AlertIntakeBusy(Exception):
    """More notifications are waiting to be stored than Firewatch takes at once: the
    monitor is told to send again later (503 with Retry-After) instead of waiting."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy; send again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class IncomingAlert:
    """One alert as a monitor reported it. `fingerprint` + `starts_at` identify one firing
    of it (a resend of the same firing is the same alert)."""

    source: str
    fingerprint: str
    status: str  # FIRING or RESOLVED
    starts_at: datetime
    ends_at: datetime | None
    labels: Labels
    annotations: Labels
    # Where to look: generator (Prometheus graph), dashboard, panel, silence, runbook…
    links: Labels = field(default_factory=dict)
    values: Labels = field(default_factory=dict)

    @property
    def name(self) -> str:
        return alert_name(self.labels, self.annotations, self.fingerprint)

    @property
    def summary(self) -> str:
        return alert_summary(self.labels, self.annotations, self.fingerprint)


@dataclass(frozen=True)
class AlertBatch:
    """One webhook delivery: a group of alerts (Alertmanager's notification)."""

    source: str
    group_key: str
    status: str
    alerts: tuple[IncomingAlert, ...]
    group_labels: Labels = field(default_factory=dict)
    common_labels: Labels = field(default_factory=dict)
    common_annotations: Labels = field(default_factory=dict)
    receiver: str = ""
    external_url: str | None = None
    truncated: int = 0
    title: str | None = None  # Grafana's notification title


# --- label matchers (Alertmanager's syntax) ---------------------------------------------


class MatchOp(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Matcher:
    """`name=value`, `name!=value`, `name=~regex`, `name!~regex`, as in Alertmanager:
    a regex must match the whole value, and a missing label is the empty string."""

    name: str
    op: MatchOp
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        found = _MATCHER.match(text)
        if not found:
            raise ValueError(
                f"{text!r} is not a matcher; write label=value, label!=value, "
                "label=~regex or label!~regex"
            )
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        matcher = cls(name, MatchOp(op), value)
        if matcher.op in (MatchOp.RE, MatchOp.NRE):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{text!r}: bad regular expression ({exc})") from None
        return matcher

    def matches(self, labels: Labels) -> bool:
        actual = labels.get(self.name, "")
        if self.op is MatchOp.EQ:
            return actual == self.value
        if self.op is MatchOp.NE:
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op is MatchOp.RE else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op.value}{self.value}"


def _matcher(value: object) -> object:
    return Matcher.parse(value) if isinstance(value, str) else value


MatcherField = Annotated[Matcher, BeforeValidator(_matcher), PlainSerializer(str, return_type=str)]


def all_match(matchers: Iterable[Matcher], labels: Labels) -> bool:
    """Every matcher holds (no matchers: everything matches)."""
    return all(m.matches(labels) for m in matchers)


# --- the policy's `alerts` section ------------------------------------------------------


class AlertRoute(BaseModel):
    """Alerts whose labels match go to `channel` ("#name" or a channel id)."""

    model_config = FROZEN

    matchers: tuple[MatcherField, ...] = Field(min_length=1)
    channel: str = Field(min_length=2, max_length=80, pattern=r"^(#[^\s]+|[CG][A-Z0-9]{2,})$")


class AlertPageRule(BaseModel):
    """Alerts whose labels match page `role`, through the role's paging ladder."""

    model_config = FROZEN

    matchers: tuple[MatcherField, ...] = Field(min_length=1)
    role: Key


class AutoDeclareRule(BaseModel):
    """Alerts whose labels match declare an incident at once, at `severity` (else the
    severity the labels map to)."""

    model_config = FROZEN

    matchers: tuple[MatcherField, ...] = Field(min_length=1)
    severity: Key | None = None


class AlertComponentRule(BaseModel):
    """Alerts whose labels match affect `components` (status page keys) in `state`."""

    model_config = FROZEN

    matchers: tuple[MatcherField, ...] = Field(min_length=1)
    components: tuple[Key, ...] = Field(min_length=1)
    state: ComponentState = ComponentState.MAJOR_OUTAGE


class SeverityMapping(BaseModel):
    """Which severity an alert maps to (see `mapped_severity`)."""

    model_config = FROZEN

    label: str = Field(default="severity", min_length=1, max_length=100)
    values: dict[str, Key] = {}
    default: Key | None = None


class StormPolicy(BaseModel):
    """Bounds on what alerts say in one channel: at most `cards_per_minute` new cards a
    minute; alert groups beyond it are counted on one storm card instead."""

    model_config = FROZEN

    cards_per_minute: int = Field(default=10, ge=1, le=600)


class AlertsPolicy(BaseModel):
    """How monitoring alerts are routed, paged, mapped to a severity and declared."""

    model_config = FROZEN

    routes: tuple[AlertRoute, ...] = ()  # first match wins; else the broadcast channel
    page: tuple[AlertPageRule, ...] = ()  # every matching rule pages its role
    auto_declare: tuple[AutoDeclareRule, ...] = ()  # first match wins
    components: tuple[AlertComponentRule, ...] = ()  # every matching rule counts
    severity: SeverityMapping = SeverityMapping()
    # The labels a card shows, in this order, when the alert has them.
    card_labels: tuple[str, ...] = ("alertname", "severity", "env", "team", "service", "instance")
    storm: StormPolicy = StormPolicy()
    # How long the Silence button may mute an alert, at most.
    max_silence_hours: int = Field(default=168, ge=1, le=8760)


def route_channel(rules: AlertsPolicy, labels: Labels) -> str | None:
    """The channel of the first route whose matchers hold; None: the broadcast channel."""
    for route in rules.routes:
        if all_match(route.matchers, labels):
            return route.channel
    return None


def roles_to_page(rules: AlertsPolicy, labels: Labels) -> tuple[str, ...]:
    """The roles the matching page rules name, each once, in the policy's order."""
    found: dict[str, None] = {}
    for rule in rules.page:
        if all_match(rule.matchers, labels):
            found[rule.role] = None
    return tuple(found)


def affected_components(rules: AlertsPolicy, labels: Labels) -> dict[str, ComponentState]:
    """The components the matching rules name, each at the worst state named for it."""
    found: dict[str, list[ComponentState]] = {}
    for rule in rules.components:
        if all_match(rule.matchers, labels):
            for key in rule.components:
                found.setdefault(key, []).append(rule.state)
    return {key: worst(states) for key, states in found.items()}


def mapped_severity(rules: AlertsPolicy, labels: Labels, severities: Iterable[str]) -> str:
    """The severity the labels map to: the label's value looked up in `values`, else a
    value that names a severity itself (`severity=sev2`, any case), else `default`, else
    the least severe (severities are listed most severe first)."""
    known = list(severities)
    value = (labels.get(rules.severity.label) or "").strip()
    named = next((key for key in known if key.lower() == value.lower()), None)
    for key in (rules.severity.values.get(value), named, rules.severity.default):
        if key is not None and key in known:
            return key
    return known[-1]


def auto_declare_severity(
    rules: AlertsPolicy, labels: Labels, severities: Iterable[str]
) -> str | None:
    """The severity to declare at once with, or None when no auto-declare rule holds."""
    known = list(severities)
    for rule in rules.auto_declare:
        if all_match(rule.matchers, labels):
            if rule.severity in known:
                return rule.severity
            return mapped_severity(rules, labels, known)
    return None


# --- what is stored ---------------------------------------------------------------------


@dataclass(frozen=True)
class AlertGroup:
    """A group of alerts as Firewatch keeps it: one card in Slack (Alertmanager's
    notification group; a generic alert is a group of its own unless it names one)."""

    id: int
    source: str
    group_key: str
    channel: str | None  # where its card goes ("#name" or an id); None: nowhere configured
    status: str  # FIRING while any of its alerts fires
    title: str
    severity: str  # the severity its labels map to
    labels: Labels
    firing: int
    total: int
    first_seen_at: datetime
    last_seen_at: datetime
    resent_at: datetime | None  # the last time a monitor sent it again, unchanged
    storm_id: int | None  # counted on a storm card instead of a card of its own
    card_channel_id: str | None
    card_ts: str | None
    incident_id: int | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class StoredAlert:
    id: int
    group_id: int
    source: str
    fingerprint: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    labels: Labels
    annotations: Labels
    links: Labels
    values: Labels
    last_seen_at: datetime
    received: int  # how many times a monitor sent it

    @property
    def name(self) -> str:
        return alert_name(self.labels, self.annotations, self.fingerprint)

    @property
    def summary(self) -> str:
        return alert_summary(self.labels, self.annotations, self.fingerprint)


class AlertChange(StrEnum):
    """What one received alert changed."""

    NEW = "new"  # a firing not seen before
    RESENT = "resent"  # the same firing again: only its last-seen time moves
    RESOLVED = "resolved"  # it was firing and is resolved now
    UNCHANGED = "unchanged"  # resolved again, or resolved without having been seen firing


@dataclass(frozen=True)
class Silence:
    source: str
    fingerprint: str
    until: datetime
    by: str
    reason: str
    silenced_at: datetime


@dataclass(frozen=True)
class AlertStorm:
    """A storm card's read: the groups it counts (the busiest first) and the totals."""

    id: int
    channel: str
    opened_at: datetime
    last_seen_at: datetime
    card_channel_id: str | None
    card_ts: str | None
    groups: list[AlertGroup]
    group_count: int
    firing_alerts: int
    total_alerts: int
    firing_groups: int
