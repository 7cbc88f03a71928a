"""Configuration: one clear line and exit code 2 for every bad value; secrets masked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.config import ConfigError, Settings, load_settings

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "FIREWATCH_"))}


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**CLEAN_ENV, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_without_a_token_names_the_variable_and_exits_2(tmp_path: Path) -> None:
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "firewatch: configuration error: SLACK_BOT_TOKEN: is required to run Firewatch "
        "(see README, 'Configuration')"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FIREWATCH_PORT", "eighty", "FIREWATCH_PORT: Input should be a valid integer"),
        ("FIREWATCH_PORT", "70000", "FIREWATCH_PORT: Input should be less than or equal to 65535"),
        ("FIREWATCH_TIMEZONE", "Mars/Olympus", "FIREWATCH_TIMEZONE: unknown time zone"),
        ("FIREWATCH_LOG_FORMAT", "xml", "FIREWATCH_LOG_FORMAT: Input should be 'json' or 'text'"),
        ("FIREWATCH_DATABASE_URL", "mysql://x", "FIREWATCH_DATABASE_URL: must start with"),
        (
            "FIREWATCH_BROADCAST_CHANNEL",
            "incidents",
            "FIREWATCH_BROADCAST_CHANNEL: must be a channel",
        ),
        ("SLACK_API_URL", "ftp://slack", "SLACK_API_URL: must be an http(s) URL"),
    ],
)
def test_invalid_values_are_reported_by_variable_name(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = run_cli("check-config", env={variable: value}, cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert message in line
    assert line.startswith("firewatch: configuration error: ")


def test_placeholder_and_misprefixed_secrets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("SLACK_", "FIREWATCH_")):
            monkeypatch.delenv(key)
    settings = load_settings(SLACK_BOT_TOKEN="xoxp-user-token", SLACK_SIGNING_SECRET="abc")
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN: must start with 'xoxb-'"):
        settings.require_slack_credentials()
    settings = load_settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="changeme")
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET: is a placeholder"):
        settings.require_slack_credentials()
    socket = load_settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1-abc")
    socket.require_slack_credentials()  # Socket Mode needs no signing secret
    assert socket.socket_mode


def test_check_config_prints_the_effective_configuration_with_secrets_masked(
    tmp_path: Path,
) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1234567890-secretpart",
        "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
        "FIREWATCH_DATABASE_URL": "postgresql+asyncpg://fw:hunter2@db:5432/firewatch",
        "FIREWATCH_BROADCAST_CHANNEL": "#incidents",
        # Every setting `firewatch run` needs (else no "configuration OK"), and a Slack
        # that cannot be reached: the scopes are not checked (tests/cli/test_check_config.py).
        "FIREWATCH_AUDIT_KEY": "k" * 32,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    result = run_cli("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "secretpart" not in out
    assert "0123456789abcdef0123456789abcdef" not in out
    assert "hunter2" not in out
    assert "postgresql+asyncpg://fw:****@db:5432/firewatch" in out
    # No secret's beginning is printed: at most its length and its last 4 characters.
    assert "xoxb-" not in out
    assert "01234" not in out
    assert "****…part (26 chars)" in out
    assert "****…cdef (32 chars)" in out
    assert "#incidents" in out
    assert "sev1 (SEV1), sev2 (SEV2), sev3 (SEV3)" in out
    assert "configuration OK" in out


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FIREWATCH_PORT=4040\nFIREWATCH_TIMEZONE=Europe/Paris\n")
    result = run_cli("check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "4040" in result.stdout
    assert "Europe/Paris" in result.stdout


def test_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.port == 3000
    assert settings.timezone == "UTC"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.effective_database_url == "sqlite+aiosqlite:///data/firewatch.db"
    assert settings.should_auto_migrate is True
    assert settings.log_format == "json"


def test_cli_without_a_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "firewatch" in capsys.readouterr().out


def test_check_config_refuses_an_invalid_schedule(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        'schedules:\n  weekly_digest: {cron: "0 10 * * FUNDAY", channel: "#review"}\n'
    )
    result = run_cli("check-config", env={"FIREWATCH_POLICY_FILE": str(policy)}, cwd=tmp_path)
    assert result.returncode == 2
    assert "schedules.weekly_digest.cron" in result.stderr
    assert "Traceback" not in result.stderr
