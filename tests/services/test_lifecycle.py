"""Retention purges and a person's data, end to end: Slack requests build the record,
`firewatch purge` / `export-user` / `forget-user` act on it, `verify` stays green."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.domain.clock import FrozenClock
from bot.domain.retention import REMOVED_TEXT, pseudonym
from bot.services.lifecycle import LifecycleService, run_purge
from bot.services.timeline import TimelineService
from storage.models import IncidentRow, OutboxRow, TimelineEntryRow
from storage.repositories import SlackEventRepository
from tests.support import Harness, run_cli, start_harness

KEY = "lifecycle-test-audit-key-0123456789"
START = datetime(2020, 3, 2, 10, 0, tzinfo=UTC)  # long ago: the CLI's real clock sees it as old
RETENTION = """
retention:
  closed_incidents_days: 30
  timeline_days: 30
  processed_events_days: 7
  outbox_done_days: 30
"""


async def cli(
    *args: str, database_url: str, policy: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"FIREWATCH_AUDIT_KEY": KEY}
    if policy is not None:
        env["FIREWATCH_POLICY_FILE"] = str(policy)
    return await run_cli(*args, database_url=database_url, extra_env=env)


@pytest.fixture
def policy_file(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(getattr(request, "param", RETENTION))
    return path


@pytest.fixture
async def h(database_url: str, policy_file: Path) -> AsyncIterator[Harness]:
    async with start_harness(
        database_url, clock=FrozenClock(START), FIREWATCH_POLICY_FILE=str(policy_file)
    ) as harness:
        yield harness


def clock(h: Harness) -> FrozenClock:
    assert isinstance(h.app.clock, FrozenClock)
    return h.app.clock


def timeline(h: Harness, key: str | None = KEY) -> TimelineService:
    return TimelineService(
        h.app.db,
        h.app.policy,
        h.app.clock,
        broadcast_channel=None,
        audit_key=key.encode() if key else None,
    )


async def say(h: Harness, channel: str, text: str, user: str = "U0ALICE") -> None:
    response = await h.sender.slash_command(text, user_id=user, channel_id=channel)
    assert response.status == 200, response.text
    await h.noted()  # a note is appended right after its answer


async def declare(h: Harness) -> IncidentRow:
    await h.declare()
    await h.settled()
    row = (await h.incidents())[-1]
    assert row.channel_id
    return row


async def close(h: Harness, incident_id: int) -> None:
    # Closing belongs to the post-mortem approval; here the incident is simply closed now.
    async with h.app.db.session() as session:
        await session.execute(
            update(IncidentRow)
            .where(IncidentRow.id == incident_id)
            .values(status="closed", closed_at=clock(h).now())
        )


async def entries(h: Harness, incident_id: int) -> list[TimelineEntryRow]:
    return [e for e in await h.timeline() if e.incident_id == incident_id]


async def test_purge_applies_retention_and_leaves_every_chain_verifiable(h: Harness) -> None:
    inc1 = await declare(h)  # stays open: only its old entries go
    await say(h, inc1.channel_id or "", "note day 0")
    clock(h).advance(timedelta(days=10))
    await say(h, inc1.channel_id or "", "note day 10")
    inc2 = await declare(h)  # closed on day 12: deleted whole
    clock(h).advance(timedelta(days=2))
    await close(h, inc2.id)
    async with h.app.db.session() as session:
        events = SlackEventRepository(session)
        await events.first_time("Ev-OLD", START)
        await events.first_time("Ev-RECENT", START + timedelta(days=45))
    clock(h).advance(timedelta(days=28))  # day 40
    await say(h, inc1.channel_id or "", "note day 40")
    await h.settled()
    clock(h).advance(timedelta(days=10))  # day 50: cutoffs at day 20 (43 for events)

    cutoff = clock(h).now() - timedelta(days=30)
    before = await h.timeline()
    old_outbox = [
        r
        for r in await h.outbox()
        if r.status == "done" and r.delivered_at and r.delivered_at < cutoff
    ]
    old_inc1 = [e for e in before if e.incident_id == inc1.id and e.at < cutoff]
    inc2_entries = [e for e in before if e.incident_id == inc2.id]
    service = LifecycleService(h.app.db, h.app.policy, h.app.clock, audit_key=KEY.encode())

    dry = await service.purge(dry_run=True)
    assert dry.incidents == ["INC-2"]
    assert dry.counts["incidents"] == 1
    assert dry.counts["timeline_entries"] == len(old_inc1) + len(inc2_entries)
    assert dry.counts["slack_events"] == 1
    assert dry.counts["outbox"] == len(old_outbox)
    assert len(await h.timeline()) == len(before)  # a dry run deletes nothing

    done = await service.purge()
    assert done.counts == dry.counts
    assert done.skipped == []

    # INC-2: a stub with its number and one signed entry saying what was removed.
    stub = (await h.incidents())[1]
    assert (stub.id, stub.status, stub.title) == (
        inc2.id,
        "closed",
        "(removed by the retention policy)",
    )
    assert stub.nature == stub.impact == stub.reporter_id == ""
    [purged] = await entries(h, inc2.id)
    assert purged.kind == "purged"
    assert purged.data["removed"]["timeline_entries"] == len(inc2_entries)
    assert purged.data["alg"] == "hmac-sha256"

    # INC-1: the old prefix is one tombstone; the day-40 note still links to it.
    kept = await entries(h, inc1.id)
    assert kept[0].kind == "tombstone"
    assert kept[0].seq == len(old_inc1)
    assert (
        kept[0].text == f"Entries #1–#{len(old_inc1)} removed by the retention policy on 2020-04-21"
    )
    assert [e.text for e in kept[1:]] == ["day 40"]
    assert [r.id for r in await h.outbox() if r.id in {o.id for o in old_outbox}] == []

    assert await timeline(h).verify() == []
    assert await timeline(h, key=None).verify() == []  # HMAC not checkable: links still are
    wrong = await timeline(h, key="another-key-of-sixteen-chars").verify()
    assert {(p.incident_ref, p.seq) for p in wrong} == {("INC-1", kept[0].seq), ("INC-2", 1)}

    # Life goes on: a new entry chains after the tombstone; numbers are never reused.
    await say(h, inc1.channel_id or "", "note day 50")
    inc3 = await declare(h)
    assert inc3.id == 3
    assert await timeline(h).verify() == []
    again = await service.purge()
    assert again.counts == {}

    # A second purge later folds the first tombstone into the new one.
    clock(h).advance(timedelta(days=40))
    later = await service.purge()
    assert later.timelines["INC-1"] == 2  # day 40 and day 50 notes
    first = (await entries(h, inc1.id))[0]
    assert (first.kind, first.data["first_seq"]) == ("tombstone", 1)
    assert await timeline(h).verify() == []

    # Tampering with a tombstone is caught.
    async with h.app.db.session() as session:
        await session.execute(
            update(TimelineEntryRow)
            .where(TimelineEntryRow.id == first.id)
            .values(data={**first.data, "first_seq": 2})
        )
    [problem] = await timeline(h).verify(inc1.id)
    assert problem.seq == first.seq


async def test_purge_command_dry_run_then_purge(h: Harness, policy_file: Path) -> None:
    inc = await declare(h)
    await say(h, inc.channel_id or "", "note long ago")
    await close(h, inc.id)
    await h.settled()
    url = h.database_url

    dry = await cli("purge", "--dry-run", database_url=url, policy=policy_file)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0] == "dry run: nothing deleted; this is what `firewatch purge` would remove"
    assert any(
        line.split()[:2] == ["incidents", "1"] and "closed_incidents_days: 30 days" in line
        for line in lines
    )
    assert len(await h.incidents()) == 1
    assert (await h.incidents())[0].title == "Checkout errors"

    done = await cli("purge", database_url=url, policy=policy_file)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "purged"
    assert "INC-1" in done.stdout
    ok = await cli("verify", database_url=url)
    assert (ok.returncode, ok.stdout.strip()) == (0, "every timeline chain is intact")

    nothing = await cli("purge", "--dry-run", database_url=url)  # default policy: keep forever
    assert "keep forever" in nothing.stdout


async def test_daily_job_runs_only_when_the_policy_switches_it_on(
    database_url: str, tmp_path: Path
) -> None:
    off = tmp_path / "off.yaml"
    off.write_text(RETENTION)
    async with start_harness(
        database_url, clock=FrozenClock(START), FIREWATCH_POLICY_FILE=str(off)
    ) as h:
        inc = await declare(h)
        await close(h, inc.id)
        clock(h).advance(timedelta(days=31))
        assert await run_purge(h.app.db, h.app.policy, h.app.clock) is None
        assert (await h.incidents())[0].title == "Checkout errors"
    on = tmp_path / "on.yaml"
    on.write_text(RETENTION + "features:\n  purge_job: true\n")
    async with start_harness(
        database_url, clock=FrozenClock(START + timedelta(days=31)), FIREWATCH_POLICY_FILE=str(on)
    ) as h:
        report = await run_purge(h.app.db, h.app.policy, h.app.clock)
        assert report is not None
        assert report.incidents == ["INC-1"]
        assert await timeline(h, key=None).verify() == []


# Issue 20: assigning roles is the rostered PM's, and changing the status a responder's.
@pytest.mark.parametrize(
    "policy_file", [RETENTION + "roles:\n  pm: {primary: U0ALICE}\n"], indirect=True
)
async def test_export_user_then_forget_user(h: Harness) -> None:
    inc = await declare(h)  # reported by U0ALICE
    channel = inc.channel_id or ""
    await say(h, channel, "note Bob thinks the cache is cold", user="U0BOB")
    await say(h, channel, "note Asked <@U0BOB> to check the cache")
    await say(h, channel, "assign sme <@U0BOB>")
    await say(h, channel, "status monitoring Bob restarted the cache nodes", user="U0BOB")
    await say(h, "D0BOB", "away until 17:00", user="U0BOB")
    await say(h, channel, "note Alice wrote this herself")
    await h.settled()
    url = h.database_url

    exported = await cli("export-user", "U0BOB", database_url=url)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["user"] == "U0BOB"
    by_text = {e["text"]: e["as"] for e in data["timeline_entries"]}
    assert by_text["Bob thinks the cache is cold"] == ["actor"]
    assert by_text["Asked <@U0BOB> to check the cache"] == ["mentioned"]
    assert any("Bob restarted the cache nodes" in t for t in by_text)
    assert "Alice wrote this herself" not in by_text
    assert {"role_assignments", "absences"} <= set(data["records"])
    [assignment] = data["records"]["role_assignments"]
    assert assignment["row"]["person"] == "U0BOB"
    assert assignment["named_in"] == ["person"]

    refused = await cli("forget-user", "U0BOB", database_url=url)  # no terminal, no --yes
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr

    forgot = await cli("forget-user", "U0BOB", "--yes", database_url=url)
    assert forgot.returncode == 0, forgot.stderr
    alias = pseudonym("U0BOB", KEY.encode())
    assert forgot.stdout.startswith(f"U0BOB will become {alias}: ")

    ok = await cli("verify", database_url=url)
    assert (ok.returncode, ok.stdout.strip()) == (0, "every timeline chain is intact")

    after = json.loads((await cli("export-user", "U0BOB", database_url=url)).stdout)
    assert (after["timeline_entries"], after["records"]) == ([], {})

    record = (await cli("export", "INC-1", "--format", "json", database_url=url)).stdout
    assert "U0BOB" not in record
    assert "cache is cold" not in record
    assert "restarted the cache nodes" not in record
    assert "Alice wrote this herself" in record
    assert '"reporter": "U0ALICE"' in record
    texts = [e["text"] for e in json.loads(record)["timeline"]]
    assert REMOVED_TEXT in texts
    assert f"Asked <@{alias}> to check the cache" in texts
    assert f"Status: Investigating → Monitoring — {REMOVED_TEXT}" in texts
    last = json.loads(record)["timeline"][-1]
    assert last["kind"] == "redacted"
    assert last["actor"] is None
    assert last["data"]["pseudonym"] == alias
    assert last["data"]["alg"] == "hmac-sha256"
    assert last["data"]["old_head"] != last["data"]["new_head"]

    # The pseudonym is stable: the same person's entries still read as one person's.
    async with h.app.db.session(write=False) as session:
        actors = set((await session.execute(select(TimelineEntryRow.actor))).scalars()) - {None}
        keys = set((await session.execute(select(OutboxRow.ordering_key))).scalars())
    assert actors == {"U0ALICE", alias}
    assert not any("U0BOB" in k for k in keys)

    nothing = await cli("forget-user", "U0BOB", "--yes", database_url=url)
    assert (nothing.returncode, nothing.stdout.strip()) == (0, "nothing stored names U0BOB")


async def test_forget_user_refuses_a_broken_chain_and_bad_ids(h: Harness) -> None:
    inc = await declare(h)
    await say(h, inc.channel_id or "", "note from bob", user="U0BOB")
    async with h.app.db.session() as session:
        await session.execute(
            update(TimelineEntryRow).where(TimelineEntryRow.seq == 1).values(text="tampered")
        )
    broken = await cli("forget-user", "U0BOB", "--yes", database_url=h.database_url)
    assert broken.returncode == 1
    assert "INC-1: timeline chain is broken; nothing changed" in broken.stderr
    export = json.loads((await cli("export-user", "u0bob", database_url=h.database_url)).stdout)
    assert export["timeline_entries"][0]["text"] == "from bob"

    bad = await cli("export-user", "bob@example.com", database_url=h.database_url)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "firewatch: configuration error: 'bob@example.com' is not a Slack user id (U012ABC)"
    )
