"""Loading the policy file: merging over the default, and problems with their lines."""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from textwrap import dedent

import pytest
import yaml

from bot.domain.permissions import Action
from bot.domain.policy import Policy
from bot.policy.loader import (
    DEFAULT_POLICY_NAME,
    PolicyError,
    default_policy_text,
    dump_policy,
    load_default_policy,
    load_policy,
    merge_policy_data,
)

PROBLEM = re.compile(r"^[^:]+:\d+: [\w.\[\]-]+|\(top level\): .+$")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value) == "\n".join(caught.value.problems)
    for problem in caught.value.problems:
        assert PROBLEM.match(problem), problem
    return caught.value.problems


# --- loading and merging --------------------------------------------------------------


def test_without_a_file_the_default_applies() -> None:
    loaded = load_policy(None)
    assert loaded.source is None
    assert loaded.policy == load_default_policy()


def test_an_empty_file_changes_nothing(tmp_path):
    loaded = load_policy(write(tmp_path, "# nothing to change\n"))
    assert loaded.policy == load_default_policy()
    assert loaded.source == tmp_path / "policy.yaml"


def test_just_severities_replaces_the_whole_section(tmp_path):
    path = write(
        tmp_path,
        """
        severities:
          major:
            label: MAJOR
            description: Customers cannot pay
            response_time: 15m
            page_roles: [om]
          minor:
            label: MINOR
            description: Everything else
            response_time: 2 business days
    """,
    )
    policy = load_policy(path).policy
    assert policy.severity_keys == ("major", "minor")
    assert str(policy.severity("minor").response_time) == "2 business days"
    assert str(policy.severity("minor").ack_timeout) == "30m"  # the model's default
    assert policy.roles == load_default_policy().roles


def test_just_roles_merges_into_the_default_roles(tmp_path):
    path = write(
        tmp_path,
        """
        roles:
          pm:  {title: Product Manager,   primary: U012ABC, backups: [U034DEF]}
          dl:  {title: Development Lead,  primary: lead@example.com, backups: [U056GHI]}
          om:  {primary: U078JKL, backups: [U090MNO]}
          scribe: {title: Scribe}
    """,
    )
    policy = load_policy(path).policy
    assert policy.role("pm").primary == "U012ABC"
    assert policy.role("pm").stand_in == "dl"  # kept from the default
    assert policy.role("om").title == "Operations Lead"  # kept from the default
    assert policy.role("dl").backups == ("U056GHI",)
    assert list(policy.roles) == ["pm", "dl", "om", "sme", "scribe"]
    assert policy.severities == load_default_policy().severities


def test_nested_mappings_merge_and_lists_replace(tmp_path):
    path = write(
        tmp_path,
        """
        working_time:
          timezone: Europe/Paris
          business_hours: {end: 18:00}
          holidays: [2026-05-01, 2026-12-25]
        raci:
          approve_change:
            consulted: [om]
    """,
    )
    policy = load_policy(path).policy
    assert policy.working_time.timezone == "Europe/Paris"
    assert policy.working_time.business_hours.start == time(9)
    assert policy.working_time.business_hours.end == time(18)  # unquoted 18:00 is a time
    assert policy.working_time.holidays == (date(2026, 5, 1), date(2026, 12, 25))
    assert policy.task("approve_change").consulted == ("om",)
    assert policy.task("approve_change").informed == ("irt",)


def test_null_removes_a_default_key(tmp_path):
    path = write(
        tmp_path,
        """
        roles:
          sme: ~
        raci:
          decide_handling: {consulted: []}
          file_emergency_change: {consulted: []}
          approve_change: {consulted: [dl, om]}
          write_postmortem: {consulted: []}
        postmortem:
          meeting_agenda: ~
    """,
    )
    policy = load_policy(path).policy
    assert "sme" not in policy.roles
    assert policy.postmortem.meeting_agenda == ()


def test_removing_a_role_still_named_elsewhere_points_at_the_default(tmp_path):
    found = problems(write(tmp_path, "roles:\n  sme: null\n"))
    assert len(found) == 4
    assert all(line.startswith(f"{DEFAULT_POLICY_NAME}:") for line in found)
    assert any("raci.decide_handling.consulted[0]: unknown role 'sme'" in p for p in found)


def test_merge_rules_on_plain_data() -> None:
    default = {"severities": {"a": {"x": 1}, "b": {"x": 2}}, "roles": {"pm": {"t": 1, "p": 2}}}
    override = {"severities": {"c": {"x": 3}}, "roles": {"pm": {"p": None, "q": [1]}}}
    assert merge_policy_data(default, override) == {
        "severities": {"c": {"x": 3}},
        "roles": {"pm": {"t": 1, "q": [1]}},
    }


def test_dump_loads_back_to_an_equal_policy(tmp_path):
    custom = write(
        tmp_path,
        """
        working_time: {timezone: America/New_York, holidays: [2026-07-03]}
        roles:
          pm: {primary: U012ABC}
    """,
    )
    for policy in (load_default_policy(), load_policy(custom).policy):
        text = dump_policy(policy)
        dumped = tmp_path / "dumped.yaml"
        dumped.write_text(text, encoding="utf-8")
        assert load_policy(dumped).policy == policy
        assert Policy.model_validate(yaml.safe_load(text)) == policy


def test_the_default_yaml_is_available_as_text() -> None:
    assert "severities:" in default_policy_text()


# --- problems with their lines --------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.problems == [f"{path}: policy file not found"]


def test_yaml_syntax_error_has_its_line(tmp_path):
    path = write(
        tmp_path,
        """
        roles:
          pm: {title: PM
          dl: {title: DL}
    """,
    )
    [problem] = problems(path)
    assert problem.startswith(f"{path}:3: YAML syntax error")


