"""The SQLite store's background checkpoints: under a steady stream of commits the WAL is still
started over from its beginning, so it does not grow for as long as the stream lasts."""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

import sqlalchemy as sa

from leadsmith.db.database import SqliteDatabase


async def test_a_steady_stream_of_commits_does_not_grow_the_wal_without_end(tmp_path: Path) -> None:
    path = tmp_path / "stream.db"
    db = SqliteDatabase(f"sqlite:///{path}")
    try:
        async with db.transaction() as tx:
            (await tx.raw_connection()).execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        db.catch_up_frames = 1000  # 4 MB (64 MB by default)
        db.start_housekeeping(every_seconds=0.1)
        commits = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # a commit at every turn of the loop, never a pause
            async with db.transaction() as tx:
                (await tx.raw_connection()).execute("INSERT INTO t (v) VALUES (randomblob(3000))")  # a page each
            commits += 1
            await asyncio.sleep(0)
        wal_file = path.with_name(path.name + "-wal")
        # The WAL header's checkpoint sequence number counts the times it was started over.
        restarts = struct.unpack(">I", wal_file.read_bytes()[12:16])[0]
        assert commits > 500
        assert restarts >= 3, (restarts, commits)
        assert await db.scalar(sa.text("SELECT count(*) FROM t")) == commits  # every commit is there
    finally:
        await db.close()
