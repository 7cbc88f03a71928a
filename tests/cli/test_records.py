"""`firewatch export` and `firewatch verify` on a database with a real incident."""

from __future__ import annotations

import json

from sqlalchemy import update

from storage.models import TimelineEntryRow
from tests.support import Harness
from tests.support import run_cli as cli


async def test_export_and_verify(harness: Harness) -> None:
    await harness.declare()
    await harness.settled()
    [row] = await harness.incidents()
    assert row.channel_id
    await harness.sender.slash_command("note Failover done", channel_id=row.channel_id)
    await harness.sender.slash_command("status monitoring Watching", channel_id=row.channel_id)
    url = harness.database_url

    md = await cli("export", "INC-1", "--format", "md", database_url=url)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# INC-1: Checkout errors")
    assert "| 3 |" in md.stdout
    assert "Failover done" in md.stdout
    assert "Investigating → Monitoring — Watching" in md.stdout

    raw = await cli("export", "1", "--format", "json", database_url=url)
    record = json.loads(raw.stdout)
    assert record["ref"] == "INC-1"
    assert [e["kind"] for e in record["timeline"]] == ["declared", "channel", "note", "status"]
    assert record["times"]["mitigated"] is not None

    ok = await cli("verify", database_url=url)
    assert (ok.returncode, ok.stdout.strip()) == (0, "every timeline chain is intact")

    async with harness.app.db.session() as session:
        await session.execute(
            update(TimelineEntryRow).where(TimelineEntryRow.seq == 3).values(actor="U0MALLORY")
        )
    broken = await cli("verify", "INC-1", database_url=url)
    assert broken.returncode == 1
    assert broken.stdout.startswith("INC-1: chain broken at entry #3")

    missing = await cli("export", "INC-9", database_url=url)
    assert (missing.returncode, missing.stderr.strip()) == (1, "firewatch: there is no INC-9")


async def test_outbox_lists_dead_messages_and_resends_them(harness: Harness) -> None:
    harness.slack.fail("pins.add", error="restricted_action")
    await harness.declare()
    await harness.settled()
    url = harness.database_url

    listing = await cli("outbox", "--status", "dead", database_url=url)
    assert listing.returncode == 0, listing.stderr
    assert "dead 1" in listing.stdout.splitlines()[0]
    [row] = [line for line in listing.stdout.splitlines()[1:] if "incident.pin_report" in line]
    assert "pins.add: restricted_action" in row
    row_id = row.split()[0]

    resend = await cli("outbox", "--resend", row_id, database_url=url)
    assert (resend.returncode, resend.stdout.strip()) == (
        0,
        f"outbox message {row_id} queued again",
    )
    await harness.settled()
    [incident] = await harness.incidents()
    assert incident.channel_id is not None
    assert len(harness.slack.pins(incident.channel_id)) == 1  # delivered this time
    again = await cli("outbox", "--resend", row_id, database_url=url)
    assert again.returncode == 1
