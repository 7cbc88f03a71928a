"""Data lifecycle rules: what the retention policy makes due, tombstones and their
signatures, and how a person's data is removed from a hash-chained timeline.

Pure: no database, no clock. Every "now" and every key is an argument.

Tombstones. Purging the oldest entries of a timeline replaces them by one `tombstone`
entry that takes the seq and the hash of the last purged entry, so the next entry still
links to it; the tombstone itself is checked by its signature, HMAC-SHA256 with
FIREWATCH_AUDIT_KEY (or a plain SHA-256 digest when no key is configured, which shows
that the tombstone was not altered by accident but not who wrote it). A purged incident
keeps a stub row (its number is never reused) whose only entry is a signed `purged`
entry. A rewrite for a person's request appends a signed `redacted` entry that records
the chain's head before and after.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.domain.policy import RetentionPolicy
from bot.domain.timeline import (
    GENESIS_HASH,
    EntryKind,
    TimelineEntry,
    first_broken_link,
    linked_hash,
)

REMOVED_TEXT = "[removed at the person's request]"
ALG_HMAC = "hmac-sha256"
ALG_SHA256 = "sha256"
SIGNED_KINDS = frozenset({EntryKind.TOMBSTONE, EntryKind.PURGED, EntryKind.REDACTED})
PSEUDONYM_PREFIX = "forgotten-"
PURGED_KEY_PREFIX = "purged:"
# An expired silence is kept this long after it ends, then purged.
SILENCE_KEPT = timedelta(days=1)

# Free text a person writes that Firewatch stores in an entry's data (and, usually, in its
# text too): a status update, the reason for a severity change or a checklist override.
_FREE_TEXT_KEYS = ("update", "reason", "message")
_AUTHORED_KINDS = frozenset({EntryKind.NOTE})
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,39}$")


# --- what is due ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cutoffs:
    """Everything strictly older than these instants is due for purging."""

    closed_incidents: datetime | None
    timeline: datetime | None
    processed_events: datetime
    outbox_done: datetime
    alerts: datetime  # resolved, unlinked alert groups last seen before; unused storm cards
    alert_silences: datetime  # silences that ended before


def cutoffs(retention: RetentionPolicy, now: datetime) -> Cutoffs:
    def days(n: int | None) -> datetime | None:
        return None if n is None else now - timedelta(days=n)

    return Cutoffs(
        closed_incidents=days(retention.closed_incidents_days),
        timeline=days(retention.timeline_days),
        processed_events=now - timedelta(days=retention.processed_events_days),
        outbox_done=now - timedelta(days=retention.outbox_done_days),
        alerts=now - timedelta(days=retention.alerts_days),
        alert_silences=now - SILENCE_KEPT,
    )


def purgeable_prefix(entries: Sequence[TimelineEntry], cutoff: datetime) -> int:
    """How many entries at the head of a chain (in seq order) the timeline cutoff purges.

    Only a prefix can go, or the chain would have a hole. A prefix that is just the
    existing tombstone is nothing to do; a purged incident's stub entry is never purged.
    """
    count = 0
    for entry in entries:
        if entry.at >= cutoff or entry.kind == EntryKind.PURGED:
            break
        count += 1
    if count == 1 and entries[0].kind == EntryKind.TOMBSTONE:
        return 0
    return count


# --- signatures -----------------------------------------------------------------------


def _canonical(fields: Mapping[str, Any]) -> bytes:
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def signed_fields(
    incident_id: int, kind: str, at: datetime, data: Mapping[str, Any]
) -> dict[str, Any]:
    """What a signature covers: the entry's identity and its data without the signature."""
    body = {k: v for k, v in data.items() if k not in ("alg", "signature")}
    return {"incident": incident_id, "kind": kind, "at": at.isoformat(), "data": body}


def sign(fields: Mapping[str, Any], key: bytes | None) -> dict[str, str]:
    """`{"alg", "signature"}`: HMAC-SHA256 with `key`, or SHA-256 alone without one."""
    message = _canonical(fields)
    if key:
        return {"alg": ALG_HMAC, "signature": hmac.new(key, message, hashlib.sha256).hexdigest()}
    return {"alg": ALG_SHA256, "signature": hashlib.sha256(message).hexdigest()}


def signature_valid(entry: TimelineEntry, key: bytes | None) -> bool | None:
    """Whether a signed entry's signature holds; None when it cannot be checked (an
    HMAC signature and no key)."""
    alg, signature = entry.data.get("alg"), entry.data.get("signature")
    if not isinstance(signature, str):
        return False
    fields = signed_fields(entry.incident_id, entry.kind, entry.at, entry.data)
    if alg == ALG_HMAC:
        if not key:
            return None
        expected = sign(fields, key)["signature"]
    elif alg == ALG_SHA256:
        expected = hashlib.sha256(_canonical(fields)).hexdigest()
    else:
        return False
    return hmac.compare_digest(expected, signature)


