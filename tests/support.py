"""Helpers the tests share: a real server process, a database per run, accounts made through the real services."""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

import sqlalchemy as sa

from leadsmith.db.database import Executor
from leadsmith.db.tables import emails
from leadsmith.testing.processes import (
    PG_ADMIN_URL,
    REDIS_URL,
    Server,
    backend,
    cli,
    free_port,
    pg_admin,
    quiet_env,
    start_server,
    temporary_database,
)

__all__ = [
    "PG_ADMIN_URL",
    "REDIS_URL",
    "SHARED",
    "Server",
    "backend",
    "base_env",
    "biggest_domain",
    "cli",
    "free_port",
    "mail_env",
    "pg_admin",
    "shared_file",
    "start_server",
    "temporary_database",
]


async def biggest_domain(db: Executor) -> tuple[str, int]:
    """The domain the store knows most addresses at, and how many."""
    counted = sa.select(emails.c.domain, sa.func.count()).group_by(emails.c.domain).order_by(sa.func.count().desc())
    domain, known = (await db.fetch_all(counted.limit(1)))[0]
    return str(domain), int(known)


REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


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


_MAIL_FAKES: dict[str, str] = {}
_MAIL_FAKES_LOCK = threading.Lock()


def mail_env() -> dict[str, str]:
    """Settings that point verification at this process's loopback DNS and SMTP fakes (started once)."""
    from contextlib import ExitStack

    from leadsmith.testing.loopback import fake_dns, fake_smtp, scripted_rule, scripted_zones

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
    return quiet_env(database_url, **{**mail_env(), "LEADSMITH_VERIFY_BACKGROUND": "false", **extra})
