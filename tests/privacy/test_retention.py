"""Retention on a real store: people no import has named for LEADSMITH_RETENTION_DAYS are erased with what is
derived from them (and not suppressed: they aged, they did not opt out); importing someone again keeps them;
the reveal log is purged after LEADSMITH_AUDIT_RETENTION_DAYS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from leadsmith.clock import DAY_MS, now_ms
from leadsmith.config import Settings
from leadsmith.contacts.import_service import ImportService
from leadsmith.contacts.records import Record, parse_row
from leadsmith.db import migrate
from leadsmith.db.database import open_database
from leadsmith.db.tables import emails, people, reveal_log
from leadsmith.metering.schemas import Item
from leadsmith.privacy.audit import RevealLog
from leadsmith.privacy.identity import Identity
from leadsmith.privacy.service import PrivacyService
from leadsmith.privacy.suppression import SuppressionList
from tests.support import temporary_database


def rows(*people_: tuple[str, str, str]) -> list[Record]:
    out = []
    for n, (name, address, slug) in enumerate(people_, start=1):
        parsed = parse_row({"name": name, "email": address, "linkedin": slug}, n)
        assert isinstance(parsed, Record)
        out.append(parsed)
    return out


def test_people_not_seen_for_the_retention_are_erased_and_the_log_is_purged(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        migrate.upgrade(url)
        asyncio.run(_erased_and_purged(url))


async def _erased_and_purged(url: str) -> None:
    now = now_ms()
    db = open_database(url)
    try:
        old = rows(("Old Timer", "old.timer@aging.example", "old-timer-1"), ("Re Seen", "re.seen@aging.example",
                   "re-seen-2"))  # fmt: skip
        await ImportService(db, clock=lambda: now - 40 * DAY_MS).import_records(old)
        # A later import names one of them again: seen now.
        await ImportService(db, clock=lambda: now).import_records(rows(("Re Seen", "re.seen@aging.example",
                                                                        "re-seen-2")))  # fmt: skip
        await ImportService(db, clock=lambda: now).import_records(rows(("New Comer", "new.comer@aging.example",
                                                                        "new-comer-3")))  # fmt: skip

        settings = Settings(database_url=url, retention_days=30, audit_retention_days=365)
        log = RevealLog(db, 365, clock=lambda: now - 400 * DAY_MS)
        ids = {r.linkedin_key: r.id for r in await db.fetch_all(sa.select(people.c.linkedin_key, people.c.id))}
        log.record(1, 1, "/profile/profile", (Item(ids["old-timer-1"], "work_email"),))
        await log.flush()
        fresh = RevealLog(db, 365)
        fresh.record(1, 1, "/profile/profile", (Item(ids["new-comer-3"], "work_email"),))
        await fresh.flush()

        privacy = PrivacyService(db, settings, SuppressionList(db), fresh, settle_seconds=0)
        done = await privacy.housekeeping()
        assert done == {"reveals_purged": 1, "people_erased": 1, "requests_expired": 0}
        left = {r.linkedin_key for r in await db.fetch_all(sa.select(people.c.linkedin_key))}
        assert left == {"re-seen-2", "new-comer-3"}
        addresses = {r.address for r in await db.fetch_all(sa.select(emails.c.address))}
        assert "old.timer@aging.example" not in addresses
        assert await privacy.is_suppressed(Identity("email", "old.timer@aging.example")) is False
        assert int(await db.scalar(sa.select(sa.func.count()).select_from(reveal_log)) or 0) == 1
        assert await privacy.housekeeping() == {"reveals_purged": 0, "people_erased": 0, "requests_expired": 0}
    finally:
        await db.close()


def test_retention_is_off_by_default(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        migrate.upgrade(url)
        asyncio.run(_off_by_default(url))


async def _off_by_default(url: str) -> None:
    now = now_ms()
    db = open_database(url)
    try:
        await ImportService(db, clock=lambda: now - 4000 * DAY_MS).import_records(
            rows(("Very Old", "very.old@aging.example", "very-old-1"))
        )
        privacy = PrivacyService(db, Settings(database_url=url), SuppressionList(db), RevealLog(db))
        assert await privacy.forget_stale() == 0
        assert int(await db.scalar(sa.select(sa.func.count()).select_from(people)) or 0) == 1
    finally:
        await db.close()
