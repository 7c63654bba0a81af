"""All SQL the importer runs: bulk look-ups and bulk writes of tuples (``db.bulk``), inside the importer's
transaction."""

from __future__ import annotations

import functools
import operator
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadsmith.db import bulk, tables
from leadsmith.db.database import Database, Executor, Prepared, upsert
from leadsmith.db.tables import companies, emails, people, phones


@dataclass(slots=True)
class PersonState:
    id: int
    linkedin_id: str | None
    linkedin_key: str | None
    sales_nav_id: str | None
    full_name: str | None
    first_name: str | None
    last_name: str | None
    title: str | None
    location: str | None
    company_name: str | None
    company_id: int | None


PERSON_FIELDS = (
    "linkedin_id",
    "linkedin_key",
    "sales_nav_id",
    "full_name",
    "first_name",
    "last_name",
    "title",
    "location",
    "company_name",
    "company_id",
)
_PERSON_COLUMNS = ("id", *PERSON_FIELDS)
person_values = operator.attrgetter(*_PERSON_COLUMNS)  # a PersonState as a tuple, in a C call
PEOPLE_COLUMNS = (*_PERSON_COLUMNS, "created_at", "updated_at", "seen_at")
EMAIL_COLUMNS = ("person_id", "address", "address_key", "domain", "kind", "valid", "source", "first_seen", "last_seen")
PHONE_COLUMNS = ("person_id", "e164", "type", "source", "first_seen", "last_seen")


async def begin_batch(tx: Executor) -> None:
    """An import batch need not wait for its commit to reach the disk on PostgreSQL: a crash loses at
    most the last batches (the database stays consistent) and importing again brings them back."""
    if tx.dialect == "postgresql":
        await tx.execute(sa.text("SET LOCAL synchronous_commit = off"))


async def defer_deferrables(db: Database) -> bool:
    """If the store holds no one yet, drop the indexes no look-up of an import uses and, on PostgreSQL,
    the foreign keys of the rows it writes (``DEFERRABLE_INDEXES``, ``DEFERRABLE_FOREIGN_KEYS``):
    ``restore_deferrables`` makes them again after the rows. True if it did."""
    async with db.transaction() as tx:
        if await tx.scalar(sa.select(people.c.id).limit(1)) is not None:
            return False
        for ddl in tables.drop_deferrables(tx.dialect):
            await tx.execute(ddl)
    return True


async def restore_deferrables(db: Database) -> None:
    """Build whichever of the deferrable indexes, and add whichever foreign keys, the store lacks."""
    async with db.transaction() as tx:
        existing = {r[0] for r in await tx.fetch_all(sa.text(tables.deferrables_sql(tx.dialect)))}
        for ddl in tables.restore_deferrables(tx.dialect, existing):
            await tx.execute(ddl)


async def allocate_ids(tx: Executor, table: sa.Table, n: int) -> list[int]:
    """``n`` fresh primary keys, so a batch of rows can be written in bulk."""
    if n == 0:
        return []
    if tx.dialect == "postgresql":
        # One array, straight from asyncpg (20,000 ids as rows through SQLAlchemy took ~80 ms).
        raw = await tx.raw_connection()
        # The sequence is looked up once (a materialized CTE), not for each id: pg_get_serial_sequence
        # reads the catalogs, and called per id it was a tenth of PostgreSQL's work in an import
        # (20,000 ids: 123 -> 11 ms).
        sql = (
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence($1, 'id')::regclass AS seq)"
            " SELECT array_agg(nextval(s.seq)) FROM s, generate_series(1, $2)"
        )
        return list(await raw.fetchval(sql, table.name, n))
    top = int(await tx.scalar(_top_id(table)) or 0)
    return list(range(top + 1, top + 1 + n))


@functools.cache
def _top_id(table: sa.Table) -> Prepared:
    return Prepared(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0)))


async def companies_by_domain(tx: Executor, domains: Collection[str]) -> dict[str, tuple[int, str | None]]:
    rows = await bulk.select_in(tx, companies, ("domain", "id", "name"), "domain", domains)
    return {domain: (int(cid), name) for domain, cid, name in rows}


