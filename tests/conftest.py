from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from leadsmith.access import repository as access_repository
from leadsmith.access.service import AccessService
from leadsmith.config import Settings
from leadsmith.db import migrate
from leadsmith.db.database import Database, open_database
from leadsmith.metering import credits as credit_rules
from leadsmith.metering import repository as metering_repository
from leadsmith.metering.schemas import PoolKind
from tests.support import Server, base_env, cli, start_server, temporary_database


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("leadsmith")


@pytest.fixture(scope="session")
def database_url(session_tmp: Path) -> Iterator[str]:
    """The session's store: built by the migrations, loaded with the demo set."""
    with temporary_database(session_tmp) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def demo_key(database_url: str) -> str:
    result = cli(base_env(database_url), "demo")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def server(database_url: str, demo_key: str, session_tmp: Path) -> Iterator[Server]:
    env = base_env(database_url, LEADSMITH_RATE_LIMIT_PER_HOUR="100000", LEADSMITH_AUTH_CACHE_SECONDS="1")
    srv = start_server(env, session_tmp / "server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = open_database(database_url)
    yield database
    await database.close()


@dataclass
class TestAccount:
    id: int
    email: str
    key: str


MakeAccount = Callable[..., Awaitable[TestAccount]]


@pytest.fixture(scope="session")
def make_account(db: Database, settings: Settings, demo_key: str) -> MakeAccount:
    """An account with a fresh key, written through the real access service into the server's store."""
    counter = iter(range(1_000_000))

    async def make(
        credits: int = 1000,
        rate_limit: int | None = None,
        *,
        daily_limit: int | None = None,
        minutely_limit: int | None = None,
        pools: dict[PoolKind, int] | None = None,
        **costs: int,
    ) -> TestAccount:
        access = AccessService(db, settings)
        email = f"user{next(counter)}-{id(make)}@test.example"
        async with db.transaction() as tx:
            account = await access.create_account(tx, email, credits_=credits, rate_limit=rate_limit)
            changes: dict[str, int] = {f"cost_{k}": v for k, v in costs.items()}
            if daily_limit is not None:
                changes["daily_limit"] = daily_limit
            if minutely_limit is not None:
                changes["minutely_limit"] = minutely_limit
            if changes:
                await access_repository.update_account(tx, account.id, changes)
            for kind, value in (pools or {}).items():
                await credit_rules.set_pool(tx, account.id, kind, value, now=access.clock())
            created = await access.create_key(tx, account.id, "test")
        return TestAccount(account.id, email, created.key)

    return make


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as c:
        yield c


async def balance_and_ledger(db: Database, account_id: int) -> tuple[int, int]:
    return await metering_repository.balance(db, account_id), await metering_repository.ledger_sum(db, account_id)
