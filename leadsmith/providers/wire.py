"""The HTTP/1.1 client the providers' calls go over: pooled keep-alive connections to one base URL, the
response read by httptools (the parser uvicorn serves leadsmith with), and nothing else.

Why not aiohttp: on the waterfall's path (a store miss asking upstream) its client was the largest single
part of a miss's CPU (bench/upstream.py, cProfile of the server: ~0.8 of a profiled ~4 ms); a provider call
is one small JSON request and one JSON answer on a connection that stays open, which needs none of its
machinery (cookies, redirects, multipart, proxies, tracing).

What it does: HTTP and HTTPS (certificates verified), Content-Length and chunked bodies, answers read to
the connection's end, gzip and deflate, duplicate headers joined, at most ``limit`` connections (callers
beyond wait), idle connections a server closed noticed and dropped. A request written on a kept-alive
connection that closes before a byte of the answer is sent again once on a new one (the server dropped
an idle connection as it was reused). A connection in use when its caller is cancelled (a timeout) is
closed, never reused. An answer larger than ``max_body`` bytes is refused.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlencode, urlsplit

import httptools

from leadsmith import __version__

MAX_BODY = 16 * 1024 * 1024


class WireError(Exception):
    """The call got no complete answer: the connection failed or closed early, or the answer was unreadable."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    body: bytes


class _Connection(asyncio.Protocol):
    """One connection and the answer being read on it."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.received = False  # a byte of the current answer has arrived
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Reply] | None = None
        self._reset()

    def _reset(self) -> None:
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._headers_done = False
        self.received = False

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self._waiter is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(WireError(f"an unreadable answer: {exc}"))

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        read_to_end = (
            self._headers_done and "content-length" not in self._headers and "transfer-encoding" not in self._headers
        )
        if read_to_end:  # an answer that ends where the connection does
            self.on_message_complete()
            return
        said = f": {exc}" if exc else ""
        self._fail(WireError(f"the connection closed before the answer was complete{said}"))

    # --- httptools' callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1").strip()
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.max_body:
            self._fail(WireError(f"the answer is larger than {self.max_body} bytes"))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        body = b"".join(self._body)
        try:
            body = _decoded(body, self._headers.get("content-encoding", ""))
        except zlib.error as exc:
            self._fail(WireError(f"an answer that does not decompress: {exc}"))
            return
        if not self._parser.should_keep_alive():
            self.close()
        waiter.set_result(Reply(self._parser.get_status_code(), self._headers, body))

    # ---

    def _fail(self, exc: WireError) -> None:
        self.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def exchange(self, data: bytes) -> Reply:
        assert self.transport is not None
        self._reset()
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            self.transport.write(data)
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _decoded(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if not body or encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send it
    raise zlib.error(f"unknown content-encoding {encoding!r}")


class Pool:
    """Keep-alive connections to one base URL (``http://`` or ``https://``, with an optional path prefix)."""

    def __init__(self, base_url: str, limit: int = 8, max_body: int = MAX_BODY) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        tls = parts.scheme == "https"
        self.port = parts.port or (443 if tls else 80)
        self._tls: ssl.SSLContext | None = ssl.create_default_context() if tls else None
        default_port = self.port == (443 if tls else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._host_header = host if default_port else f"{host}:{self.port}"
        self._prefix = parts.path.rstrip("/")
        self._gate = asyncio.Semaphore(max(1, limit))
        self._idle: list[_Connection] = []
        self._max_body = max_body

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        target = self._prefix + "/" + path.lstrip("/")
        if query:
            target += ("&" if "?" in target else "?") + urlencode(query)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}"]
        named = set()
        for name, value in (headers or {}).items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r}: a line break in a header")
            lines.append(f"{name}: {value}")
            named.add(name.lower())
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        if "accept" not in named:
            lines.append("Accept: application/json")
        if "user-agent" not in named:  # some providers' fronts refuse a request without one
            lines.append(f"User-Agent: leadsmith/{__version__}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        async with self._gate:
            conn = self._reusable()
            if conn is not None:
                try:
                    return await self._exchange(conn, data)
                except WireError:
                    if conn.received:
                        raise
                    # the server dropped the kept-alive connection as it was reused: once more on a new one
            return await self._exchange(await self._connect(), data)

    def _reusable(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                lambda: _Connection(self._max_body),
                self.host,
                self.port,
                ssl=self._tls,
                server_hostname=self.host if self._tls else None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise WireError(f"could not connect to {self.host}:{self.port}: {exc}") from exc
        return conn

    async def _exchange(self, conn: _Connection, data: bytes) -> Reply:
        try:
            reply = await conn.exchange(data)
        except BaseException:  # a failure or a cancellation mid-answer: the connection is not reused
            conn.close()
            raise
        if not conn.closed:
            self._idle.append(conn)
        return reply

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
