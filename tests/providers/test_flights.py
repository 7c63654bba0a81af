"""Where workers hold an upstream ask between them: a lock file, Redis, the store. Each is exercised
for real (a second process holding a file lock, the running Redis, a migrated store)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from leadsmith.config import Settings
from leadsmith.db.database import Database, open_database
from leadsmith.providers.flights import FileFlights, Flights, RedisFlights, StoreFlights, open_flights
from tests.support import REDIS_URL

HOLD = """
import asyncio, sys
from leadsmith.providers.flights import FileFlights

async def main() -> None:
    flights = FileFlights(sys.argv[1])
    assert await flights.take(sys.argv[2], 1000)
    print("held", flush=True)
    sys.stdin.readline()
    await flights.end(sys.argv[2])
    print("ended", flush=True)
    sys.stdin.readline()

asyncio.run(main())
"""


def holder(path: str, key: str) -> subprocess.Popen[str]:
    """Another process holding the flight for ``key``: a line on its stdin ends it, a second one exits."""
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, path, key], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


async def test_a_file_flight_held_by_another_process_is_seen_and_not_taken(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db.flights")
    other = holder(path, "profile:jane")
    assert other.stdin is not None and other.stdout is not None
    flights = FileFlights(path)
    try:
        assert other.stdout.readline().strip() == "held"
        assert await flights.flying("profile:jane")
        assert not await flights.take("profile:jane", 1000)
        assert not await flights.flying("profile:john")  # another lead is free
        assert await flights.take("profile:john", 1000)
        other.stdin.write("\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "ended"
        assert not await flights.flying("profile:jane")
        assert await flights.take("profile:jane", 1000)
        await flights.end("profile:jane")
    finally:
        other.kill()
        other.wait(5)
        await flights.close()


async def test_a_dead_workers_file_flight_is_gone_with_it(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db.flights")
    other = holder(path, "profile:jane")
    assert other.stdout is not None
    flights = FileFlights(path)
    try:
        assert other.stdout.readline().strip() == "held"
        assert not await flights.take("profile:jane", 1000)
        other.kill()
        other.wait(5)
        assert await flights.take("profile:jane", 1000)
    finally:
        await flights.close()


@pytest.fixture
async def redis_pair() -> AsyncIterator[tuple[RedisFlights, RedisFlights]]:
    prefix = f"ls-test-flights-{os.getpid()}:"
    a, b = RedisFlights(REDIS_URL, prefix), RedisFlights(REDIS_URL, prefix)
    try:
        yield a, b
    finally:
        keys = await a.redis.keys(prefix + "*")
        if keys:
            await a.redis.delete(*keys)
        await a.close()
        await b.close()


async def test_a_redis_flight_is_held_by_one_worker_until_it_ends_or_expires(
    redis_pair: tuple[RedisFlights, RedisFlights],
) -> None:
    a, b = redis_pair
    assert await a.take("profile:jane", 5000)
    assert not await b.take("profile:jane", 5000)
    assert await b.flying("profile:jane")
    await b.end("profile:jane")  # not b's to end
    assert await b.flying("profile:jane")
    await a.end("profile:jane")
    assert not await b.flying("profile:jane")
    assert await b.take("profile:jane", 50)  # a worker that dies leaves it to expire
    await asyncio.sleep(0.15)
    assert await a.take("profile:jane", 5000)


async def test_without_redis_a_flight_lets_the_ask_go_ahead() -> None:
    flights = RedisFlights("redis://127.0.0.1:1/0", "nowhere:")
    try:
        assert await flights.take("profile:jane", 1000)
        assert not await flights.flying("profile:jane")
        await flights.end("profile:jane")
    finally:
        await flights.close()


async def test_a_store_flight_is_held_by_one_worker_until_it_ends_or_expires(db: Database) -> None:
    now = [1_000_000]
    a, b = StoreFlights(db, lambda: now[0]), StoreFlights(db, lambda: now[0])
    key = f"profile:store-flight-{os.getpid()}"
    assert await a.take(key, 5000)
    assert not await b.take(key, 5000)
    assert await b.flying(key)
    await b.end(key)
    assert await b.flying(key)
    await a.end(key)
    assert not await b.flying(key)
    assert await b.take(key, 5000)
    now[0] += 5001  # its holder is gone: past its budget, anyone takes it
    assert not await a.flying(key)
    assert await a.take(key, 5000)
    await a.end(key)


def test_flights_are_held_where_the_workers_meet(tmp_path: Path) -> None:
    sqlite = f"sqlite:///{tmp_path / 'store.db'}"
    db = open_database(sqlite)
    try:
        assert open_flights(Settings(database_url=sqlite, workers=1), db) is None
        two: Flights | None = open_flights(Settings(database_url=sqlite, workers=2), db)
        assert isinstance(two, FileFlights) and two.path == str(tmp_path / "store.db.flights")
        redis = open_flights(Settings(database_url=sqlite, workers=2, redis_url=REDIS_URL), db)
        assert isinstance(redis, RedisFlights)
        pg = open_flights(Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1/x", workers=2), db)
        assert isinstance(pg, StoreFlights)
    finally:
        asyncio.run(db.close())
