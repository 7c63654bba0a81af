"""Stored idempotent responses are deleted once past their time-to-live; fresh ones stay."""

from __future__ import annotations

import sqlalchemy as sa

from leadsmith.clock import now_ms
from leadsmith.config import Settings
from leadsmith.db.database import Database
from leadsmith.db.tables import idempotency
from leadsmith.metering import repository
from leadsmith.metering.counters import MemoryCounters
from leadsmith.metering.service import MeteringService
from tests.conftest import MakeAccount


async def test_expired_idempotency_rows_are_purged(db: Database, settings: Settings, make_account: MakeAccount) -> None:
    account = await make_account()
    now = now_ms()  # real time: the purge must not touch other tests' fresh rows in the shared store
    ttl_ms = int(settings.idempotency_ttl_hours * 3_600_000)
    async with db.transaction() as tx:
        for key, created in (("old-purge", now - ttl_ms - 1), ("fresh-purge", now - 1000)):
            assert await repository.store_response(tx, account.id, key, "h", 200, b"{}", created, created - ttl_ms)
    service = MeteringService(db, settings, MemoryCounters(), clock=lambda: now)
    assert await service.purge_idempotency() >= 1
    keys = {
        r.key for r in await db.fetch_all(sa.select(idempotency.c.key).where(idempotency.c.account_id == account.id))
    }
    assert keys == {"fresh-purge"}
