"""Running the ASGI app: uvicorn with httptools, one process or several, tuned for many small requests.

Three changes to uvicorn's defaults, each measured with wrk on loopback (bench/load.py):

- Each response leaves in one ``send``: uvicorn writes a response's head and its body separately, and
  asyncio sends each write at once, so every response cost two system calls and two TCP segments. On
  this machine a loopback send costs the whole receive path too (~40% of a worker's CPU under load
  was in ``transport.write``). ``CorkedHttpToolsProtocol`` gathers the writes of one event-loop turn.
- TCP_NODELAY on the listening socket of several workers (``_tcp_socket``).
- With several workers on Linux, each listens on a socket of its own in one SO_REUSEPORT group
  (``_WorkerProcess``), so the kernel spreads connections evenly over them.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import multiprocess

from leadsmith import logs
from leadsmith.config import Settings

# Linux spreads new connections over the listening sockets of a SO_REUSEPORT group by a hash of their
# addresses; elsewhere the option does not balance, and the workers keep sharing one socket.
_OWN_SOCKETS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class AddressInUse(Exception):
    """The address to listen on cannot be bound."""


class _CorkedTransport:
    """A transport whose writes in one event-loop turn go out together, in one write at the end of it
    (or as soon as the response they make is whole: ``CorkedHttpToolsProtocol``).

    Everything but writing and closing is the wrapped transport's own (flow control, peer address...).
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: list[bytes]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Send what was written so far, now."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a ``_CorkedTransport``: one send per response, not two."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods.
        corked = _CorkedTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(cast(asyncio.Transport, corked))

    def on_response_complete(self) -> None:
        # The response is whole: out now, not at the end of the event-loop turn, after the work of every
        # other request ready in it (under load that wait was a good part of a response's latency).
        cast(_CorkedTransport, self.transport).flush()
        super().on_response_complete()


def _tcp_socket(family: socket.AddressFamily, reuse_port: bool) -> socket.socket:
    """A TCP socket with the real protocol number and TCP_NODELAY set.

    Created as ``socket.socket(family)`` (what uvicorn does), its protocol number is 0 and asyncio sets
    TCP_NODELAY only on sockets whose protocol is TCP, so every response met Nagle's algorithm and the
    client's delayed ACK: 44 ms per request (a trivial ASGI app: 14,000 req/s with one worker, 90 with
    two). TCP_NODELAY on a listening socket is inherited by the connections it accepts.
    """
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, with the TCP socket of several workers made here (see ``_tcp_socket``).

    On Linux it also carries SO_REUSEPORT: the parent binds it, which reserves the address and reports
    a port in use, but never listens on it; each worker listens on a twin of its own (``_WorkerProcess``).
    """

    def bind_socket(self) -> socket.socket:
        if self.uds is not None or self.fd is not None:
            return super().bind_socket()
        family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
        port = self.port
        if _OWN_SOCKETS:
            # Any process of this user could join a SO_REUSEPORT group and take a share of the
            # connections: bind once without the option first, so that a second server started on
            # the same address fails as it would without it.
            probe = _tcp_socket(family, reuse_port=False)
            try:
                probe.bind((self.host, port))
                port = probe.getsockname()[1]
            except OSError as exc:
                raise AddressInUse(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
            finally:
                probe.close()
        sock = _tcp_socket(family, reuse_port=_OWN_SOCKETS)
        try:
            sock.bind((self.host, port))
        except OSError as exc:
            sock.close()
            raise AddressInUse(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        sock.set_inheritable(True)
        return sock


class _WorkerProcess(multiprocess.Process):
    """A uvicorn worker that accepts on a listening socket of its own, in the parent's SO_REUSEPORT group.

    Sharing the parent's socket, each worker's event loop accepted every connection waiting when it woke
    up: wrk's 64 connections came out 47 and 17 on two workers, and the busier worker's requests took
    twice as long. The kernel now hashes each new connection to one worker's socket (64 came out 32 and
    32, or 30 and 34). A hash is not a deal: 32 connections came out anywhere from 15 and 17 to 10 and 22
    over twelve tries. A worker that dies takes the connections still waiting in its own queue with it;
    new ones go to the others until its replacement listens.
    """

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover (in the worker)
        if sockets and _OWN_SOCKETS:
            own = []
            for shared in sockets:
                twin = _tcp_socket(socket.AddressFamily(shared.family), reuse_port=True)
                twin.bind(shared.getsockname())
                shared.close()
                own.append(twin)
            sockets = own
        super().target(sockets)


def config(settings: Settings, host: str, port: int) -> ServerConfig:
    return ServerConfig(
        "leadsmith.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=settings.workers,
        loop=settings.loop,
        http=CorkedHttpToolsProtocol,
        access_log=False,  # leadsmith writes its own request lines (logs.request_line)
        log_level=settings.log_level,
        log_config=logs.uvicorn_log_config(settings.log_level, settings.log_format),
        proxy_headers=True,
        server_header=False,  # "server: uvicorn" on every answer tells a caller nothing it needs
    )


def bind(settings: Settings, host: str, port: int) -> socket.socket:
    """The socket to serve on, bound now (AddressInUse if it cannot be): bound before anything else is
    done, so that a server that cannot listen changes nothing (``serve --demo`` would otherwise have
    revoked the running demo key before finding its port taken)."""
    cfg = config(settings, host, port)
    if settings.workers > 1:
        return cfg.bind_socket()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = _tcp_socket(family, reuse_port=False)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AddressInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def run(settings: Settings, host: str, port: int, sock: socket.socket | None = None) -> None:
    """Serve until interrupted, on ``sock`` (from ``bind``; bound here if None): in this process, or in
    ``settings.workers`` worker processes."""
    cfg = config(settings, host, port)
    sock = sock or bind(settings, host, port)
    if settings.workers > 1:
        # uvicorn's supervisor makes (and remakes, when one dies or on SIGHUP) its workers through this
        # module global: ours listen on sockets of their own.
        multiprocess.Process = _WorkerProcess  # type: ignore[misc]
        multiprocess.Multiprocess(cfg, sockets=[sock]).run()
    else:
        uvicorn.Server(cfg).run(sockets=[sock])
