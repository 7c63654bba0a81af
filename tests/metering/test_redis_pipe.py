"""The multiplexed Redis connection, against the real Redis (and loopback servers that misbehave)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from leadsmith.errors import LeadsmithError
from leadsmith.metering.counters import RedisCounters
from leadsmith.metering.redis_pipe import RedisPipe, encode
from tests.support import REDIS_URL


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = f"leadsmith-test-pipe-{uuid.uuid4().hex[:8]}:"
    yield p
    r = Redis.from_url(REDIS_URL)
    for db in (0, 3):
        await r.execute_command("SELECT", db)
        keys = [k async for k in r.scan_iter(match=p + "*")]
        if keys:
            await r.delete(*keys)
    await r.aclose()


@pytest.fixture
async def pipe() -> AsyncIterator[RedisPipe]:
    p = RedisPipe(REDIS_URL)
    yield p
    await p.close()


def test_commands_are_encoded_as_arrays_of_bulk_strings() -> None:
    assert encode(("SET", "k", 12, b"\x00\r\n")) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$3\r\n\x00\r\n\r\n"


async def test_each_caller_gets_its_own_reply(pipe: RedisPipe, prefix: str) -> None:
    """Hundreds of commands in flight at once on one connection: replies matched in order."""
    await asyncio.gather(*(pipe.call("SET", f"{prefix}{i}", f"value-{i}") for i in range(300)))
    got = await asyncio.gather(*(pipe.call("GET", f"{prefix}{i}") for i in range(300)))
    assert got == [f"value-{i}".encode() for i in range(300)]
    counts = await asyncio.gather(*(pipe.call("INCR", prefix + "n") for _ in range(500)))
    assert sorted(counts) == list(range(1, 501))


async def test_error_replies_raise_and_the_connection_goes_on(pipe: RedisPipe, prefix: str) -> None:
    await pipe.call("SET", prefix + "s", "text")
    results = await asyncio.gather(
        pipe.call("INCR", prefix + "s"),
        pipe.call("EVALSHA", "0" * 40, 0),
        pipe.call("GET", prefix + "s"),
        return_exceptions=True,
    )
    assert isinstance(results[0], ResponseError) and not isinstance(results[0], NoScriptError)
    assert isinstance(results[1], NoScriptError)
    assert results[2] == b"text"


async def test_a_cancelled_caller_does_not_shift_the_replies(pipe: RedisPipe, prefix: str) -> None:
    await asyncio.gather(*(pipe.call("SET", f"{prefix}{i}", i) for i in range(20)))
    calls = [asyncio.ensure_future(pipe.call("GET", f"{prefix}{i}")) for i in range(20)]
    await asyncio.sleep(0)  # all sent in the same turn
    calls[5].cancel()
    calls[11].cancel()
    results = await asyncio.gather(*calls, return_exceptions=True)
    for i, result in enumerate(results):
        if i in (5, 11):
            assert isinstance(result, asyncio.CancelledError)
        else:
            assert result == str(i).encode()


async def test_a_dropped_connection_fails_its_callers_and_the_next_call_reconnects(
    pipe: RedisPipe, prefix: str
) -> None:
    await pipe.call("SET", prefix + "k", "v")
    my_id = await pipe.call("CLIENT", "ID")
    killer = Redis.from_url(REDIS_URL)
    try:
        # BLPOP holds a reply back: it is waiting when its connection is killed.
        waiting = asyncio.ensure_future(pipe.call("BLPOP", prefix + "empty", 5))
        await asyncio.sleep(0.1)
        await killer.execute_command("CLIENT", "KILL", "ID", my_id)
        with pytest.raises(RedisConnectionError):
            await waiting
    finally:
        await killer.aclose()
    assert await pipe.call("GET", prefix + "k") == b"v"
    assert await pipe.call("CLIENT", "ID") != my_id


async def test_the_url_selects_its_database(prefix: str) -> None:
    other = RedisPipe(REDIS_URL.rsplit("/", 1)[0] + "/3")
    try:
        await other.call("SET", prefix + "db", "three")
    finally:
        await other.close()
    r = Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + "/3")
    try:
        assert await r.get(prefix + "db") == b"three"
    finally:
        await r.aclose()


async def test_a_refused_password_is_an_error_not_a_hang() -> None:
    """This Redis has no password: AUTH is refused, and so is every command of that connection."""
    wrong = RedisPipe(REDIS_URL.replace("redis://", "redis://:wrong@"))
    try:
        with pytest.raises(RedisError):
            await wrong.call("PING")
    finally:
        await wrong.close()


async def test_an_unreachable_redis_fails_fast() -> None:
    down = RedisPipe("redis://127.0.0.1:1/0")
    started = time.monotonic()
    with pytest.raises(RedisConnectionError):
        await down.call("PING")
    assert time.monotonic() - started < 1.5


async def test_a_silent_server_times_out() -> None:
    """A server that accepts and reads but never answers: callers fail after the timeout, not never."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            pass

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mute = RedisPipe(f"redis://127.0.0.1:{port}/0", timeout=0.3)
    try:
        started = time.monotonic()
        results = await asyncio.gather(mute.call("PING"), mute.call("PING"), return_exceptions=True)
        assert all(isinstance(r, RedisTimeoutError) for r in results)
        assert time.monotonic() - started < 1.5
    finally:
        await mute.close()
        server.close()
        await server.wait_closed()


async def test_the_rate_limit_script_is_loaded_again_after_a_flush(prefix: str) -> None:
    counters = RedisCounters(REDIS_URL, prefix=prefix)
    try:
        assert (await counters.hit("k", 60_000, 0)).count == 1
        await counters.redis.script_flush()
        assert (await counters.hit("k", 60_000, 0)).count == 2
    finally:
        await counters.close()


async def test_a_rate_limiter_timeout_is_a_503(prefix: str) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            pass

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    counters = RedisCounters(f"redis://127.0.0.1:{port}/0", prefix=prefix)
    try:
        with pytest.raises(LeadsmithError) as caught:
            await counters.hit("k", 60_000, 0)
        assert caught.value.status == 503 and caught.value.code == "rate_limiter_unavailable"
    finally:
        await counters.close()
        server.close()
        await server.wait_closed()


def test_the_connection_works_on_uvloop_too() -> None:
    import uvloop

    async def use() -> list[object]:
        pipe = RedisPipe(REDIS_URL)
        try:
            return list(await asyncio.gather(*(pipe.call("PING") for _ in range(50))))
        finally:
            await pipe.close()

    assert uvloop.run(use()) == [b"PONG"] * 50
