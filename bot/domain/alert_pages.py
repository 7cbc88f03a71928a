"""Paging from monitoring alerts: a policy rule (`alerts.page`: label matchers → role)
pages that role for an alert group, through the same ladder as incidents
(bot/domain/paging.py: the role's acting holder, its other people, the accountable
role), escalating step by step until someone acknowledges the group or nobody is left.

One chain per (group, role); its steps are the people paged in turn. Plain data and pure
functions: storing, deadlines and telling Slack are the services' work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.domain.alerts import AlertsPolicy, roles_to_page
from bot.domain.policy import Policy


class AlertPageStatus(StrEnum):
    WAITING = "waiting"  # paged, not acknowledged, deadline not yet handled
    ACKNOWLEDGED = "acknowledged"  # the group was acknowledged (by anyone)
    ESCALATED = "escalated"  # nobody answered in time; the next rung was paged
    UNANSWERED = "unanswered"  # nobody answered and no rung was left
    RESOLVED = "resolved"  # the alerts resolved before anyone answered


# Pages an acknowledgement of the group closes (and whose DMs it updates).
UNACKNOWLEDGED = frozenset(
    {AlertPageStatus.WAITING, AlertPageStatus.ESCALATED, AlertPageStatus.UNANSWERED}
)


@dataclass(frozen=True)
class AlertPage:
    """One person paged for one role about one alert group (one step of its chain)."""

    id: int
    group_id: int
    chain: str  # the role key: a group pages a role once, its chain escalating
    step: int
    role: str  # the role the person is paged as (the accountable rung: that role)
    person: str
    via: str  # primary, backup, stand_in, accountable (bot.domain.paging.Via)
    status: AlertPageStatus
    paged_at: datetime
    ack_deadline: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    escalated_to: str | None = None
    dm_channel: str | None = None
    dm_ts: str | None = None


def roles_for(rules: AlertsPolicy, label_sets: Iterable[Mapping[str, str]]) -> tuple[str, ...]:
    """The roles the page rules name for any of these alerts, each once, in the order the
    alerts and the policy name them."""
    found: dict[str, None] = {}
    for labels in label_sets:
        for role in roles_to_page(rules, labels):
            found[role] = None
    return tuple(found)


def chains_to_start(
    roles: Iterable[str], paged: Iterable[str], known_roles: Iterable[str]
) -> tuple[str, ...]:
    """The roles still to page for a group: not paged for it yet, and in the roster."""
    done, known = set(paged), set(known_roles)
    return tuple(role for role in roles if role not in done and role in known)


def pagerduty_on(policy: Policy, configured: bool) -> bool:
    """Pages go to PagerDuty too: the policy allows external paging, and a routing key is
    configured (FIREWATCH_PAGERDUTY_ROUTING_KEY) or named by a role or a severity."""
    if not policy.features.external_paging:
        return False
    return (
        configured
        or any(r.pagerduty_routing_key for r in policy.roles.values())
        or any(s.pagerduty_routing_key for s in policy.severities.values())
    )


def pagerduty_routing_key(
    policy: Policy, role: str, severity: str, default: str | None
) -> str | None:
    """The role's key, else the severity's, else the configured one (as for incidents)."""
    found = policy.roles.get(role)
    level = policy.severities.get(severity)
    return (
        (found.pagerduty_routing_key if found else None)
        or (level.pagerduty_routing_key if level else None)
        or default
    )


def pagerduty_dedup_key(page_id: int) -> str:
    """PagerDuty de-duplicates on this: a retried trigger opens no second alert, and the
    acknowledgement finds the trigger's alert."""
    return f"firewatch-alert-page-{page_id}"


def latest_per_chain(pages: Iterable[AlertPage]) -> list[AlertPage]:
    """Each chain's newest step (what a card says of the role's paging), by chain order
    of first page."""
    latest: dict[str, AlertPage] = {}
    for page in sorted(pages, key=lambda p: p.id):
        if page.chain not in latest or page.step >= latest[page.chain].step:
            latest[page.chain] = page
    return list(latest.values())
