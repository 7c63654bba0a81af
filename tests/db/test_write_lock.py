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


async def test_a_lock_held_for_less_than_the_spin_is_taken_in_the_spin_while_the_loop_serves(tmp_path: Path) -> None:
    db = open_database(_store(tmp_path))
    assert isinstance(db, SqliteDatabase)
    db.lock_spin_seconds = 5.0  # longer than the hold below on any machine: the spin must be what takes it
    other = os.open(str(tmp_path / "lock.db.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # Another open file of the lock is another holder (flock locks belong to the open file, as another
        # process's would); it lets go after 50 ms, from a thread.
        fcntl.flock(other, fcntl.LOCK_EX)
        release = threading.Timer(0.05, fcntl.flock, (other, fcntl.LOCK_UN))
        ticks = 0

        async def tick() -> None:  # another request of the worker's, served while the lock is tried again
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        release.start()
        async with db.transaction() as tx:
            waited = time.monotonic() - started
            await tx.execute(sa.insert(upstream_misses).values(key="short", expires_at=2))
        ticker.cancel()
        release.join()
        assert 0.04 <= waited < 2.5  # it waited for the other holder, and took the lock in the spin
        assert ticks >= 3  # the loop went on serving in between
        assert await db.scalar(sa.select(upstream_misses.c.expires_at).where(upstream_misses.c.key == "short")) == 2
    finally:
        os.close(other)
        await db.close()


WORKER_TRANSACTION = """
import fcntl, os, sqlite3, sys, time
fd = os.open(sys.argv[1] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)  # as a leadsmith worker's transaction does: the lock, then BEGIN IMMEDIATE
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


async def test_a_keys_last_use_is_written_behind_another_workers_transaction_without_stalling_the_loop(
    tmp_path: Path,
) -> None:
    """The keys' last use is flushed in a transaction of the store's: on SQLite it waits for the store's
    lock like any write. Written outside one, it waited for SQLite's own lock in SQLite's busy handler,
    asleep on the event loop for as long as the other worker's transaction lasted."""
    from leadsmith.access.service import AccessService
    from leadsmith.config import Settings
    from leadsmith.db.tables import accounts, api_keys

    url = _store(tmp_path)
    db = open_database(url)
    try:
        async with db.transaction() as tx:
            await tx.execute(sa.insert(accounts).values(id=1, email="a@example.com", credits=0, created_at=1))
            await tx.execute(
                sa.insert(api_keys).values(
                    id=1, account_id=1, key_hash="0" * 64, prefix="ls_test", name="k", created_at=1
                )
            )
        access = AccessService(db, Settings(database_url=url), clock=lambda: 1_000)
        access._last_used[1] = 1_000  # what authenticating with the key leaves to be written
        holder = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER_TRANSACTION, str(tmp_path / "lock.db"), "0.4", stdout=asyncio.subprocess.PIPE
        )
        assert holder.stdout is not None and (await holder.stdout.readline()).strip() == b"held"
        gaps: list[float] = []

        async def tick() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await access.flush_last_used()
        took = time.monotonic() - started
        await asyncio.sleep(0.05)  # the ticker's gap across the flush, recorded
        ticker.cancel()
        await asyncio.wait_for(holder.wait(), 10)
        assert took > 0.2  # it waited for the other worker's transaction
        assert max(gaps) < 0.15  # with the loop serving meanwhile
        used = await db.scalar(sa.select(api_keys.c.last_used_at).where(api_keys.c.id == 1))
        assert used == 1_000
    finally:
        await db.close()
