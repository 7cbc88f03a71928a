"""Settings, read from the environment (and a `.env` file) with pydantic-settings.

The variable names are a public interface: they appear in the README, the Dockerfile
and operators' deployment files. There is deliberately no module-level instance, so each
test builds its own `Settings`.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.runtime.redact import mask_secret, mask_url

SLACK_API_URL = "https://slack.com/api/"
AUDIT_KEY_HOW_TO = 'python -c "import secrets; print(secrets.token_hex(32))"'
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "xoxb-your-token", "todo", "placeholder"}


class ConfigError(Exception):
    """A configuration problem worth one line to the operator (exit code 2)."""


class Settings(BaseSettings):
    """Everything Firewatch reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default=SLACK_API_URL, alias="SLACK_API_URL")

    database_url: str | None = Field(default=None, alias="FIREWATCH_DATABASE_URL")
    data_dir: Path = Field(default=Path("data"), alias="FIREWATCH_DATA_DIR")
    auto_migrate: bool | None = Field(default=None, alias="FIREWATCH_AUTO_MIGRATE")

    host: str = Field(default="0.0.0.0", alias="FIREWATCH_HOST")  # noqa: S104 - a server
    port: int = Field(default=3000, ge=0, le=65535, alias="FIREWATCH_PORT")

    broadcast_channel: str | None = Field(default=None, alias="FIREWATCH_BROADCAST_CHANNEL")
    policy_file: Path | None = Field(default=None, alias="FIREWATCH_POLICY_FILE")
    timezone: str = Field(default="UTC", alias="FIREWATCH_TIMEZONE")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", alias="FIREWATCH_LOG_LEVEL"
    )
    log_format: Literal["json", "text"] = Field(default="json", alias="FIREWATCH_LOG_FORMAT")

    outbox_max_attempts: int = Field(
        default=10, ge=1, le=100, alias="FIREWATCH_OUTBOX_MAX_ATTEMPTS"
    )
    outbox_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, alias="FIREWATCH_OUTBOX_POLL_SECONDS"
    )
    # A stored declaration whose declaring keeps failing is moved aside after this many
    # tries (shown in /health and `firewatch intake list`).
    intake_max_attempts: int = Field(default=5, ge=1, le=100, alias="FIREWATCH_INTAKE_MAX_ATTEMPTS")
    # Slack posts about one message a second to a channel: timeline echoes to one channel
    # go at most this often, each carrying every entry stored meanwhile (0: no pacing).
    echo_interval_seconds: float = Field(
        default=1.0, ge=0, le=60, alias="FIREWATCH_ECHO_INTERVAL_SECONDS"
    )
    # views.publish is Tier 4 (100+ a minute, per workspace): App Home refreshes, whichever
    # replica sends them, go one at a time at most this often (0: no pacing).
    home_publish_interval_seconds: float = Field(
        default=0.6, ge=0, le=60, alias="FIREWATCH_HOME_PUBLISH_INTERVAL_SECONDS"
    )
    # A command run unattended (`firewatch migrate`, `digest --post`, …) that finds the
    # database restarting or failing over asks again for this long before giving up.
    database_wait_seconds: float = Field(
        default=60.0, ge=0, le=3600, alias="FIREWATCH_DATABASE_WAIT_SECONDS"
    )
    slack_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, alias="FIREWATCH_SLACK_TIMEOUT_SECONDS"
    )
    paging_tick_seconds: float = Field(
        default=10.0, gt=0, le=3600, alias="FIREWATCH_PAGING_TICK_SECONDS"
    )
    pagerduty_routing_key: SecretStr | None = Field(
        default=None, alias="FIREWATCH_PAGERDUTY_ROUTING_KEY"
    )
    pagerduty_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue", alias="FIREWATCH_PAGERDUTY_URL"
    )
    page_webhook_url: str | None = Field(default=None, alias="FIREWATCH_PAGE_WEBHOOK_URL")
    # Signs purge and forget tombstones (HMAC-SHA256) and keys user pseudonyms. Required
    # in production (`require_audit_key`); elsewhere, without it tombstones carry a plain
    # SHA-256 digest (integrity, not authenticity).
    audit_key: SecretStr | None = Field(default=None, alias="FIREWATCH_AUDIT_KEY")
    # With it, /metrics and /health's details need `Authorization: Bearer <token>`;
    # without it they are served to loopback clients only (bot/runtime/access.py).
    metrics_token: SecretStr | None = Field(default=None, alias="FIREWATCH_METRICS_TOKEN")
    # Bearer tokens of the monitors' webhooks (POST /alerts/alertmanager, /alerts/grafana,
    # /alerts/webhook); an endpoint whose token is unset answers 404.
    alertmanager_token: SecretStr | None = Field(default=None, alias="FIREWATCH_ALERTMANAGER_TOKEN")
    grafana_token: SecretStr | None = Field(default=None, alias="FIREWATCH_GRAFANA_TOKEN")
    alert_webhook_token: SecretStr | None = Field(
        default=None, alias="FIREWATCH_ALERT_WEBHOOK_TOKEN"
    )
    # A larger webhook body is refused with 413.
    alert_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, le=64 * 1024 * 1024, alias="FIREWATCH_ALERT_MAX_BODY_BYTES"
    )
    # The public status page (docs/status-page.md): served on this port only (0: any free
    # port), so it can be exposed while /slack/events and /metrics stay internal; unset: off.
    status_port: int | None = Field(default=None, ge=0, le=65535, alias="FIREWATCH_STATUS_PORT")
    # Where the public reaches the page (https://status.example.com), for the feed's links
    # and ids; unset: the request's own origin.
    status_url: str | None = Field(default=None, alias="FIREWATCH_STATUS_URL")
    # How long a built page is served before it is built again (and its max-age).
    status_cache_seconds: float = Field(
        default=10.0, ge=0, le=3600, alias="FIREWATCH_STATUS_CACHE_SECONDS"
    )
    environment: Literal["production", "development", "test"] = Field(
        default="production",
        validation_alias=AliasChoices("FIREWATCH_ENV", "environment"),
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)"
            ) from None
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("pagerduty_url", "page_webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.strip()

    @field_validator(
        "audit_key", "metrics_token", "alertmanager_token", "grafana_token", "alert_webhook_token"
    )
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        """Keys Firewatch checks itself: empty is unset, short is refused."""
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < 16:
            raise ValueError(f"must be at least 16 characters (e.g. `{AUDIT_KEY_HOW_TO}`)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("broadcast_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        value = value.strip()
        if not (value.startswith("#") or value[:1] in {"C", "G"}):
            raise ValueError("must be a channel id (C0123ABC) or a #name")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split(':', 1)[0]}://…)"
            )
        return value

    # --- derived values -------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'firewatch.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def should_auto_migrate(self) -> bool:
        return self.auto_migrate if self.auto_migrate is not None else self.is_sqlite

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def audit_key_bytes(self) -> bytes | None:
        """FIREWATCH_AUDIT_KEY as bytes, or None when it is not set."""
        if self.audit_key is None:
            return None
        return self.audit_key.get_secret_value().strip().encode()

    @property
    def metrics_token_value(self) -> str | None:
        """FIREWATCH_METRICS_TOKEN, or None when it is not set."""
        return self.metrics_token.get_secret_value() if self.metrics_token else None

    def require_audit_key(self) -> None:
        """In production FIREWATCH_AUDIT_KEY is required: without it the audit hash chain is
        plain SHA-256, which anyone who can write the database can recompute."""
        if self.environment == "production" and self.audit_key is None:
            raise ConfigError(
                "FIREWATCH_AUDIT_KEY: is required when FIREWATCH_ENV=production (it signs "
                f"the audit trail); create one with `{AUDIT_KEY_HOW_TO}` "
                "(see docs/install.md, 'Environment variables')"
            )

    def require_slack_credentials(self) -> None:
        """Check the secrets `firewatch run` needs; raise ConfigError naming the variable."""
        _require_secret(
            "SLACK_BOT_TOKEN", self.slack_bot_token, prefix="xoxb-", env=self.environment
        )
        if self.socket_mode:
            _require_secret(
                "SLACK_APP_TOKEN", self.slack_app_token, prefix="xapp-", env=self.environment
            )
        else:
            _require_secret("SLACK_SIGNING_SECRET", self.slack_signing_secret, env=self.environment)

    def masked(self) -> dict[str, str]:
        """The effective configuration with secrets masked, for `firewatch check-config`."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            key = variable_name(name)
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[key] = mask_secret(value.get_secret_value())
            elif value is None:
                out[key] = "(not set)"
            elif isinstance(value, str) and "://" in value:
                out[key] = mask_url(value)
            else:
                out[key] = str(value)
        out["FIREWATCH_DATABASE_URL"] = mask_url(self.effective_database_url)
        out["mode"] = "socket" if self.socket_mode else "http"
        return out


def _require_secret(name: str, value: SecretStr | None, *, prefix: str = "", env: str) -> None:
    if value is None or not value.get_secret_value().strip():
        raise ConfigError(f"{name}: is required to run Firewatch (see README, 'Configuration')")
    secret = value.get_secret_value().strip()
    if prefix and not secret.startswith(prefix):
        raise ConfigError(f"{name}: must start with {prefix!r}")
    if env == "production" and secret.lower() in _PLACEHOLDER_SECRETS:
        raise ConfigError(f"{name}: is a placeholder value; set the real secret")


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning validation errors into one ConfigError line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def variable_name(field_name: str) -> str:
    """The environment variable a setting is read from (FIREWATCH_ENV for `environment`)."""
    field = Settings.model_fields.get(field_name)
    if field is None:
        return field_name.upper()
    if field.alias:
        return field.alias.upper()
    choices = field.validation_alias
    if isinstance(choices, AliasChoices) and isinstance(choices.choices[0], str):
        return choices.choices[0].upper()
    return field_name.upper()


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = err["loc"][0] if err["loc"] else "?"
        name = variable_name(str(loc))
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "; ".join(lines)
