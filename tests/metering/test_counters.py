"""The same window rules on every counter backend, including concurrent hits and Redis being down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from leadsmith.db.database import Database
from leadsmith.errors import LeadsmithError
from leadsmith.metering.counters import Counters, DatabaseCounters, MemoryCounters, RedisCounters
from tests.support import REDIS_URL

HOUR = 3_600_000


@pytest.fixture(params=["memory", "database", "redis"])
async def counters(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[Counters]:
    if request.param == "memory":
        c: Counters = MemoryCounters()
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
