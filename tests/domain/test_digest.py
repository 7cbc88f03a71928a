"""The weekly digest against a hand-built week (Mon 2 Mar 10:00 → Mon 9 Mar 10:00 UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.domain.digest import (
    ActionItemFacts,
    BreachFacts,
    Digest,
    IncidentFacts,
    PostmortemFacts,
    build_digest,
    previous_period,
    trend,
)

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
END = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def incident(
    number: int,
    severity: str,
    declared: datetime,
    *,
    ack: datetime | None = None,
    resolved: datetime | None = None,
    kind: str = "incident",
    reporter: str = "U0ALICE",
) -> IncidentFacts:
    return IncidentFacts(
        id=number,
        kind=kind,
        severity=severity,
        title=f"Incident {number}",
        status="resolved" if resolved else "investigating",
        reporter_id=reporter,
        declared_at=declared,
        acknowledged_at=ack,
        resolved_at=resolved,
    )


def postmortem(
    pm_id: int, incident_id: int, status: str, *, owner: str = "U0BOB", due: datetime = END
) -> PostmortemFacts:
    return PostmortemFacts(
        id=pm_id,
        incident_id=incident_id,
        incident_title=f"Incident {incident_id}",
        severity="sev1",
        status=status,
        owner_id=owner,
        due_at=due,
        submitted_by="U0CAROL" if status == "submitted" else None,
        submitted_at=at(5, 16) if status == "submitted" else None,
    )


WEEK = [
    # sev1, acknowledged in 10 min, resolved in 2 h, post-mortem submitted
    incident(1, "sev1", at(2, 11), ack=at(2, 11, 10), resolved=at(2, 13)),
    # sev1, acknowledged in 30 min, resolved in 1 h, nobody asked for a post-mortem
    incident(2, "sev1", at(4, 9), ack=at(4, 9, 30), resolved=at(4, 10), reporter="U0DAVE"),
    # sev2, never acknowledged: a breach
    incident(3, "sev2", at(5, 12)),
    incident(4, "sev3", at(6, 8), kind="non_incident", reporter="U0ERIN"),
    # declared the week before, resolved this week (6 days): its post-mortem is a draft
    incident(5, "sev2", at(25, 10, month=2), resolved=at(3, 10)),
    # exactly at the end: next week's
    incident(7, "sev1", END),
]
PREVIOUS = [
    incident(
        6, "sev1", at(24, 10, month=2), ack=at(24, 10, 20, month=2), resolved=at(24, 14, month=2)
    ),
    incident(5, "sev2", at(25, 10, month=2), resolved=at(3, 10)),
    incident(8, "sev1", at(2, 9, 59)),  # one minute before the period
]
POSTMORTEMS = [
    postmortem(10, 1, "submitted"),
    postmortem(11, 5, "draft", owner="U0BOB", due=at(6, 10)),
    postmortem(13, 50, "changes_requested", owner="U0FRANK", due=at(20, 10)),
    postmortem(12, 99, "approved"),
]
ITEMS = [
    ActionItemFacts(1, 1, "Add an alert on replication lag", "U0BOB", date(2026, 3, 6)),
    ActionItemFacts(2, 1, "Runbook for failover", "U0CAROL", date(2026, 3, 9)),
    ActionItemFacts(3, 5, "Load test checkout", "U0DAVE", date(2026, 3, 1), status="done"),
    ActionItemFacts(4, 5, "Cap retries", "U0DAVE", date(2026, 2, 20)),
]
BREACHES = [
    BreachFacts(3, "Incident 3", "sev2", at(5, 12, 30), at(5, 13)),
    BreachFacts(9, "Incident 9", "sev1", at(28, 9, month=2), at(28, 10, month=2)),
]


@pytest.fixture
def digest() -> Digest:
    return build_digest(
        START,
        END,
        WEEK,
        PREVIOUS,
        POSTMORTEMS,
        ITEMS,
        BREACHES,
        END,
        today=date(2026, 3, 9),
        severity_order=SEVERITIES,
    )


def test_incidents_by_severity_count_the_period_only(digest: Digest) -> None:
    assert digest.severity_counts == {"sev1": 2, "sev2": 1, "sev3": 0, "sev4": 0}
    assert [i.id for i in digest.by_severity["sev1"]] == [1, 2]
    assert [i.id for i in digest.by_severity["sev2"]] == [3]
    assert digest.incident_count == 3
    assert list(digest.by_severity) == list(SEVERITIES)


def test_non_incident_reports_are_listed_apart(digest: Digest) -> None:
    assert [i.id for i in digest.non_incidents] == [4]


def test_post_mortems_to_review_are_the_submitted_ones(digest: Digest) -> None:
    assert [p.id for p in digest.to_review] == [10]


def test_owed_post_mortems_missing_and_outstanding_with_owner_and_due(digest: Digest) -> None:
    owed = {o.incident_id: o for o in digest.owed}
    assert set(owed) == {2, 5, 50}
    assert owed[2].postmortem_id is None
    assert owed[2].owner_id == "U0DAVE"  # nobody asked: the reporter
    assert owed[2].status is None
    assert (owed[5].owner_id, owed[5].status, owed[5].due_at) == ("U0BOB", "draft", at(6, 10))
    assert owed[5].overdue
    assert owed[50].status == "changes_requested"
    assert not owed[50].overdue
    # due first, the unrequested last
    assert [o.incident_id for o in digest.owed] == [5, 50, 2]


def test_a_default_owner_owes_the_post_mortems_nobody_was_asked_for() -> None:
    built = build_digest(START, END, WEEK, [], [], [], [], END, default_owner="U0PM")
    assert {o.incident_id: o.owner_id for o in built.owed} == {1: "U0PM", 2: "U0PM", 5: "U0PM"}


def test_breaches_of_the_period(digest: Digest) -> None:
    assert [b.incident_id for b in digest.breaches] == [3]


def test_mtta_and_mttr_per_severity_against_the_previous_period(digest: Digest) -> None:
    times = {r.severity: r for r in digest.response_times}
    assert list(times) == ["sev1", "sev2"]
    sev1 = times["sev1"]
    assert sev1.mtta == timedelta(minutes=20)  # (10 + 30) / 2
    assert sev1.mttr == timedelta(minutes=90)  # (2 h + 1 h) / 2
    assert sev1.previous_mtta == timedelta(minutes=20)
    assert sev1.previous_mttr == timedelta(hours=4)
    assert (sev1.acknowledged, sev1.resolved) == (2, 2)
    assert trend(sev1.mttr, sev1.previous_mttr) == "faster"
    assert trend(sev1.mtta, sev1.previous_mtta) == "same"
    sev2 = times["sev2"]
    assert sev2.mtta is None  # incident 3 was never acknowledged
    assert sev2.mttr == timedelta(days=6)  # incident 5, resolved in the period
    assert sev2.previous_mttr is None


def test_overdue_action_items_are_open_and_due_before_today(digest: Digest) -> None:
    assert [(o.item.id, o.days_overdue) for o in digest.overdue_items] == [(4, 17), (1, 3)]


def test_a_quiet_week() -> None:
    built = build_digest(START, END, [], [], [], [], [], END, severity_order=SEVERITIES)
    assert built.is_quiet
    assert built.severity_counts == dict.fromkeys(SEVERITIES, 0)
    assert built.response_times == []


def test_the_previous_period_has_the_same_length() -> None:
    assert previous_period(START, END) == (START - timedelta(days=7), START)


def test_the_digest_is_deterministic() -> None:
    one = build_digest(START, END, WEEK, PREVIOUS, POSTMORTEMS, ITEMS, BREACHES, END)
    two = build_digest(
        START,
        END,
        list(reversed(WEEK)),
        list(reversed(PREVIOUS)),
        list(reversed(POSTMORTEMS)),
        list(reversed(ITEMS)),
        list(reversed(BREACHES)),
        END,
    )
    assert one == two
