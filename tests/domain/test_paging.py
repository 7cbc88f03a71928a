"""Paging rules: who is paged for a role, the escalation ladder, "away until"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.paging import (
    BadWhen,
    UnknownPerson,
    absent_people,
    ladder,
    leaves_the_role,
    next_rung,
    parse_person,
    parse_until,
    roster,
    roster_emails,
    with_user_ids,
)
from bot.domain.policy import Policy
from bot.policy.loader import load_default_policy, merge_policy_data

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def policy_with(roles: dict[str, dict[str, object]]) -> Policy:
    base = load_default_policy().model_dump(mode="json", exclude_none=True)
    return Policy.model_validate(merge_policy_data(base, {"roles": roles}))


POLICY = policy_with(
    {
        "pm": {"primary": "U0PM", "backups": ["U0PMB"]},
        "dl": {"primary": "U0DL", "backups": ["U0DLB", "U0DLC"]},
        "om": {"primary": "U0OM", "backups": ["U0OMB"]},
    }
)
# Seed 003: the PM's only backup is the DL, who can act as one role only.
SEED = policy_with({"pm": {"primary": "U0PM"}, "dl": {"primary": "U0DL", "backups": ["U0DLB"]}})


def people(rungs: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(r.person, r.via) for r in rungs]


def test_the_ladder_is_primary_then_backups_then_the_accountable_role() -> None:
    assert people(ladder(POLICY, "dl")) == [
        ("U0DL", "primary"),
        ("U0DLB", "backup"),
        ("U0DLC", "backup"),
        ("U0PM", "accountable"),
    ]
    # The PM is the accountable role itself: nobody beyond its own people.
    assert people(ladder(POLICY, "pm")) == [("U0PM", "primary"), ("U0PMB", "backup")]


def test_next_rung_skips_who_was_paged_and_ends_unanswered() -> None:
    first = next_rung(POLICY, "om", already_paged=())
    assert first is not None
    assert (first.person, first.via) == ("U0OM", "primary")
    second = next_rung(POLICY, "om", already_paged=["U0OM"])
    assert second is not None
    assert second.person == "U0OMB"
    last = next_rung(POLICY, "om", already_paged=["U0OM", "U0OMB"])
    assert last is not None
    assert (last.person, last.via, last.role) == ("U0PM", "accountable", "pm")
    assert leaves_the_role(last)
    assert next_rung(POLICY, "om", already_paged=["U0OM", "U0OMB", "U0PM"]) is None
    assert leaves_the_role(None)
    assert not leaves_the_role(second)


def test_an_unavailable_primary_is_replaced_by_the_backup() -> None:
    rung = next_rung(POLICY, "om", already_paged=(), absent={"U0OM"})
    assert rung is not None
    assert (rung.person, rung.via) == ("U0OMB", "backup")
    assert "U0OM" not in [r.person for r in ladder(POLICY, "om", absent={"U0OM"})]


def test_with_the_pm_absent_the_dl_acts_as_pm_and_the_dl_backup_as_dl() -> None:
    absent = {"U0PM"}
    pm = next_rung(SEED, "pm", already_paged=(), absent=absent)
    dl = next_rung(SEED, "dl", already_paged=(), absent=absent)
    assert pm is not None
    assert (pm.person, pm.via) == ("U0DL", "stand_in")
    assert dl is not None
    assert (dl.person, dl.via) == ("U0DLB", "backup")
    # The DL acting as PM is not the DL role's backup: after its backup, the accountable
    # role (pm), held by the DL standing in.
    assert people(ladder(SEED, "dl", absent=absent)) == [
        ("U0DLB", "backup"),
        ("U0DL", "accountable"),
    ]


def test_an_assignment_for_the_incident_comes_first() -> None:
    assert people(ladder(POLICY, "sme", assigned="U0SME")) == [
        ("U0SME", "assigned"),
        ("U0PM", "accountable"),
    ]
    # Nobody holds the SME and nobody is assigned: the accountable role is paged.
    rung = next_rung(POLICY, "sme", already_paged=())
    assert rung is not None
    assert rung.via == "accountable"


def test_roster_shows_who_acts_now_and_who_is_away() -> None:
    absences = {"U0PM": NOW + timedelta(hours=1), "U0OM": NOW - timedelta(hours=1)}
    assert absent_people(absences, NOW) == {"U0PM"}
    view = roster(SEED, absences, NOW)
    acting = {line.key: (line.acting.person, line.acting.via) for line in view.lines}
    assert acting["pm"] == ("U0DL", "stand_in")
    assert acting["dl"] == ("U0DLB", "backup")
    assert dict(view.away) == {"U0PM": NOW + timedelta(hours=1)}


def test_roster_emails_are_named_by_their_policy_key_and_swapped_for_ids() -> None:
    policy = policy_with({"dl": {"primary": "lead@example.com", "backups": ["U0DLB"]}})
    assert roster_emails(policy) == {"lead@example.com": "roles.dl.primary"}
    resolved = with_user_ids(policy, {"lead@example.com": "U0LEAD"})
    assert resolved.roles["dl"].primary == "U0LEAD"
    assert str(UnknownPerson("roles.dl.primary", "x@y.z")) == (
        "roles.dl.primary: no Slack user with email x@y.z"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", NOW + timedelta(hours=2)),
        ("3 days", NOW + timedelta(days=3)),
        ("17:00", datetime(2026, 3, 2, 17, 0, tzinfo=UTC)),
        ("09:00", datetime(2026, 3, 3, 9, 0, tzinfo=UTC)),
        ("tomorrow", datetime(2026, 3, 3, tzinfo=UTC)),
        ("monday", datetime(2026, 3, 9, tzinfo=UTC)),
        ("2026-03-10", datetime(2026, 3, 10, tzinfo=UTC)),
        ("2026-03-10 17:30", datetime(2026, 3, 10, 17, 30, tzinfo=UTC)),
    ],
)
def test_away_until_reads_what_people_type(text: str, expected: datetime) -> None:
    assert parse_until(text, NOW, "UTC") == expected


def test_away_until_uses_the_policy_time_zone_and_refuses_nonsense() -> None:
    assert parse_until("17:00", NOW, "Europe/Paris") == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    with pytest.raises(BadWhen, match="can't read"):
        parse_until("whenever", NOW, "UTC")


def test_people_are_read_from_mentions_and_ids() -> None:
    assert parse_person("<@U0BOB|bob>") == "U0BOB"
    assert parse_person("<@U0BOB>") == "U0BOB"
    assert parse_person("U0BOB") == "U0BOB"
    assert parse_person("@bob") is None
