"""The alerts' retention (`retention.alerts_days`, issue 22): resolved alert groups that no
incident links go with their alerts once last seen before the cutoff; firing and linked
groups stay; expired silences and storm cards no group uses go too. Rows are made by the
alert desk (as a monitor's webhook would) and the alert repository; ages come from the
frozen clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import bot.services.lifecycle as lifecycle
from bot.cli.main import main
from bot.domain.alerts import FIRING, RESOLVED, AlertBatch, IncomingAlert, Silence
from bot.domain.clock import FrozenClock
from bot.services.lifecycle import LifecycleService, run_purge
from storage.alert_models import AlertGroupRow, AlertRow, AlertSilenceRow, AlertStormRow
from storage.alert_repository import AlertRepository
from tests.services.test_lifecycle import close, declare
from tests.support import Harness, start_harness

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
POLICY = """
retention:
  closed_incidents_days: 30
  alerts_days: 30
alerts:
  storm:
    cards_per_minute: 1
features:
  purge_job: true
"""


@pytest.fixture
async def h(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    async with start_harness(
        database_url, clock=FrozenClock(T0), FIREWATCH_POLICY_FILE=str(policy)
    ) as harness:
        yield harness


def clock(h: Harness) -> FrozenClock:
    assert isinstance(h.app.clock, FrozenClock)
    return h.app.clock


def alert(fingerprint: str, status: str, starts: datetime, name: str) -> IncomingAlert:
    return IncomingAlert(
        source="alertmanager",
        fingerprint=fingerprint,
        status=status,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=5) if status == RESOLVED else None,
        labels={"alertname": name, "severity": "warning"},
        annotations={"summary": f"{name} <on> & checkout"},
    )


async def fire(h: Harness, key: str, *fingerprints: str, status: str = FIRING) -> int:
    """A notification for group `key` (one alert per fingerprint); the group's id."""
    starts = T0 - timedelta(minutes=1)
    alerts = tuple(alert(f"{key}-{f}", status, starts, key) for f in fingerprints)
    receipt = await h.app.alerts.receive(
        AlertBatch(source="alertmanager", group_key=key, status=status, alerts=alerts)
    )
    assert receipt.group is not None
    return receipt.group


async def groups(h: Harness) -> dict[int, AlertGroupRow]:
    async with h.app.db.session(write=False) as session:
        rows = (await session.execute(select(AlertGroupRow))).scalars()
        return {row.id: row for row in rows}


async def alerts_of(h: Harness) -> dict[int, int]:
    async with h.app.db.session(write=False) as session:
        stmt = select(AlertRow.group_id, func.count()).group_by(AlertRow.group_id)
        return {int(g): int(n) for g, n in (await session.execute(stmt)).all()}


async def keys(h: Harness, column: object) -> set[object]:
    async with h.app.db.session(write=False) as session:
        return set((await session.execute(select(column))).scalars())  # type: ignore[call-overload]


async def silence(h: Harness, name: str, until: datetime) -> None:
    async with h.app.db.session() as session:
        await AlertRepository(session).silence(
            [Silence("alertmanager", name, until, "U0ALICE", "noisy", clock(h).now())]
        )


