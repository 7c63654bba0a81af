"""Fixed hourly windows per key behind one interface, with four backends.

A window opens at a key's first request and lasts ``window_ms``; every request in it adds one.
The memory backend serves a single worker; the file backend lets the workers of one machine share a
memory-mapped table beside the SQLite store; the database backend (one atomic upsert) lets several
workers share the SQLite file or PostgreSQL; the Redis backend runs one Lua script per hit.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

from leadsmith.db.database import Database, upsert
from leadsmith.db.tables import rate_windows
from leadsmith.errors import ServiceUnavailable, coded


@dataclass(frozen=True, slots=True)
class Window:
    count: int
    reset_ms: int


class Counters(Protocol):
    name: str

    async def hit(self, key: str, window_ms: int, now_ms: int) -> Window: ...
    async def peek(self, key: str, window_ms: int, now_ms: int) -> Window:
        """The window's count so far, without counting (0 when it has expired or never began)."""
        ...

    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryCounters:
    name = "memory"

    async def ping(self) -> None:
        return None

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, window_ms: int, now_ms: int) -> Window:
        start, count = self._windows.get(key, (0, 0))
        if start + window_ms <= now_ms:
            start, count = now_ms, 0
            if len(self._windows) > 100_000:
                self._windows = {k: v for k, v in self._windows.items() if v[0] + window_ms > now_ms}
        count += 1
        self._windows[key] = (start, count)
        return Window(count, start + window_ms - now_ms)

    async def peek(self, key: str, window_ms: int, now_ms: int) -> Window:
        start, count = self._windows.get(key, (0, 0))
        if start + window_ms <= now_ms:
            return Window(0, window_ms)
        return Window(count, start + window_ms - now_ms)

    async def close(self) -> None:
        self._windows.clear()


class DatabaseCounters:
    name = "database"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def ping(self) -> None:
        await self.db.ping()

    async def hit(self, key: str, window_ms: int, now_ms: int) -> Window:
        ins = upsert(self.db.dialect, rate_windows).values(key=key, window_start=now_ms, count=1)
        expired = rate_windows.c.window_start + window_ms <= now_ms
        stmt = ins.on_conflict_do_update(
            index_elements=[rate_windows.c.key],
            set_={
                "count": sa.case((expired, 1), else_=rate_windows.c.count + 1),
                "window_start": sa.case((expired, now_ms), else_=rate_windows.c.window_start),
            },
        ).returning(rate_windows.c.count, rate_windows.c.window_start)
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(stmt)
        assert row is not None
        return Window(int(row.count), int(row.window_start) + window_ms - now_ms)

    async def peek(self, key: str, window_ms: int, now_ms: int) -> Window:
        row = await self.db.fetch_one(
            sa.select(rate_windows.c.count.label("n"), rate_windows.c.window_start).where(rate_windows.c.key == key)
        )
        if row is None or int(row.window_start) + window_ms <= now_ms:
            return Window(0, window_ms)
        return Window(int(row.n), int(row.window_start) + window_ms - now_ms)

    async def close(self) -> None:
        return None


class FileCounters:
    """Windows in a memory-mapped file beside the SQLite store, shared by the workers of one machine.

    A fixed table of slots (key digest, window start, window length, count); a key's slot is found
    by scanning a short run of slots from its hash, under an exclusive ``flock`` held for a few
    microseconds: no database transaction per request. A slot whose window is over is free again.
    The file outlives restarts like the database counters do; a torn write after a crash can only
    garble one key's current window.
    """

    name = "file"
    _SLOT = struct.Struct("<16sqqq")  # digest, window start (ms), window length (ms), count
    _PROBES = 64

    def __init__(self, path: str, slots: int = 1 << 16) -> None:
        self.path = path
        self._slots = slots
        size = slots * self._SLOT.size
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if os.fstat(self._fd).st_size != size:
                os.ftruncate(self._fd, size)  # a new file, or another table size: start empty
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._map = mmap.mmap(self._fd, size)

    async def ping(self) -> None:
        return None

    def _find(self, key: str, now_ms: int) -> tuple[bytes, int, int, int, int]:
        """(digest, offset, start, length, count) of the key's slot, or of a free one (count 0)."""
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        first = int.from_bytes(digest[:8], "little") % self._slots
        free = -1
        for i in range(self._PROBES):
            offset = ((first + i) % self._slots) * self._SLOT.size
            found, start, length, count = self._SLOT.unpack_from(self._map, offset)
            if found == digest:
                return digest, offset, start, length, count
            if free < 0 and (count == 0 or start + length <= now_ms):
                free = offset
        if free < 0:
            raise coded(ServiceUnavailable, "rate_limiter_unavailable", "the rate-limit table is full; retry shortly")
        return digest, free, 0, 0, 0

    async def hit(self, key: str, window_ms: int, now_ms: int) -> Window:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            digest, offset, start, _, count = self._find(key, now_ms)
            if count == 0 or start + window_ms <= now_ms:
                start, count = now_ms, 0
            count += 1
            self._SLOT.pack_into(self._map, offset, digest, start, window_ms, count)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        return Window(count, start + window_ms - now_ms)

    async def peek(self, key: str, window_ms: int, now_ms: int) -> Window:
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        try:
            _, _, start, _, count = self._find(key, now_ms)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        if count == 0 or start + window_ms <= now_ms:
            return Window(0, window_ms)
        return Window(count, start + window_ms - now_ms)

    async def close(self) -> None:
        if self._fd >= 0:
            self._map.close()
            os.close(self._fd)
            self._fd = -1


_HIT_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisCounters:
    """Fails closed: when Redis cannot be reached the request is refused with a 503, never let through.

    Hits go through one multiplexed connection per worker (``redis_pipe``); the rest through redis-py.
    """

    name = "redis"

    def __init__(self, url: str, prefix: str = "leadsmith:", pool_size: int = 64) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis

        from leadsmith.metering.redis_pipe import RedisPipe

        pool = BlockingConnectionPool.from_url(
            url, max_connections=pool_size, timeout=2.0, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self.redis = Redis(connection_pool=pool)
        self.pipe = RedisPipe(url, timeout=1.0, connect_timeout=1.0)
        self.prefix = prefix + "rl:"
        self._sha = hashlib.sha1(_HIT_LUA.encode(), usedforsecurity=False).hexdigest()  # Redis's name for it

    async def hit(self, key: str, window_ms: int, now_ms: int) -> Window:
        from redis.exceptions import NoScriptError, RedisError

        try:
            try:
                count, ttl = await self.pipe.call("EVALSHA", self._sha, 1, self.prefix + key, window_ms)
            except NoScriptError:
                # Loaded on first use, and again after Redis restarted or its scripts were flushed.
                await self.pipe.call("SCRIPT", "LOAD", _HIT_LUA)
                count, ttl = await self.pipe.call("EVALSHA", self._sha, 1, self.prefix + key, window_ms)
        except (RedisError, OSError) as exc:
            raise coded(
                ServiceUnavailable,
                "rate_limiter_unavailable",
                "the rate limiter cannot be reached; retry shortly",
            ) from exc
        return Window(int(count), int(ttl))

    async def peek(self, key: str, window_ms: int, now_ms: int) -> Window:
        from redis.exceptions import RedisError

        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(self.prefix + key)
                pipe.pttl(self.prefix + key)
                count, ttl = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise coded(ServiceUnavailable, "rate_limiter_unavailable", "the rate limiter cannot be reached") from exc
        if count is None or int(ttl) < 0:
            return Window(0, window_ms)
        return Window(int(count), int(ttl))

    async def ping(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        await self.pipe.close()
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()
