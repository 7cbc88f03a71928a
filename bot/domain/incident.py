"""Incidents: the record, the report a reporter files, and channel naming rules."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

TITLE_MAX = 150
TEXT_MAX = 3000
SLACK_CHANNEL_NAME_MAX = 80


class Status(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def ended(self) -> bool:
        """Resolved or closed: no longer an incident in progress."""
        return self in (Status.RESOLVED, Status.CLOSED)


# The stored values of the statuses of an incident in progress (for queries).
OPEN_STATUSES = tuple(status.value for status in Status if not status.ended)


class Kind(StrEnum):
    INCIDENT = "incident"
    NON_INCIDENT = "non_incident"


class ChannelStatus(StrEnum):
    PENDING = "pending"  # creation queued in the outbox
    CREATED = "created"
    FAILED = "failed"  # the report went to the broadcast channel instead
    NONE = "none"  # the severity does not open a channel


def reference(number: int) -> str:
    """`reference(42)` → ``"INC-42"``."""
    return f"INC-{number}"


def parse_reference(text: str) -> int | None:
    match = re.fullmatch(r"\s*(?:INC-?)?(\d+)\s*", text, flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class IncidentReport:
    """What the reporter tells us when declaring (seed 003's incident report)."""

    title: str
    severity: str
    nature: str
    discovery: str
    impact: str
    evidence: str = ""
    service: str | None = None
    # The status page (issue 24): the components the incident affects and how (a
    # ComponentState value; empty: "major_outage"). Public, unlike everything above.
    components: tuple[str, ...] = ()
    component_state: str = ""

    def __post_init__(self) -> None:
        # Stored as JSON (the declaration intake, drafts): a list comes back.
        object.__setattr__(self, "components", tuple(self.components))


@dataclass(frozen=True)
class Incident:
    id: int
    title: str
    nature: str
    discovery: str
    impact: str
    evidence: str
    service: str | None
    severity: str
    status: Status
    kind: Kind
    reporter_id: str
    declared_at: datetime
    channel_status: ChannelStatus
    channel_id: str | None = None
    channel_name: str | None = None
    channel_note: str | None = None
    report_ts: str | None = None
    announcement_channel_id: str | None = None
    announcement_ts: str | None = None
    response_deadline: datetime | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    checklist: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return reference(self.id)

    @property
    def is_open(self) -> bool:
        return not self.status.ended


def validate_report(
    report: IncidentReport,
    *,
    severities: list[str],
    discovery_methods: list[str],
    required: set[str],
) -> dict[str, str]:
    """Field problems as {field: message}; empty when the report can be filed."""
    errors: dict[str, str] = {}
    values: dict[str, str | None] = {
        "title": report.title,
        "nature": report.nature,
        "impact": report.impact,
        "evidence": report.evidence,
        "service": report.service,
    }
    for name, value in values.items():
        text = (value or "").strip()
        limit = TITLE_MAX if name == "title" else TEXT_MAX
        if (name == "title" or name in required) and not text:
            errors[name] = "Please fill this in."
        elif len(text) > limit:
            errors[name] = f"Keep it under {limit} characters (it has {len(text)})."
    if not has_letter_or_digit(report.title) and "title" not in errors:
        errors["title"] = "Use at least one letter or digit."
    if report.severity not in severities:
        errors["severity"] = "Choose a severity."
    if report.discovery not in discovery_methods and ("discovery" in required or report.discovery):
        errors["discovery"] = "Choose how it was discovered."
    return errors


def has_letter_or_digit(text: str) -> bool:
    """A title needs one letter or digit, in any script: ``"Сбой оплаты"``, ``"決済エラー"``
    and ``"٣"`` are titles; ``"!!! ???"`` and ``"🔥"`` are not."""
    return any(char.isalnum() for char in text)


def name_slug(text: str) -> str:
    """Lowercase ASCII letters, digits and single hyphens, as Slack channel names allow.

    Letters with accents keep their base letter (``"Café"`` → ``"cafe"``); other scripts
    have no ASCII form and drop out (``"Сбой"`` → ``""``): the channel is then named by
    its number alone (see `channel_name`). Transliterating them was weighed and left out:
    the libraries that do it for every script (Unidecode, GPL; anyascii) read Japanese
    kanji as Mandarin and Arabic without its vowels, so the name would mislead where
    ``inc-42`` does not, and the title itself is shown intact wherever it is read."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def channel_name(template: str, *, number: int, title: str, severity: str) -> str:
    """Render the policy's channel-name template into a valid Slack channel name.

    >>> channel_name("inc-{number}-{title}", number=42, title="Checkout errors!", severity="sev1")
    'inc-42-checkout-errors'

    A title with no ASCII letter or digit leaves `{title}` empty, and the name is the rest
    of the template (which always holds the number): ``inc-42`` with the default one.

    >>> channel_name("inc-{number}-{title}", number=42, title="Сбой оплаты", severity="sev1")
    'inc-42'
    """
    raw = template.format(
        number=number, ref=reference(number), title=name_slug(title), severity=severity
    )
    name = re.sub(r"[^a-z0-9_-]+", "-", raw.lower())
    name = re.sub(r"-{2,}", "-", name).strip("-_")
    return name[:SLACK_CHANNEL_NAME_MAX].rstrip("-_") or f"inc-{number}"


def with_suffix(name: str, attempt: int) -> str:
    """The name to try after `attempt` collisions: ``inc-42-db``, ``inc-42-db-2`` …"""
    if attempt <= 1:
        return name
    suffix = f"-{attempt}"
    return name[: SLACK_CHANNEL_NAME_MAX - len(suffix)].rstrip("-_") + suffix
