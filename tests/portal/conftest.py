from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, Server, base_env, cli, start_server, temporary_database

ARTIFACTS = REPO / "test-artifacts" / "portal"


@pytest.fixture(scope="module")
def portal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own (fresh store with the demo data), sign-up open, keys forgotten at once."""
    tmp = tmp_path_factory.mktemp("portal")
    with temporary_database(tmp) as url:
        env = base_env(
            url,
            LEADSMITH_SECRET_KEY="portal-test-secret-0123456789",
            LEADSMITH_AUTH_CACHE_SECONDS="0",
            LEADSMITH_SIGNUP_CREDITS="100",
            LEADSMITH_PORTAL_LOGIN_ATTEMPTS="5",
        )
        cli(env, "demo")
        server = start_server(env, tmp / "server.log")
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
