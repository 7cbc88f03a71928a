"""The live incident channel's topic (issue 23): its format, and Slack's 250 characters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain.incident import ChannelStatus, Incident, Kind, Status
from bot.policy.loader import load_default_policy
from bot.slack.blocks.live_channel import TOPIC_MAX, alert_link, channel_topic, lead_role

POLICY = load_default_policy()
AT = datetime(2026, 12, 6, 13, 30, tzinfo=UTC)  # a Sunday

INCIDENT = Incident(
    1, "Checkout errors", "n", "monitoring_alert", "i", "e", None, "sev1",
    Status.INVESTIGATING, Kind.INCIDENT, "U0ALICE", AT, ChannelStatus.CREATED,
    channel_id="C1", response_deadline=AT + timedelta(hours=1),
)  # fmt: skip


def test_the_topic_names_severity_status_lead_and_deadline() -> None:
    assert channel_topic(INCIDENT, POLICY, "U0BOB") == (
        "SEV1 · Investigating · lead <@U0BOB> · respond by Sun 14:30 UTC"
    )


def test_no_deadline_once_acknowledged_or_resolved_and_no_lead_said_so() -> None:
    acknowledged = replace(INCIDENT, status=Status.IDENTIFIED, acknowledged_at=AT)
    assert channel_topic(acknowledged, POLICY, None) == "SEV1 · Identified · no lead"
    resolved = replace(INCIDENT, status=Status.RESOLVED)
    assert channel_topic(resolved, POLICY, "U0BOB") == "SEV1 · Resolved · lead <@U0BOB>"


def test_a_lead_that_is_not_a_user_id_is_text_escaped_and_shortened_to_fit() -> None:
    long_lead = "<!channel>&" + "x" * 300 + "@example.com"
    topic = channel_topic(INCIDENT, POLICY, long_lead)
    assert len(topic) <= TOPIC_MAX
    assert topic.startswith("SEV1 · Investigating · lead &lt;!channel&gt;&amp;xxx")
    assert topic.endswith("… · respond by Sun 14:30 UTC")
    assert "<!channel>" not in topic


def test_the_pm_leads_in_the_default_policy() -> None:
    assert lead_role(POLICY) == "pm"


def test_the_source_alert_is_the_evidence_when_it_is_one_link() -> None:
    assert alert_link(" https://grafana.example.com/d/x ") == "https://grafana.example.com/d/x"
    assert alert_link("see https://grafana.example.com/d/x") is None
    assert alert_link("") is None
