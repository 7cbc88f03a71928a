"""Secrets masked whole (length and last 4 at most), URLs without their credentials, logs
redacted, database errors without bound parameters, and production needing an audit key."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError

from bot.config import ConfigError, load_settings
from bot.runtime.logs import JsonFormatter, TextFormatter
from bot.runtime.redact import mask_secret, mask_url
from storage.engine import Database
from tests.cli.test_config import run_cli

WEBHOOK = "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefGHIJKL0123456789xy"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("SLACK_", "FIREWATCH_")):
            monkeypatch.delenv(key)


def test_a_secret_shows_at_most_its_length_and_last_four() -> None:
    assert mask_secret("xoxb-1234567890-abcdefghijkl") == "****…ijkl (28 chars)"
    assert mask_secret("short-secret") == "**** (12 chars)"
    assert "xoxb" not in mask_secret("xoxb-1234567890-abcdefghijkl")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+asyncpg://fw:hunter2@db:5432/firewatch",
            "postgresql+asyncpg://fw:****@db:5432/firewatch",
        ),
        ("https://tok3n-as-user@pager.example/hook", "https://****@pager.example/hook"),
        (
            "https://pager.example/hook?team=ops&token=s3cr3t",
            "https://pager.example/hook?team=****&token=****",
        ),
        (WEBHOOK, "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/****"),
        ("https://events.pagerduty.com/v2/enqueue", "https://events.pagerduty.com/v2/enqueue"),
        ("sqlite+aiosqlite:///data/firewatch.db", "sqlite+aiosqlite:///data/firewatch.db"),
    ],
)
def test_urls_lose_credentials_query_values_and_token_segments(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_masked_settings_hide_every_secret_and_url_credential() -> None:
    settings = load_settings(
        SLACK_BOT_TOKEN="xoxb-1234567890-abcdefghijkl",
        SLACK_SIGNING_SECRET="0123456789abcdef0123456789abcdef",
        FIREWATCH_PAGE_WEBHOOK_URL="https://ops:pa55word@pager.example/hook?key=k3y",
        FIREWATCH_PAGERDUTY_ROUTING_KEY="R0UT1NGKEY0123456789abcdefabcdef",
        FIREWATCH_METRICS_TOKEN="metrics-token-0123456789",
        FIREWATCH_AUDIT_KEY="audit-key-0123456789abcdef",
        FIREWATCH_ALERTMANAGER_TOKEN="am-token-0123456789abcdef",
        FIREWATCH_GRAFANA_TOKEN="grafana-token-0123456789",
        FIREWATCH_ALERT_WEBHOOK_TOKEN="hook-token-0123456789abc",
    )
    shown = settings.masked()
    text = "\n".join(shown.values())
    leaks = ("xoxb-", "01234", "pa55word", "k3y", "R0UT", "metrics-", "audit-", "am-", "hook-")
    for leak in (*leaks, "grafana-"):
        assert leak not in text
    assert shown["FIREWATCH_GRAFANA_TOKEN"] == "****…6789 (24 chars)"
    assert repr(settings.alertmanager_token) == "SecretStr('**********')"
    assert shown["FIREWATCH_PAGE_WEBHOOK_URL"] == "https://ops:****@pager.example/hook?key=****"
    assert shown["FIREWATCH_METRICS_TOKEN"] == "****…6789 (24 chars)"


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("firewatch", logging.WARNING, __file__, 1, message, None, None)


def test_log_lines_redact_urls_and_slack_tokens() -> None:
    message = f"delivery to {WEBHOOK} and https://u:pw@db.example/x failed (token xoxb-9-abc)"
    for formatted in (
        json.loads(JsonFormatter().format(record(message)))["event"],
        TextFormatter().format(record(message)),
    ):
        assert "abcdefGHIJKL0123456789xy" not in formatted
        assert ":pw@" not in formatted
        assert "xoxb-9-abc" not in formatted
        assert "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/****" in formatted


async def test_database_errors_carry_no_bound_parameters(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'errors.db'}")
    notes = Table(
        "notes", MetaData(), Column("id", Integer, primary_key=True), Column("text", String)
    )
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(notes.metadata.create_all)
            await conn.execute(insert(notes).values(id=1, text="first"))
        with pytest.raises(IntegrityError) as raised:
            async with db.engine.begin() as conn:
                await conn.execute(insert(notes).values(id=1, text="the CFO's password is x"))
        assert "CFO" not in str(raised.value)
        assert "hidden due to hide_parameters" in str(raised.value)
    finally:
        await db.dispose()


def test_production_without_an_audit_key_is_a_config_error() -> None:
    settings = load_settings(FIREWATCH_ENV="production")
    with pytest.raises(ConfigError, match="FIREWATCH_AUDIT_KEY: is required") as raised:
        settings.require_audit_key()
    assert "secrets.token_hex(32)" in str(raised.value)
    load_settings(FIREWATCH_ENV="production", FIREWATCH_AUDIT_KEY="k" * 32).require_audit_key()
    for environment in ("development", "test"):
        load_settings(FIREWATCH_ENV=environment).require_audit_key()  # still optional


def test_run_in_production_without_an_audit_key_exits_2_naming_it(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1234567890-abcdefghijkl",
        "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
    }
    result = run_cli("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("firewatch: configuration error: FIREWATCH_AUDIT_KEY: is required")
    assert "Traceback" not in result.stderr
    checked = run_cli("check-config", env=env, cwd=tmp_path)
    assert checked.returncode == 0
    assert "warning: FIREWATCH_AUDIT_KEY: is required" in checked.stderr
