"""leadsmith processes on loopback, each on a store of its own: what the tests and the benchmarks start."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

PG_ADMIN_URL = os.environ.get("LEADSMITH_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LEADSMITH_TEST_REDIS", "redis://127.0.0.1:6379/0")


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def backend() -> str:
    """The store under test: ``LEADSMITH_TEST_DATABASE`` (``sqlite``, the default, or ``postgres``)."""
    return os.environ.get("LEADSMITH_TEST_DATABASE", "sqlite")


@contextmanager
def temporary_database(tmp: Path) -> Iterator[str]:
    """A new, empty database URL for the backend under test, dropped afterwards."""
    if backend() != "postgres":
        yield f"sqlite:///{tmp / f'leadsmith-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"leadsmith_test_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_admin(sql: str) -> None:
    """Run one statement on the PostgreSQL server, from a thread of its own (callers may be inside a loop)."""

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(errors, lambda: asyncio.run(run())))
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _capture(errors: list[BaseException], fn: Callable[[], object]) -> None:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
        errors.append(exc)


def quiet_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a leadsmith process: its own store, quiet logs, no background verification
    (nothing probes the internet), and ``extra``; no other LEADSMITH_ setting leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSMITH_")}
    env.update({"LEADSMITH_DATABASE_URL": database_url, "LEADSMITH_LOG_LEVEL": "warning"})
    env["LEADSMITH_VERIFY_BACKGROUND"] = "false"
    env.update(extra)
    return env


def cli(
    env: dict[str, str], *args: str, check: bool = True, timeout: float | None = 120
) -> subprocess.CompletedProcess[str]:
    """``leadsmith ARGS...`` in a process of its own, its output captured."""
    return subprocess.run(  # noqa: S603 - our own console script
        [sys.executable, "-m", "leadsmith", *args],
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


@dataclass
class Server:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_server(
    env: dict[str, str], log: Path, workers: int = 1, wrapper: Sequence[str] = (), start_seconds: float = 30
) -> Server:
    """``leadsmith serve`` on a free loopback port, once ``/healthz`` answers (within ``start_seconds``);
    ``wrapper``: a command it runs under (a profiler: bench/miss_cost.py's valgrind)."""
    port = free_port()
    out = log.open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [*wrapper, sys.executable, "-m", "leadsmith", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                return Server(url, env, process, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start:\n{log.read_text()}")
