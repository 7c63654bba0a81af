"""One multiplexed Redis connection per worker, for the command every request sends.

Every API request runs the rate limiter's script on Redis. Through redis-py each run took a pooled
connection, wrote, read and gave it back, with its retry and pool machinery: about a sixth of a
worker's CPU per profile look-up. Here all of a worker's commands share one connection: the commands
of one event-loop turn leave in one write, Redis answers a connection's commands in the order they
came, so each reply goes to the oldest command still waiting, and hiredis parses the replies.

Errors are redis-py's exception types (``redis.exceptions``), so callers handle both clients alike:
``ConnectionError`` when Redis cannot be reached or the connection drops (every command waiting on it
fails; the next one connects again), ``TimeoutError`` when Redis has answered nothing for ``timeout``
seconds while commands wait, ``ResponseError`` (``NoScriptError`` for an unknown script) for error
replies.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any, cast

import hiredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = bytes | str | int


def encode(args: tuple[Arg, ...]) -> bytes:
    """A command in the Redis protocol (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def _error(reply: hiredis.ReplyError) -> ResponseError:
    text = str(reply)
    return NoScriptError(text) if text.startswith("NOSCRIPT") else ResponseError(text)


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.pending: list[bytes] = []
        self.replies = 0  # replies received so far: the watchdog's measure of progress
        self.closed: RedisError | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (not an isinstance check: uvloop's transports have the methods without the base class)
        self.transport = cast(asyncio.Transport, transport)

    def send(self, command: bytes) -> asyncio.Future[Any]:
        if self.closed is not None:
            raise self.closed
        reply: asyncio.Future[Any] = self.loop.create_future()
        if not self.pending:
            self.loop.call_soon(self._flush)
        self.pending.append(command)
        self.waiting.append(reply)
        if self._watchdog is None:
            self._watchdog = self.loop.call_later(self.timeout, self._check, self.replies)
        return reply

    def _flush(self) -> None:
        pending, self.pending = self.pending, []
        if pending and self.transport is not None and self.closed is None:
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def _check(self, replies_before: int) -> None:
        self._watchdog = None
        if not self.waiting or self.closed is not None:
            return
        if self.replies == replies_before:
            self.fail(RedisTimeoutError(f"Redis answered nothing for {self.timeout} s"))
            return
        self._watchdog = self.loop.call_later(self.timeout, self._check, self.replies)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.fail(RedisConnectionError(f"Redis protocol error: {exc}"))
                return
            if reply is False:
                return
            self.replies += 1
            if not self.waiting:
                self.fail(RedisConnectionError("Redis sent a reply nobody asked for"))
                return
            waiter = self.waiting.popleft()
            if waiter.done():
                continue  # its caller was cancelled
            if isinstance(reply, hiredis.ReplyError):
                waiter.set_exception(_error(reply))
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"the connection to Redis was lost{f': {exc}' if exc else ''}"))

    def fail(self, error: RedisError) -> None:
        if self.closed is None:
            self.closed = error
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self.pending = []
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class RedisPipe:
    """Commands to the Redis at ``url`` (redis://, rediss:// or unix://, as redis-py reads them) over
    one connection, opened on first use and again after it is lost."""

    def __init__(self, url: str, timeout: float = 1.0, connect_timeout: float = 1.0) -> None:
        self.options: dict[str, Any] = dict(parse_url(url))
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._conn: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None

    async def call(self, *args: Arg) -> Any:
        conn = self._conn
        if conn is None or conn.closed is not None or conn.loop is not asyncio.get_running_loop():
            conn = await self._connected()
        return await conn.send(encode(args))

    async def _connected(self) -> _Connection:
        # One attempt at a time: the requests that arrive meanwhile wait for the same one.
        if self._connecting is None or self._connecting.get_loop() is not asyncio.get_running_loop():
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            conn = await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None
        self._conn = conn
        return conn

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        o = self.options
        conn = _Connection(loop, self.timeout)
        try:
            async with asyncio.timeout(self.connect_timeout):
                if o.get("connection_class") is UnixDomainSocketConnection:
                    await loop.create_unix_connection(lambda: conn, o["path"])
                else:
                    tls = ssl.create_default_context() if o.get("connection_class") is SSLConnection else None
                    # (asyncio turns Nagle's algorithm off on TCP connections by itself)
                    await loop.create_connection(lambda: conn, o.get("host", "localhost"), o.get("port", 6379), ssl=tls)
                hello: list[asyncio.Future[Any]] = []
                if o.get("password"):
                    user = (o["username"],) if o.get("username") else ()
                    hello.append(conn.send(encode(("AUTH", *user, o["password"]))))
                if o.get("db"):
                    hello.append(conn.send(encode(("SELECT", o["db"]))))
                for reply in hello:
                    await reply
        except OSError as exc:  # TimeoutError included
            conn.fail(RedisConnectionError(f"cannot connect to Redis: {exc or 'timed out'}"))
            raise RedisConnectionError(f"cannot connect to Redis: {exc or 'timed out'}") from exc
        except RedisError:
            conn.fail(RedisConnectionError("Redis refused the connection's set-up"))
            raise
        return conn

    async def close(self) -> None:
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
        self._conn = None
