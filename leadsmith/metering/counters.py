"""Fixed windows per key behind one interface, with four backends.

A window opens at a key's first request and lasts ``window_ms``; every request in it adds one. A key
may have several windows (a minute, an hour, a day): ``hit_all`` counts a request in all of them or,
when one is spent, in none, atomically.
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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from leadsmith.db.database import Database, Executor, upsert
from leadsmith.db.tables import rate_windows
from leadsmith.errors import ServiceUnavailable, coded


@dataclass(frozen=True, slots=True)
class Window:
    count: int
    reset_ms: int


@dataclass(frozen=True, slots=True)
class Limit:
    """One window of a key: its counter's name, its length and how many requests it allows."""

    key: str
    window_ms: int
    limit: int


class Counters(Protocol):
    name: str

    async def hit(self, key: str, window_ms: int, now_ms: int) -> Window: ...
    async def hit_all(self, limits: Sequence[Limit], now_ms: int) -> tuple[bool, list[Window]]:
        """Count one request in every window if none is spent (allowed), else in none (refused); the
        windows as the request left them, in the order given."""
        ...

    async def take(self, limits: Sequence[Limit], now_ms: int, n: int) -> tuple[int, list[Window]]:
        """Count as many of ``n`` requests as every window still has room for (a bulk job's items), in
        all of them at once; how many, and the windows after."""
        ...

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

    async def hit_all(self, limits: Sequence[Limit], now_ms: int) -> tuple[bool, list[Window]]:
        if len(limits) == 1:
            return _one(limits[0], await self.hit(limits[0].key, limits[0].window_ms, now_ms))
        seen = [await self.peek(lim.key, lim.window_ms, now_ms) for lim in limits]
        if any(w.count >= lim.limit for w, lim in zip(seen, limits, strict=True)):
            return False, seen
        return True, [await self.hit(lim.key, lim.window_ms, now_ms) for lim in limits]

    async def take(self, limits: Sequence[Limit], now_ms: int, n: int) -> tuple[int, list[Window]]:
        seen = [await self.peek(lim.key, lim.window_ms, now_ms) for lim in limits]
        k = max(0, min([n, *(lim.limit - w.count for w, lim in zip(seen, limits, strict=True))]))
        out = []
        for lim, w in zip(limits, seen, strict=True):
            start = now_ms + w.reset_ms - lim.window_ms if w.count else now_ms
            self._windows[lim.key] = (start, w.count + k)
            out.append(Window(w.count + k, start + lim.window_ms - now_ms))
        return k, out

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

    async def hit_all(self, limits: Sequence[Limit], now_ms: int) -> tuple[bool, list[Window]]:
        if len(limits) == 1:
            return _one(limits[0], await self.hit(limits[0].key, limits[0].window_ms, now_ms))
        async with self.db.transaction() as tx:
            found = await self._windows(tx, limits, now_ms)
            allowed = all(found[lim.key].count < lim.limit for lim in limits)
            if allowed:
                await self._add(tx, limits, 1)
                found = {k: Window(w.count + 1, w.reset_ms) for k, w in found.items()}
        return allowed, [found[lim.key] for lim in limits]

    async def take(self, limits: Sequence[Limit], now_ms: int, n: int) -> tuple[int, list[Window]]:
        async with self.db.transaction() as tx:
            found = await self._windows(tx, limits, now_ms)
            k = max(0, min([n, *(lim.limit - found[lim.key].count for lim in limits)]))
            if k:
                await self._add(tx, limits, k)
        return k, [Window(found[lim.key].count + k, found[lim.key].reset_ms) for lim in limits]

    async def _windows(self, tx: Executor, limits: Sequence[Limit], now_ms: int) -> dict[str, Window]:
        """Each limit's current window by key, started afresh where it had run out (nothing counted)."""
        found: dict[str, Window] = {}
        # In key order: each upsert locks its row (PostgreSQL) until the commit, so two requests of one
        # key never take each other's rows in opposite orders.
        for lim in sorted(limits, key=lambda x: x.key):
            ins = upsert(self.db.dialect, rate_windows).values(key=lim.key, window_start=now_ms, count=0)
            expired = rate_windows.c.window_start + lim.window_ms <= now_ms
            stmt = ins.on_conflict_do_update(
                index_elements=[rate_windows.c.key],
                set_={
                    "count": sa.case((expired, 0), else_=rate_windows.c.count),
                    "window_start": sa.case((expired, now_ms), else_=rate_windows.c.window_start),
                },
            ).returning(rate_windows.c.count, rate_windows.c.window_start)
            row: Any = await tx.fetch_one(stmt)
            assert row is not None
            found[lim.key] = Window(int(row.count), int(row.window_start) + lim.window_ms - now_ms)
        return found

    @staticmethod
    async def _add(tx: Executor, limits: Sequence[Limit], n: int) -> None:
        keys = [lim.key for lim in limits]
        await tx.execute(
            sa.update(rate_windows).where(rate_windows.c.key.in_(keys)).values(count=rate_windows.c.count + n)
        )

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

    async def hit_all(self, limits: Sequence[Limit], now_ms: int) -> tuple[bool, list[Window]]:
        if len(limits) == 1:
            return _one(limits[0], await self.hit(limits[0].key, limits[0].window_ms, now_ms))
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            seen = []
            for lim in limits:
                _, _, start, _, count = self._find(lim.key, now_ms)
                if count == 0 or start + lim.window_ms <= now_ms:
                    start, count = now_ms, 0
                seen.append(Window(count, start + lim.window_ms - now_ms))
            if any(w.count >= lim.limit for w, lim in zip(seen, limits, strict=True)):
                return False, seen
            for lim, w in zip(limits, seen, strict=True):
                # Found again after each write: two new keys would otherwise take the same free slot.
                digest, offset, _, _, _ = self._find(lim.key, now_ms)
                start = now_ms + w.reset_ms - lim.window_ms
                self._SLOT.pack_into(self._map, offset, digest, start, lim.window_ms, w.count + 1)
            return True, [Window(w.count + 1, w.reset_ms) for w in seen]
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    async def take(self, limits: Sequence[Limit], now_ms: int, n: int) -> tuple[int, list[Window]]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            seen = []
            for lim in limits:
                _, _, start, _, count = self._find(lim.key, now_ms)
                if count == 0 or start + lim.window_ms <= now_ms:
                    start, count = now_ms, 0
                seen.append((start, count))
            k = max(0, min([n, *(lim.limit - c for (_, c), lim in zip(seen, limits, strict=True))]))
            out = []
            for lim, (start, count) in zip(limits, seen, strict=True):
                if k:
                    digest, offset, _, _, _ = self._find(lim.key, now_ms)
                    self._SLOT.pack_into(self._map, offset, digest, start, lim.window_ms, count + k)
                out.append(Window(count + k, start + lim.window_ms - now_ms))
            return k, out
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

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


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


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


