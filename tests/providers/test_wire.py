"""``providers.wire``: the providers' HTTP/1.1 client against a loopback server that writes raw bytes."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from leadsmith.providers.wire import Pool, WireError

Answer = Callable[[bytes], bytes | None]  # the request's bytes -> what to write back (None: close without a word)


@asynccontextmanager
async def raw_server(answer: Answer, close_after: bool = False) -> AsyncIterator[tuple[str, list[bytes], list[int]]]:
    """A server answering each request with ``answer``'s bytes; the requests seen and connections made."""
    seen: list[bytes] = []
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + (await reader.readexactly(length) if length else b"")
                seen.append(request)
                out = answer(request)
                if out is None:
                    break
                writer.write(out)
                await writer.drain()
                if close_after or b"\r\nConnection: close\r\n" in out:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/base", seen, connections
    finally:
        server.close()


def ok(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


async def test_requests_go_out_as_written_and_connections_are_kept() -> None:
    async with raw_server(lambda _: ok(b'{"a":1}', "X-Twice: one", "X-Twice: two")) as (url, seen, connections):
        pool = Pool(url, limit=2)
        reply = await pool.request("POST", "/profile", query={"q": "a b&c"}, body=b"{}", headers={"X-Key": "k"})
        assert (reply.status, reply.body, reply.headers["x-twice"]) == (200, b'{"a":1}', "one, two")
        for _ in range(5):
            assert (await pool.request("GET", "again")).body == b'{"a":1}'
        await pool.close()
    first = seen[0].decode()
    assert first.startswith("POST /base/profile?q=a+b%26c HTTP/1.1\r\n")
    assert "\r\nHost: 127.0.0.1:" in first and "\r\nX-Key: k\r\n" in first and "\r\nContent-Length: 2\r\n" in first
    assert "\r\nUser-Agent: leadsmith/" in first and "\r\nAccept: application/json\r\n" in first
    assert first.endswith("\r\n\r\n{}")
    assert len(connections) == 1  # six requests, one connection


async def test_chunked_gzip_and_read_to_the_end_bodies() -> None:
    packed = gzip.compress(b'{"zipped":true}')
    answers = iter(
        [
            b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n',
            ok(packed, "Content-Encoding: gzip"),
            b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"to":"the end"}',
        ]
    )
    async with raw_server(lambda _: next(answers)) as (url, _, connections):
        pool = Pool(url)
        assert (await pool.request("GET", "/")).body == b'{"a":1}'
        assert (await pool.request("GET", "/")).body == b'{"zipped":true}'
        assert (await pool.request("GET", "/")).body == b'{"to":"the end"}'
        await pool.close()
    assert len(connections) == 1


async def test_a_kept_connection_the_server_dropped_is_asked_again_on_a_new_one() -> None:
    async with raw_server(lambda _: ok(b"{}"), close_after=True) as (url, seen, connections):
        pool = Pool(url)
        await pool.request("GET", "/")
        await asyncio.sleep(0.05)  # the server has closed it: noticed, not reused
        await pool.request("GET", "/")
        await pool.close()
    assert (len(seen), len(connections)) == (2, 2)


async def test_failures_are_wire_errors_and_a_cancelled_call_leaves_no_connection_behind() -> None:
    async with raw_server(lambda _: None) as (url, _, _connections):  # closes without a word
        with pytest.raises(WireError, match="closed before the answer"):
            await Pool(url).request("GET", "/")
    async with raw_server(lambda _: b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a"') as (url, _, _c):
        pool = Pool(url)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await pool.request("GET", "/")  # half an answer, then nothing
        assert pool._idle == []
    async with raw_server(lambda _: b"NOT HTTP AT ALL\r\n\r\n") as (url, _, _c):
        with pytest.raises(WireError, match="unreadable"):
            await Pool(url).request("GET", "/")
    async with raw_server(lambda _: ok(b"x" * 5000)) as (url, _, _c):
        with pytest.raises(WireError, match="larger than"):
            await Pool(url, max_body=4096).request("GET", "/")
    with pytest.raises(WireError, match="could not connect"):
        await Pool("http://127.0.0.1:9").request("GET", "/")
    with pytest.raises(ValueError, match="line break"):
        await Pool("http://127.0.0.1:9").request("GET", "/", headers={"X": "a\r\nInjected: yes"})


async def test_no_more_connections_than_the_limit() -> None:
    async with raw_server(lambda _: ok(b"{}")) as (url, seen, connections):
        pool = Pool(url, limit=3)
        await asyncio.gather(*(pool.request("GET", "/") for _ in range(30)))
        await pool.close()
    assert len(seen) == 30 and len(connections) <= 3


async def test_a_request_a_reused_connection_drops_without_a_word_is_sent_once_more_on_a_new_one() -> None:
    answers = iter([ok(b"{}"), None, ok(b'{"again":1}')])
    async with raw_server(lambda _: next(answers)) as (url, seen, connections):
        pool = Pool(url)
        await pool.request("GET", "/")
        assert (await pool.request("GET", "/")).body == b'{"again":1}'
        await pool.close()
    assert (len(seen), len(connections)) == (3, 2)


def test_it_works_on_uvloop_too() -> None:
    """``LEADSMITH_LOOP=uvloop``: uvloop's transports are not asyncio.Transport subclasses (an isinstance
    check there once turned every provider call into an error, and every miss into a 404)."""
    import uvloop

    async def use() -> list[bytes]:
        async with raw_server(lambda _: ok(b'{"a":1}')) as (url, _, connections):
            pool = Pool(url)
            bodies = [(await pool.request("GET", "/")).body for _ in range(3)]
            await pool.close()
        assert len(connections) == 1
        return bodies

    assert uvloop.run(use()) == [b'{"a":1}'] * 3
