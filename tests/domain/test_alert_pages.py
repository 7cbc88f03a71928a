"""Paging from alerts, the pure part: which roles a group's new alerts page, which chains
are still to start, PagerDuty's switch and routing key, and a card's view of each chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.alert_pages import (
    AlertPage,
    AlertPageStatus,
    chains_to_start,
    latest_per_chain,
    pagerduty_dedup_key,
    pagerduty_on,
    pagerduty_routing_key,
    roles_for,
)
from bot.domain.alerts import AlertsPolicy
from bot.domain.policy import Policy
from bot.policy.loader import load_default_policy, merge_policy_data

AT = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
RULES = AlertsPolicy.model_validate(
    {
        "page": [
            {"matchers": ["severity=critical"], "role": "om"},
            {"matchers": ["team=payments"], "role": "dl"},
            {"matchers": ["severity=~crit.*"], "role": "om"},
        ]
    }
)


def policy(**changes: object) -> Policy:
    base = load_default_policy().model_dump(mode="json", exclude_none=True)
    return Policy.model_validate(merge_policy_data(base, changes))


def page(page_id: int, chain: str, step: int, status: AlertPageStatus) -> AlertPage:
    return AlertPage(
        id=page_id,
        group_id=1,
        chain=chain,
        step=step,
        role=chain,
        person=f"U{page_id}",
        via="primary",
        status=status,
        paged_at=AT,
        ack_deadline=AT + timedelta(minutes=30),
    )


def test_roles_for_names_each_role_once_in_the_order_alerts_and_rules_give() -> None:
    alerts = [{"severity": "warning", "team": "payments"}, {"severity": "critical"}]
    assert roles_for(RULES, alerts) == ("dl", "om")
    assert roles_for(RULES, [{"severity": "critical", "team": "payments"}]) == ("om", "dl")
    assert roles_for(RULES, [{"severity": "info"}]) == ()
    assert roles_for(AlertsPolicy(), [{"severity": "critical"}]) == ()


def test_chains_to_start_skips_roles_paged_already_or_not_in_the_roster() -> None:
    assert chains_to_start(("om", "dl", "gone"), {"dl"}, ("pm", "dl", "om")) == ("om",)
    assert chains_to_start(("om",), (), ()) == ()


def test_pagerduty_is_on_with_a_configured_key_or_one_in_the_policy() -> None:
    plain = policy()
    assert pagerduty_on(plain, configured=False) is False
    assert pagerduty_on(plain, configured=True) is True
    keyed = policy(roles={"om": {"pagerduty_routing_key": "ROLEKEY"}})
    assert pagerduty_on(keyed, configured=False) is True
    off = policy(features={"external_paging": False})
    assert pagerduty_on(off, configured=True) is False


def test_routing_key_is_the_roles_then_the_severitys_then_the_configured_one() -> None:
    data = policy(roles={"om": {"pagerduty_routing_key": "ROLEKEY"}}).model_dump(mode="json")
    data["severities"]["sev1"]["pagerduty_routing_key"] = "SEVKEY"
    both = Policy.model_validate(data)
    assert pagerduty_routing_key(both, "om", "sev1", "DEFAULT") == "ROLEKEY"
    assert pagerduty_routing_key(both, "dl", "sev1", "DEFAULT") == "SEVKEY"
    assert pagerduty_routing_key(both, "dl", "sev2", "DEFAULT") == "DEFAULT"
    assert pagerduty_routing_key(policy(), "dl", "sev2", None) is None
    assert pagerduty_dedup_key(7) == "firewatch-alert-page-7"


def test_latest_per_chain_is_each_chains_newest_step() -> None:
    pages = [
        page(3, "om", 1, AlertPageStatus.WAITING),
        page(1, "om", 0, AlertPageStatus.ESCALATED),
        page(2, "dl", 0, AlertPageStatus.UNANSWERED),
    ]
    assert [(p.chain, p.step) for p in latest_per_chain(pages)] == [("om", 1), ("dl", 0)]
    assert latest_per_chain([]) == []
