"""docs/alerts.md says what works: its alertmanager.yml receiver passes Alertmanager's own
check (amtool), its policy example loads, and a rule naming an unknown role fails as the
page says."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.policy.loader import PolicyError, load_policy

DOC = Path(__file__).parents[2] / "docs" / "alerts.md"


def block(language: str, starts: str) -> str:
    """The fenced block of `language` whose first line starts with `starts`."""
    for found in re.finditer(rf"```{language}\n(.*?)\n```", DOC.read_text(), re.S):
        if found.group(1).startswith(starts):
            return found.group(1)
    raise AssertionError(f"no ```{language} block starting {starts!r} in {DOC}")


def test_the_alertmanager_receiver_passes_amtool(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    assert amtool, "amtool comes with Debian's prometheus-alertmanager (.ci/run installs it)"
    token = tmp_path / "firewatch-token"
    token.write_text("a-token-of-sixteen-or-more\n")
    config = block("yaml", "# alertmanager.yml").replace(
        "/etc/alertmanager/firewatch-token", str(token)
    )
    path = tmp_path / "alertmanager.yml"
    path.write_text(config)
    checked = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    assert "/alerts/alertmanager" in config


def test_the_policy_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(block("yaml", "components:"))
    rules = load_policy(path).policy.alerts
    assert [str(m) for m in rules.routes[1].matchers] == ["env=~staging|dev"]
    assert [r.role for r in rules.page] == ["om", "dl"]
    assert rules.auto_declare[1].severity == "sev1"
    assert rules.severity.values["warning"] == "sev3"
    assert rules.components[0].components == ("ssoe", "sis")


def test_an_unknown_role_is_named_as_the_page_says(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('alerts:\n  page:\n    - {matchers: ["severity=critical"], role: oncall}\n')
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    said = "alerts.page[0].role: unknown role 'oncall'; roles are dl, om, pm, sme"
    assert f"{path}:3: {said}" in str(raised.value)
    assert f"policy.yaml:NN: {said}" in DOC.read_text()