# Every window under its limit: count the request in all of them; else in none. KEYS: the windows'
# counters; ARGV: each window's length (ms) and limit, in turn. Returns allowed (1/0), then each
# window's count and milliseconds left.
_HIT_ALL_LUA = """
local ok = true
local counts, ttls = {}, {}
for i = 1, #KEYS do
  local ttl = redis.call('PTTL', KEYS[i])
  local count = 0
  if ttl == -1 then
    redis.call('DEL', KEYS[i])
  elseif ttl >= 0 then
    count = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
  if ttl < 0 then ttl = tonumber(ARGV[2 * i - 1]) end
  counts[i], ttls[i] = count, ttl
  if count >= tonumber(ARGV[2 * i]) then ok = false end
end
local out = {ok and 1 or 0}
for i = 1, #KEYS do
  if ok then
    counts[i] = redis.call('INCR', KEYS[i])
    if counts[i] == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i - 1]) end
  end
  out[#out + 1] = counts[i]
  out[#out + 1] = ttls[i]
end
return out
"""


# Count as many of ARGV[1] requests as every window has room for. KEYS: the windows' counters; ARGV[1]:
# how many; then each window's length (ms) and limit. Returns how many, then each count and ms left.
_TAKE_LUA = """
local want = tonumber(ARGV[1])
local counts, ttls = {}, {}
for i = 1, #KEYS do
  local ttl = redis.call('PTTL', KEYS[i])
  local count = 0
  if ttl == -1 then
    redis.call('DEL', KEYS[i])
  elseif ttl >= 0 then
    count = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
  if ttl < 0 then ttl = tonumber(ARGV[2 * i]) end
  counts[i], ttls[i] = count, ttl
  local room = tonumber(ARGV[2 * i + 1]) - count
  if room < want then want = room end
end
if want < 0 then want = 0 end
local out = {want}
for i = 1, #KEYS do
  if want > 0 then
    counts[i] = redis.call('INCRBY', KEYS[i], want)
    if counts[i] == want then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i]) end
  end
  out[#out + 1] = counts[i]
  out[#out + 1] = ttls[i]
end
return out
"""


