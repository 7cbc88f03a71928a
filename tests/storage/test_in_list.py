"""`storage.in_list`: `column IN` a list bound at run time selects the same rows on both
backends, for any length of list (none included), and on PostgreSQL its statement is one
text — one prepared statement, one plan — whatever the length, where an expanding IN was
rendered and prepared again for each length (a storm's echo claims hundreds of rows)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, delete, insert, select, text, update

from storage.engine import Database
from storage.in_list import in_list
from storage.models import OutboxRow
from tests.storage.test_raw_insert import OUTBOX as OUTBOX_ROW

_OUTBOX = cast(Table, OutboxRow.__table__)
_c = _OUTBOX.c
_BY_IDS = select(_c.id).where(in_list(_c.id, "ids")).order_by(_c.id)
_BY_TOKENS = select(_c.id).where(in_list(_c.claim_token, "tokens")).order_by(_c.id)


async def _rows(db: Database, count: int) -> list[int]:
    async with db.engine.begin() as conn:
        rows = [{**OUTBOX_ROW, "claim_token": f"token-{i}"} for i in range(count)]
        result = await conn.execute(insert(_OUTBOX).returning(_c.id), rows)
        return sorted(result.scalars())


async def test_the_rows_named_are_selected_updated_and_deleted(db: Database) -> None:
    ids = await _rows(db, 300)
    async with db.engine.begin() as conn:
        assert list((await conn.execute(_BY_IDS, {"ids": []})).scalars()) == []
        assert list((await conn.execute(_BY_IDS, {"ids": [ids[5]]})).scalars()) == [ids[5]]
        some = [ids[9], ids[2], ids[250], 10**12]  # any order; an unknown id matches nothing
        assert list((await conn.execute(_BY_IDS, {"ids": some})).scalars()) == sorted(some[:3])
        assert list((await conn.execute(_BY_IDS, {"ids": ids})).scalars()) == ids
        found = await conn.execute(_BY_TOKENS, {"tokens": ["token-3", "token-299", "nobody"]})
        assert list(found.scalars()) == [ids[3], ids[299]]

        done = update(_OUTBOX).where(in_list(_c.id, "ids")).values(status="done")
        assert (await conn.execute(done, {"ids": ids[:10]})).rowcount == 10
        gone = delete(_OUTBOX).where(in_list(_c.id, "ids"), _c.status == "done")
        assert (await conn.execute(gone, {"ids": ids})).rowcount == 10
        left = await conn.execute(select(_c.id).order_by(_c.id))
        assert list(left.scalars()) == ids[10:]


async def test_not_in_the_list(db: Database) -> None:
    ids = await _rows(db, 4)
    async with db.engine.connect() as conn:
        others = select(_c.id).where(~in_list(_c.id, "ids")).order_by(_c.id)
        assert list((await conn.execute(others, {"ids": ids[1:3]})).scalars()) == [
            ids[0],
            ids[3],
        ]


async def test_one_statement_whatever_the_length_of_the_list_on_postgresql(
    db: Database,
) -> None:
    ids = await _rows(db, 60)
    async with db.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            # SQLite keeps the expanding IN; it has no plan to share between lengths
            compiled = str(_BY_IDS.compile(dialect=conn.dialect))
            assert "POSTCOMPILE_ids" in compiled
            return
        prepared = text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :s")
        marker = {"s": "%= ANY%"}
        before = (await conn.execute(prepared, marker)).scalar_one()
        for length in range(1, 61):
            selected = await conn.execute(_BY_IDS, {"ids": ids[:length]})
            assert list(selected.scalars()) == ids[:length]
        after = (await conn.execute(prepared, marker)).scalar_one()
    assert after - before == 1