def chain_problem(entries: Sequence[TimelineEntry], key: bytes | None) -> TimelineEntry | None:
    """The first entry that breaks an incident's chain, tombstones and signatures included.

    A leading tombstone must carry the hash and seq of the last entry it replaced (the
    next entry links to that hash) and a valid signature. Signed entries further on are
    checked like any entry and, when they can be, by their signature.
    """
    start = GENESIS_HASH
    rest = list(entries)
    if rest and rest[0].kind == EntryKind.TOMBSTONE:
        tomb = rest.pop(0)
        if (
            tomb.prev_hash != GENESIS_HASH
            or tomb.hash != tomb.data.get("last_hash")
            or tomb.seq != tomb.data.get("last_seq")
            or signature_valid(tomb, key) is False
        ):
            return tomb
        start = tomb.hash
    broken = first_broken_link(rest, start_hash=start)
    for entry in rest:
        if broken is not None and entry.seq >= broken.seq:
            break
        if entry.kind == EntryKind.TOMBSTONE:
            return entry  # a tombstone anywhere but first stands for nothing
        if entry.kind in SIGNED_KINDS and signature_valid(entry, key) is False:
            return entry
    return broken


# --- tombstones -----------------------------------------------------------------------


def timeline_tombstone(
    purged: Sequence[TimelineEntry], *, purged_at: datetime, key: bytes | None
) -> TimelineEntry:
    """The entry that replaces `purged` (a chain's prefix, possibly led by an earlier
    tombstone): it takes the last purged entry's seq, time and hash."""
    if not purged:
        raise ValueError("nothing to purge")
    first, last = purged[0], purged[-1]
    first_seq = int(first.data.get("first_seq", 1)) if first.kind == EntryKind.TOMBSTONE else 1
    data: dict[str, Any] = {
        "first_seq": first_seq,
        "last_seq": last.seq,
        "count": last.seq - first_seq + 1,
        "last_hash": last.hash,
        "purged_at": purged_at.isoformat(),
    }
    data.update(sign(signed_fields(last.incident_id, EntryKind.TOMBSTONE, last.at, data), key))
    return TimelineEntry(
        incident_id=last.incident_id,
        seq=last.seq,
        at=last.at,
        kind=EntryKind.TOMBSTONE,
        actor=None,
        text=(
            f"Entries #{first_seq}–#{last.seq} removed by the retention policy on "
            f"{purged_at.date().isoformat()}"
        ),
        data=data,
        prev_hash=GENESIS_HASH,
        hash=last.hash,
    )


def incident_tombstone(
    *,
    incident_id: int,
    ref: str,
    declared_at: datetime,
    closed_at: datetime | None,
    purged_at: datetime,
    counts: Mapping[str, int],
    key: bytes | None,
) -> TimelineEntry:
    """The one entry of a purged incident's stub: what was removed, when, signed."""
    data: dict[str, Any] = {
        "ref": ref,
        "declared_at": declared_at.isoformat(),
        "closed_at": closed_at.isoformat() if closed_at else None,
        "purged_at": purged_at.isoformat(),
        "removed": dict(sorted(counts.items())),
    }
    data.update(sign(signed_fields(incident_id, EntryKind.PURGED, purged_at, data), key))
    text = f"{ref} was removed by the retention policy on {purged_at.date().isoformat()}"
    entry = TimelineEntry(
        incident_id=incident_id,
        seq=1,
        at=purged_at,
        kind=EntryKind.PURGED,
        actor=None,
        text=text,
        data=data,
        prev_hash=GENESIS_HASH,
    )
    return rechain([entry], GENESIS_HASH)[0]


# --- a person's data ------------------------------------------------------------------


def is_user_id(value: str) -> bool:
    return bool(_USER_ID.match(value))


def pseudonym(user_id: str, key: bytes | None) -> str:
    """A stable stand-in for a forgotten person: the same id always gives the same name,
    so their entries still read as one person's. Keyed with FIREWATCH_AUDIT_KEY when set
    (otherwise anyone holding a list of ids could recompute it)."""
    if key:
        digest = hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()
    else:
        digest = hashlib.sha256(user_id.encode()).hexdigest()
    return PSEUDONYM_PREFIX + digest[:10]


def _id_pattern(user_id: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(user_id)}(?![A-Za-z0-9])")