def _one(limit: Limit, window: Window) -> tuple[bool, list[Window]]:
    """A single window needs no check before counting: counting every request, refused or not, lets
    through exactly ``limit`` of them, in one atomic step (the hot path of every request)."""
    return window.count <= limit.limit, [window]


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
        self._sha = _sha(_HIT_LUA)  # Redis's name for it
        self._sha_all = _sha(_HIT_ALL_LUA)
        self._sha_take = _sha(_TAKE_LUA)

    async def _script(self, sha: str, script: str, keys: Sequence[str], args: Sequence[int]) -> list[int]:
        from redis.exceptions import NoScriptError, RedisError

        try:
            try:
                reply = await self.pipe.call("EVALSHA", sha, len(keys), *keys, *args)
            except NoScriptError:
                # Loaded on first use, and again after Redis restarted or its scripts were flushed.
                await self.pipe.call("SCRIPT", "LOAD", script)
                reply = await self.pipe.call("EVALSHA", sha, len(keys), *keys, *args)
        except (RedisError, OSError) as exc:
            raise coded(
                ServiceUnavailable,
                "rate_limiter_unavailable",
                "the rate limiter cannot be reached; retry shortly",
            ) from exc
        return [int(v) for v in reply]

    async def hit(self, key: str, window_ms: int, now_ms: int) -> Window:
        count, ttl = await self._script(self._sha, _HIT_LUA, [self.prefix + key], [window_ms])
        return Window(count, ttl)

    async def hit_all(self, limits: Sequence[Limit], now_ms: int) -> tuple[bool, list[Window]]:
        if len(limits) == 1:
            return _one(limits[0], await self.hit(limits[0].key, limits[0].window_ms, now_ms))
        keys = [self.prefix + lim.key for lim in limits]
        args = [v for lim in limits for v in (lim.window_ms, lim.limit)]
        reply = await self._script(self._sha_all, _HIT_ALL_LUA, keys, args)
        windows = [Window(reply[1 + 2 * i], reply[2 + 2 * i]) for i in range(len(limits))]
        return bool(reply[0]), windows

    async def take(self, limits: Sequence[Limit], now_ms: int, n: int) -> tuple[int, list[Window]]:
        keys = [self.prefix + lim.key for lim in limits]
        args = [n, *(v for lim in limits for v in (lim.window_ms, lim.limit))]
        reply = await self._script(self._sha_take, _TAKE_LUA, keys, args)
        return reply[0], [Window(reply[1 + 2 * i], reply[2 + 2 * i]) for i in range(len(limits))]

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
