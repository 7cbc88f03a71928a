"""`storage.direct`: PostgreSQL's busiest single statement sent straight through asyncpg
must store what SQLAlchemy would store, survive a dropped connection, keep people's text
out of its errors, and neither leak nor pile up connections."""

from __future__ import annotations

import asyncio
import traceback
from typing import cast

import pytest
from sqlalchemy import Integer, Table, bindparam, insert, select, text

from storage import intake
from storage.direct import KEEP, MOST, DirectConnections, StatementFailed
from storage.engine import Database
from storage.models import OutboxRow
from storage.note_intake import NoteIntakeRow
from tests.storage.test_raw_insert import AT
from tests.storage.test_raw_insert import OUTBOX as OUTBOX_ROW

_OUTBOX = cast(Table, OutboxRow.__table__)
_PID = select(text("pg_backend_pid()"))


@pytest.fixture
def direct(db: Database) -> DirectConnections:
    if db.direct is None:
        pytest.skip("direct statements are PostgreSQL's (the PostgreSQL pass runs this)")
    return db.direct


async def running(db: Database, marker: str) -> list[int]:
    """The other backends whose current statement contains `marker`."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE :marker"
                " AND pid <> pg_backend_pid()"
            ),
            {"marker": f"%{marker}%"},
        )
        return [int(pid) for (pid,) in rows]


async def alive(db: Database, pids: set[int]) -> set[int]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT pid FROM pg_stat_activity"))
        return pids & {int(pid) for (pid,) in rows}


async def test_a_direct_row_is_stored_as_a_core_insert_stores_it(
    db: Database, direct: DirectConnections
) -> None:
    statement = (
        insert(_OUTBOX)
        .values({name: bindparam(name, type_=_OUTBOX.c[name].type) for name in OUTBOX_ROW})
        .returning(_OUTBOX.c.id)
    )
    timed: list[tuple[str, float]] = []
    direct.observers.append(lambda operation, seconds: timed.append((operation, seconds)))
    async with db.engine.begin() as conn:
        await conn.execute(insert(_OUTBOX), [OUTBOX_ROW])
    row = await direct.fetchrow(statement, OUTBOX_ROW, operation="insert")
    assert row is not None
    assert row[0] == 2
    assert [operation for operation, _ in timed] == ["insert"]
    assert timed[0][1] > 0
    columns = ", ".join(f"{name}::text" for name in OUTBOX_ROW)
    async with db.engine.connect() as conn:
        core, raw = (await conn.exec_driver_sql(f"SELECT {columns} FROM outbox ORDER BY id")).all()  # noqa: S608
    assert raw == core


async def test_a_dropped_connection_is_replaced_and_the_statement_sent_again(
    db: Database, direct: DirectConnections
) -> None:
    """A restart or a failover drops the kept connections, which are not pinged before
    use: the statement goes again on a new connection, once, instead of failing."""
    first = await direct.fetchrow(_PID, {}, operation="select")
    assert first is not None
    async with db.engine.begin() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first[0]})
    again = await direct.fetchrow(_PID, {}, operation="select")
    assert again is not None
    assert again[0] != first[0]


async def test_a_connection_dropped_under_its_statement_sends_it_again_on_a_new_one(
    db: Database, direct: DirectConnections
) -> None:
    """The drop is found only by the statement itself (the server went away while it
    ran): it is sent again, once, on a new connection, and its row is the answer."""
    statement = select(text("pg_backend_pid(), pg_sleep(0.5)"))
    sent = asyncio.create_task(direct.fetchrow(statement, {}, operation="select"))
    await asyncio.sleep(0.2)
    (pid,) = await running(db, "pg_sleep(0.5)")
    async with db.engine.begin() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    row = await sent
    assert row is not None
    assert row[0] != pid  # answered by a new connection


async def test_a_failure_names_its_sqlstate_and_never_its_parameters(
    direct: DirectConnections,
) -> None:
    secret = "the password is hunter2"
    # Refused by the client: a value its column type cannot take.
    with pytest.raises(StatementFailed) as refused:
        await direct.fetchrow(
            select(bindparam("n", type_=Integer)), {"n": secret}, operation="select"
        )
    # Refused by the server: a note for an incident that does not exist.
    notes = cast(Table, NoteIntakeRow.__table__)
    note = {
        "incident_id": 999_999,
        "actor": "U0BOB",
        "text": secret,
        "source_key": secret,
        "received_at": AT,
    }
    statement = insert(notes).values(
        {name: bindparam(name, type_=notes.c[name].type) for name in note}
    )
    with pytest.raises(StatementFailed) as violated:
        await direct.fetchrow(statement, note, operation="insert")
    assert violated.value.integrity
    assert violated.value.sqlstate == "23503"
    assert "note_intake" in str(violated.value)
    assert not refused.value.integrity
    for failure in (refused.value, violated.value):
        assert "hunter2" not in "".join(traceback.format_exception(failure))
    # The connections that failed a statement are still good for the next one.
    assert await direct.fetchrow(_PID, {}, operation="select") is not None


async def test_a_statement_cancelled_midway_does_not_hand_its_connection_on(
    db: Database, direct: DirectConnections
) -> None:
    """An answer cancelled while its statement runs leaves the connection in a state no
    one knows: it is closed, and the next statement gets another one."""
    sleeping = asyncio.create_task(
        direct.fetchrow(select(text("pg_backend_pid(), pg_sleep(2)")), {}, operation="select")
    )
    await asyncio.sleep(0.3)
    (pid,) = await running(db, "pg_sleep(2)")
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping
    after = await direct.fetchrow(_PID, {}, operation="select")
    assert after is not None
    assert after[0] != pid
    for _ in range(50):  # the server notices the closed socket once its sleep ends
        if not await alive(db, {int(pid)}):
            break
        await asyncio.sleep(0.1)
    assert not await alive(db, {int(pid)})


async def test_a_burst_runs_at_most_the_limit_keeps_ten_and_closing_closes_them(
    db: Database, direct: DirectConnections
) -> None:
    pids: set[int] = set()
    statement = select(text("pg_backend_pid(), pg_sleep(0.3)"))

    async def one() -> None:
        row = await direct.fetchrow(statement, {}, operation="select")
        assert row is not None
        pids.add(int(row[0]))

    burst = asyncio.gather(*(one() for _ in range(2 * MOST)))
    await asyncio.sleep(0.15)
    sleeping = await running(db, "pg_sleep(0.3)")
    await burst
    assert len(sleeping) == MOST  # the rest waited for a connection
    for _ in range(50):  # the server ends a closed connection's process soon after
        if len(await alive(db, pids)) <= KEEP:
            break
        await asyncio.sleep(0.1)
    assert len(await alive(db, pids)) == KEEP
    await direct.close()
    for _ in range(50):
        if not await alive(db, pids):
            break
        await asyncio.sleep(0.1)
    assert not await alive(db, pids)


async def test_submissions_are_stored_in_one_round_trip_and_a_second_sending_adds_nothing(
    db: Database, direct: DirectConnections
) -> None:
    """A declaration's answer waits for its submission's row: on PostgreSQL the group
    commit's rows go in one `executemany`, and Slack's retry of a submission (the same
    declare key) stores nothing more."""
    timed: list[str] = []
    direct.observers.append(lambda operation, _seconds: timed.append(operation))
    items = [("V1", {"report": {"title": "Checkout down"}}), ("V2", {"report": {"title": "é"}})]
    await intake.store_many(db, items, now=AT)
    await intake.store_many(db, [*items, ("V3", {})], now=AT)
    async with db.session(write=False) as session:
        stored = await intake.listing(session, aside_only=False, limit=10)
    assert [(s.declare_key, s.title) for s in stored] == [
        ("V1", "Checkout down"),
        ("V2", "é"),
        ("V3", ""),
    ]
    assert {s.received_at for s in stored} == {AT}
    assert timed == ["insert", "insert"]


def test_the_urls_statement_cache_setting_reaches_asyncpg() -> None:
    """Behind PgBouncer in transaction mode prepared statements must be off:
    `?prepared_statement_cache_size=0` in FIREWATCH_DATABASE_URL says so to SQLAlchemy,
    and the direct connections must obey it too (asyncpg's `statement_cache_size`)."""
    url = "postgresql+asyncpg://firewatch@db.internal:6432/firewatch"
    dialect = Database(url).engine.dialect
    plain = DirectConnections(url, dialect)
    behind = DirectConnections(url + "?prepared_statement_cache_size=0", dialect)
    assert "statement_cache_size" not in plain._connect_kwargs  # asyncpg's default
    assert behind._connect_kwargs["statement_cache_size"] == 0
    assert behind._connect_kwargs["host"] == "db.internal"
    assert "prepared_statement_cache_size" not in behind._connect_kwargs
