"""The pattern refresh's scans on PostgreSQL (all domains in one query, in domain order) give each
domain exactly what the per-domain reads give."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from leadsmith.contacts.import_service import ImportService
from leadsmith.contacts.records import Record, parse_row
from leadsmith.db import migrate
from leadsmith.db.database import open_database
from leadsmith.patterns import repository
from tests.support import backend, temporary_database

pytestmark = pytest.mark.skipif(backend() != "postgres", reason="the scans are PostgreSQL's")

# Orders that differ between collations: "-" and "." sort before letters in C, not in en_US.
DOMAINS = ["a-b.example", "a.example", "ab.example", "b.example", "empty.example", "Z.example"]


async def test_scans_match_the_per_domain_reads(tmp_path: Path) -> None:
    records = []
    for i in range(60):
        domain = DOMAINS[i % 4]
        row = {"name": f"Ann{i} Lee", "company": "Co", "domain": domain, "linkedin": f"person-{i}"}
        if i % 3:
            row["email"] = f"ann{i}.lee@{domain}"
        record = parse_row(row, i + 2)
        assert isinstance(record, Record)
        records.append(record)
    with temporary_database(tmp_path) as url:
        await asyncio.to_thread(migrate.upgrade, url)
        db = open_database(url)
        try:
            await ImportService(db).import_records(records)
            ordered = sorted({d.lower() for d in DOMAINS})
            scans = (
                (repository.pairs_by_domain, repository.pairs),
                (repository.without_work_address_by_domain, repository.people_without_work_address),
            )
            for scan, read in scans:
                got = [item async for item in scan(db, ordered)]
                assert [d for d, _ in got] == ordered
                for domain, rows in got:
                    assert sorted(rows) == sorted(tuple(r) for r in await read(db, domain)), domain
                assert any(rows for _, rows in got)
            keys = [item async for item in repository.taken_by_domain(db, ordered)]
            for domain, rows in keys:
                assert repository.taken_of(rows) == await repository.taken_at(db, domain)
        finally:
            await db.close()
