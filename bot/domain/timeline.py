"""Timeline entries and the per-incident hash chain that makes tampering visible."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64


class EntryKind(StrEnum):
    DECLARED = "declared"
    NOTE = "note"
    STATUS = "status"
    SEVERITY = "severity"
    CHANNEL = "channel"
    SYSTEM = "system"
    CHECKLIST_OVERRIDE = "checklist_override"
    CAPTURED = "captured"
    WITHDRAWN = "withdrawn"
    CHANGE = "change"
    POSTMORTEM = "postmortem"
    REFUSED = "refused"  # someone tried an action the policy does not grant them
    ALERT = "alert"  # a monitoring alert linked, firing again or resolved
    # Data lifecycle (bot/domain/retention.py): a signed tombstone standing for a purged
    # prefix of the chain, the stub of a purged incident, a signed record of a rewrite.
    TOMBSTONE = "tombstone"
    PURGED = "purged"
    REDACTED = "redacted"


@dataclass(frozen=True)
class TimelineEntry:
    incident_id: int
    seq: int
    at: datetime
    kind: str
    actor: str | None
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""
    id: int | None = None


def entry_hash(
    *,
    incident_id: int,
    seq: int,
    at: datetime,
    kind: str,
    actor: str | None,
    text: str,
    data: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON form of the entry and the previous entry's hash."""
    canonical = json.dumps(
        {
            "incident": incident_id,
            "seq": seq,
            "at": at.isoformat(),
            "kind": kind,
            "actor": actor,
            "text": text,
            "data": data,
            "prev": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def linked_hash(entry: TimelineEntry, prev_hash: str) -> str:
    """The hash `entry` has when it links to `prev_hash` (its stored hash is not read)."""
    return entry_hash(
        incident_id=entry.incident_id,
        seq=entry.seq,
        at=entry.at,
        kind=entry.kind,
        actor=entry.actor,
        text=entry.text,
        data=entry.data,
        prev_hash=prev_hash,
    )


def first_broken_link(
    entries: list[TimelineEntry], *, start_hash: str = GENESIS_HASH
) -> TimelineEntry | None:
    """The first entry whose stored hash or back-link does not match, if any.

    `start_hash` is what the first entry must link to: the genesis hash for a whole
    chain, or a purge tombstone's recorded hash when the chain's prefix was purged.
    """
    prev = start_hash
    for entry in entries:
        expected = linked_hash(entry, prev)
        if entry.prev_hash != prev or entry.hash != expected:
            return entry
        prev = entry.hash
    return None
