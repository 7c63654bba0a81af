"""Four worker processes on one store: limits, credits and idempotency stay exact across them.

On the embedded default the workers share their rate-limit windows through the SQLite file; with
LEADSMITH_TEST_DATABASE=postgres they run on PostgreSQL with Redis counters.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from leadsmith.db.database import Database
from tests.conftest import MakeAccount, balance_and_ledger
from tests.metering.test_concurrency import counted
from tests.support import REDIS_URL, Server, backend, base_env, start_server


@pytest.fixture(scope="module")
def workers(database_url: str, demo_key: str, session_tmp: Path) -> Iterator[Server]:
    extra = {"LEADSMITH_AUTH_CACHE_SECONDS": "1"}
    if backend() == "postgres":
        extra |= {"LEADSMITH_REDIS_URL": REDIS_URL, "LEADSMITH_REDIS_PREFIX": f"leadsmith-test-{uuid.uuid4().hex[:8]}:"}
    srv = start_server(base_env(database_url, **extra), session_tmp / "workers.log", workers=4)
    yield srv
    srv.stop()


@pytest.fixture
async def wclient(workers: Server) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=workers.url, timeout=60, limits=limits) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_four_workers_share_one_rate_limit(wclient: httpx.AsyncClient, make_account: MakeAccount) -> None:
    n = 30
    acct = await make_account(rate_limit=n)
    responses = await asyncio.gather(*(counted(wclient, acct.key) for _ in range(3 * n)))
    assert Counter(r.status_code for r in responses) == {200: n, 429: 2 * n}


async def test_four_workers_share_the_minute_and_the_day(wclient: httpx.AsyncClient, make_account: MakeAccount) -> None:
    """The minute's and the day's windows are as exact as the hour's across workers (the file counters on
    the embedded default, Redis with PostgreSQL); a request one window refuses spends none of the others."""
    acct = await make_account(rate_limit=10_000, minutely_limit=20, daily_limit=30)
    responses = await asyncio.gather(*(counted(wclient, acct.key) for _ in range(60)))
    assert Counter(r.status_code for r in responses) == {200: 20, 429: 40}
    assert sorted(int(r.headers["X-Daily-RateLimit-Remaining"]) for r in responses if r.status_code == 200) == list(
        range(10, 30)
    )
    last = await wclient.get("/keys/rateLimits", headers=auth(acct.key))
    assert (
        last.headers["X-Daily-RateLimit-Remaining"] == "10" and last.headers["X-Hourly-RateLimit-Remaining"] == "9980"
    )
    day = await make_account(rate_limit=10_000, daily_limit=25)
    responses = await asyncio.gather(*(counted(wclient, day.key) for _ in range(75)))
    assert Counter(r.status_code for r in responses) == {200: 25, 429: 50}
    assert all(r.headers["Retry-After"] for r in responses if r.status_code == 429)


async def test_credits_stay_exact_across_workers(
    wclient: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    acct = await make_account(credits=400)
    sem = asyncio.Semaphore(100)

    async def one(i: int) -> httpx.Response:
        async with sem:
            body = {"domain": "example.com", "name": f"Person{i} Tester{i}"}
            return await wclient.post("/company/emailFinder", headers=auth(acct.key), json=body)

    responses = await asyncio.gather(*(one(i) for i in range(1000)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 400, 402: 600}
    assert sum(int(r.headers["Decreased-Credits"]) for r in responses) == 400
    assert await balance_and_ledger(db, acct.id) == (0, 0)


async def test_an_idempotency_key_is_charged_once_across_workers(
    wclient: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    acct = await make_account(credits=100)
    headers = {**auth(acct.key), "Idempotency-Key": "retry-everywhere"}
    body = {"domain": "example.com", "contactsNumberLimit": 4}
    responses = await asyncio.gather(
        *(wclient.post("/company/domainEmployees", headers=headers, json=body) for _ in range(60))
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert sum(int(r.headers["Decreased-Credits"]) for r in responses) == 4
    assert await balance_and_ledger(db, acct.id) == (96, 96)


def test_unreachable_redis_fails_closed(database_url: str, demo_key: str, session_tmp: Path) -> None:
    env = base_env(database_url, LEADSMITH_REDIS_URL="redis://127.0.0.1:1/0")
    srv = start_server(env, session_tmp / "no-redis.log")
    try:
        r = httpx.get(srv.url + "/keys/verifyKey", headers=auth(demo_key), timeout=30)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "rate_limiter_unavailable"
        assert httpx.get(srv.url + "/healthz").status_code == 200
        ready = httpx.get(srv.url + "/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["database"] == "ok" and ready.json()["counters"].startswith("unavailable")
    finally:
        srv.stop()


def test_the_shared_listening_socket_keeps_nagle_off() -> None:
    """With several workers the listening socket is ours: TCP protocol and TCP_NODELAY, inherited by every
    accepted connection (uvicorn's own gave 44 ms per response: Nagle against the client's delayed ACK)."""
    import socket

    from leadsmith.server import ServerConfig

    config = ServerConfig("leadsmith.app:create_app", factory=True, host="127.0.0.1", port=0, workers=2)
    sock = config.bind_socket()
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()
