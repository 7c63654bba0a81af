"""All SQL the importer runs: batched look-ups and batched writes, inside the importer's transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadsmith.db.database import Database, Executor, Prepared, upsert
from leadsmith.db.tables import companies, emails, people, phones

_CHUNK = 500


@dataclass
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
_PERSON_COLS = (people.c.id, *(people.c[f] for f in PERSON_FIELDS))


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


async def allocate_ids(tx: Executor, table: sa.Table, n: int) -> list[int]:
    """``n`` fresh primary keys, so a batch of rows can be written with one executemany."""
    if n == 0:
        return []
    if tx.dialect == "postgresql":
        seq = sa.func.pg_get_serial_sequence(table.name, "id")
        rows = await tx.fetch_all(sa.select(sa.func.nextval(seq)).select_from(sa.func.generate_series(1, n)))
        return [int(r[0]) for r in rows]
    top = int(await tx.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))) or 0)
    return list(range(top + 1, top + 1 + n))


async def companies_by_domain(tx: Executor, domains: Collection[str]) -> dict[str, tuple[int, str | None]]:
    out: dict[str, tuple[int, str | None]] = {}
    for part in _chunks(sorted(domains)):
        stmt = sa.select(companies.c.domain, companies.c.id, companies.c.name).where(companies.c.domain.in_(part))
        out.update({r.domain: (int(r.id), r.name) for r in await tx.fetch_all(stmt)})
    return out


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
    out: dict[Any, PersonState] = {}
    for part in _chunks(sorted(values)):
        for r in await tx.fetch_all(sa.select(*_PERSON_COLS).where(people.c[column].in_(part))):
            state = PersonState(*tuple(r))
            out[getattr(state, column)] = state
    return out


async def owners_of(tx: Executor, address_keys: Collection[str]) -> dict[str, int]:
    """Who owns each address, by its lower-cased key."""
    out: dict[str, int] = {}
    for part in _chunks(sorted(address_keys)):
        stmt = sa.select(emails.c.address_key, emails.c.person_id).where(emails.c.address_key.in_(part))
        out.update({r.address_key: int(r.person_id) for r in await tx.fetch_all(stmt)})
    return out


async def phones_of(tx: Executor, person_ids: Collection[int]) -> set[tuple[int, str]]:
    out: set[tuple[int, str]] = set()
    for part in _chunks(sorted(person_ids)):
        stmt = sa.select(phones.c.person_id, phones.c.e164).where(phones.c.person_id.in_(part))
        out.update((int(r.person_id), r.e164) for r in await tx.fetch_all(stmt))
    return out


def _insert(table: sa.Table, *, with_id: bool, conflict: Sequence[sa.Column[Any]] = ()) -> dict[str, Prepared]:
    """A bulk insert per backend (on SQLite one executemany on the raw cursor) of every column, the id
    only ``with_id`` (else the database numbers the rows); rows already there by ``conflict`` are left."""
    columns = [c.name for c in table.columns if with_id or c.name != "id"]
    out = {}
    for dialect in ("sqlite", "postgresql"):
        stmt = upsert(dialect, table).values({c: sa.bindparam(c) for c in columns})
        out[dialect] = Prepared(stmt.on_conflict_do_nothing(index_elements=list(conflict)) if conflict else stmt)
    return out


_INSERT_PEOPLE = _insert(people, with_id=True)
_INSERT_EMAILS = _insert(emails, with_id=False, conflict=[emails.c.address_key])
_INSERT_PHONES = _insert(phones, with_id=False, conflict=[phones.c.person_id, phones.c.e164])


async def insert_people(tx: Executor, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await tx.execute(_INSERT_PEOPLE[tx.dialect], rows)


async def update_people(tx: Executor, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        values: dict[str, Any] = {f: sa.bindparam(f"v_{f}") for f in PERSON_FIELDS}
        stmt = (
            sa.update(people)
            .where(people.c.id == sa.bindparam("v_id"))
            .values(**values, updated_at=sa.bindparam("v_updated_at"))
        )
        await tx.execute(stmt, [{f"v_{k}": v for k, v in row.items()} for row in rows])


async def insert_emails(tx: Executor, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await tx.execute(_INSERT_EMAILS[tx.dialect], rows)


async def insert_phones(tx: Executor, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await tx.execute(_INSERT_PHONES[tx.dialect], rows)


async def analyze(db: Database) -> None:
    """Refresh the query planner's statistics after a bulk load (without them, PostgreSQL plans the
    pattern refresh's joins for empty tables: nested loops over sequential scans)."""
    if db.dialect == "postgresql":
        await db.execute(sa.text("ANALYZE people, emails, phones, companies"))
    else:
        await db.execute(sa.text("PRAGMA optimize"))
