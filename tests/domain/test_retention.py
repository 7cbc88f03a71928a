"""The retention and features policy sections, and the pure lifecycle rules: what is
due, tombstones and signatures, and rewriting a chain without a person."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.retention import (
    REMOVED_TEXT,
    chain_problem,
    cutoffs,
    forget_in_chain,
    pseudonym,
    purgeable_prefix,
    rechain,
    redact_entry,
    timeline_tombstone,
)
from bot.domain.timeline import GENESIS_HASH, TimelineEntry
from bot.policy.loader import PolicyError, load_default_policy, load_policy

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KEY = b"a-key-of-at-least-sixteen-bytes"


def chain(*specs: tuple[int, str, str | None, str, dict[str, object]]) -> list[TimelineEntry]:
    """Entries (day, kind, actor, text, data) linked from the genesis hash."""
    entries = [
        TimelineEntry(
            incident_id=7,
            seq=n,
            at=T0 + timedelta(days=day),
            kind=kind,
            actor=actor,
            text=text,
            data=dict(data),
        )
        for n, (day, kind, actor, text, data) in enumerate(specs, start=1)
    ]
    return rechain(entries, GENESIS_HASH)


SAMPLE = chain(
    (0, "declared", "U0ALICE", "INC-7 declared: Checkout errors (SEV1)", {"severity": "sev1"}),
    (1, "note", "U0BOB", "Bob's theory", {}),
    (
        2,
        "status",
        "U0BOB",
        "Status: Investigating → Monitoring — Bob's update",
        {"update": "Bob's update"},
    ),
    (3, "captured", "U0ALICE", "what bob said in #general", {"author": "U0BOB", "ts": "1.2"}),
    (4, "note", "U0ALICE", "Asked <@U0BOB> to look; U0BOBBY is someone else", {}),
    (
        5,
        "checklist_override",
        "U0BOB",
        "Declared although the checklist did not qualify: trust me",
        {},
    ),
    (40, "note", "U0ALICE", "recent", {}),
)


# --- policy ---------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_default_keeps_incidents_and_timelines_and_turns_features_on() -> None:
    policy = load_default_policy()
    assert policy.retention.closed_incidents_days is None
    assert policy.retention.timeline_days is None
    assert (policy.retention.processed_events_days, policy.retention.outbox_done_days) == (7, 30)
    features = policy.features
    assert (features.create_channels, features.capture_reactions, features.external_paging) == (
        True,
        True,
        True,
    )
    assert (features.scheduled_jobs, features.purge_job) == (True, False)


def test_a_team_sets_retention_and_switches(tmp_path: Path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            "retention:\n  closed_incidents_days: 365\n  timeline_days: 730\n"
            "features:\n  purge_job: true\n  capture_reactions: false\n",
        )
    ).policy
    assert policy.retention.closed_incidents_days == 365
    assert policy.retention.timeline_days == 730
    assert policy.retention.outbox_done_days == 30  # merged: left as the default
    assert policy.features.purge_job
    assert not policy.features.capture_reactions
    assert policy.features.create_channels


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("retention:\n  timeline_days: 0\n", "retention.timeline_days: "),
        ("retention:\n  outbox_done_days: -5\n", "retention.outbox_done_days: "),
        ("retention:\n  keep_everything: true\n", "retention.keep_everything: unknown key"),
        ("features:\n  purge_job: sometimes\n", "features.purge_job: "),
        ("features:\n  dark_mode: true\n", "features.dark_mode: unknown key"),
    ],
)
def test_bad_retention_and_features_are_reported_with_their_line(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    [line] = error.value.problems
    assert line.startswith(f"{path}:2: {problem}")


# --- what is due ----------------------------------------------------------------------


def test_cutoffs_and_prefix() -> None:
    policy = load_policy(None).policy
    now = T0 + timedelta(days=50)
    cut = cutoffs(policy.retention, now)
    assert (cut.closed_incidents, cut.timeline) == (None, None)
    assert cut.processed_events == now - timedelta(days=7)
    assert purgeable_prefix(SAMPLE, T0 + timedelta(days=3)) == 3
    assert purgeable_prefix(SAMPLE, T0) == 0
    assert purgeable_prefix(SAMPLE, T0 + timedelta(days=100)) == len(SAMPLE)


# --- tombstones -----------------------------------------------------------------------


def purge(entries: list[TimelineEntry], n: int, key: bytes | None) -> list[TimelineEntry]:
    tomb = timeline_tombstone(entries[:n], purged_at=T0 + timedelta(days=60), key=key)
    return [tomb, *entries[n:]]


def test_a_purged_prefix_leaves_a_chain_that_verifies() -> None:
    assert chain_problem(SAMPLE, KEY) is None
    after = purge(SAMPLE, 3, KEY)
    assert after[0].seq == 3
    assert after[0].hash == SAMPLE[2].hash  # the next entry still links to it
    assert chain_problem(after, KEY) is None
    assert chain_problem(after, None) is None  # HMAC unverifiable without the key
    assert chain_problem(after, b"another-key-that-is-long") == after[0]

    again = purge(after, 3, KEY)  # the old tombstone and two more entries
    assert (again[0].data["first_seq"], again[0].data["last_seq"], again[0].data["count"]) == (
        1,
        5,
        5,
    )
    assert chain_problem(again, KEY) is None


def test_tombstones_without_a_key_are_digests_that_still_catch_edits() -> None:
    after = purge(SAMPLE, 2, None)
    assert after[0].data["alg"] == "sha256"
    assert chain_problem(after, None) is None
    edited = replace(after[0], data={**after[0].data, "count": 1})
    assert chain_problem([edited, *after[1:]], None) == edited


def test_deleting_an_entry_behind_a_tombstone_is_caught() -> None:
    after = purge(SAMPLE, 2, KEY)
    assert chain_problem([after[0], *after[2:]], KEY) == after[2]
    moved = [after[1], after[0], *after[2:]]  # a tombstone must come first
    assert chain_problem(moved, KEY) is not None


# --- a person's data ------------------------------------------------------------------


def test_pseudonyms_are_stable_and_keyed() -> None:
    assert pseudonym("U0BOB", KEY) == pseudonym("U0BOB", KEY)
    assert pseudonym("U0BOB", KEY) != pseudonym("U0BOB", None)
    assert pseudonym("U0BOB", KEY).startswith("forgotten-")
    assert len(pseudonym("U0BOB", KEY)) == len("forgotten-") + 10


def test_redaction_removes_what_the_person_wrote_and_keeps_the_rest() -> None:
    alias = "forgotten-0123456789"
    red = {e.seq: redact_entry(e, "U0BOB", alias) for e in SAMPLE}
    assert red[1] == SAMPLE[0]  # nothing of theirs
    assert (red[2].actor, red[2].text) == (alias, REMOVED_TEXT)
    assert red[3].text == f"Status: Investigating → Monitoring — {REMOVED_TEXT}"
    assert red[3].data == {"update": REMOVED_TEXT}
    assert (red[4].actor, red[4].text, red[4].data["author"]) == ("U0ALICE", REMOVED_TEXT, alias)
    assert red[5].text == f"Asked <@{alias}> to look; U0BOBBY is someone else"
    assert red[6].text == f"Declared although the checklist did not qualify: {REMOVED_TEXT}"
    assert red[7] == SAMPLE[6]


def test_forgetting_rewrites_the_chain_from_the_first_mention_and_signs_the_rewrite() -> None:
    at = T0 + timedelta(days=41)
    rewrite = forget_in_chain(SAMPLE, "U0BOB", "forgotten-x", at=at, key=KEY)
    assert rewrite is not None
    assert [e.seq for e in rewrite.changed] == [2, 3, 4, 5, 6, 7]
    assert rewrite.changed[0].prev_hash == SAMPLE[0].hash
    data = rewrite.record_data
    assert (data["from_seq"], data["old_head"], data["new_head"]) == (
        2,
        SAMPLE[-1].hash,
        rewrite.changed[-1].hash,
    )
    new_chain = [SAMPLE[0], *rewrite.changed]
    record = rechain(
        [
            TimelineEntry(
                incident_id=7,
                seq=8,
                at=at,
                kind="redacted",
                actor=None,
                text=rewrite.record_text,
                data=data,
            )
        ],
        new_chain[-1].hash,
    )
    assert chain_problem([*new_chain, *record], KEY) is None
    forged = replace(record[0], data={**data, "old_head": "0" * 64})
    assert chain_problem([*new_chain, *rechain([forged], new_chain[-1].hash)], KEY) is not None
    assert forget_in_chain(SAMPLE, "U0CAROL", "forgotten-y", at=at, key=KEY) is None
