"""Two stores on one Redis (staging beside production, a store rebuilt, a test database) never share a
rate-limit window: counters are named by each store's installation id and the key's own identity."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import httpx

from tests.support import REDIS_URL, base_env, cli, start_server, temporary_database


def test_two_fresh_stores_on_one_redis_each_get_their_own_windows(tmp_path: Path) -> None:
    n = 50
    prefix = f"leadsmith-test-{uuid.uuid4().hex[:8]}:"
    with temporary_database(tmp_path) as first, temporary_database(tmp_path) as second:
        servers, keys = [], []
        try:
            for i, url in enumerate((first, second)):
                env = base_env(
                    url, LEADSMITH_COUNTERS="redis", LEADSMITH_REDIS_URL=REDIS_URL, LEADSMITH_REDIS_PREFIX=prefix
                )
                # The same first account, the same first key id (1) in both stores.
                made = cli(env, "accounts", "create", "ops@acme.example", "--rate-limit", str(n))
                keys.append(made.stdout.split()[-1])
                cli(env, "demo")
                servers.append(start_server(env, tmp_path / f"server-{i}.log"))

            async def burst(url: str, key: str) -> Counter[int]:
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    body = {"domain": "example.com"}
                    calls = [
                        client.post("/company/domainPattern", headers={"Authorization": key}, json=body)
                        for _ in range(3 * n)
                    ]
                    return Counter(r.status_code for r in await asyncio.gather(*calls))

            async def both() -> list[Counter[int]]:
                return await asyncio.gather(*(burst(s.url, k) for s, k in zip(servers, keys, strict=True)))

            assert asyncio.run(both()) == [Counter({200: n, 429: 2 * n})] * 2
        finally:
            for server in servers:
                server.stop()