def mentions(value: Any, user_id: str) -> bool:
    """Whether the id appears anywhere in a value (strings, mappings, lists)."""
    pattern = _id_pattern(user_id)

    def walk(v: Any) -> bool:
        if isinstance(v, str):
            return bool(pattern.search(v))
        if isinstance(v, Mapping):
            return any(walk(k) or walk(x) for k, x in v.items())
        if isinstance(v, list | tuple):
            return any(walk(x) for x in v)
        return False

    return walk(value)


def replace_user(value: Any, user_id: str, alias: str) -> Any:
    """A copy of `value` with every occurrence of the id replaced by `alias`."""
    pattern = _id_pattern(user_id)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return pattern.sub(alias, v)
        if isinstance(v, Mapping):
            return {walk(k): walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return walk(value)


def authored_by(entry: TimelineEntry, user_id: str) -> bool:
    """Whether the entry holds text the person wrote (a note, an update, a captured
    message of theirs)."""
    if entry.data.get("author") == user_id:
        return True
    if entry.actor != user_id:
        return False
    if entry.kind in _AUTHORED_KINDS or entry.kind == EntryKind.CHECKLIST_OVERRIDE:
        return True
    return any(
        isinstance(entry.data.get(k), str) and entry.data[k].strip() for k in _FREE_TEXT_KEYS
    )


def redact_entry(entry: TimelineEntry, user_id: str, alias: str) -> TimelineEntry:
    """The entry with the person's own text removed and their id replaced everywhere.

    Removed: a note they wrote, a message of theirs captured into the timeline, and the
    free text of an entry they made (status update, reason). Kept: what Firewatch itself
    wrote (the status change, the page), with the pseudonym instead of the id. Hashes are
    left as they were: `rechain` recomputes them.
    """
    text, data = entry.text, dict(entry.data)
    if data.get("author") == user_id or (entry.actor == user_id and entry.kind in _AUTHORED_KINDS):
        text = REMOVED_TEXT
    elif entry.actor == user_id and entry.kind == EntryKind.CHECKLIST_OVERRIDE:
        text = text.split(": ", 1)[0] + ": " + REMOVED_TEXT  # the reason they gave
    elif entry.actor == user_id:
        for key in _FREE_TEXT_KEYS:
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                text = text.replace(value.strip(), REMOVED_TEXT)
                data[key] = REMOVED_TEXT
    return replace(
        entry,
        actor=replace_user(entry.actor, user_id, alias),
        text=replace_user(text, user_id, alias),
        data=replace_user(data, user_id, alias),
    )


def rechain(entries: Iterable[TimelineEntry], prev_hash: str) -> list[TimelineEntry]:
    """The entries linked again from `prev_hash`, with their hashes recomputed."""
    out = []
    prev = prev_hash
    for e in entries:
        digest = linked_hash(e, prev)
        out.append(replace(e, prev_hash=prev, hash=digest))
        prev = digest
    return out


@dataclass(frozen=True)
class Rewrite:
    """How forgetting a person changes one incident's chain."""

    changed: list[TimelineEntry]  # the entries from the first affected one, rewritten
    record_data: dict[str, Any]  # the data of the signed `redacted` entry to append
    record_text: str


def forget_in_chain(
    entries: Sequence[TimelineEntry],
    user_id: str,
    alias: str,
    *,
    at: datetime,
    key: bytes | None,
) -> Rewrite | None:
    """Rewrite a chain without the person, from the first entry that names them.

    Every later entry is re-hashed so the chain verifies; a signed `redacted` entry
    (appended by the caller at `at`) records the head hash before and after, so the
    rewrite is itself on the record. None when the chain does not name the person.
    """
    start = next((i for i, e in enumerate(entries) if mentions(_visible(e), user_id)), None)
    if start is None:
        return None
    prev = entries[start - 1].hash if start else GENESIS_HASH
    redacted = [redact_entry(e, user_id, alias) for e in entries[start:]]
    changed = rechain(redacted, prev)
    data: dict[str, Any] = {
        "from_seq": entries[start].seq,
        "rewritten": len(changed),
        "old_head": entries[-1].hash,
        "new_head": changed[-1].hash,
        "pseudonym": alias,
    }
    data.update(sign(signed_fields(entries[0].incident_id, EntryKind.REDACTED, at, data), key))
    text = (
        f"Entries #{entries[start].seq}–#{entries[-1].seq} rewritten to remove a person's "
        "data at their request"
    )
    return Rewrite(changed=changed, record_data=data, record_text=text)


def _visible(entry: TimelineEntry) -> dict[str, Any]:
    return {"actor": entry.actor, "text": entry.text, "data": entry.data}
