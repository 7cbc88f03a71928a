"""The note intake (bot/services/notes.py): a note is stored with its echo in one
statement before the answer and appended to the timeline right after, once, in the order
notes and other entries were acknowledged, whichever replica or worker appends it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from bot.domain.clock import FrozenClock
from bot.domain.incident import Status
from bot.domain.policy import Policy
from bot.policy.loader import load_default_policy
from bot.services import effects
from bot.services.incidents import IncidentNotFound, IncidentService, InvalidChange
from bot.services.notes import NoteIntake
from bot.services.timeline import TimelineService
from storage.engine import Database
from storage.models import OutboxRow, TimelineEntryRow
from storage.repositories import IncidentRepository
from storage.timeline_batch import lock_incidents
from tests.support import checkout_report

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class World:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = FrozenClock(START)
        self.policy: Policy = load_default_policy()
        self.incidents = IncidentService(
            db, lambda: self.policy, self.clock, broadcast_channel=None
        )
        self.timeline = TimelineService(db, lambda: self.policy, self.clock, broadcast_channel=None)
        self.notes = NoteIntake(db, self.clock)

    async def declare(self) -> int:
        outcome = await self.incidents.declare(
            checkout_report(), reporter_id="U0ALICE", declare_key="k1"
        )
        return outcome.incident.id

    async def entries(self, incident_id: int) -> list[tuple[str, str]]:
        """(kind, text) of every entry, in chain order."""
        return [(e.kind, e.text) for e in await self.timeline.entries(incident_id)]

    async def echoes(self) -> list[dict[str, object]]:
        async with self.db.session(write=False) as session:
            rows = await session.execute(
                select(OutboxRow).where(OutboxRow.kind == effects.TIMELINE_ECHO)
            )
            return [row.payload for row in rows.scalars()]


@pytest.fixture
def world(db: Database) -> World:
    return World(db)


async def test_a_note_is_stored_with_its_echo_then_appended_at_the_time_it_was_sent(
    world: World,
) -> None:
    incident = await world.declare()
    before = await world.entries(incident)
    assert await world.notes.accept(incident, actor="U0BOB", text=" DB failover ", source_key="n1")
    # Stored and queued, not yet on the timeline: the answer waited for one statement.
    assert await world.notes.backlog() == (1, 0.0)
    assert await world.echoes() == [{"incident_id": incident, "note_key": "n1"}]
    assert await world.entries(incident) == before

    world.clock.advance(timedelta(seconds=5))
    assert await world.notes.run_once() == 1
    entries = await world.timeline.entries(incident)
    assert (entries[-1].kind, entries[-1].actor, entries[-1].text) == (
        "note",
        "U0BOB",
        "DB failover",
    )
    assert entries[-1].at == START  # when it was acknowledged, not when it was appended
    assert await world.notes.backlog() == (0, 0.0)
    assert await world.timeline.verify() == []


async def test_the_same_command_delivered_again_is_one_note_and_one_echo(world: World) -> None:
    incident = await world.declare()
    assert await world.notes.accept(incident, actor="U0BOB", text="once", source_key="n1")
    assert not await world.notes.accept(incident, actor="U0BOB", text="once", source_key="n1")
    await world.notes.run_once()
    # Slack's retry after the note was appended: still nothing new.
    assert not await world.notes.accept(incident, actor="U0BOB", text="once", source_key="n1")
    await world.notes.run_once()
    assert [text for kind, text in await world.entries(incident) if kind == "note"] == ["once"]
    assert len(await world.echoes()) == 1


async def test_an_entry_appended_after_a_note_comes_after_it_before_the_worker_runs(
    world: World,
) -> None:
    """A status change acknowledged after a note lands behind it on the chain, though the
    note worker has not run: appending to the incident appends its waiting notes first."""
    incident = await world.declare()
    await world.notes.accept(incident, actor="U0BOB", text="rolled back", source_key="n1")
    world.clock.advance(timedelta(seconds=1))
    await world.timeline.change_status(
        incident, Status.IDENTIFIED, actor="U0ALICE", update="bad deploy"
    )
    kinds = [kind for kind, _ in await world.entries(incident)]
    assert kinds[-2:] == ["note", "status"]
    assert await world.notes.backlog() == (0, 0.0)
    assert await world.timeline.verify() == []


async def test_an_echo_that_gets_to_a_note_before_the_worker_appends_it(world: World) -> None:
    incident = await world.declare()
    await world.notes.accept(incident, actor="U0BOB", text="first", source_key="n1")
    [payload] = await world.echoes()
    [shown] = await world.notes.echoed(incident, [payload])
    assert shown is not None
    assert (shown.kind, shown.text) == ("note", "first")
    assert await world.notes.backlog() == (0, 0.0)
    assert await world.notes.run_once() == 0  # nothing left for the worker


async def test_a_note_on_a_purged_incident_or_without_text_is_refused(world: World) -> None:
    incident = await world.declare()
    with pytest.raises(IncidentNotFound):
        await world.notes.accept(incident + 99, actor="U0BOB", text="late", source_key="n1")
    with pytest.raises(InvalidChange, match="Write the note"):
        await world.notes.accept(incident, actor="U0BOB", text="   ", source_key="n2")
    with pytest.raises(InvalidChange, match="at most 40,000 characters"):
        await world.notes.accept(incident, actor="U0BOB", text="x" * 40_001, source_key="n3")
    assert await world.notes.backlog() == (0, 0.0)


async def test_two_replicas_append_every_note_once_in_the_order_acknowledged(
    world: World, database_url: str
) -> None:
    """Two processes' intakes on one database take notes in turn while both workers
    append: each note is on the chain once, in the order the notes were acknowledged."""
    if world.db.is_sqlite:
        pytest.skip("replicas share a database only on PostgreSQL")
    incident = await world.declare()
    other_db = Database(database_url)
    other = NoteIntake(other_db, world.clock)
    replicas = (world.notes, other)
    stop = asyncio.Event()

    async def keep_appending(intake: NoteIntake) -> None:
        while not stop.is_set():
            await intake.run_once()
            await asyncio.sleep(0)

    workers = [asyncio.create_task(keep_appending(r)) for r in replicas]
    try:
        for n in range(60):
            intake = replicas[n % 2]
            await intake.accept(incident, actor="U0BOB", text=f"n{n}", source_key=f"k{n}")
            world.clock.advance(timedelta(milliseconds=10))
        stop.set()
        await asyncio.gather(*workers)
        for intake in replicas:  # what the last passes did not see
            await intake.run_once()
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
        await other_db.dispose()

    notes = [text for kind, text in await world.entries(incident) if kind == "note"]
    assert notes == [f"n{n}" for n in range(60)]
    async with world.db.session(write=False) as session:
        seqs = (
            await session.execute(
                select(TimelineEntryRow.seq)
                .where(TimelineEntryRow.incident_id == incident)
                .order_by(TimelineEntryRow.seq)
            )
        ).scalars()
        assert list(seqs) == list(range(1, len(await world.entries(incident)) + 1))
    assert await world.timeline.verify() == []


async def test_a_note_whose_replica_died_before_appending_it_is_appended_by_another(
    world: World, database_url: str
) -> None:
    """The answer went out and the replica was killed before its worker ran: the other
    replica's poll finds the note (it knows nothing of it in memory) and appends it."""
    incident = await world.declare()
    await world.notes.accept(incident, actor="U0BOB", text="then it died", source_key="n1")
    other_db = Database(database_url)
    try:
        survivor = NoteIntake(other_db, world.clock)
        assert await survivor.run_once() == 1
    finally:
        await other_db.dispose()
    assert [text for kind, text in await world.entries(incident) if kind == "note"] == [
        "then it died"
    ]
    assert await world.notes.run_once() == 0  # the dead one's memory named it: nothing left


