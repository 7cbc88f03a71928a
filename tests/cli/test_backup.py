"""`firewatch backup` while Firewatch writes, then `firewatch restore` into a fresh file:
the copy is consistent (chains verify, every row's incident exists)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from sqlalchemy import func, select

from bot.services import effects
from bot.services.timeline import TimelineService
from storage.engine import Database
from storage.models import IncidentRow, OutboxRow, TimelineEntryRow
from tests.support import run_cli, start_harness


async def firewatch(
    *args: str, database_url: str, extra_env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run the CLI without blocking the event loop (the app keeps writing meanwhile)."""
    done = await run_cli(*args, database_url=database_url, extra_env=extra_env)
    return done.returncode, done.stdout, done.stderr


async def count_notes(db: Database) -> int:
    async with db.session(write=False) as session:
        stmt = select(func.count()).where(TimelineEntryRow.kind == "note")
        return int((await session.execute(stmt)).scalar_one())


async def test_backup_taken_during_writes_restores_consistently(tmp_path: Path) -> None:
    live = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    backup = tmp_path / "backups" / "firewatch-backup.db"
    async with start_harness(live) as h:
        for _ in range(3):
            await h.declare()
        await h.settled()
        notes = h.app.notes  # stored, then appended to the timeline by its worker
        stop, warmed_up = asyncio.Event(), asyncio.Event()
        written = 0

        async def writer() -> None:
            nonlocal written
            while not stop.is_set():
                incident, key = 1 + written % 3, f"note:{written}"
                await notes.accept(
                    incident, actor="U0ALICE", text=f"note {written}", source_key=key
                )
                written += 1
                if written == 20:
                    warmed_up.set()
                await asyncio.sleep(0)

        task = asyncio.create_task(writer())
        await asyncio.wait_for(warmed_up.wait(), timeout=30)
        before = await count_notes(h.app.db)
        code, out, err = await firewatch("backup", str(backup), database_url=live)
        after = await count_notes(h.app.db)
        stop.set()
        await task
        assert code == 0, err
        assert out.startswith(f"backed up {tmp_path / 'live.db'} to {backup} (schema ")
        assert after > before  # the app really was writing while the copy was taken

        # The live database is in use: restoring over it is refused without --force.
        code, _, err = await firewatch("restore", str(backup), database_url=live)
        assert code == 1
        assert "is in use (is Firewatch running?)" in err

    assert not os.path.exists(f"{backup}-wal")  # noqa: ASYNC240, PTH110 - one self-contained file
    fresh_path = tmp_path / "restored" / "firewatch.db"
    fresh = f"sqlite+aiosqlite:///{fresh_path}"
    code, out, err = await firewatch("restore", str(backup), database_url=fresh)
    assert code == 0, err
    assert out.splitlines()[-1] == "check the timelines with `firewatch verify`"

    db = Database(fresh)
    try:
        restored = await count_notes(db)
        assert before <= restored <= after
        problems = await TimelineService(
            db, h.app.policy, h.app.clock, broadcast_channel=None
        ).verify()
        assert problems == []
        async with db.session(write=False) as session:
            incidents = set((await session.execute(select(IncidentRow.id))).scalars())
            timeline_ids = set(
                (await session.execute(select(TimelineEntryRow.incident_id))).scalars()
            )
            outbox_ids = set((await session.execute(select(OutboxRow.incident_id))).scalars()) - {
                None
            }
            seqs = (
                await session.execute(
                    select(
                        TimelineEntryRow.incident_id,
                        func.count(),
                        func.max(TimelineEntryRow.seq),
                    ).group_by(TimelineEntryRow.incident_id)
                )
            ).all()
            echoes = (
                await session.execute(
                    select(func.count()).where(OutboxRow.kind == effects.TIMELINE_ECHO)
                )
            ).scalar_one()
        assert incidents == {1, 2, 3}
        assert timeline_ids <= incidents
        assert outbox_ids <= incidents
        assert all(count == top for _, count, top in seqs)  # no holes in any chain
        assert echoes >= restored  # each stored note's echo was copied with it
    finally:
        await db.dispose()

    code, out, _ = await firewatch("verify", database_url=fresh)
    assert (code, out.strip()) == (0, "every timeline chain is intact")


async def test_restore_refuses_damaged_or_unknown_backups(tmp_path: Path) -> None:
    target = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    code, _, err = await firewatch("restore", str(garbage), database_url=target)
    assert code == 1
    assert "is not a readable SQLite database" in err

    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    conn.execute("INSERT INTO alembic_version VALUES ('9999')")
    conn.commit()
    conn.close()
    code, _, err = await firewatch("restore", str(newer), database_url=target)
    assert code == 1
    assert "has schema revision 9999, which this version does not know" in err
    assert not (tmp_path / "target.db").exists()

    code, _, err = await firewatch("restore", str(tmp_path / "missing.db"), database_url=target)
    assert code == 2
    assert err.strip().endswith("there is no backup at " + str(tmp_path / "missing.db"))


async def test_postgresql_backups_point_at_pg_dump_and_pg_restore(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://firewatch:s3cret@db.internal:5432/firewatch"
    code, _, err = await firewatch("backup", str(tmp_path / "fw.dump"), database_url=url)
    assert code == 2
    assert "pg_dump --format=custom" in err
    assert "postgresql://firewatch@db.internal:5432/firewatch" in err
    assert "s3cret" not in err
    code, _, err = await firewatch("restore", str(tmp_path / "fw.dump"), database_url=url)
    assert code == 2
    assert "pg_restore --clean --if-exists" in err
