"""The policy's `components` section (issue 24): loaded, merged, and checked."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from bot.domain.policy import Component
from bot.policy.errors import PolicyError
from bot.policy.loader import load_policy


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_the_default_lists_no_components(tmp_path):
    policy = load_policy(write(tmp_path, "declare: {}\n")).policy
    assert policy.components == ()


def test_seed_002s_login_methods_load(tmp_path):
    path = write(
        tmp_path,
        """
        components:
          - {key: ssoe, name: SSOe, group: Login, description: Signing in with SSOe}
          - {key: sis, name: SiS}
        """,
    )
    policy = load_policy(path).policy
    assert policy.components == (
        Component(key="ssoe", name="SSOe", group="Login", description="Signing in with SSOe"),
        Component(key="sis", name="SiS", group=None, description=None),
    )


def test_a_repeated_component_key_is_named(tmp_path):
    path = write(
        tmp_path,
        """
        components:
          - {key: ssoe, name: SSOe}
          - {key: sis, name: SiS}
          - {key: ssoe, name: SSOe again}
        """,
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.problems == [
        f"{path}:4: components[2].key: component key 'ssoe' is used twice; first at [0]"
    ]


def test_a_component_needs_a_key_and_a_name(tmp_path):
    path = write(tmp_path, "components:\n  - {key: SSOe, group: Login, colour: red}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    text = "\n".join(caught.value.problems)
    assert "components[0].key" in text
    assert "components[0].name" in text
    assert "components[0].colour: unknown key" in text


def test_alert_rules_name_the_components_they_affect(tmp_path):
    path = write(
        tmp_path,
        """
        components:
          - {key: ssoe, name: SSOe}
          - {key: sis, name: SiS}
        alerts:
          components:
            - {matchers: ["service=login"], components: [ssoe, sis], state: partial_outage}
            - {matchers: ["service=login", "severity=critical"], components: [sis]}
        """,
    )
    from bot.domain.alerts import affected_components
    from bot.domain.status_page import ComponentState

    rules = load_policy(path).policy.alerts
    assert affected_components(rules, {"service": "login"}) == {
        "ssoe": ComponentState.PARTIAL_OUTAGE,
        "sis": ComponentState.PARTIAL_OUTAGE,
    }
    assert affected_components(rules, {"service": "login", "severity": "critical"}) == {
        "ssoe": ComponentState.PARTIAL_OUTAGE,
        "sis": ComponentState.MAJOR_OUTAGE,  # the worst a matching rule names
    }
    assert affected_components(rules, {"service": "billing"}) == {}


def test_an_alert_rule_naming_an_unknown_component_is_refused(tmp_path):
    path = write(
        tmp_path,
        """
        components:
          - {key: ssoe, name: SSOe}
        alerts:
          components:
            - {matchers: ["service=login"], components: [ssoe, sso]}
        """,
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert "alerts.components[0].components[1]" in message
    assert "'sso' is not a component (ssoe)" in message