async def test_a_note_is_stored_after_the_database_dropped_every_connection(
    world: World,
) -> None:
    """A failover drops the connections the single-statement pool keeps (they are not
    pinged before use): the note is sent again on a new one, not refused."""
    if world.db.is_sqlite:
        pytest.skip("connections are dropped only by a database server")
    incident = await world.declare()
    await world.notes.accept(incident, actor="U0BOB", text="before", source_key="n1")
    async with world.db.session() as session:
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert await world.notes.accept(incident, actor="U0BOB", text="after", source_key="n2")
    await world.notes.run_once()
    notes = [words for kind, words in await world.entries(incident) if kind == "note"]
    assert notes == ["before", "after"]


@pytest.mark.parametrize("appender", ["a change of the record", "the note worker"])
async def test_a_note_is_stored_while_another_transaction_appends_to_its_incident(
    world: World, appender: str
) -> None:
    """Appending holds the incident's row lock for a whole transaction (a status change,
    a page, the note worker of another replica). A note sent meanwhile is stored and
    answered at once, not after that transaction: the lock keeps appenders apart and
    lets rows that merely refer to the incident in."""
    if world.db.is_sqlite:
        pytest.skip("SQLite has one writer: nothing is appended meanwhile")
    incident = await world.declare()
    appending = asyncio.Event()
    release = asyncio.Event()

    async def hold_the_lock() -> None:
        async with world.db.session() as session:
            if appender == "the note worker":
                await session.run_sync(lambda s: lock_incidents(s.connection(), [incident]))
            else:
                await IncidentRepository(session).find(incident, lock=True)
            appending.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_lock())
    await appending.wait()
    try:
        stored = await asyncio.wait_for(
            world.notes.accept(incident, actor="U0BOB", text="meanwhile", source_key="n1"),
            timeout=10,
        )
    finally:
        release.set()
        await holder
    assert stored
    await world.notes.run_once()
    assert ("note", "meanwhile") in await world.entries(incident)
