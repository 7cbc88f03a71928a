"""Logging: JSON lines by default, plain text for humans.

Context (incident reference, Slack request id, team) travels in context variables so any
log line written while handling a request carries it without threading it through calls.
Secrets never reach a formatter: Settings keeps them as SecretStr, and every formatted line
goes through `redact` (bot/runtime/redact.py), which masks anything shaped like a Slack
token, and the credentials, query values and token-like path segments of any URL, that
slipped into a message (or an exception's text) anyway.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from bot.runtime.redact import redact

incident_ref: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "incident_ref", default=None
)
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
team_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("team_id", default=None)

__all__ = ["ContextFilter", "JsonFormatter", "TextFormatter", "configure_logging", "redact"]


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.incident = incident_ref.get()
        record.request_id = request_id.get()
        record.team = team_id.get()
        return True


class JsonFormatter(logging.Formatter):
    _STANDARD = set(logging.makeLogRecord({}).__dict__) | {
        "message",
        "incident",
        "request_id",
        "team",
    }

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(record.getMessage()),
        }
        for key in ("incident", "request_id", "team"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        ref = getattr(record, "incident", None)
        return f"{text} [{ref}]" if ref else text


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Bolt and slack_sdk log whole request bodies at DEBUG; keep them quiet unless asked.
    for noisy in ("slack_bolt", "slack_sdk", "aiohttp.access", "sqlalchemy.engine", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