def test_top_level_must_be_a_mapping(tmp_path):
    assert problems(write(tmp_path, "- severities\n")) == [
        f"{tmp_path / 'policy.yaml'}:1: the policy file must be a mapping of sections"
    ]


def test_unknown_key_with_line_and_allowed_keys(tmp_path):
    path = write(
        tmp_path,
        """
        declare:
          allow_declare_anyway: false
          reaction: fire
    """,
    )
    assert problems(path) == [
        f"{path}:3: declare.reaction: unknown key; allowed here: allow_declare_anyway, "
        "reaction_emoji, fallback_severity"
    ]


def test_unknown_section(tmp_path):
    path = write(tmp_path, "declare: {}\nseverties: {}\n")
    assert problems(path) == [
        f"{path}:2: severties: unknown key; allowed here: "
        "severities, working_time, checklist, report, roles, raci, permissions, "
        "templates, declare, postmortem, change, retention, features, schedules, alerts, "
        "components"
    ]


def test_bad_role_reference(tmp_path):
    path = write(
        tmp_path,
        """
        raci:
          approve_postmortem:
            consulted: [dl, ceo]
    """,
    )
    [problem] = problems(path)
    assert problem.startswith(f"{path}:3: raci.approve_postmortem.consulted[1]: unknown role 'ceo'")


def test_bad_duration(tmp_path):
    path = write(
        tmp_path,
        """
        severities:
          sev1:
            label: SEV1
            description: Everything is down
            response_time: 1 fortnight
    """,
    )
    [problem] = problems(path)
    assert problem.startswith(f"{path}:5: severities.sev1.response_time: '1 fortnight' is not")


def test_all_problems_are_listed_in_line_order(tmp_path):
    path = write(
        tmp_path,
        """
        severities:
          sev1:
            label: SEV1
            description: Everything is down
            response_time: soon
            ack_timeout: 30
            colour: red
          SEV-2:
            label: SEV2
        working_time:
          timezone: Mars/Olympus
          business_hours: {start: 17:00, end: 09:00}
          working_days: [mon, funday]
        roles:
          pm: {primary: samuel}
        checklist:
          key: root
          label: Root
          items:
            - {key: a, label: A}
            - {key: g, label: G, mode: some, items: [{key: b, label: B, tick: true}]}
        templates:
          channel_name: "{title}-{owner}"
    """,
    )
    found = problems(path)
    assert [p.split(": ")[0].removeprefix(f"{path}:") + " " + p.split(": ")[1] for p in found] == [
        "5 severities.sev1.response_time",
        "6 severities.sev1.ack_timeout",
        "7 severities.sev1.colour",
        "8 severities.SEV-2",
        "8 severities.SEV-2.description",
        "8 severities.SEV-2.response_time",
        "11 working_time.timezone",
        "12 working_time.business_hours",
        "13 working_time.working_days[1]",
        "15 roles.pm.primary",
        "21 checklist.items[1].mode",
        "21 checklist.items[1].items[0].tick",
        "23 templates.channel_name",
    ]


def test_duplicate_keys_are_reported(tmp_path):
    path = write(
        tmp_path,
        """
        declare:
          reaction_emoji: fire
          reaction_emoji: pushpin
    """,
    )
    assert problems(path) == [
        f"{path}:3: declare.reaction_emoji: duplicate key (first given on line 2)"
    ]


def test_cross_field_problems_in_a_replaced_section_point_at_the_file(tmp_path):
    path = write(
        tmp_path,
        """
        checklist:
          key: root
          label: Root
          items:
            - {key: a, label: A}
            - key: g
              label: G
              items:
                - {key: a, label: Again}
    """,
    )
    assert problems(path) == [
        f"{path}:9: checklist.items[1].items[0].key: key 'a' is used twice; first at items.0"
    ]


def test_docs_show_the_default_policy_exactly() -> None:
    docs = Path(__file__).parents[2] / "docs" / "policy.md"
    text = docs.read_text(encoding="utf-8")
    shown = text.split("## The default policy", 1)[1].split("```yaml\n", 1)[1].split("\n```", 1)[0]
    assert shown + "\n" == default_policy_text()


def test_the_docs_example_override_loads(tmp_path):
    docs = Path(__file__).parents[2] / "docs" / "policy.md"
    text = docs.read_text(encoding="utf-8")
    example = text.split("# firewatch-policy.yaml\n", 1)[1].split("\n```", 1)[0]
    policy = load_policy(write(tmp_path, example)).policy
    assert policy.severity_keys == ("major", "minor")
    assert policy.role("pm").primary == "U012ABC"
    assert policy.working_time.timezone == "Europe/Paris"


def test_permissions_merge_over_the_default(tmp_path):
    path = write(tmp_path, "permissions:\n  page: [members]\n")
    policy = load_policy(path).policy
    assert policy.permissions[Action.PAGE] == ("members",)
    assert policy.permissions[Action.APPROVE_CHANGE] == ("pm",)  # the rest stays


def test_an_action_without_parties_is_rejected(tmp_path):
    path = write(tmp_path, "permissions:\n  approve_change: []\n")
    assert problems(path) == [f"{path}:2: permissions.approve_change: name at least one party"]


def test_an_unknown_party_is_named(tmp_path):
    path = write(tmp_path, "permissions:\n  resolve: [irt, ceo]\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:2: permissions.resolve[1]: unknown party 'ceo'")


def test_an_unknown_action_is_named(tmp_path):
    path = write(tmp_path, "permissions:\n  launch_rocket: [pm]\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:2: permissions.launch_rocket")
