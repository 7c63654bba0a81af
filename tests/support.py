"""Helpers the tests share: a real server process, a database per run, accounts made through the real services."""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_ADMIN_URL = os.environ.get("LEADSMITH_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LEADSMITH_TEST_REDIS", "redis://127.0.0.1:6379/0")


def shared_file(relative: str) -> Path:
    """A file of the project's shared folder (the API reference, the finder's data), which lives beside the
    repository, not in it: skipped with where to put it when missing, or failed under
    LEADSMITH_REQUIRE_SHARED=1 (CI sets it, so these tests can never be skipped there in silence)."""
    import pytest

    path = SHARED / relative
    if path.exists():
        return path
    message = (
        f"needs {relative} from the project's shared folder, expected at {path} "
        f"(put shared/ beside the repository: {SHARED})"
    )
    if os.environ.get("LEADSMITH_REQUIRE_SHARED") == "1":
        pytest.fail(message + "; LEADSMITH_REQUIRE_SHARED=1 forbids skipping it")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backend() -> str:
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
    except BaseException as exc:
        errors.append(exc)


def cli(
    env: dict[str, str], *args: str, check: bool = True, timeout: float | None = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
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


_MAIL_FAKES: dict[str, str] = {}
_MAIL_FAKES_LOCK = threading.Lock()


def mail_env() -> dict[str, str]:
    """Settings that point verification at this process's loopback DNS and SMTP fakes (started once)."""
    from contextlib import ExitStack

    from tests.fakes import fake_dns, fake_smtp, scripted_rule, scripted_zones

    with _MAIL_FAKES_LOCK:
        if not _MAIL_FAKES:
            stack = ExitStack()  # lives as long as the test process
            nameserver, _ = stack.enter_context(fake_dns(scripted_zones()))
            port, _ = stack.enter_context(fake_smtp(scripted_rule()))
            _MAIL_FAKES.update(
                {
                    "LEADSMITH_DNS_NAMESERVERS": nameserver,
                    "LEADSMITH_DNS_TIMEOUT_SECONDS": "1",
                    "LEADSMITH_SMTP_PORT": str(port),
                    "LEADSMITH_SMTP_EHLO_NAME": "verifier.leadsmith.test",
                    "LEADSMITH_SMTP_MAIL_FROM": "probe@leadsmith.test",
                    "LEADSMITH_SMTP_COMMAND_TIMEOUT_SECONDS": "1",
                    "LEADSMITH_VERIFY_TEST_DOMAINS": "true",
                    "LEADSMITH_VERIFY_PRIVATE_NETWORKS": "true",  # the fakes listen on loopback
                    "LEADSMITH_DNS_CANARY": "known.test",
                }
            )
            _STACKS.append(stack)
            atexit.register(stack.close)
        return dict(_MAIL_FAKES)


_STACKS: list[object] = []


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a leadsmith process under test: its own store, quiet logs, verification pointed
    at loopback fakes (never the internet) and not running in the background unless a test asks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSMITH_")}
    env.update({"LEADSMITH_DATABASE_URL": database_url, "LEADSMITH_LOG_LEVEL": "warning"})
    env.update(mail_env())
    env["LEADSMITH_VERIFY_BACKGROUND"] = "false"
    env.update({k: v for k, v in extra.items()})
    return env


def start_server(env: dict[str, str], log: Path, workers: int = 1) -> Server:
    port = free_port()
    out = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "leadsmith", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
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
