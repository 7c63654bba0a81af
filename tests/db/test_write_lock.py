"""SQLite's write lock across processes (``<store>.lock``): a short hold by another process is waited for on
the event loop, a long one in a thread, with the loop serving meanwhile."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from leadsmith.db.database import SqliteDatabase, open_database
from leadsmith.db.migrate import upgrade
from leadsmith.db.tables import upstream_misses

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    upgrade(url)
    return url


async def test_a_lock_another_process_holds_long_is_waited_for_in_a_thread_while_the_loop_serves(
    tmp_path: Path,
) -> None:
    db = open_database(_store(tmp_path))
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD, str(tmp_path / "lock.db.lock"), "0.4", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and (await holder.stdout.readline()).strip() == b"held"
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        async with db.transaction() as tx:
            waited = time.monotonic() - started
            await tx.execute(sa.insert(upstream_misses).values(key="long", expires_at=1))
        ticker.cancel()
        assert waited > 0.2  # the other process's hold, not the spin's 2 ms
        assert ticks >= 10  # the loop went on serving while a thread waited
        assert await db.scalar(sa.select(upstream_misses.c.expires_at).where(upstream_misses.c.key == "long")) == 1
    finally:
        await asyncio.wait_for(holder.wait(), 10)
        await db.close()


async def test_a_lock_held_for_less_than_the_spin_is_taken_on_the_loop_without_yielding(tmp_path: Path) -> None:
    db = open_database(_store(tmp_path))
    assert isinstance(db, SqliteDatabase)
    db.lock_spin_seconds = 5.0  # longer than the hold below on any machine: the spin must be what takes it
    other = os.open(str(tmp_path / "lock.db.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # Another open file of the lock is another holder (flock locks belong to the open file, as another
        # process's would); it lets go after 50 ms, from a thread.
        fcntl.flock(other, fcntl.LOCK_EX)
        release = threading.Timer(0.05, fcntl.flock, (other, fcntl.LOCK_UN))
        yielded: list[int] = []
        asyncio.get_running_loop().call_soon(yielded.append, 1)
        started = time.monotonic()
        release.start()
        async with db.transaction() as tx:
            assert time.monotonic() - started >= 0.04  # it did wait for the other holder
            assert yielded == []  # in the spin: the loop ran nothing else meanwhile (no thread waited)
            await tx.execute(sa.insert(upstream_misses).values(key="short", expires_at=2))
        release.join()
        assert await db.scalar(sa.select(upstream_misses.c.expires_at).where(upstream_misses.c.key == "short")) == 2
    finally:
        os.close(other)
        await db.close()
