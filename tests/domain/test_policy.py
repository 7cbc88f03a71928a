"""The policy model: the default reproduces the seed policies; cross-field rules hold."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.domain.checklist import ChecklistGroup, ChecklistLeaf, ConsistencyError
from bot.domain.durations import Duration
from bot.domain.policy import Policy, Templates, UnknownPolicyKey
from bot.policy.loader import load_default_policy

DEFAULT = load_default_policy()


def policy_data(**changes: Any) -> dict[str, Any]:
    data = DEFAULT.model_dump(mode="json")
    data.update(changes)
    return data


def consistency_problems(error: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    found = []
    for detail in error.errors():
        inner = (detail.get("ctx") or {}).get("error")
        assert isinstance(inner, ConsistencyError)
        found += [(problem.loc, problem.message) for problem in inner.problems]
    return found


# --- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount", "unit", "business", "canonical"),
    [
        ("1h", 1, "hours", False, "1h"),
        ("4h", 4, "hours", False, "4h"),
        ("30m", 30, "minutes", False, "30m"),
        ("90 minutes", 90, "minutes", False, "90m"),
        ("2 days", 2, "days", False, "2d"),
        ("1 business day", 1, "days", True, "1 business day"),
        ("2 business days", 2, "days", True, "2 business days"),
        ("8 business hours", 8, "hours", True, "8 business hours"),
        ("1 Business Hour", 1, "hours", True, "1 business hour"),
    ],
)
def test_duration_parsing(text, amount, unit, business, canonical):
    duration = Duration.parse(text)
    assert (duration.amount, duration.unit, duration.business) == (amount, unit, business)
    assert str(duration) == canonical
    assert Duration.parse(str(duration)) == duration


@pytest.mark.parametrize("text", ["", "1", "h", "1 fortnight", "-1h", "0m", "1.5h", "business 1h"])
def test_bad_durations(text):
    with pytest.raises(ValidationError):
        Duration.parse(text)


def test_durations_are_strings_in_data() -> None:
    with pytest.raises(ValidationError, match="written as a string"):
        Duration.model_validate(30)


def test_duration_lengths() -> None:
    assert Duration.parse("30m").as_timedelta().total_seconds() == 1800
    assert Duration.parse("1d").as_timedelta().total_seconds() == 86400
    with pytest.raises(ValueError, match="length of a business day"):
        Duration.parse("1 business day").as_timedelta()


# --- the default policy reproduces the seeds ------------------------------------------


def test_default_severities_follow_the_sla() -> None:
    assert DEFAULT.severity_keys == ("sev1", "sev2", "sev3")
    times = [str(DEFAULT.severity(key).response_time) for key in DEFAULT.severity_keys]
    assert times == ["1h", "4h", "1 business day"]
    assert DEFAULT.severity("sev3").response_time.business
    assert {str(s.ack_timeout) for s in DEFAULT.severities.values()} == {"30m"}
    assert DEFAULT.severity("sev1").description == "Impacting more than 1,000 users per hour"
    assert "more than 50 users per hour" in DEFAULT.severity("sev2").description
    assert "fewer than 50 users per hour" in DEFAULT.severity("sev3").description


def test_default_checklist_is_the_seed_checklist() -> None:
    tree = DEFAULT.checklist
    assert tree.mode == "all"
    assert [item.key for item in tree.items] == ["production", "user_access", "severe", "urgent"]
    production, access, severe, urgent = tree.items
    assert isinstance(production, ChecklistLeaf)
    assert isinstance(access, ChecklistLeaf)
    assert isinstance(severe, ChecklistGroup)
    assert isinstance(urgent, ChecklistGroup)
    assert (severe.mode, len(severe.items)) == ("any", 4)
    assert (urgent.mode, len(urgent.items)) == ("all", 3)


def test_default_report_roles_and_raci() -> None:
    assert len(DEFAULT.report.discovery_methods) == 5
    assert DEFAULT.report.fields.nature.required
    assert DEFAULT.report.fields.nature.max_length == 3000
    assert not DEFAULT.report.fields.service.required
    assert list(DEFAULT.roles) == ["pm", "dl", "om", "sme"]
    assert all(role.primary is None and role.backups == () for role in DEFAULT.roles.values())
    assert DEFAULT.role("pm").stand_in == "dl"
    assert DEFAULT.irt_roles == ("pm", "dl", "om")
    assert DEFAULT.accountable("approve_postmortem") == "pm"
    assert DEFAULT.accountable("approve_change") == "pm"
    assert DEFAULT.accountable("file_report") == "reporter"
    assert DEFAULT.expand_parties(DEFAULT.task("decide_handling").responsible) == (
        "pm",
        "dl",
        "om",
    )
    assert DEFAULT.templates.channel_name == "inc-{number}-{title}"
    assert DEFAULT.declare.allow_declare_anyway
    assert DEFAULT.declare.reaction_emoji == "pushpin"
    assert len(DEFAULT.change.handling_checklist) == 6
    assert len(DEFAULT.postmortem.meeting_agenda) == 5


def test_lookups_of_unknown_keys_fail_clearly() -> None:
    with pytest.raises(UnknownPolicyKey) as caught:
        DEFAULT.severity("sev9")
    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == "no severity 'sev9' in the policy; known: sev1, sev2, sev3"
    with pytest.raises(KeyError, match="no RACI task 'golf'"):
        DEFAULT.accountable("golf")
    with pytest.raises(KeyError, match="no role 'ceo'"):
        DEFAULT.role("ceo")


def test_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        DEFAULT.declare.allow_declare_anyway = False


# --- roles and stand-ins --------------------------------------------------------------


def staffed() -> Policy:
    roles = {
        "pm": {"title": "Product Manager", "primary": "U0SAMUEL", "stand_in": "dl", "irt": True},
        "dl": {
            "title": "Development Lead",
            "primary": "remy@example.com",
            "backups": ["U0PIERRICK"],
            "irt": True,
        },
        "om": {
            "title": "Operations Lead",
            "primary": "U0CORENTIN",
            "backups": ["U0PHILIPPE"],
            "irt": True,
        },
        "sme": {"title": "Subject Matter Expert"},
    }
    return Policy.model_validate(policy_data(roles=roles))


def test_everyone_present_holds_their_own_role() -> None:
    holders = staffed().acting_holders()
    assert {key: (h.person, h.via) for key, h in holders.items()} == {
        "pm": ("U0SAMUEL", "primary"),
        "dl": ("remy@example.com", "primary"),
        "om": ("U0CORENTIN", "primary"),
        "sme": (None, "vacant"),
    }


def test_without_the_pm_the_dl_acts_as_pm_and_the_dl_backup_as_dl() -> None:
    holders = staffed().acting_holders(absent={"U0SAMUEL"})
    assert (holders["pm"].person, holders["pm"].via) == ("remy@example.com", "stand_in")
    assert (holders["dl"].person, holders["dl"].via) == ("U0PIERRICK", "backup")


def test_backups_come_before_the_stand_in() -> None:
    policy = staffed()
    data = policy.model_dump(mode="json")
    data["roles"]["pm"]["backups"] = ["U0DEPUTY"]
    holders = Policy.model_validate(data).acting_holders(absent={"U0SAMUEL"})
    assert (holders["pm"].person, holders["pm"].via) == ("U0DEPUTY", "backup")
    assert holders["dl"].person == "remy@example.com"


@pytest.mark.parametrize("person", ["samuel", "u012abc", "U1", "not an@email", "@example.com"])
def test_people_are_slack_ids_or_emails(person):
    data = policy_data()
    data["roles"]["pm"]["primary"] = person
    with pytest.raises(ValidationError, match="neither a Slack user id"):
        Policy.model_validate(data)


# --- cross-field rules ----------------------------------------------------------------


def test_references_to_unknown_roles_are_all_reported() -> None:
    data = policy_data()
    data["severities"]["sev1"]["page_roles"] = ["pm", "boss"]
    data["raci"]["approve_change"]["consulted"] = ["ceo"]
    data["raci"]["approve_change"]["accountable"] = "irt"
    data["roles"]["pm"]["stand_in"] = "pm"
    with pytest.raises(ValidationError) as caught:
        Policy.model_validate(data)
    problems = consistency_problems(caught.value)
    assert [loc for loc, _ in problems] == [
        ("severities", "sev1", "page_roles", 1),
        ("roles", "pm", "stand_in"),
        ("raci", "approve_change", "consulted", 0),
        ("raci", "approve_change", "accountable"),
    ]
    assert "unknown role 'boss'" in problems[0][1]


def test_stand_in_chains_and_reserved_role_names_are_refused() -> None:
    data = policy_data()
    data["roles"]["dl"]["stand_in"] = "om"
    data["roles"]["all"] = {"title": "Everyone"}
    with pytest.raises(ValidationError) as caught:
        Policy.model_validate(data)
    messages = [message for _, message in consistency_problems(caught.value)]
    assert any("reserved" in message for message in messages)
    assert any("chains are not allowed" in message for message in messages)


def test_the_fallback_severity_must_be_one_of_the_policys() -> None:
    data = policy_data()
    data["declare"]["fallback_severity"] = "sev9"
    with pytest.raises(ValidationError) as caught:
        Policy.model_validate(data)
    assert consistency_problems(caught.value) == [
        (("declare", "fallback_severity"), "'sev9' is not a severity (sev1, sev2, sev3)")
    ]
    data["declare"]["fallback_severity"] = "sev2"
    assert Policy.model_validate(data).declare.fallback_severity == "sev2"


def test_at_least_one_severity() -> None:
    with pytest.raises(ValidationError, match="at least one severity"):
        Policy.model_validate(policy_data(severities={}))


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("inc-{number}-{owner}", "unknown placeholder"),
        ("inc-{number:03d}", "no format spec"),
        ("inc-{title}", "must contain {number} or {ref}"),
        ("inc-{number", "bad template"),
    ],
)
def test_channel_name_template_is_checked(template, error):
    with pytest.raises(ValidationError, match=error):
        Templates(channel_name=template, announcement="{ref}")


def test_announcement_may_use_channel_and_reporter() -> None:
    templates = Templates(announcement="{severity} {ref} in {channel} by {reporter}")
    assert templates.channel_name == "inc-{number}-{title}"
