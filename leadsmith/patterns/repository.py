"""All SQL about pattern statistics and the known (name, address) pairs they are learned from."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from leadsmith.contacts.repository import has_work_address
from leadsmith.db import bulk
from leadsmith.db.database import Executor, Prepared, read_sqlite_file
from leadsmith.db.tables import companies, domain_patterns, emails, people, predicted_emails
from leadsmith.engine.patterns import PatternKey

PRIOR_DOMAIN = "*"

_SUPPORT = Prepared(
    sa.select(domain_patterns.c.template, domain_patterns.c.cap, domain_patterns.c.support).where(
        domain_patterns.c.domain == sa.bindparam("domain")
    )
)
_PAIRS = Prepared(
    sa.select(people.c.full_name, people.c.first_name, people.c.last_name, emails.c.address)
    .join(people, people.c.id == emails.c.person_id)
    .where(emails.c.domain == sa.bindparam("domain"))
)
_WITHOUT_WORK_ADDRESS = Prepared(
    sa.select(people.c.id, people.c.full_name, people.c.first_name, people.c.last_name)
    .join(companies, companies.c.id == people.c.company_id)
    .where(companies.c.domain == sa.bindparam("domain"), ~has_work_address())
    .order_by(people.c.id)
)
_ADDRESS_KEYS_AT = Prepared(sa.select(emails.c.address_key).where(emails.c.domain == sa.bindparam("domain")))
_DELETE_PREDICTIONS = Prepared(
    sa.delete(predicted_emails).where(
        predicted_emails.c.person_id.in_(
            sa.select(people.c.id)
            .join(companies, companies.c.id == people.c.company_id)
            .where(companies.c.domain == sa.bindparam("domain"))
        )
    )
)
_DELETE_SUPPORT = Prepared(sa.delete(domain_patterns).where(domain_patterns.c.domain == sa.bindparam("domain")))
_KNOWN = Prepared(
    sa.select(people.c.id, emails.c.address, emails.c.valid)
    .join(emails, emails.c.person_id == people.c.id)
    .where(
        sa.func.lower(people.c.last_name) == sa.bindparam("last"),
        sa.func.lower(people.c.first_name) == sa.bindparam("first"),
        emails.c.domain == sa.bindparam("domain"),
    )
    .order_by(people.c.id)
)


async def support(db: Executor, domain: str) -> dict[PatternKey, float]:
    rows = await db.fetch_all(_SUPPORT, {"domain": domain})
    return {(r.template, int(r.cap)): float(r.support) for r in rows}


async def all_supports(db: Executor) -> list[dict[PatternKey, float]]:
    stmt = (
        sa.select(domain_patterns)
        .where(domain_patterns.c.domain != PRIOR_DOMAIN)
        .order_by(domain_patterns.c.domain, domain_patterns.c.template, domain_patterns.c.cap)
    )
    out: dict[str, dict[PatternKey, float]] = {}
    for r in await db.fetch_all(stmt):
        out.setdefault(r.domain, {})[(r.template, int(r.cap))] = float(r.support)
    return list(out.values())


async def replace_support(db: Executor, domain: str, values: Mapping[PatternKey, float], now: int) -> None:
    await db.execute(_DELETE_SUPPORT, {"domain": domain})
    rows = [(domain, t, c, v, now) for (t, c), v in values.items()]
    await bulk.insert_rows(db, domain_patterns, ("domain", "template", "cap", "support", "updated_at"), rows)


async def pairs(db: Executor, domain: str) -> list[tuple[str | None, str | None, str | None, str]]:
    """The known (full, first, last name, address) pairs at ``domain``, as plain tuples."""
    return [tuple(r) for r in await db.fetch_all(_PAIRS, {"domain": domain})]


def pairs_in_file(path: str, domain: str) -> list[tuple[str | None, str | None, str | None, str]]:
    """``pairs``, read from the SQLite store at ``path`` by a pool worker."""
    return read_sqlite_file(path, _PAIRS, {"domain": domain})


async def known_person(db: Executor, domain: str, first: str, last: str) -> Sequence[Any]:
    return await db.fetch_all(_KNOWN, {"domain": domain, "first": first.lower(), "last": last.lower()})


_TAKEN_SLOTS = 5
_TAKEN = Prepared(
    sa.select(emails.c.address_key).where(
        emails.c.address_key.in_([sa.bindparam(f"a{i}") for i in range(_TAKEN_SLOTS)])
    )
)


async def taken(db: Executor, addresses: Collection[str]) -> set[str]:
    """Which of these addresses already belong to someone (five at a time, one prepared statement)."""
    keys = sorted({a.lower() for a in addresses})
    out: set[str] = set()
    for i in range(0, len(keys), _TAKEN_SLOTS):
        chunk = keys[i : i + _TAKEN_SLOTS]
        params = {f"a{j}": chunk[j] if j < len(chunk) else "" for j in range(_TAKEN_SLOTS)}
        out.update(r.address_key for r in await db.fetch_all(_TAKEN, params))
    return out


async def people_without_work_address(
    db: Executor, domain: str
) -> list[tuple[int, str | None, str | None, str | None]]:
    """The people (id, full, first, last name) of the company at ``domain`` with no usable work address."""
    return [tuple(r) for r in await db.fetch_all(_WITHOUT_WORK_ADDRESS, {"domain": domain})]


def people_without_work_address_in_file(path: str, domain: str) -> list[tuple[int, str | None, str | None, str | None]]:
    """``people_without_work_address``, read from the SQLite store at ``path`` by a pool worker."""
    return read_sqlite_file(path, _WITHOUT_WORK_ADDRESS, {"domain": domain})


def address_keys_in_file(path: str, domain: str) -> list[str]:
    """``address_keys_at``, read from the SQLite store at ``path`` by a pool worker."""
    return [r[0] for r in read_sqlite_file(path, _ADDRESS_KEYS_AT, {"domain": domain})]


async def address_keys_at(db: Executor, domain: str) -> list[str]:
    return [r[0] for r in await db.fetch_all(_ADDRESS_KEYS_AT, {"domain": domain})]


async def replace_predictions(db: Executor, domain: str, rows: Sequence[tuple[int, str, float, str]], now: int) -> None:
    """Forget the predictions for the company at ``domain`` and store these (person id, address, score,
    pattern) instead."""
    if db.dialect == "postgresql":
        # The table grows from nothing during a refresh: a plan cached while it was empty scans all of
        # it for every domain (quadratic); planned each time, the delete walks the primary key.
        await db.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
    await db.execute(_DELETE_PREDICTIONS, {"domain": domain})
    columns = ("person_id", "address", "score", "pattern", "updated_at")
    await bulk.insert_rows(db, predicted_emails, columns, [(*row, now) for row in rows])
