"""Reads through the store (``db.fetch_one`` and the like) see what was committed, never what a write
transaction of another task has not committed yet: on SQLite they run on the writer's connection while it
has no transaction open (its page cache is then not emptied by its own commits), and on the read
connection while one is."""

from __future__ import annotations

import asyncio
import os

import sqlalchemy as sa

from leadsmith.db.database import Database, Prepared
from leadsmith.db.tables import upstream_misses

_BY_KEY = Prepared(sa.select(upstream_misses.c.expires_at).where(upstream_misses.c.key == sa.bindparam("k")))


async def test_reads_see_what_is_committed_and_nothing_uncommitted(db: Database) -> None:
    key = f"reads-{os.getpid()}"
    seen_inside: list[object] = []
    writing = asyncio.Event()
    read = asyncio.Event()

    async def reader() -> None:
        await writing.wait()  # the writer's transaction is open, with its row written
        seen_inside.append(await db.fetch_one(_BY_KEY, {"k": key}))
        seen_inside.append(await db.scalar(sa.select(upstream_misses.c.key).where(upstream_misses.c.key == key)))
        seen_inside.append(len(await db.fetch_all(_BY_KEY, {"k": key})))
        read.set()

    task = asyncio.create_task(reader())
    try:
        async with db.transaction() as tx:
            await tx.execute(sa.insert(upstream_misses).values(key=key, expires_at=1))
            writing.set()
            await asyncio.wait_for(read.wait(), 10)  # another task reads while this one is not committed
        await task
        assert seen_inside == [None, None, 0]
        row = await db.fetch_one(_BY_KEY, {"k": key})
        assert row is not None and row.expires_at == 1
        assert await db.scalar(sa.select(upstream_misses.c.key).where(upstream_misses.c.key == key)) == key
        async with db.transaction() as tx:
            await tx.execute(sa.update(upstream_misses).where(upstream_misses.c.key == key).values(expires_at=2))
        assert [r.expires_at for r in await db.fetch_all(_BY_KEY, {"k": key})] == [2]
    finally:
        async with db.transaction() as tx:
            await tx.execute(sa.delete(upstream_misses).where(upstream_misses.c.key == key))