async def insert_companies(tx: Executor, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await tx.execute(
            upsert(tx.dialect, companies).on_conflict_do_nothing(index_elements=[companies.c.domain]), rows
        )


async def name_companies(tx: Executor, names: dict[int, str]) -> None:
    if names:
        stmt = (
            sa.update(companies)
            .where(companies.c.id == sa.bindparam("cid"), companies.c.name.is_(None))
            .values(name=sa.bindparam("cname"))
        )
        await tx.execute(stmt, [{"cid": k, "cname": v} for k, v in names.items()])


async def people_where(tx: Executor, column: str, values: Collection[Any]) -> dict[Any, PersonState]:
    index = _PERSON_COLUMNS.index(column)
    rows = await bulk.select_in(tx, people, _PERSON_COLUMNS, column, values)
    return {row[index]: PersonState(*row) for row in rows}


async def owners_of(tx: Executor, address_keys: Collection[str]) -> dict[str, int]:
    """Who owns each address, by its lower-cased key."""
    rows = await bulk.select_in(tx, emails, ("address_key", "person_id"), "address_key", address_keys)
    return {key: int(person_id) for key, person_id in rows}


async def phones_of(tx: Executor, person_ids: Collection[int]) -> set[tuple[int, str]]:
    rows = await bulk.select_in(tx, phones, ("person_id", "e164"), "person_id", person_ids)
    return {(int(person_id), e164) for person_id, e164 in rows}


async def insert_people(tx: Executor, rows: Sequence[Sequence[Any]]) -> None:
    """New people (``PEOPLE_COLUMNS``), their ids fresh from ``allocate_ids``; ``bulk.KeyTaken`` if one
    of their LinkedIn ids is someone's already."""
    await bulk.insert_rows(tx, people, PEOPLE_COLUMNS, rows)


async def update_people(tx: Executor, rows: Sequence[Sequence[Any]]) -> None:
    """(id, *PERSON_FIELDS, updated_at) of people already there."""
    await bulk.update_rows(tx, people, "id", (*PERSON_FIELDS, "updated_at"), rows)


async def mark_seen(tx: Executor, person_ids: Collection[int], now: int, older_than: int) -> None:
    """People a batch named again: ``seen_at`` moved to now where it is older than ``older_than`` (so a
    file imported twice in a day writes nothing the second time)."""
    if not person_ids:
        return
    condition, args = bulk.one_of(tx, people.c.id, sorted(person_ids))
    if tx.dialect == "postgresql":  # the array is $1
        sql = f"UPDATE people SET seen_at = $2 WHERE id {condition} AND COALESCE(seen_at, 0) < $3"  # noqa: S608
        await bulk.execute(tx, sql, (*args, now, older_than))
    else:  # positional, in the text's order
        sql = f"UPDATE people SET seen_at = ? WHERE id {condition} AND COALESCE(seen_at, 0) < ?"  # noqa: S608
        await bulk.execute(tx, sql, (now, *args, older_than))


async def insert_emails(tx: Executor, rows: Sequence[Sequence[Any]], *, strict: bool = False) -> None:
    """``EMAIL_COLUMNS``; an address already there (by key) is left to its owner, or with ``strict``
    raises ``bulk.KeyTaken``."""
    await bulk.insert_rows(tx, emails, EMAIL_COLUMNS, rows, conflict=() if strict else ("address_key",))


async def insert_phones(tx: Executor, rows: Sequence[Sequence[Any]]) -> None:
    """``PHONE_COLUMNS``; a number a person already has is left."""
    await bulk.insert_rows(tx, phones, PHONE_COLUMNS, rows, conflict=("person_id", "e164"))


async def analyze(db: Database) -> None:
    """Refresh the query planner's statistics after a bulk load (without them, PostgreSQL plans the
    pattern refresh's joins for empty tables: nested loops over sequential scans)."""
    if db.dialect == "postgresql":
        await db.execute(sa.text("ANALYZE people, emails, phones, companies"))
        return
    # SQLite: a sampled ANALYZE (~15 ms at a million people). Not ``PRAGMA optimize``, which analyzes
    # only what the queries of its own connection would use: after an import that can be nothing, and
    # without statistics the finder's look-up by name walked a whole company (2,398 -> 882 req/s).
    async with db.transaction() as tx:
        await tx.execute(sa.text("PRAGMA analysis_limit = 1000"))
        await tx.execute(sa.text("ANALYZE"))
