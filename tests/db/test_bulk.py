"""``db.bulk``: the importer's bulk reads and writes, on the backend under test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from leadsmith.db import bulk, migrate
from leadsmith.db.database import Database, open_database
from leadsmith.db.tables import companies, emails, people
from tests.support import temporary_database

COLUMNS = ("id", "person_id", "address", "address_key", "domain", "kind", "source", "first_seen", "last_seen")


def email(i: int, key: str) -> tuple[object, ...]:
    return (i, 1, key, key, "x.example", "pro", "test", 0, 0)


async def one_address(db: Database) -> None:
    """A company, a person and their address a@x.example (id 1 each)."""
    async with db.transaction() as tx:
        await bulk.insert_rows(tx, companies, ("id", "domain", "created_at"), [(1, "x.example", 0)])
        await bulk.insert_rows(tx, people, ("id", "created_at", "updated_at"), [(1, 0, 0)])
        await bulk.insert_rows(tx, emails, COLUMNS, [email(1, "a@x.example")])


async def test_insert_rows_leaves_out_rows_already_there_and_keeps_the_rest(tmp_path: Path) -> None:
    """Straight in when nothing clashes; when a row another writer put there since clashes, the whole
    batch takes the staging path (ON CONFLICT DO NOTHING) and every other row still goes in."""
    with temporary_database(tmp_path) as url:
        await asyncio.to_thread(migrate.upgrade, url)
        db = open_database(url)
        try:
            await one_address(db)
            async with db.transaction() as tx:
                rows = [email(2, "b@x.example"), email(3, "a@x.example"), email(4, "c@x.example")]
                await bulk.insert_rows(tx, emails, COLUMNS, rows, conflict=("address_key",))
                # The transaction goes on after the clash (on PostgreSQL: rolled back to a savepoint).
                await bulk.insert_rows(tx, emails, COLUMNS, [email(5, "d@x.example")], conflict=("address_key",))
            found = await db.fetch_all(sa.select(emails.c.id, emails.c.address_key).order_by(emails.c.id))
            assert [tuple(r) for r in found] == [
                (1, "a@x.example"),
                (2, "b@x.example"),
                (4, "c@x.example"),
                (5, "d@x.example"),
            ]
            async with db.transaction() as tx:
                keys = ["b@x.example", "z@x.example"]
                assert await bulk.select_in(tx, emails, ("address_key",), "address_key", keys) == [("b@x.example",)]
        finally:
            await db.close()


async def test_insert_rows_without_conflict_raises_key_taken_on_a_row_already_there(tmp_path: Path) -> None:
    """What an import into an empty store counts on to find another writer's rows (``contacts``)."""
    with temporary_database(tmp_path) as url:
        await asyncio.to_thread(migrate.upgrade, url)
        db = open_database(url)
        try:
            await one_address(db)
            with pytest.raises(bulk.KeyTaken):
                async with db.transaction() as tx:
                    await bulk.insert_rows(tx, emails, COLUMNS, [email(2, "b@x.example"), email(3, "a@x.example")])
            found = await db.fetch_all(sa.select(emails.c.id).order_by(emails.c.id))
            assert [r[0] for r in found] == [1]  # the whole batch rolled back
        finally:
            await db.close()
