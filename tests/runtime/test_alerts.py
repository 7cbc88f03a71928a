"""docs/operations/alerts.yaml: well-formed rules, a complete runbook for every alert, and
only metric names (and label names) that Firewatch really exports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from bot.runtime.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "docs" / "operations" / "alerts.yaml"
RUNBOOKS = ROOT / "docs" / "operations" / "runbooks"
SECTIONS = ("Symptom", "Investigation", "Causes", "Resolution", "Escalation")
REQUIRED_ALERTS = {
    "FirewatchOutboxBacklogAging",
    "FirewatchOutboxDeadMessages",
    "FirewatchSlackRequestErrors",
    "FirewatchSlowAcknowledgements",
    "FirewatchSlackAuthFailing",
    "FirewatchSchedulerMisses",
    "FirewatchDown",
}
# Prometheus' own series (scrape health), usable in rules besides Firewatch's.
PROMETHEUS_SERIES = {"up"}
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"job", "instance"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "unknown": ("",),
}
DURATION = re.compile(r"^\d+[smhdwy]$")
METRIC_NAME = re.compile(r"\b(firewatch_[a-z0-9_]+)\b")
SELECTOR = re.compile(r"\b([a-z_][a-z0-9_]*)\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def load_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    assert list(document) == ["groups"]
    rules: list[dict[str, Any]] = []
    for group in document["groups"]:
        assert group["name"]
        assert group["rules"], group["name"]
        rules.extend(group["rules"])
    return rules


RULES = load_rules()


def exported_series() -> dict[str, set[str]]:
    """Every series name a fresh Metrics() can expose -> the label names it carries."""
    metrics = Metrics()
    labels_of = {
        metric._name: set(metric._labelnames)
        for metric in vars(metrics).values()
        if isinstance(metric, MetricWrapperBase)
    }
    series: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        labels = labels_of.get(family.name, set())
        for suffix in SUFFIXES[family.type]:
            series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


SERIES = exported_series()


def test_the_rule_file_has_the_alerts_we_promised() -> None:
    names = [rule["alert"] for rule in RULES]
    assert len(names) == len(set(names)), "duplicate alert names"
    assert set(names) >= REQUIRED_ALERTS
    assert all(name.startswith("Firewatch") for name in names)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule["alert"])
def test_every_rule_is_complete(rule: dict[str, Any]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
    assert isinstance(rule["expr"], str)
    assert rule["expr"].strip()
    assert DURATION.match(str(rule["for"])), rule.get("for")
    assert rule["labels"]["severity"] in {"critical", "warning"}
    annotations = rule["annotations"]
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations[key]).strip(), key
    expr = rule["expr"]
    for opening, closing in ("()", "[]", "{}"):
        assert expr.count(opening) == expr.count(closing), f"unbalanced {opening}{closing}"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule["alert"])
def test_every_alert_has_a_complete_runbook(rule: dict[str, Any]) -> None:
    url = str(rule["annotations"]["runbook_url"])
    match = re.search(r"(docs/operations/runbooks/[a-z0-9-]+\.md)$", url)
    assert match, f"runbook_url must end with docs/operations/runbooks/<name>.md: {url}"
    path = ROOT / match.group(1)
    assert path.is_file(), f"{rule['alert']}: {path} does not exist"
    text = path.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+?)\s*$", text, flags=re.MULTILINE)
    assert headings[: len(SECTIONS)] == list(SECTIONS), f"{path.name}: {headings}"
    assert text.startswith("# "), f"{path.name} needs a title"
    assert rule["alert"] in text, f"{path.name} should name the alert it handles"
    for section in _sections(text).values():
        assert len(section.strip()) > 40, f"{path.name}: a section is empty"


def test_every_runbook_is_linked_from_an_alert() -> None:
    linked = {Path(str(rule["annotations"]["runbook_url"])).name for rule in RULES}
    present = {path.name for path in RUNBOOKS.glob("*.md")}
    assert present == linked


def test_runbook_commands_exist() -> None:
    """The runbooks only use the CLI's real commands and options."""
    allowed = {
        "firewatch run",
        "firewatch migrate",
        "firewatch check-config",
        "firewatch policy show",
        "firewatch outbox",
        "firewatch demo",
    }
    options = {"--status", "--limit", "--resend", "--quiet"}
    for path in RUNBOOKS.glob("*.md"):
        for line in path.read_text(encoding="utf-8").splitlines():
            for command in re.findall(r"`(firewatch [^`]+)`", line) + re.findall(
                r"^\s*(firewatch [a-z-]+(?: [a-z-]+)?(?: --?[a-z-]+(?: \S+)?)*)", line
            ):
                words = command.split()
                head = " ".join(words[:3]) if words[1] == "policy" else " ".join(words[:2])
                assert head in allowed, f"{path.name}: {command}"
                for word in words:
                    if word.startswith("--"):
                        assert word in options, f"{path.name}: {command}"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule["alert"])
def test_exprs_use_only_exported_metrics_and_labels(rule: dict[str, Any]) -> None:
    expr = rule["expr"]
    for name in METRIC_NAME.findall(expr):
        assert name in SERIES, f"{rule['alert']}: {name} is not exported by Metrics()"
    for name, matchers in SELECTOR.findall(expr):
        if name in PROMETHEUS_SERIES:
            continue
        assert name in SERIES, f"{rule['alert']}: unknown series {name}"
        for label in MATCHER_LABEL.findall(matchers):
            assert label in SERIES[name] | TARGET_LABELS, f"{rule['alert']}: {name}{{{label}}}"
    for grouping in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        known = set().union(*(SERIES[n] for n in METRIC_NAME.findall(expr))) | TARGET_LABELS
        for label in filter(None, (part.strip() for part in grouping.split(","))):
            assert label in known, f"{rule['alert']}: groups by unknown label {label}"


def test_the_label_and_suffix_check_would_catch_mistakes() -> None:
    assert "firewatch_slack_requests_total" in SERIES
    assert "firewatch_slack_requests" not in SERIES  # a counter needs _total
    assert "firewatch_ack_latency_seconds_bucket" in SERIES
    assert "le" in SERIES["firewatch_ack_latency_seconds_bucket"]
    assert "firewatch_outbox_backlog_total" not in SERIES  # a gauge has no suffix
    assert SERIES["firewatch_scheduler_job_misses_total"] == {"job_id"}
    assert SERIES["firewatch_slack_requests_total"] == {"kind", "outcome"}


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+?)\s*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))
