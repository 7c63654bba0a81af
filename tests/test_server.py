"""How leadsmith serves HTTP: event loops, corked writes, per-worker listening sockets, clients hanging up."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadsmith.server import _CorkedTransport
from tests.support import REDIS_URL, Server, base_env, cli, start_server, temporary_database


class RecordingTransport(asyncio.Transport):
    """A stand-in for the socket transport under the corking one: it records what would be sent."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 9) if name == "peername" else default


async def test_writes_of_one_loop_turn_leave_together() -> None:
    under = RecordingTransport()
    corked = _CorkedTransport(under, asyncio.get_running_loop())
    corked.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    corked.write(b"{}")
    assert under.writes == []
    assert corked.get_write_buffer_size() == 40
    await asyncio.sleep(0)
    assert under.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    corked.write(b"next")
    await asyncio.sleep(0)
    assert under.writes[-1] == b"next"
    corked.write(b"a whole ")
    corked.write(b"response")
    corked.flush()  # as the protocol does when a response is complete: out now, not at the turn's end
    assert under.writes[-1] == b"a whole response"
    await asyncio.sleep(0)
    assert len(under.writes) == 3
    assert corked.get_extra_info("peername") == ("127.0.0.1", 9)  # everything else is the transport's


async def test_closing_sends_what_is_pending_and_aborting_drops_it() -> None:
    under = RecordingTransport()
    corked = _CorkedTransport(under, asyncio.get_running_loop())
    corked.write(b"last words")
    corked.close()
    assert under.writes == [b"last words"] and under.closed
    other = RecordingTransport()
    corked = _CorkedTransport(other, asyncio.get_running_loop())
    corked.write(b"never sent")
    corked.abort()
    await asyncio.sleep(0)
    assert other.writes == [] and other.aborted


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_both_event_loops_serve(loop: str, database_url: str, demo_key: str, tmp_path: Path) -> None:
    """On either loop, with the rate limiter's counters in Redis (its connection is ours as well)."""
    env = base_env(
        database_url,
        LEADSMITH_LOOP=loop,
        LEADSMITH_REDIS_URL=REDIS_URL,
        LEADSMITH_REDIS_PREFIX=f"leadsmith-test-{uuid.uuid4().hex[:8]}:",
    )
    srv = start_server(env, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            for _ in range(3):  # several requests on one kept-alive connection
                r = client.get("/keys/verifyKey", headers={"Authorization": f"Bearer {demo_key}"})
                assert r.status_code == 200 and r.json()
                assert r.headers["X-RateLimit-Remaining"]
        assert "Traceback" not in srv.log.read_text()
    finally:
        srv.stop()


def test_a_client_that_hangs_up_mid_body_is_not_an_error(database_url: str, demo_key: str, tmp_path: Path) -> None:
    srv = start_server(base_env(database_url, LEADSMITH_LOG_LEVEL="info"), tmp_path / "server.log")
    try:
        port = int(srv.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(
                b"POST /profile/profile HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {demo_key}\r\nContent-Length: 200\r\n\r\n".encode()
                + b'{"id": "ada-lov'
            )
            time.sleep(0.3)
        time.sleep(0.3)
        assert httpx.get(srv.url + "/healthz").status_code == 200
        log = srv.log.read_text()
        assert "unhandled error" not in log and "Traceback" not in log
    finally:
        srv.stop()


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _tcp_table() -> list[tuple[int, str, int]]:
    """(local port, state, inode) of this machine's IPv4 TCP sockets."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        rows.append((int(fields[1].split(":")[1], 16), fields[3], int(fields[9])))
    return rows


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balances connections on Linux only")
def test_each_worker_listens_on_its_own_socket_and_connections_spread(
    database_url: str, demo_key: str, tmp_path: Path
) -> None:
    srv: Server = start_server(base_env(database_url), tmp_path / "server.log", workers=2)
    try:
        port = int(srv.url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 30
        while sum(1 for p, state, _ in _tcp_table() if p == port and state == "0A") < 2:
            assert time.monotonic() < deadline, "the second worker never listened"
            time.sleep(0.1)
        assert sum(1 for p, state, _ in _tcp_table() if p == port and state == "0A") == 2

        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        try:
            for c in clients:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for c in clients:
                assert c.recv(4096).startswith(b"HTTP/1.1 200")
            established = {inode for p, state, inode in _tcp_table() if p == port and state == "01"}
            workers = [pid for pid in _children(srv.process.pid) if _socket_inodes(pid) & established]
            shares = sorted(len(_socket_inodes(pid) & established) for pid in workers)
            assert sum(shares) == 64 and len(shares) == 2
            # A hash of each connection's addresses picks its worker: 64 split about evenly (sharing one
            # socket, whichever worker woke first took most: 47 and 17 in one run).
            assert shares[0] >= 16, shares
        finally:
            for c in clients:
                c.close()
    finally:
        srv.stop()


def test_a_second_server_on_the_same_address_is_refused(database_url: str, tmp_path: Path) -> None:
    """Its workers' sockets share the address with SO_REUSEPORT; another server must still be told no."""
    srv = start_server(base_env(database_url), tmp_path / "server.log", workers=2)
    try:
        port = srv.url.rsplit(":", 1)[1]
        for workers in ("1", "2"):
            second = cli(srv.env, "serve", "--port", port, "--workers", workers, check=False, timeout=60)
            assert second.returncode != 0
            assert "address" in (second.stdout + second.stderr).lower()
        assert httpx.get(srv.url + "/healthz").status_code == 200
    finally:
        srv.stop()


def test_serve_demo_on_a_taken_port_changes_nothing(tmp_path: Path) -> None:
    """A `serve --demo` that cannot bind must not revoke the running demo key (nor print a new one)."""
    with temporary_database(tmp_path) as url:
        env = base_env(url)
        key = cli(env, "demo").stdout.strip().splitlines()[-1]
        srv = start_server(env, tmp_path / "server.log")
        try:
            port = srv.url.rsplit(":", 1)[1]
            second = cli(env, "serve", "--demo", "--port", port, check=False, timeout=60)
            assert second.returncode == 1 and "cannot listen" in second.stderr
            assert "lsk_" not in second.stdout
            time.sleep(1.2)  # past the key cache
            r = httpx.get(srv.url + "/keys/verifyKey", headers={"Authorization": key})
            assert r.status_code == 200, r.text
        finally:
            srv.stop()


def test_serve_says_what_background_verification_does_and_how_to_stop_it(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        for value, expected in (("true", "LEADSMITH_VERIFY_BACKGROUND=false turns it off"), ("false", "off")):
            srv = start_server(base_env(url, LEADSMITH_VERIFY_BACKGROUND=value), tmp_path / f"serve-{value}.log")
            srv.stop()
            head = srv.log.read_text().splitlines()[:3]
            assert any(line.startswith("background verification:") and expected in line for line in head), head