async def test_old_resolved_unlinked_groups_go_with_their_alerts_and_the_rest_stays(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = await declare(h)
    # Minute 0: A has a card of its own; D, beyond the bound, goes on storm card S1.
    a = await fire(h, "A", "1", "2", "3")
    d = await fire(h, "D", "1")
    await fire(h, "A", "1", "2", "3", status=RESOLVED)
    await fire(h, "D", "1", status=RESOLVED)
    # Minute 20 (S1 quiet): B stays firing; C, resolved, is linked to the incident and
    # goes on a new storm card S2.
    clock(h).advance(timedelta(minutes=20))
    b = await fire(h, "B", "1", "2")
    c = await fire(h, "C", "1")
    await fire(h, "C", "1", status=RESOLVED)
    async with h.app.db.session() as session:
        assert await AlertRepository(session).link(c, incident.id)
    # Day 20: E resolved, recent at the purge.
    clock(h).advance(timedelta(days=20))
    e = await fire(h, "E", "1")
    await fire(h, "E", "1", status=RESOLVED)
    await silence(h, "old", T0 + timedelta(days=5))
    await silence(h, "just-ended", T0 + timedelta(days=30, hours=12))
    await silence(h, "future", T0 + timedelta(days=40))
    await h.settled()
    before = await groups(h)
    assert before[d].storm_id is not None
    assert before[c].storm_id not in (None, before[d].storm_id)
    assert (before[a].storm_id, before[b].storm_id) == (None, None)
    assert (before[b].status, before[c].status, before[e].status) == (FIRING, RESOLVED, RESOLVED)
    storms = await keys(h, AlertStormRow.id)
    assert storms == {before[d].storm_id, before[c].storm_id}

    clock(h).advance(timedelta(days=11))  # day 31: the cutoff is day 1, silences' day 30
    service = LifecycleService(h.app.db, h.app.policy, h.app.clock)
    expected = {"alert_groups": 2, "alerts": 4, "alert_storms": 1, "alert_silences": 1}
    dry = await service.purge(dry_run=True)
    assert {t: n for t, n in dry.counts.items() if t.startswith("alert")} == expected
    assert set(await groups(h)) == {a, b, c, d, e}  # a dry run deletes nothing

    monkeypatch.setattr(lifecycle, "BATCH", 2)  # several bounded statements per table
    done = await service.purge()
    assert done.counts == dry.counts
    assert set(await groups(h)) == {b, c, e}
    assert await alerts_of(h) == {b: 2, c: 1, e: 1}
    assert await keys(h, AlertStormRow.id) == {before[c].storm_id}
    assert await keys(h, AlertSilenceRow.fingerprint) == {"just-ended", "future"}
    assert (await groups(h))[c].incident_id == incident.id

    again = await service.purge()
    assert not any(t.startswith("alert") for t in again.counts)

    # The daily job applies it too: B resolves now, and is gone 31 days later with E. The
    # newest group is always kept (its id must not be given again): here F, still firing.
    await fire(h, "B", "1", "2", status=RESOLVED)
    f = await fire(h, "F", "1")
    clock(h).advance(timedelta(days=31))
    report = await run_purge(h.app.db, h.app.policy, h.app.clock)
    assert report is not None
    assert (report.counts["alert_groups"], report.counts["alerts"]) == (2, 3)  # B and E
    assert set(await groups(h)) == {c, f}


async def test_a_purged_incident_unlinks_its_groups_which_go_at_the_next_purge(
    h: Harness,
) -> None:
    incident = await declare(h)
    group = await fire(h, "linked", "1", "2")
    await fire(h, "linked", "1", "2", status=RESOLVED)
    async with h.app.db.session() as session:
        assert await AlertRepository(session).link(group, incident.id)
    await close(h, incident.id)
    await h.settled()
    clock(h).advance(timedelta(days=31))
    service = LifecycleService(h.app.db, h.app.policy, h.app.clock)

    first = await service.purge()
    assert first.incidents == ["INC-1"]
    assert "alert_groups" not in first.counts  # unlinked, not deleted
    [kept] = (await groups(h)).values()
    assert (kept.id, kept.incident_id) == (group, None)
    assert await alerts_of(h) == {group: 2}
    stub = [e for e in await h.timeline() if e.incident_id == incident.id]
    assert [e.kind for e in stub] == ["purged"]
    assert "alert_groups" not in stub[0].data["removed"]

    # Old enough and unlinked, but the newest group: kept until a newer one exists (SQLite
    # would give its id, and the declaration key `alert:<id>`, to the next group).
    second = await service.purge()
    assert "alert_groups" not in second.counts
    newer = await fire(h, "newer", "1")
    third = await service.purge()
    assert (third.counts["alert_groups"], third.counts["alerts"]) == (1, 2)
    assert set(await groups(h)) == {newer}
    assert await alerts_of(h) == {newer: 1}


async def test_purge_command_shows_the_alert_counts(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    # The command runs on the real clock: the group is made long before it.
    long_ago = FrozenClock(datetime(2020, 3, 2, 10, 0, tzinfo=UTC))
    async with start_harness(database_url, clock=long_ago, FIREWATCH_POLICY_FILE=str(policy)) as h:
        await fire(h, "old", "1")
        await fire(h, "old", "1", status=RESOLVED)
        newer = await fire(h, "newer", "1")  # still firing: kept
        await h.settled()
        monkeypatch.setenv("FIREWATCH_DATABASE_URL", database_url)
        monkeypatch.setenv("FIREWATCH_POLICY_FILE", str(policy))
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["purge", "--dry-run"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert any(
            line.split()[:2] == ["alert_groups", "1"] and "retention.alerts_days: 30 days" in line
            for line in out
        )
        assert any(line.split()[:2] == ["alerts", "1"] for line in out)
        assert len(await groups(h)) == 2
        assert await asyncio.to_thread(main, ["purge"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0] == "purged"
        assert any(line.split()[:2] == ["alert_groups", "1"] for line in out)
        assert set(await groups(h)) == {newer}
