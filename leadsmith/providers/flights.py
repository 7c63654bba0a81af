"""One ask at a time per lead across the workers of one store: who holds a look-up's flight asks
upstream, the others wait for it to land and read the store.

Three places to hold a flight, cheapest first (``open_flights`` picks one):

- ``FileFlights``: the workers of one machine on a SQLite file: a one-byte lock at the key's hash
  in ``<store>.flights`` (``fcntl`` record locks). Taking, watching and ending a flight are system
  calls, not write transactions, and the kernel drops a dead worker's locks.
- ``RedisFlights``: with ``LEADSMITH_REDIS_URL``, workers on any number of machines: ``SET NX PX``,
  ended by a compare-and-delete script; a worker that dies leaves it to expire.
- ``StoreFlights``: otherwise (PostgreSQL without Redis): a row in ``upstream_flights``.

Each worker also joins its own concurrent asks for one key in memory (``Upstream._local``), so a
flight here is only ever contended between processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
from typing import TYPE_CHECKING, Any, Protocol

from leadsmith.clock import Clock, now_ms
from leadsmith.db.database import Database, sqlite_path
from leadsmith.providers import repository

if TYPE_CHECKING:
    from leadsmith.config import Settings

log = logging.getLogger("leadsmith.providers")

_OFFSETS = (1 << 62) - 1  # a lock's byte: the key's hash below 2^62 (a collision is 1 in 2^31 at 2^31 keys)


class Flights(Protocol):
    async def take(self, key: str, ttl_ms: int) -> bool:
        """Become the one asking for ``key``; False when another process is asking."""
        ...

    async def flying(self, key: str) -> bool:
        """Whether another process is asking for ``key``."""
        ...

    async def end(self, key: str) -> None: ...

    async def close(self) -> None: ...


def _offset(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") & _OFFSETS


class FileFlights:
    """Record locks on one byte per key. POSIX locks belong to the process (two asks for one key in
    one process do not exclude each other: ``Upstream`` joins those itself) and go with any
    descriptor of the file the process closes, so this file is opened once per process and by
    nothing else."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # opened after the worker was forked
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    async def take(self, key: str, ttl_ms: int) -> bool:
        del ttl_ms  # held until ended or until the process is gone
        try:
            fcntl.lockf(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _offset(key))
        except OSError:
            return False
        return True

    async def flying(self, key: str) -> bool:
        fd, at = self._file(), _offset(key)
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, at)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, at)
        return False

    async def end(self, key: str) -> None:
        fcntl.lockf(self._file(), fcntl.LOCK_UN, 1, _offset(key))

    async def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


_END_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisFlights:
    """A key per flight, held by this process's token. When Redis does not answer, the ask goes
    ahead (a lead asked twice costs less than a caller refused) and that is said once in the log."""

    def __init__(self, url: str, prefix: str) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.prefix = prefix + "flight:"
        self.holder = f"{os.getpid()}-{secrets.token_hex(6)}"
        self._said = False

    def _failed(self, exc: Exception) -> None:
        if not self._said:
            self._said = True
            log.warning("upstream flights: Redis does not answer (%s); asking without a flight", exc)

    async def take(self, key: str, ttl_ms: int) -> bool:
        from redis.exceptions import RedisError

        try:
            return bool(await self.redis.set(self.prefix + key, self.holder, nx=True, px=max(ttl_ms, 1)))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return True

    async def flying(self, key: str) -> bool:
        from redis.exceptions import RedisError

        try:
            return bool(await self.redis.exists(self.prefix + key))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return False

    async def end(self, key: str) -> None:
        from redis.exceptions import RedisError

        try:
            await self.redis.eval(_END_LUA, 1, self.prefix + key, self.holder)
        except (RedisError, OSError) as exc:
            self._failed(exc)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.redis.aclose()


class StoreFlights:
    """A row per flight in the store, expiring with its look-up's time budget."""

    def __init__(self, db: Database, clock: Clock = now_ms) -> None:
        self.db = db
        self.clock = clock
        self.holder = f"{os.getpid()}-{secrets.token_hex(6)}"

    async def take(self, key: str, ttl_ms: int) -> bool:
        async with self.db.transaction() as tx:
            return await repository.take_flight(tx, key, self.holder, self.clock(), ttl_ms)

    async def flying(self, key: str) -> bool:
        return await repository.in_flight(self.db, key, self.clock())

    async def end(self, key: str) -> None:
        async with self.db.transaction() as tx:
            await repository.end_flight(tx, key, self.holder)

    async def close(self) -> None:
        return None


def open_flights(settings: Settings, db: Database) -> Flights | None:
    """Where this store's workers hold their flights; None for one worker (nobody else asks)."""
    if settings.workers <= 1:
        return None
    if settings.redis_url:
        return RedisFlights(settings.redis_url, settings.redis_prefix)
    path = sqlite_path(settings.database_url) if settings.is_sqlite else None
    if path is not None:
        return FileFlights(f"{path}.flights")
    return StoreFlights(db)
