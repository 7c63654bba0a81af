"""The same window rules on every counter backend, including concurrent hits and Redis being down."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from leadsmith.db.database import Database
from leadsmith.errors import LeadsmithError, ServiceUnavailable
from leadsmith.metering.counters import Counters, DatabaseCounters, FileCounters, MemoryCounters, RedisCounters
from tests.support import REDIS_URL

HOUR = 3_600_000


@pytest.fixture(params=["memory", "file", "database", "redis"])
async def counters(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> AsyncIterator[Counters]:
    if request.param == "memory":
        c: Counters = MemoryCounters()
    elif request.param == "file":
        c = FileCounters(str(tmp_path / "store.db.counters"))
    elif request.param == "database":
        c = DatabaseCounters(db)
    else:
        c = RedisCounters(REDIS_URL, prefix=f"leadsmith-test-{uuid.uuid4().hex[:8]}:")
    yield c
    if isinstance(c, RedisCounters):
        keys = [k async for k in c.redis.scan_iter(match=c.prefix + "*")]
        if keys:
            await c.redis.delete(*keys)
    await c.close()


async def test_window_counts_and_resets(counters: Counters) -> None:
    key = f"k-{uuid.uuid4().hex}"
    first = await counters.hit(key, HOUR, 1_000_000)
    assert first.count == 1 and 0 < first.reset_ms <= HOUR
    for expected in range(2, 6):
        assert (await counters.hit(key, HOUR, 1_000_000 + expected)).count == expected


async def test_windows_expire(counters: Counters) -> None:
    key = f"k-{uuid.uuid4().hex}"
    window = 300
    await counters.hit(key, window, 10_000)
    await counters.hit(key, window, 10_001)
    await asyncio.sleep(0.35)
    after = await counters.hit(key, window, 10_000 + window + 50)
    assert after.count == 1


async def test_concurrent_hits_are_all_counted(counters: Counters) -> None:
    key = f"k-{uuid.uuid4().hex}"
    results = await asyncio.gather(*(counters.hit(key, HOUR, 5_000_000) for _ in range(300)))
    assert sorted(w.count for w in results) == list(range(1, 301))


async def test_redis_unreachable_fails_closed() -> None:
    down = RedisCounters("redis://127.0.0.1:1/0")
    with pytest.raises(LeadsmithError) as caught:
        await down.hit("k", HOUR, 0)
    assert caught.value.status == 503 and caught.value.code == "rate_limiter_unavailable"
    await down.close()


HITTER = """
import asyncio, sys
from leadsmith.metering.counters import FileCounters

async def main() -> None:
    c = FileCounters(sys.argv[1])
    seen = [(await c.hit("key:shared", 3_600_000, 1_000_000)).count for _ in range(500)]
    print(" ".join(map(str, seen)))
    await c.close()

asyncio.run(main())
"""


def test_file_counters_are_exact_across_processes(tmp_path: Path) -> None:
    """Four processes hitting one key through the shared file: every hit counted once, no count twice."""
    path = str(tmp_path / "store.db.counters")
    procs = [
        subprocess.Popen([sys.executable, "-c", HITTER, path], stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    counts = [int(n) for p in procs for n in p.communicate(timeout=60)[0].split()]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(counts) == list(range(1, 2001))


async def test_file_counters_reuse_expired_slots(tmp_path: Path) -> None:
    """A small table keeps serving as windows end: a slot whose window is over is free again."""
    c = FileCounters(str(tmp_path / "small.counters"), slots=64)
    try:
        for round_ in range(5):
            now = 1_000_000 + round_ * HOUR
            for i in range(64):
                assert (await c.hit(f"key:{round_}:{i}", HOUR, now)).count == 1
        assert (await c.peek("key:4:0", HOUR, 1_000_000 + 4 * HOUR)).count == 1
        with pytest.raises(ServiceUnavailable):  # all 64 windows live: refused, not miscounted
            await c.hit("key:one-too-many", HOUR, 1_000_000 + 4 * HOUR)
    finally:
        await c.close()


async def test_several_windows_count_all_or_none(counters: Counters) -> None:
    from leadsmith.metering.counters import Limit

    limits = [Limit("k:m", 60_000, 2), Limit("k:h", HOUR, 3)]
    results = [await counters.hit_all(limits, 1_000) for _ in range(4)]
    assert [ok for ok, _ in results] == [True, True, False, False]
    # A refused request spends no window: the hour's still has one left.
    assert [w.count for w in results[-1][1]] == [2, 2]
    if counters.name == "redis":
        return  # Redis keeps its own clock: windows do not end in a test's made-up time
    later = await counters.hit_all(limits, 1_000 + 60_001)  # the minute's window is over
    assert later[0] is True and [w.count for w in later[1]] == [1, 3]
    assert (await counters.hit_all(limits, 1_000 + 60_002))[0] is False  # now the hour's is spent


async def test_take_grants_what_every_window_has_room_for(counters: Counters) -> None:
    from leadsmith.metering.counters import Limit

    limits = [Limit("t:m", 60_000, 10), Limit("t:h", HOUR, 25)]
    assert (await counters.take(limits, 1_000, 4))[0] == 4
    granted, windows = await counters.take(limits, 1_000, 100)
    assert granted == 6 and [w.count for w in windows] == [10, 10]
    assert (await counters.take(limits, 2_000, 5))[0] == 0
    if counters.name == "redis":
        return  # Redis keeps its own clock
    granted, windows = await counters.take(limits, 1_000 + 60_001, 100)
    assert granted == 10 and [w.count for w in windows] == [10, 20]
    assert (await counters.take(limits, 1_000 + 120_002, 100))[0] == 5  # the hour's room is what is left


async def test_concurrent_takes_never_grant_more_than_the_limit(counters: Counters) -> None:
    from leadsmith.metering.counters import Limit

    limits = [Limit("c:h", HOUR, 100)]
    grants = await asyncio.gather(*(counters.take(limits, 5_000, 7) for _ in range(40)))
    assert sum(g for g, _ in grants) == 100
