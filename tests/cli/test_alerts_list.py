"""`firewatch alerts list` (issue 22): the alert groups last seen most recently, newest
first, with their state, link and acknowledgement; `--firing` and `--limit`; read-only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.domain.alerts import FIRING, RESOLVED, AlertBatch, IncomingAlert
from bot.domain.clock import FrozenClock
from storage.alert_repository import AlertRepository
from tests.support import Harness, start_harness

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
POLICY = """
alerts:
  routes:
    - {matchers: ["team=payments"], channel: "#payments-alerts"}
"""


@pytest.fixture
async def h(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    async with start_harness(
        database_url, clock=FrozenClock(NOW), FIREWATCH_POLICY_FILE=str(policy)
    ) as harness:
        monkeypatch.setenv("FIREWATCH_DATABASE_URL", database_url)
        monkeypatch.setenv("FIREWATCH_POLICY_FILE", str(policy))
        yield harness


async def fire(h: Harness, key: str, count: int, *, resolved: int = 0, **labels: str) -> int:
    """A notification for group `key`: `count` alerts, the first `resolved` of them
    resolved."""
    alerts = tuple(
        IncomingAlert(
            source="alertmanager",
            fingerprint=f"{key}-{n}",
            status=RESOLVED if n < resolved else FIRING,
            starts_at=NOW - timedelta(minutes=5),
            ends_at=None,
            labels={"alertname": key, **labels},
            annotations={"summary": f"{key} is <failing> & 'loud'"},
        )
        for n in range(count)
    )
    status = FIRING if resolved < count else RESOLVED
    receipt = await h.app.alerts.receive(
        AlertBatch(source="alertmanager", group_key=key, status=status, alerts=alerts)
    )
    assert receipt.group is not None
    return receipt.group


async def listing(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["alerts", "list", *args]) == 0
    return capsys.readouterr().out.splitlines()


async def test_alerts_list_shows_the_latest_groups(
    h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await listing(capsys) == ["no alert groups"]
    await h.declare()
    await h.settled()
    [incident] = await h.incidents()

    payments = await fire(h, "PaymentsDown", 3, team="payments")
    async with h.app.db.session() as session:
        repo = AlertRepository(session)
        assert await repo.link(payments, incident.id)
        assert await repo.acknowledge(payments, "U0BOB", NOW)
    h.app.clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
    disk = await fire(h, "DiskFull", 2)
    await fire(h, "DiskFull", 2, resolved=1)
    h.app.clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
    quiet = await fire(h, "CacheCold", 1)
    await fire(h, "CacheCold", 1, resolved=1)
    await h.settled()
    async with h.app.db.session(write=False) as session:
        broadcast = (await AlertRepository(session).group(disk)).channel  # type: ignore[union-attr]
    assert broadcast

    lines = await listing(capsys)
    assert lines[0].split() == [
        "ID", "SOURCE", "STATUS", "FIRING", "CHANNEL", "INCIDENT", "ACK", "BY",
        "LAST", "SEEN", "(UTC)", "TITLE",
    ]  # fmt: skip
    rows = lines[1:]
    assert [int(row.split()[0]) for row in rows] == [quiet, disk, payments]  # newest first
    assert rows[0].split()[1:9] == [
        "alertmanager", "resolved", "0/1", broadcast, "-", "-", "2026-11-25", "15:04:00",
    ]  # fmt: skip
    assert rows[1].split()[1:9] == [
        "alertmanager", "firing", "1/2", broadcast, "-", "-", "2026-11-25", "15:02:00",
    ]  # fmt: skip
    assert rows[2].split()[1:9] == [
        "alertmanager", "firing", "3/3", "#payments-alerts", "INC-1", "U0BOB",
        "2026-11-25", "15:00:00",
    ]  # fmt: skip
    assert rows[2].endswith("\"PaymentsDown is <failing> & 'loud'\"")

    firing = await listing(capsys, "--firing")
    assert [int(row.split()[0]) for row in firing[1:]] == [disk, payments]
    limited = await listing(capsys, "--firing", "--limit", "1")
    assert [int(row.split()[0]) for row in limited[1:]] == [disk]

    await fire(h, "DiskFull", 2, resolved=2)
    await fire(h, "PaymentsDown", 3, resolved=3, team="payments")
    assert await listing(capsys, "--firing") == ["no firing alert groups"]


def test_alerts_list_refuses_a_limit_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["alerts", "list", "--limit", "0"])
    assert exit_.value.code == 2
    assert "'0' is not a whole number from 1" in capsys.readouterr().err
