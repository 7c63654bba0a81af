"""``Database.grouped``: short writes asked for together commit together, and one that fails is undone alone."""

from __future__ import annotations

import asyncio
import os

import sqlalchemy as sa

from leadsmith.db.database import Database, Executor
from leadsmith.db.tables import upstream_misses


async def test_grouped_writes_commit_together_and_a_failing_one_is_undone_alone(db: Database) -> None:
    prefix = f"grouped-{os.getpid()}-"
    commits = 0
    raw = getattr(db, "_writer_raw", None)  # SQLite: the store's write connection, its commits counted
    if raw is not None:

        def traced(sql: str) -> None:
            nonlocal commits
            commits += sql == "COMMIT"

        raw.set_trace_callback(traced)

    def work(n: int):  # type: ignore[no-untyped-def]
        async def write(tx: Executor) -> int:
            await tx.execute(sa.insert(upstream_misses).values(key=f"{prefix}{n}", expires_at=n))
            if n == 5:  # written, then refused: its row must not stay
                raise LookupError("refused after writing")
            return n

        return write

    try:
        outcomes = await asyncio.gather(*(db.grouped(work(n)) for n in range(20)), return_exceptions=True)
        assert isinstance(outcomes[5], LookupError)
        assert [o for i, o in enumerate(outcomes) if i != 5] == [n for n in range(20) if n != 5]
        if raw is not None:
            assert commits == 1  # twenty writes of one turn of the event loop: one transaction
        rows = await db.fetch_all(sa.select(upstream_misses.c.key).where(upstream_misses.c.key.like(f"{prefix}%")))
        assert {r.key for r in rows} == {f"{prefix}{n}" for n in range(20) if n != 5}

        if raw is not None:  # SQLite: a write whose caller went away is still made, in a group of its own
            later = asyncio.ensure_future(db.grouped(work(100)))
            await asyncio.sleep(0)
            later.cancel()
            await asyncio.sleep(0.05)
            assert commits == 2
            assert await db.scalar(sa.select(upstream_misses.c.key).where(upstream_misses.c.key == f"{prefix}100"))
    finally:
        if raw is not None:
            raw.set_trace_callback(None)
        async with db.transaction() as tx:
            await tx.execute(sa.delete(upstream_misses).where(upstream_misses.c.key.like(f"{prefix}%")))
